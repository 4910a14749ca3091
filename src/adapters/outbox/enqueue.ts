/**
 * The hook-fast enqueue: validate, open `data.db`, insert one row, close; spill to disk when the
 * database cannot be written. The rules and the insert are in enqueue-core.ts; this module adds the
 * spill, so `enqueue` never fails for a database that is locked, read-only or corrupt.
 *
 * On the path of every in-process producer: it must never import xstate, HTTP code, the inspector
 * or Clipanion. (The CLI uses enqueue-core.ts and loads the spill module only on failure.)
 */
import { type EnqueueOptions, tryInsert } from './enqueue-core.js';
import { spillRow } from './spill.js';

export {
  type EnqueueOptions,
  HOOK_BUSY_TIMEOUT_MS,
  loadContract,
  MAX_PAYLOAD_BYTES,
  validateEnqueueInput,
} from './enqueue-core.js';

export type EnqueueResult =
  | { kind: 'inserted'; id: number }
  | { kind: 'spilled'; path: string; reason: string }
  | { kind: 'capture_disabled' };

/**
 * Queues one row for the daemon. Input errors and an unusable data home throw; a database that
 * cannot be written is not an error: the row is spilled and the result says where. The kind's
 * payload contract must be loaded first (`await loadContract(kind)`).
 */
export function enqueue(kind: string, payloadJson: string, options: EnqueueOptions = {}): EnqueueResult {
  const attempt = tryInsert(kind, payloadJson, options);
  if (attempt.kind !== 'db_failed') return attempt;
  const { paths, reason, now } = attempt;
  return { kind: 'spilled', path: spillRow(paths, kind, payloadJson, reason, now), reason };
}
