/**
 * The route table: for every outbox kind, where it goes, how its stored payload becomes the request
 * body, whether rows are batched, and what a 2xx must say to count as delivered. The rules are the
 * payload contracts (src/machines/contracts, one per kind, from reference/rust-wire.md); this module
 * adds what needs node: the Idempotency-Key of a row or a batch.
 */
import { createHash } from 'node:crypto';
import {
  type ContractResult,
  type KindContract,
  OBSERVATION_BATCH_MAX,
  contractFor,
  escapePathId,
  parseRow,
} from '../../machines/contracts/index.js';
import type { JsonRecord } from '../../json-record.js';

export { OBSERVATION_BATCH_MAX };

export type Shaped = ContractResult;
/** A kind's route: its contract (path, body, batching, judging of the answer). */
export type Route = KindContract;

/** The route of a kind, or undefined for a kind this version does not know. */
export function routeFor(kind: string): Route | undefined {
  return contractFor(kind);
}

/** Shapes a stored row's text into the request Rust would send (or says why Rust could not). */
export function shapeRow(route: Route, payloadJson: string): Shaped {
  return parseRow(route, payloadJson);
}

/** Percent-encodes a path id byte by byte, keeping only RFC 3986 unreserved characters (as Rust does). */
export const encodePathSegment = escapePathId;

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
    const obj = v as JsonRecord;
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
