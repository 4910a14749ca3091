/**
 * What the reference cloud accepts: exactly the request bodies the Rust binary sends, written from
 * the tables of reference/rust-wire.md §2–3 on their own, deliberately not from the drain's payload
 * contracts (src/machines/contracts). A drain that shapes a body differently from Rust (a `null`
 * where Rust omits, a missing `null`, a stray key, a float in an integer) gets a 400 here, which the
 * tests would see; a cloud that reused the drain's rules could never catch that.
 *
 * Only the JSON reader is shared (parseJson, to tell `1.0` from `1` as serde does).
 */
import { JsonNumber, type JsonValue, isJsonObject } from '../machines/contracts/json.js';

/** A check returns the first problem, or null. */
export type FieldCheck = (value: JsonValue, path: string) => string | null;

const named = (path: string): string => (path === '' ? 'the body' : `'${path}'`);

const str: FieldCheck = (v, p) => (typeof v === 'string' ? null : `${named(p)} must be a string`);
const bool: FieldCheck = (v, p) => (typeof v === 'boolean' ? null : `${named(p)} must be a boolean`);
const number: FieldCheck = (v, p) =>
  typeof v === 'number' || v instanceof JsonNumber ? null : `${named(p)} must be a number`;
const any: FieldCheck = () => null;

function integer(min: bigint, max: bigint): FieldCheck {
  return (v, p) => {
    let n: bigint | null = null;
    if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
    if (v instanceof JsonNumber && /^-?\d+$/.test(v.text) && !/^-0+$/.test(v.text)) n = BigInt(v.text);
    if (n === null) return `${named(p)} must be an integer`;
    return n < min || n > max ? `${named(p)} is out of range [${min}, ${max}]` : null;
  };
}
const u32 = integer(0n, 2n ** 32n - 1n);
const i32 = integer(-(2n ** 31n), 2n ** 31n - 1n);
const u64 = integer(0n, 2n ** 64n - 1n);
const i64 = integer(-(2n ** 63n), 2n ** 63n - 1n);

const nullable =
  (check: FieldCheck): FieldCheck =>
  (v, p) =>
    v === null ? null : check(v, p);

function list(item: FieldCheck, options: { min?: number; max?: number } = {}): FieldCheck {
  return (v, p) => {
    if (!Array.isArray(v)) return `${named(p)} must be an array`;
    if (options.min !== undefined && v.length < options.min) return `${named(p)} has fewer than ${options.min} items`;
    if (options.max !== undefined && v.length > options.max) return `${named(p)} has more than ${options.max} items`;
    for (let i = 0; i < v.length; i++) {
      const problem = item(v[i] as JsonValue, `${p}[${i}]`);
      if (problem) return problem;
    }
    return null;
  };
}
const strings = list(str);

const oneOf =
  (values: readonly string[]): FieldCheck =>
  (v, p) =>
    typeof v === 'string' && values.includes(v) ? null : `${named(p)} must be one of ${values.join(', ')}`;

/** RFC 3339, as chrono writes a DateTime<Utc>. */
const datetime: FieldCheck = (v, p) =>
  typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v)
    ? null
    : `${named(p)} must be an RFC 3339 date-time`;

/**
 * A key's rule: `always` (Rust always writes the key; its value passes `check`, which may allow null)
 * or `omittable` (Rust leaves the key out for None, so when present it is never null).
 */
type KeyRule = { readonly when: 'always' | 'omittable'; readonly check: FieldCheck };
const always = (check: FieldCheck): KeyRule => ({ when: 'always', check });
const omittable = (check: FieldCheck): KeyRule => ({ when: 'omittable', check });

