/**
 * `outbox-drain-state.json`: what the last drain pass did, in the Rust format (rust-wire §5.1:
 * `version` 1, `updatedAtMs`, `lastDrainAtMs` an integer, `attempted`, `confirmed` non-negative
 * integers, `lastError` string or null) plus fields of our own that the Rust reader ignores. Written,
 * as by Rust, only by passes that had a token; atomically, mode 0600, never through a symlink.
 */
import writeFileAtomic from 'write-file-atomic';
import type { BreakerState } from '../../machines/delivery-policy.js';
import type { TokenSource } from './cloud-config.js';
import type { HomePaths } from '../home/home.js';
import { checkHomeEntry, readHomeFile } from '../home/home-files.js';

/** Far above any real drain state; a bigger file is not ours to parse. */
const MAX_DRAIN_STATE_BYTES = 1024 * 1024;

export interface DrainStateFile {
  readonly version: 1;
  readonly updatedAtMs: number;
  /** When this pass ran (Rust: an i64, required; the file is written only by passes with a token). */
  readonly lastDrainAtMs: number;
  readonly attempted: number;
  readonly confirmed: number;
  readonly lastError: string | null;
  // Ours, additive:
  readonly retried: number;
  readonly abandoned: number;
  readonly waitingForAuth: boolean;
  readonly cancelled: boolean;
  readonly nextDueAt: number | null;
  readonly breaker: BreakerState;
  /** Where the pass's token came from (`env`, `file`, `rust-login:<key source>`); never the token. */
  readonly tokenSource?: TokenSource | null;
  readonly writer: 'difflore-daemon-ts';
}

/** Reads the file: null when missing, `{ error }` when it is not what we expect. */
export function readDrainState(paths: HomePaths): Partial<DrainStateFile> | null | { error: string } {
  let text: string;
  try {
    const bytes = readHomeFile(paths.drainState, MAX_DRAIN_STATE_BYTES);
    if (bytes === undefined) return null;
    text = bytes.toString('utf8');
  } catch (error) {
    return { error: (error as Error).message };
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'not a JSON object' };
    return value as Partial<DrainStateFile>;
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** Writes the file atomically (temp file, then rename). Errors are returned, not thrown: the state file is advisory. */
export function writeDrainState(paths: HomePaths, state: DrainStateFile): { ok: true } | { ok: false; error: string } {
  try {
    checkHomeEntry(paths.drainState);
    // No fsync: the file is advisory and rewritten after every pass; a sync per pass would block the
    // event loop for milliseconds on each wake-up. The rename still keeps it whole.
    writeFileAtomic.sync(paths.drainState, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600, fsync: false });
    return { ok: true };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}
