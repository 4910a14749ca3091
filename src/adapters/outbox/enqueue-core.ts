/**
 * The core of the hook-fast enqueue: the input rules (kind, JSON, size cap) and one insert into
 * `data.db`, reporting a database failure instead of handling it. enqueue.ts adds the spill; the CLI
 * uses this module directly so that it loads the spill module only when the database has failed.
 *
 * Every hook runs this, so its imports are node builtins, errors, home and db; better-sqlite3
 * loads lazily. It must never import xstate, HTTP code, the inspector, Clipanion or the spill.
 */
import { DiffloreError } from '../../errors.js';
import { isKnownKind, KIND_NAME, type KnownKind } from '../../machines/contracts/kinds.js';
import { parseJson } from '../../machines/contracts/json.js';
import type { KindContract } from '../../machines/contracts/types.js';
import { openForInsert } from './db.js';
import { ensureHome, type HomePaths, resolveHome } from '../home/home.js';

/** 1 MiB of UTF-8: far above any real observation, far below what would bloat the outbox. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
export const MAX_KIND_CHARS = 64;
/**
 * How long a hook's insert waits for the write lock before it spills instead. Hooks run on every
 * tool call of an agent and must return in milliseconds; a drainer holds the lock for well under a
 * millisecond per claim, so only a stuck writer (a long transaction, a sqlite3 shell) meets this,
 * and the spill is what it is for. The daemon's own connections keep SQLite's 5000 ms (DESIGN §5.1).
 */
export const HOOK_BUSY_TIMEOUT_MS = 250;

/**
 * Each kind's contract module, loaded on first use: a hook queues one kind, and loading only its
 * contract (not all eight) keeps the hook's start-up small.
 */
const CONTRACT_MODULES: Readonly<Record<KnownKind, () => Promise<KindContract>>> = {
  trajectory: async () => (await import('../../machines/contracts/trajectory.js')).trajectory,
  review_metrics: async () => (await import('../../machines/contracts/review-metrics.js')).reviewMetrics,
  accepted_edit: async () => (await import('../../machines/contracts/accepted-edit.js')).acceptedEdit,
  fix_acceptance: async () => (await import('../../machines/contracts/fix-acceptance.js')).fixAcceptance,
  mcp_query: async () => (await import('../../machines/contracts/mcp-query.js')).mcpQuery,
  imported_reviews: async () => (await import('../../machines/contracts/imported-reviews.js')).importedReviews,
  observation: async () => (await import('../../machines/contracts/observation.js')).observation,
  session_mined_candidate: async () =>
    (await import('../../machines/contracts/session-mined-candidate.js')).sessionMinedCandidate,
};
const loadedContracts = new Map<string, KindContract>();

/**
 * Loads the payload contract of `kind` (nothing for a kind this version does not know). Call it
 * before tryInsert/enqueue of that kind: validation is synchronous and uses what is loaded.
 */
export async function loadContract(kind: string): Promise<void> {
  if (!isKnownKind(kind) || loadedContracts.has(kind)) return;
  loadedContracts.set(kind, await CONTRACT_MODULES[kind]());
}

/** What one insert attempt came to; `db_failed` carries what a spill needs. */
export type InsertAttempt =
  | { kind: 'inserted'; id: number }
  | { kind: 'capture_disabled' }
  | { kind: 'db_failed'; reason: string; paths: HomePaths; now: number };

export interface EnqueueOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: number;
  /** busy_timeout for this one insert; default HOOK_BUSY_TIMEOUT_MS, then the row spills. */
  readonly busyTimeoutMs?: number;
}

/**
 * Throws DiffloreError('invalid_input') naming the first problem: a kind that is not
 * `[a-z][a-z0-9_]*` (at most 64 characters), an empty payload, a payload over 1 MiB, one that is
 * not JSON, or, for a kind this version knows, one its payload contract says the Rust binary could
 * never send. A kind this version does not know only has to be JSON: it waits for a newer version.
 */
export function validateEnqueueInput(kind: string, payloadJson: string): void {
  validateKind(kind);
  validatePayload(kind, payloadJson);
}