/** An object with exactly these keys (Rust never sends others). */
function object(keys: Record<string, KeyRule>): FieldCheck {
  return (v, p) => {
    if (!isJsonObject(v)) return `${named(p)} must be a JSON object`;
    for (const [key, rule] of Object.entries(keys)) {
      const path = p === '' ? key : `${p}.${key}`;
      if (!Object.hasOwn(v, key)) {
        if (rule.when === 'always') return `${named(path)} is missing (Rust always sends it)`;
        continue;
      }
      const value = v[key] as JsonValue;
      if (rule.when === 'omittable' && value === null) return `${named(path)} is null (Rust omits it instead)`;
      const problem = rule.check(value, path);
      if (problem) return problem;
    }
    for (const key of Object.keys(v)) {
      if (!Object.hasOwn(keys, key)) return `unexpected key '${p === '' ? key : `${p}.${key}`}' (Rust never sends it)`;
    }
    return null;
  };
}

const refine =
  (check: FieldCheck, rule: (v: JsonValue) => string | null): FieldCheck =>
  (v, p) =>
    check(v, p) ?? rule(v);

// ---------------------------------------------------------------------------------------------
// Per route, from rust-wire §2 and §3.

/** §2.1: `{"steps": <anything, null included>}`. */
export const TRAJECTORY_BODY = object({ steps: always(any) });

/** §2.2: every field optional and omitted when None; the body may be `{}`. */
export const REVIEW_METRICS_BODY = object({
  inputTokens: omittable(u32),
  outputTokens: omittable(u32),
  estimatedCostUsd: omittable(number),
  durationMs: omittable(u64),
  perspectiveCount: omittable(u32),
  pastVerdictsUsed: omittable(u32),
});

/** §2.3: None omitted (filePath too), `ruleIds` omitted when empty. */
export const ACCEPTED_EDIT_BODY = object({
  beforeCode: always(str),
  afterCode: always(str),
  filePath: omittable(str),
  repoFullName: omittable(str),
  targetPrNumber: omittable(i64),
  language: omittable(str),
  acceptanceSource: omittable(str),
  client: omittable(str),
  diffSignature: omittable(str),
  ruleIds: omittable(list(str, { min: 1 })),
});

/** §2.5: `intent` string or null, lists at most 10, `repoFullName` only when non-blank (trimmed). */
export const MCP_QUERY_BODY = object({
  file: always(str),
  intent: always(nullable(str)),
  rulesInjected: always(u64),
  strictMatchCount: always(u64),
  ruleTitles: always(list(str, { max: 10 })),
  ruleIds: always(list(str, { max: 10 })),
  client: always(str),
  repoFullName: omittable(
    refine(str, (v) => (v === '' || /^\s|\s$/.test(v as string) ? "'repoFullName' is blank or not trimmed" : null)),
  ),
});

const IMPORTED_COMMENT = object({
  eventType: omittable(oneOf(['pull_request_review_comment', 'pull_request_review', 'issue_comment'])),
  filePath: always(nullable(str)),
  lineNumber: omittable(i32),
  content: always(str),
  author: always(nullable(str)),
  commentUrl: always(str),
  threadId: always(nullable(str)),
  occurredAt: always(nullable(str)),
});

/** §2.6: some None fields omitted, others sent as null. */
export const IMPORTED_REVIEWS_BODY = object({
  reviews: always(
    list(
      object({
        provider: omittable(str),
        providerHost: omittable(str),
        repoFullName: always(str),
        sourceRepoFullName: omittable(str),
        prNumber: always(i32),
        prTitle: always(nullable(str)),
        comments: always(list(IMPORTED_COMMENT)),
      }),
    ),
  ),
});

/** §2.7: an `Observation` from the outbox. */
export const OBSERVATION_ITEM = object({
  session_id: always(str),
  ts_ms: always(i64),
  obs_type: always(str),
  tool: always(str),
  file_path: always(nullable(str)),
  scope: omittable(
    object({
      anchor_kind: always(str),
      anchor_key: always(str),
      parent_path: omittable(str),
      display_name: omittable(str),
    }),
  ),
  title: always(str),
  narrative: always(nullable(str)),
  diff_excerpt: always(nullable(str)),
  content_hash: always(str),
});

