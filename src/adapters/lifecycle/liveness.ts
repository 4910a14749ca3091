/**
 * Is a daemon running? (DESIGN §4) — the probe behind `daemon status` and the stop protocol's
 * `probing`. Owns: combining the pid file, the lifetime lock and the identity recorded in
 * `daemon-state.json` into one answer. Read-only: it removes nothing and signals nothing (kill 0
 * aside), and it never creates a file.
 *
 * The lifetime lock is probed *shared* and released at once: a daemon holds it exclusive, so a
 * failed shared try means one lives, and a concurrent claimer can tell a probe from a daemon.
 *
 * | lifetime lock | pid file                        | recorded identity for that pid | answer      |
 * |---------------|---------------------------------|--------------------------------|-------------|
 * | free          | missing                         | —                              | notRunning  |
 * | free          | garbage / pid ≤ 1               | —                              | stale       |
 * | free          | pid dead or zombie              | —                              | stale       |
 * | free          | pid alive                       | differs (reused, rebooted)     | stale       |
 * | free          | pid alive                       | matches                        | running     |
 * | free          | pid alive, provably not difflore| none / cannot tell             | stale       |
 * | free          | pid alive, may be difflore      | none / cannot tell             | unverified  |
 * | held          | pid (or identity) matches       | matches                        | running     |
 * | held          | anything else                   | —                              | unverified  |
 * Only `running` may be signalled; `unverified` needs the user's `--force`, `stale` never is.
 */
import type { StaleReason } from '../../machines/daemon.js';
import { probeLock } from './flock.js';
import type { HomePaths } from '../home/home.js';
import { readPidFile } from './pid-file.js';
import type { ProcessIdentity } from '../../machines/types.js';
import { isAlive, mayBeDifflore, sameProcess } from './process-identity.js';
import { readRecordedIdentity } from './recorder.js';

export type LivenessResult =
  | { readonly kind: 'notRunning'; readonly lockHeld: false }
  | {
      readonly kind: 'stale';
      /** `null` for a garbage pid file. */
      readonly pid: number | null;
      readonly reason: StaleReason;
      /** The garbage text (first 64 bytes) when `reason` is `invalidPid` and the file did not parse. */
      readonly text?: string;
      readonly lockHeld: false;
    }
  /** Provably our daemon: identity recorded at claim time matches the live process. */
  | { readonly kind: 'running'; readonly pid: number; readonly identity: ProcessIdentity; readonly lockHeld: boolean }
  /**
   * Something lives that we cannot prove is our daemon (a Rust daemon, no identity recorded, or a
   * daemon holds the lock but no pid file names it: `pid` is then `null`). Claims conflict with it;
   * stop refuses to signal it without `--force`.
   */
  | { readonly kind: 'unverified'; readonly pid: number | null; readonly lockHeld: boolean };

export type LivenessPaths = Pick<HomePaths, 'pidFile' | 'lifetimeLock' | 'stateFile'>;

export interface LivenessOptions {
  /** Default: the identity in `paths.stateFile` (garbage or Rust-written → none). */
  readonly readRecordedIdentity?: () => ProcessIdentity | null;
}

/** Probes once. Throws `unsafe_file` for a symlinked pid, lock or state file. */
export function probeLiveness(paths: LivenessPaths, options: LivenessOptions = {}): LivenessResult {
  const recorded = (options.readRecordedIdentity ?? (() => readRecordedIdentity(paths.stateFile)))();
  const lockHeld = probeLock(paths.lifetimeLock, 'shared').kind === 'held';
  const found = readPidFile(paths.pidFile);
  const verifies = (pid: number): boolean =>
    recorded !== null && recorded.pid === pid && sameProcess(recorded, pid).kind === 'same';

  if (lockHeld) {
    const pid = found.kind === 'pid' ? found.pid : (recorded?.pid ?? null);
    if (pid !== null && recorded !== null && verifies(pid)) {
      return { kind: 'running', pid, identity: recorded, lockHeld };
    }
    return { kind: 'unverified', pid, lockHeld };
  }

  if (found.kind === 'missing') return { kind: 'notRunning', lockHeld: false };
  if (found.kind === 'garbage')
    return { kind: 'stale', pid: null, reason: 'invalidPid', text: found.text, lockHeld: false };
  const pid = found.pid;
  if (pid === process.pid) {
    // Only a daemon of ours asks about itself while holding the lock; with the lock free, the file is old.
    return { kind: 'stale', pid, reason: 'identityMismatch', lockHeld: false };
  }
  const alive = isAlive(pid);
  if (alive.kind === 'invalid') return { kind: 'stale', pid, reason: 'invalidPid', lockHeld: false };
  if (alive.kind === 'dead') return { kind: 'stale', pid, reason: alive.zombie ? 'zombie' : 'dead', lockHeld: false };
  // Nothing recorded to prove who it is: what it runs may still prove it is not difflore (the pid
  // was reused by `sleep`, say), and then the file is stale and the process never signalled.
  const unproven = (): LivenessResult =>
    mayBeDifflore(pid) === 'notDifflore'
      ? { kind: 'stale', pid, reason: 'identityMismatch', lockHeld: false }
      : { kind: 'unverified', pid, lockHeld: false };
  if (recorded === null || recorded.pid !== pid) return unproven();
  const same = sameProcess(recorded, pid);
  if (same.kind === 'same') return { kind: 'running', pid, identity: recorded, lockHeld: false };
  if (same.kind === 'unknown') return unproven();
  const reason: StaleReason = same.reason === 'dead' || same.reason === 'zombie' ? same.reason : 'identityMismatch';
  return { kind: 'stale', pid, reason, lockHeld: false };
}