/** The kind rule alone, so a caller can reject a bad kind before it reads a payload from stdin. */
export function validateKind(kind: string): void {
  if (!KIND_NAME.test(kind)) {
    throw new DiffloreError(
      'invalid_input',
      `invalid kind "${printable(kind, 80)}": a kind starts with a lowercase letter and has only a-z, 0-9 and _`,
      { hint: "e.g. 'observation' or 'review_metrics'" },
    );
  }
  if (kind.length > MAX_KIND_CHARS) {
    throw new DiffloreError('invalid_input', `invalid kind: longer than ${MAX_KIND_CHARS} characters`);
  }
}

function validatePayload(kind: string, payloadJson: string): void {
  if (payloadJson.trim() === '') {
    throw new DiffloreError('invalid_input', 'the payload is empty; give a JSON value', {
      hint: `e.g. difflore enqueue ${kind} '{"key":"value"}'`,
    });
  }
  // String length bounds the byte length from below (and from above at 3 bytes per UTF-16 unit),
  // so most payloads skip the exact count.
  if (payloadJson.length * 3 > MAX_PAYLOAD_BYTES) {
    const bytes = Buffer.byteLength(payloadJson, 'utf8');
    if (bytes > MAX_PAYLOAD_BYTES) {
      throw new DiffloreError('invalid_input', `the payload is too large: ${bytes} bytes, the limit is 1 MiB`);
    }
  }
  try {
    JSON.parse(payloadJson);
  } catch (error) {
    // JSON.parse quotes the offending text; escape it so a payload cannot drive the terminal or
    // forge a line of output.
    throw new DiffloreError(
      'invalid_input',
      `the payload is not valid JSON: ${printable((error as Error).message, 300)}`,
    );
  }
  // serde_json refuses what JSON.parse takes (a lone surrogate escape, 1e400, nesting past 128):
  // the Rust binary could not read such a row, whatever its kind.
  const read = parseJson(payloadJson);
  if (!read.ok) {
    throw new DiffloreError(
      'invalid_input',
      `the payload is not valid JSON as the Rust binary reads it: ${printable(read.reason, 300)}`,
    );
  }
  if (!isKnownKind(kind)) return;
  const contract = loadedContracts.get(kind);
  if (contract === undefined) {
    throw new DiffloreError('internal', `the payload contract of '${kind}' is not loaded (call loadContract first)`);
  }
  if (contract.mode === 'skip') return;
  const shaped = contract.parse(read.value);
  if (!shaped.ok) {
    throw new DiffloreError(
      'invalid_input',
      `the payload is not a valid '${kind}' row (the Rust binary could never send it): ${printable(shaped.reason, 300)}`,
      { hint: `see the README, "Payload contracts", for what a '${kind}' payload may be` },
    );
  }
}

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** User text made safe for one line of a terminal: C0, DEL, C1 and line separators escaped, length capped. */
function printable(text: string, max: number): string {
  let out = '';
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    const control = c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029;
    out += control ? (NAMED[ch] ?? `\\u${c.toString(16).padStart(4, '0')}`) : ch;
    if (out.length > max) return `${out.slice(0, max)}…`;
  }
  return out;
}

/**
 * Validates, then inserts one row unless capture is disabled. Input errors and an unusable data
 * home throw; a database that cannot take the row (locked past the busy timeout, read-only,
 * corrupt, not openable) is reported as `db_failed`, for the caller to spill.
 */
export function tryInsert(kind: string, payloadJson: string, options: EnqueueOptions = {}): InsertAttempt {
  validateEnqueueInput(kind, payloadJson);
  const env = options.env ?? process.env;
  // Exactly `false`, as in Rust (reference/difflore-behaviour.md §2.12) and spill.ts's captureDisabled.
  if (env.DIFFLORE_CAPTURE === 'false') return { kind: 'capture_disabled' };
  const now = options.now ?? Date.now();
  const paths = ensureHome(resolveHome(env));
  try {
    return { kind: 'inserted', id: insertOnce(paths.db, kind, payloadJson, now, options.busyTimeoutMs) };
  } catch (error) {
    return { kind: 'db_failed', reason: (error as Error).message ?? String(error), paths, now };
  }
}

function insertOnce(
  dbPath: string,
  kind: string,
  payloadJson: string,
  now: number,
  busyTimeoutMs: number | undefined,
): number {
  const connection = openForInsert(dbPath, { busyTimeoutMs: busyTimeoutMs ?? HOOK_BUSY_TIMEOUT_MS });
  try {
    return connection.insert(kind, payloadJson, now);
  } finally {
    connection.close();
  }
}