/** §3.1: an `ObservationEvent` from the hooks' own queue, tagged by `event_type`. */
const OBSERVATION_EVENTS: Record<string, FieldCheck> = {
  rule_fired: object({
    event_type: always(str),
    rule_ids: always(strings),
    file_path: omittable(str),
    intent: omittable(str),
    session_id: always(str),
    fired_at: always(datetime),
  }),
  mcp_rule_served: object({
    event_type: always(str),
    tool: always(str),
    session_id: always(str),
    repo_full_name: omittable(str),
    file_path: omittable(str),
    query_hash: always(str),
    rule_ids: always(strings),
    top_k: always(i64),
    was_empty: always(bool),
    strict_match_count: always(i64),
    estimated_tokens: always(i64),
    served_at: always(datetime),
  }),
  rule_cited_in_edit: object({
    event_type: always(str),
    rule_id: always(str),
    session_id: always(str),
    file_path: always(str),
    diff_excerpt: always(str),
    cited_at: always(datetime),
  }),
  rule_actually_cited: object({
    event_type: always(str),
    rule_id: always(str),
    session_id: always(str),
    file_path: omittable(str),
    citation_excerpt: always(str),
    cited_at: always(datetime),
  }),
  fix_outcome: object({
    event_type: always(str),
    rule_id: always(str),
    session_id: always(str),
    file_path: omittable(str),
    accepted: always(bool),
    occurred_at: always(datetime),
    mcp_serve_event_ids: omittable(list(i64, { min: 1 })),
  }),
};

/** One element of `POST /cloud/observations`: either shape (rust-wire §2.7 and §3). */
export const OBSERVATIONS_ELEMENT: FieldCheck = (v, p) => {
  if (isJsonObject(v) && Object.hasOwn(v, 'event_type')) {
    const check = OBSERVATION_EVENTS[String(v.event_type)];
    return check ? check(v, p) : `${named(`${p}.event_type`)} is not a known observation event`;
  }
  return OBSERVATION_ITEM(v, p);
};

const chars = (text: string): number => Array.from(text).length;

/** §2.8: a candidate as Rust re-serialises it after `validate()` passed. */
export const CANDIDATE_ITEM = refine(
  object({
    session_id: always(str),
    ts_ms: always(i64),
    source_repo: always(str),
    title: always(str),
    body: always(str),
    file_patterns: always(list(str, { min: 1, max: 3 })),
    gate_model: always(str),
    gate_verdict: always(str),
    content_hash: always(str),
    origin: always(oneOf(['session_mined'])),
    requires_human_approval: always(refine(bool, (v) => (v === true ? null : 'requires_human_approval must be true'))),
    localTriage: omittable(
      object({
        status: always(oneOf(['superseded_by', 'clustered_into', 'dropped_low_signal', 'unknown'])),
        reason: always(str),
        ref: omittable(str),
        at: always(i64),
      }),
    ),
    localEvidence: omittable(object({ distinctEvidenceCount: always(u64), updatedAt: always(i64) })),
  }),
  (v) => {
    const c = v as Record<string, JsonValue>;
    const title = chars(c.title as string);
    if (title < 1 || title > 120) return 'title must have 1 to 120 characters';
    const body = chars(c.body as string);
    if (body < 1 || body > 2000) return 'body must have 1 to 2000 characters';
    const verdict = c.gate_verdict as string;
    if (verdict !== 'KEEP' && !/^MERGE:.*\S/s.test(verdict)) return "gate_verdict must be 'KEEP' or 'MERGE:<target>'";
    return null;
  },
);

/** A JSON array of items, each passing `item`. */
export function batchOf(item: FieldCheck, max: number): FieldCheck {
  return (v) => {
    if (!Array.isArray(v)) return 'the body must be a JSON array';
    if (v.length === 0) return 'the array is empty';
    if (v.length > max) return `invalid_batch: ${v.length} items (at most ${max})`;
    for (let i = 0; i < v.length; i++) {
      const problem = item(v[i] as JsonValue, `[${i}]`);
      if (problem) return problem;
    }
    return null;
  };
}

/** A path id as escape_path_id writes it: unreserved characters and upper-case %XX only. */
export function escapedPathId(segment: string): boolean {
  return /^(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})*$/.test(segment);
}
