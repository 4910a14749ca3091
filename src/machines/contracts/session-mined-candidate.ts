/**
 * `session_mined_candidate` (rust-wire §2.8). Only rows whose `localReview.status` is `approved` (any
 * case) are claimed; that gate is SQL in the store. The row is a `SessionMinedCandidate`, snake_case
 * except `localTriage` and `localEvidence` (read also as `local_triage`/`local_evidence`), decoded
 * strictly, unknown keys (`localReview` too) dropped; then `validate()` must pass. Sent as a JSON array
 * holding the one candidate to `POST /cloud/session-mined-candidates`, `localTriage`/`localEvidence`
 * omitted when None; delivered when the answer decodes as `{received, deduped}`.
 */
import { JsonNumber, type JsonObject, type JsonValue, isJsonObject } from './json.js';
import { ingestResult } from './responses.js';
import {
  BOOL,
  type Field,
  STRING,
  STRINGS,
  attempt,
  charCount,
  decodeStruct,
  int,
  optional,
  required,
  rustTrim,
  struct,
} from './serde.js';
import type { ContractResult, KindContract } from './types.js';

/** Known `LocalTriageStatus` variants; any other string reads as `Unknown` and is sent as `unknown`. */
export const TRIAGE_STATUSES = ['superseded_by', 'clustered_into', 'dropped_low_signal'] as const;
const NEEDS_REF: readonly string[] = ['superseded_by', 'clustered_into'];

/** `LocalTriage` (smc.rs:117-125), camelCase, `ref` renamed from `reference`. */
export const LOCAL_TRIAGE: readonly Field[] = [
  required('status', STRING),
  required('reason', STRING),
  optional('ref', STRING, 'omit'),
  required('at', int('i64')),
];

export const LOCAL_EVIDENCE: readonly Field[] = [
  required('distinctEvidenceCount', int('usize')),
  required('updatedAt', int('i64')),
];

/** `SessionMinedCandidate` (smc.rs:43-93), in struct order. */
export const SESSION_MINED_CANDIDATE: readonly Field[] = [
  required('session_id', STRING),
  required('ts_ms', int('i64')),
  required('source_repo', STRING),
  required('title', STRING),
  required('body', STRING),
  required('file_patterns', STRINGS),
  required('gate_model', STRING),
  required('gate_verdict', STRING),
  required('content_hash', STRING),
  required('origin', STRING),
  required('requires_human_approval', BOOL),
  // A triage that does not decode silently becomes None (deserialize_local_triage_lossy).
  optional('localTriage', struct(LOCAL_TRIAGE), 'omit', { aliases: ['local_triage'], lossy: true }),
  optional('localEvidence', struct(LOCAL_EVIDENCE), 'omit', { aliases: ['local_evidence'] }),
];

export const TITLE_MAX_CHARS = 120;
export const BODY_MAX_CHARS = 2000;
export const FILE_PATTERNS_MAX = 3;

/** `SessionMinedCandidate::validate()` (smc.rs:307-350): the first rule broken, or null. */
export function validateCandidate(c: JsonObject): string | null {
  const s = (key: string): string => c[key] as string;
  if (rustTrim(s('session_id')) === '') return 'session_id is blank';
  if (rustTrim(s('source_repo')) === '') return 'source_repo is blank';
  const title = charCount(s('title'));
  if (title === 0 || title > TITLE_MAX_CHARS) return `title must have 1 to ${TITLE_MAX_CHARS} characters`;
  const body = charCount(s('body'));
  if (body === 0 || body > BODY_MAX_CHARS) return `body must have 1 to ${BODY_MAX_CHARS} characters`;
  const patterns = (c.file_patterns as unknown[]).length;
  if (patterns === 0 || patterns > FILE_PATTERNS_MAX)
    return `file_patterns must have 1 to ${FILE_PATTERNS_MAX} entries`;
  if (rustTrim(s('gate_model')) === '') return 'gate_model is blank';
  const verdict = s('gate_verdict');
  if (verdict !== 'KEEP' && !(verdict.startsWith('MERGE:') && rustTrim(verdict.slice(6)) !== '')) {
    return "gate_verdict must be 'KEEP' or 'MERGE:<target>'";
  }
  if (s('origin') !== 'session_mined') return "origin must be 'session_mined'";
  if (c.requires_human_approval !== true) return 'requires_human_approval must be true';
  const triage = c.localTriage;
  if (isJsonObject(triage) && typeof triage.status === 'string' && TRIAGE_STATUSES.includes(triage.status as never)) {
    if (rustTrim(triage.reason as string) === '') return 'localTriage.reason is blank';
    const at = triage.at;
    const positive = typeof at === 'number' ? at > 0 : at instanceof JsonNumber && !at.text.startsWith('-');
    if (!positive) return 'localTriage.at must be positive';
    if (NEEDS_REF.includes(triage.status)) {
      const ref = triage.ref;
      if (typeof ref !== 'string' || rustTrim(ref) === '') return `localTriage.ref is required for ${triage.status}`;
      if (ref === c.content_hash) return 'localTriage.ref is the candidate itself';
    }
  }
  return null;
}

function decodeCandidate(payload: JsonValue): JsonObject {
  const candidate = decodeStruct(SESSION_MINED_CANDIDATE, payload, '');
  const triage = candidate.localTriage;
  if (isJsonObject(triage) && !TRIAGE_STATUSES.includes(triage.status as never)) {
    // #[serde(other)] Unknown, written back in snake_case.
    candidate.localTriage = { ...triage, status: 'unknown' };
  }
  return candidate;
}

export const SESSION_MINED_PATH = '/cloud/session-mined-candidates';

export const sessionMinedCandidate: KindContract = {
  kind: 'session_mined_candidate',
  label: 'post_session_mined_candidate',
  mode: 'single',
  route: SESSION_MINED_PATH,
  parse(payload: JsonValue): ContractResult {
    const decoded = attempt(() => decodeCandidate(payload));
    if (!decoded.ok) return { ok: false, reason: `session_mined_candidate parse: ${decoded.reason}` };
    const problem = validateCandidate(decoded.value);
    if (problem !== null) return { ok: false, reason: `session_mined_candidate validate: ${problem}` };
    return { ok: true, path: SESSION_MINED_PATH, body: [decoded.value] };
  },
  judge: ingestResult,
};
