/**
 * How the Rust client judges a 2xx body (rust-wire §1.5): the body must deserialize into the route's
 * response type. An inline schema means any JSON (but an empty or non-JSON body fails); a `$ref`
 * means the generated struct, whose required fields must be there with their types. A failed decode
 * is a transport-class failure (retried), never a success.
 * Pure: no node:* imports.
 */
import type { SuccessTest } from '../delivery-policy.js';
import { parseJson } from './json.js';
import { BOOL, type Field, STRING, STRINGS, attempt, decodeStruct, int, optional, required } from './serde.js';

const ACCEPTED: SuccessTest = { kind: 'accepted' };

/** Inline response schemas accept every JSON value. */
export function anyJson(body: string): SuccessTest {
  const parsed = parseJson(body);
  return parsed.ok ? ACCEPTED : { kind: 'undecodable', reason: `the response body is not JSON (${parsed.reason})` };
}

/** `ObservationIngestResult` and `SessionMinedCandidateIngestResult`: `{received, deduped}`, both required. */
export const INGEST_RESULT: readonly Field[] = [required('received', int('u64')), required('deduped', int('u64'))];

export function ingestResult(body: string): SuccessTest {
  const parsed = parseJson(body);
  if (!parsed.ok) return { kind: 'undecodable', reason: `the response body is not JSON (${parsed.reason})` };
  const decoded = attempt(() => decodeStruct(INGEST_RESULT, parsed.value, ''));
  return decoded.ok ? ACCEPTED : { kind: 'undecodable', reason: `the response does not decode: ${decoded.reason}` };
}

/** `RecordAcceptedEditResponse` (dto.rs:204-217), camelCase. */
export const ACCEPTED_EDIT_RESPONSE: readonly Field[] = [
  required('ok', BOOL),
  required('acceptanceRecorded', BOOL),
  optional('acceptanceId', STRING, 'null'),
  optional('diffSignature', STRING, 'null'),
  optional('teamId', STRING, 'null'),
  required('attributedRuleIds', STRINGS),
  required('observationsInserted', int('u32')),
  required('memoryReinforcementRecorded', BOOL),
  required('memoryReinforcementDeduped', BOOL),
  optional('error', STRING, 'null'),
];

/** Success only when the cloud says it recorded the acceptance; a decoded "no" is a rejection. */
export function acceptedEditResult(body: string): SuccessTest {
  const parsed = parseJson(body);
  if (!parsed.ok) return { kind: 'undecodable', reason: `the response body is not JSON (${parsed.reason})` };
  const decoded = attempt(() => decodeStruct(ACCEPTED_EDIT_RESPONSE, parsed.value, ''));
  if (!decoded.ok) return { kind: 'undecodable', reason: `[record_accepted_edit] decode error: ${decoded.reason}` };
  if (decoded.value.acceptanceRecorded === true) return ACCEPTED;
  const error = decoded.value.error;
  return { kind: 'rejected', reason: `accepted_edit rejected: ${typeof error === 'string' ? error : 'no detail'}` };
}
