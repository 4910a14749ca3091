/**
 * The route table: for every outbox kind, where it goes, how its stored payload becomes the request
 * body, whether rows are batched, and what a 2xx must say to count as delivered
 * (reference/difflore-behaviour.md §2.9). Also the Idempotency-Key of a row.
 * Pure data and functions; the HTTP client and the drain pass use it, and so does the reference cloud.
 */
import { createHash } from 'node:crypto';
import type { SuccessTest } from '../machines/delivery-policy.js';

/** Observations go up to this many per POST; the cloud answers 400 invalid_batch above it. */
export const OBSERVATION_BATCH_MAX = 64;

export type Shaped =
  | { readonly ok: true; readonly path: string; readonly body: unknown }
  | { readonly ok: false; readonly reason: string };

export interface Route {
  readonly kind: string;
  /** Names the call in transport errors, as the Rust client does (`post_observations`). */
  readonly label: string;
  /**
   * `batch`: rows become items of one JSON array per POST (up to OBSERVATION_BATCH_MAX), `shape`
   * gives one item; `single`: one POST per row; `skip`: confirmed without being sent.
   */
  readonly mode: 'batch' | 'single' | 'skip';
  readonly method: 'POST';
  /** The path of a batch route (single routes may put ids in theirs). */
  readonly path: string;
  shape(payload: unknown): Shaped;
  /** The route's test of a 2xx body. */
  judge(body: string): SuccessTest;
}

const ACCEPTED: SuccessTest = { kind: 'accepted' };
const anyTwoHundred = (): SuccessTest => ACCEPTED;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Percent-encodes a path id byte by byte, keeping only RFC 3986 unreserved characters (as Rust does). */
export function encodePathSegment(id: string): string {
  let out = '';
  for (const byte of Buffer.from(id, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

class FieldError extends Error {}

function str(obj: Json, key: string): string {
  const v = obj[key];
  if (typeof v !== 'string') throw new FieldError(`'${key}' must be a string`);
  return v;
}
function optStr(obj: Json, key: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new FieldError(`'${key}' must be a string`);
  return v;
}
function int(obj: Json, key: string): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new FieldError(`'${key}' must be an integer`);
  return v;
}
function optNum(obj: Json, key: string): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new FieldError(`'${key}' must be a number`);
  return v;
}
function bool(obj: Json, key: string): boolean {
  const v = obj[key];
  if (typeof v !== 'boolean') throw new FieldError(`'${key}' must be a boolean`);
  return v;
}
function strArray(obj: Json, key: string, required: boolean): string[] | undefined {
  const v = obj[key];
  if (v === undefined || v === null) {
    if (required) throw new FieldError(`'${key}' must be an array of strings`);
    return undefined;
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw new FieldError(`'${key}' must be an array of strings`);
  }
  return v as string[];
}
/** Copies the keys that are set (not undefined), so absent fields stay absent in the body. */
function defined(entries: Record<string, unknown>): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(entries)) if (v !== undefined) out[k] = v;
  return out;
}

function shaper(
  label: string,
  build: (payload: Json) => { path: string; body: unknown },
): (payload: unknown) => Shaped {
  return (payload) => {
    if (!isObject(payload)) return { ok: false, reason: `${label}: the payload is not a JSON object` };
    try {
      return { ok: true, ...build(payload) };
    } catch (error) {
      if (error instanceof FieldError) return { ok: false, reason: `${label}: ${error.message}` };
      throw error;
    }
  };
}

function nonEmptyId(payload: Json, key: string): string {
  const id = str(payload, key);
  if (id.trim() === '') throw new FieldError(`'${key}' must not be empty`);
  return id;
}

