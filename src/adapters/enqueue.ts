/**
 * The hook-fast enqueue: validate, open `data.db`, insert one row, close; spill to disk when the
 * database cannot be written. Owns the enqueue input rules (kind, JSON, size cap).
 *
 * This module is on the path of every hook, so its import graph is kept to node builtins, the home
 * and db adapters and the spill module; better-sqlite3 and write-file-atomic load only when used.
 * It must never import xstate, HTTP code, the inspector or Clipanion.
 */
import { DiffloreError } from '../errors.js';
import { openForInsert } from './db.js';
import { ensureHome, resolveHome } from './home.js';
import { spillRow } from './spill.js';

/** 1 MiB of UTF-8: far above any real observation, far below what would bloat the outbox. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
export const MAX_KIND_CHARS = 64;
const KIND = /^[a-z][a-z0-9_]*$/;

export type EnqueueResult =
  | { kind: 'inserted'; id: number }
  | { kind: 'spilled'; path: string; reason: string }
  | { kind: 'capture_disabled' };

export interface EnqueueOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: number;
  /** busy_timeout for this one insert; the default 5000 ms as everywhere. Tests shorten it. */
  readonly busyTimeoutMs?: number;
}

/**
 * Throws DiffloreError('invalid_input') naming the first problem: a kind that is not
 * `[a-z][a-z0-9_]*` (at most 64 characters), an empty payload, a payload over 1 MiB, or one that is
 * not JSON.
 */
export function validateEnqueueInput(kind: string, payloadJson: string): void {
  if (!KIND.test(kind)) {
    throw new DiffloreError(
      'invalid_input',
      `invalid kind ${JSON.stringify(kind)}: a kind starts with a lowercase letter and has only a-z, 0-9 and _`,
      { hint: "e.g. 'observation' or 'review_metrics'" },
    );
  }
  if (kind.length > MAX_KIND_CHARS) {
    throw new DiffloreError('invalid_input', `invalid kind: longer than ${MAX_KIND_CHARS} characters`);
  }
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
    throw new DiffloreError('invalid_input', `the payload is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * Queues one row for the daemon. Input errors and an unusable data home throw; a database that
 * cannot be written is not an error: the row is spilled and the result says where.
 */
export function enqueue(kind: string, payloadJson: string, options: EnqueueOptions = {}): EnqueueResult {
  validateEnqueueInput(kind, payloadJson);
  const env = options.env ?? process.env;
  // Exactly `false`, as in Rust and spill.ts's captureDisabled (not imported: see spill below).
  if (env.DIFFLORE_CAPTURE === 'false') return { kind: 'capture_disabled' };
  const now = options.now ?? Date.now();
  const paths = ensureHome(resolveHome(env));

  let id: number;
  try {
    id = insertOnce(paths.db, kind, payloadJson, now, options.busyTimeoutMs);
  } catch (error) {
    // Locked past the busy timeout, read-only, corrupt, or not openable: keep the row on disk.
    const reason = (error as Error).message ?? String(error);
    return { kind: 'spilled', path: spillRow(paths, kind, payloadJson, reason, now), reason };
  }
  return { kind: 'inserted', id };
}

function insertOnce(
  dbPath: string,
  kind: string,
  payloadJson: string,
  now: number,
  busyTimeoutMs: number | undefined,
): number {
  const connection = openForInsert(dbPath, busyTimeoutMs === undefined ? {} : { busyTimeoutMs });
  try {
    return connection.insert(kind, payloadJson, now);
  } finally {
    connection.close();
  }
}
