/**
 * `accepted_edit` (rust-wire §2.3). The row is a `RecordAcceptedEditRequest` in camelCase, decoded
 * strictly: `beforeCode` and `afterCode` required, the rest optional (None omitted from the body,
 * `filePath` included), `ruleIds` defaulting to `[]` when missing (null or a non-string item is an
 * error) and omitted when empty. Sent as `POST /accepted-edits`; delivered only when the answer
 * decodes as `RecordAcceptedEditResponse` with `acceptanceRecorded: true`.
 */
import { acceptedEditResult } from './responses.js';
import { type Field, STRING, STRINGS, structContract, int, optional, required } from './serde.js';
import type { KindContract } from './types.js';

/** `RecordAcceptedEditRequest` (dto.rs:169-201), in struct order. */
export const ACCEPTED_EDIT_REQUEST: readonly Field[] = [
  required('beforeCode', STRING),
  required('afterCode', STRING),
  optional('filePath', STRING, 'omit'),
  optional('repoFullName', STRING, 'omit'),
  optional('targetPrNumber', int('i64'), 'omit'),
  optional('language', STRING, 'omit'),
  optional('acceptanceSource', STRING, 'omit'),
  optional('client', STRING, 'omit'),
  optional('diffSignature', STRING, 'omit'),
  { key: 'ruleIds', of: STRINGS, presence: 'default', defaultValue: [], omitWhenEmpty: true },
];

export const acceptedEdit: KindContract = structContract(
  {
    kind: 'accepted_edit',
    label: 'record_accepted_edit',
    mode: 'single',
    route: '/accepted-edits',
    judge: acceptedEditResult,
  },
  ACCEPTED_EDIT_REQUEST,
);