/** Rust's DTO: `scope` is an object (omitted when None); file_path, narrative and diff_excerpt may be null. */
function nullableStr(obj: Json, key: string): string | null {
  const v = obj[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new FieldError(`'${key}' must be a string or null`);
  return v;
}
function optScope(obj: Json): unknown {
  const v = obj.scope;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' && !isObject(v)) throw new FieldError(`'scope' must be an object`);
  return v;
}

const observationItem = (p: Json): Json =>
  defined({
    session_id: str(p, 'session_id'),
    ts_ms: int(p, 'ts_ms'),
    obs_type: str(p, 'obs_type'),
    tool: str(p, 'tool'),
    file_path: nullableStr(p, 'file_path'),
    scope: optScope(p),
    title: str(p, 'title'),
    narrative: nullableStr(p, 'narrative'),
    diff_excerpt: nullableStr(p, 'diff_excerpt'),
    content_hash: str(p, 'content_hash'),
  });

/** Keys that live only in the local row and are dropped before a candidate is sent. */
const CANDIDATE_LOCAL_KEYS = new Set(['localReview']);

const ROUTE_LIST: readonly Route[] = [
  {
    kind: 'trajectory',
    label: 'save_trajectory',
    mode: 'single',
    method: 'POST',
    path: '/reviews/{prReviewId}/trajectory',
    shape: shaper('trajectory', (p) => ({
      path: `/reviews/${encodePathSegment(nonEmptyId(p, 'pr_review_id'))}/trajectory`,
      body: { steps: p.steps === undefined || p.steps === null ? [] : p.steps },
    })),
    judge: anyTwoHundred,
  },
  {
    kind: 'review_metrics',
    label: 'record_review_metrics',
    mode: 'single',
    method: 'POST',
    path: '/reviews/{id}/metrics',
    shape: shaper('review_metrics', (p) => {
      const req = p.req === undefined || p.req === null ? {} : p.req;
      if (!isObject(req)) throw new FieldError(`'req' must be an object`);
      const int64 = (key: string): number | undefined => {
        const v = optNum(req, key);
        if (v !== undefined && !Number.isInteger(v)) throw new FieldError(`'req.${key}' must be an integer`);
        return v;
      };
      return {
        path: `/reviews/${encodePathSegment(nonEmptyId(p, 'review_id'))}/metrics`,
        body: defined({
          inputTokens: int64('inputTokens'),
          outputTokens: int64('outputTokens'),
          estimatedCostUsd: optNum(req, 'estimatedCostUsd'),
          durationMs: int64('durationMs'),
          perspectiveCount: int64('perspectiveCount'),
          pastVerdictsUsed: int64('pastVerdictsUsed'),
        }),
      };
    }),
    judge: anyTwoHundred,
  },
  {
    kind: 'accepted_edit',
    label: 'record_accepted_edit',
    mode: 'single',
    method: 'POST',
    path: '/accepted-edits',
    shape: shaper('accepted_edit', (p) => {
      const ruleIds = strArray(p, 'ruleIds', false);
      const targetPrNumber = optNum(p, 'targetPrNumber');
      if (targetPrNumber !== undefined && !Number.isInteger(targetPrNumber)) {
        throw new FieldError(`'targetPrNumber' must be an integer`);
      }
      return {
        path: '/accepted-edits',
        body: defined({
          beforeCode: str(p, 'beforeCode'),
          afterCode: str(p, 'afterCode'),
          filePath: optStr(p, 'filePath'),
          repoFullName: optStr(p, 'repoFullName'),
          targetPrNumber,
          language: optStr(p, 'language'),
          acceptanceSource: optStr(p, 'acceptanceSource'),
          client: optStr(p, 'client'),
          diffSignature: optStr(p, 'diffSignature'),
          ruleIds: ruleIds && ruleIds.length > 0 ? ruleIds : undefined,
        }),
      };
    }),
    // Success needs the cloud to say it recorded the acceptance, not just a 2xx.
    judge: (body) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        return { kind: 'undecodable', reason: 'the response body is not JSON' };
      }
      if (!isObject(parsed) || typeof parsed.acceptanceRecorded !== 'boolean') {
        return { kind: 'undecodable', reason: 'the response has no acceptanceRecorded' };
      }
      if (parsed.acceptanceRecorded) return ACCEPTED;
      const detail = typeof parsed.error === 'string' && parsed.error !== '' ? parsed.error : 'no detail';
      return { kind: 'rejected', reason: `accepted_edit rejected: ${detail}` };
    },
  },
  {
    kind: 'mcp_query',
    label: 'track_mcp_query',
    mode: 'single',
    method: 'POST',
    path: '/dashboard/mcp-query',
    shape: shaper('mcp_query', (p) => {
      // The cloud's schema caps the counts at 20 and types intent as a string (reference §6.27):
      // clamp and leave a missing intent out instead of burning eight tries on a 400.
      const count = (key: string): number => {
        const v = optNum(p, key) ?? 0;
        return Math.min(20, Math.max(0, Math.trunc(v)));
      };
      const repo = optStr(p, 'repo_full_name')?.trim();
      const client = optStr(p, 'client_label');
      return {
        path: '/dashboard/mcp-query',
        body: defined({
          file: str(p, 'file'),
          intent: optStr(p, 'intent'),
          rulesInjected: count('rules_injected'),
          strictMatchCount: count('strict_match_count'),
          ruleTitles: (strArray(p, 'rule_titles', false) ?? []).slice(0, 10),
          ruleIds: (strArray(p, 'rule_ids', false) ?? []).slice(0, 10),
          client: client === undefined || client.trim() === '' ? 'mcp-server' : client,
          repoFullName: repo === undefined || repo === '' ? undefined : repo,
        }),
      };
    }),
    judge: anyTwoHundred,
  },
  {
    kind: 'imported_reviews',
    label: 'upload_imported_reviews',
    mode: 'single',
    method: 'POST',
    path: '/reviews/import',
    shape: shaper('imported_reviews', (p) => {
      if (!Array.isArray(p.reviews)) throw new FieldError(`'reviews' must be an array`);
      return { path: '/reviews/import', body: p };
    }),
    judge: anyTwoHundred,
  },
  {
    kind: 'observation',
    label: 'post_observations',
    mode: 'batch',
    method: 'POST',
    path: '/cloud/observations',
    shape: shaper('observation', (p) => ({ path: '/cloud/observations', body: observationItem(p) })),
    judge: anyTwoHundred,
  },
  {
    kind: 'session_mined_candidate',
    label: 'post_session_mined_candidate',
    mode: 'single',
    method: 'POST',
    path: '/cloud/session-mined-candidates',
    shape: shaper('session_mined_candidate', (p) => {
      for (const key of [
        'session_id',
        'source_repo',
        'title',
        'body',
        'gate_model',
        'gate_verdict',
        'content_hash',
        'origin',
      ]) {
        str(p, key);
      }
      int(p, 'ts_ms');
      strArray(p, 'file_patterns', true);
      bool(p, 'requires_human_approval');
      const review = p.localReview;
      if (!isObject(review) || String(review.status ?? '').toLowerCase() !== 'approved') {
        throw new FieldError('not approved locally (localReview.status)');
      }
      const candidate: Json = {};
      for (const [k, v] of Object.entries(p)) if (!CANDIDATE_LOCAL_KEYS.has(k)) candidate[k] = v;
      return { path: '/cloud/session-mined-candidates', body: [candidate] };
    }),
    judge: anyTwoHundred,
  },
  {
    kind: 'fix_acceptance',
    label: 'fix_acceptance',
    mode: 'skip',
    method: 'POST',
    path: '',
    shape: () => ({ ok: true, path: '', body: null }),
    judge: anyTwoHundred,
  },
];

