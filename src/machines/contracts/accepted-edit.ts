/**
 * `accepted_edit` (rust-wire §2.3). The row is a `RecordAcceptedEditRequest` in camelCase, decoded
 * strictly: `beforeCode` and `afterCode` required, the rest optional (None omitted from the body,
 * `filePath` included), `ruleIds` defaulting to `[]` when missing (null or a non-string item is an
 * error) and omitted when empty. Sent as `POST /accepted-edits`; delivered only when the answer
 * decodes as `RecordAcceptedEditResponse` with `acceptanceRecorded: true`.
 */
import type { JsonValue } from './json.js';
import { acceptedEditResult } from './responses.js';
import { type Field, STRING, STRINGS, attempt, decodeStruct, int, optional, required } from './serde.js';
import type { ContractResult, KindContract } from './types.js';

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

export const acceptedEdit: KindContract = {
  kind: 'accepted_edit',
  label: 'record_accepted_edit',
  mode: 'single',
  route: '/accepted-edits',
  parse(payload: JsonValue): ContractResult {
    const body = attempt(() => decodeStruct(ACCEPTED_EDIT_REQUEST, payload, ''));
    if (!body.ok) return { ok: false, reason: `accepted_edit parse: ${body.reason}` };
    return { ok: true, path: '/accepted-edits', body: body.value };
  },
  judge: acceptedEditResult,
};