export const ROUTES: ReadonlyMap<string, Route> = new Map(ROUTE_LIST.map((r) => [r.kind, r]));

export function routeFor(kind: string): Route | undefined {
  return ROUTES.get(kind);
}

/**
 * JSON with object keys sorted at every level: the same value always gives the same text.
 * Iterative, with its own stack of steps: a payload is user input, and recursion as deep as its
 * nesting would overflow the call stack on a few kilobytes of brackets.
 */
export function canonicalJson(value: unknown): string {
  type Step = { readonly text: string } | { readonly value: unknown };
  const out: string[] = [];
  const steps: Step[] = [{ value }];
  for (let step = steps.pop(); step !== undefined; step = steps.pop()) {
    if ('text' in step) {
      out.push(step.text);
      continue;
    }
    const v = step.value;
    if (v === null || typeof v !== 'object') {
      out.push(JSON.stringify(v) ?? 'null');
      continue;
    }
    // Pushed in reverse, so they pop in order: opening bracket, items with commas, closing bracket.
    if (Array.isArray(v)) {
      steps.push({ text: ']' });
      for (let i = v.length - 1; i >= 0; i--) {
        steps.push({ value: v[i] === undefined ? null : v[i] });
        if (i > 0) steps.push({ text: ',' });
      }
      steps.push({ text: '[' });
      continue;
    }
    const obj = v as Json;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    steps.push({ text: '}' });
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i] as string;
      steps.push({ value: obj[key] });
      steps.push({ text: `${i > 0 ? ',' : ''}${JSON.stringify(key)}:` });
    }
    steps.push({ text: '{' });
  }
  return out.join('');
}

/**
 * The Idempotency-Key of a row: a hash of its kind and its canonical payload, so it is the same on
 * every retry, after a spill replay, and whatever whitespace or key order the writer used.
 * `payload` is the parsed payload when the caller has it; otherwise the raw text is hashed.
 */
export function idempotencyKey(kind: string, payloadJson: string, payload?: unknown): string {
  let text = payloadJson;
  if (payload !== undefined) {
    text = canonicalJson(payload);
  } else {
    try {
      text = canonicalJson(JSON.parse(payloadJson));
    } catch {
      // Not JSON: the raw text is all there is to key on.
    }
  }
  return createHash('sha256').update(kind).update('\n').update(text).digest('hex');
}

/**
 * The key of a batch request: a hash of its rows' payload texts in order. A batch is re-formed on
 * every try, so only its items' own dedupe (by content, on the cloud) has to be stable; this key just
 * lets the cloud recognise the very same request sent twice. Hashing the stored text skips the
 * canonical form, which is most of the CPU of a 64-row batch.
 */
export function batchIdempotencyKey(kind: string, payloadTexts: readonly string[]): string {
  const hash = createHash('sha256').update(`${kind}-batch`);
  for (const text of payloadTexts) hash.update('\n').update(text);
  return hash.digest('hex');
}
