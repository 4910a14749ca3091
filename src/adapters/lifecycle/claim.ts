/**
 * The claim protocol (DESIGN §3.1, §4), one adapter call per machine actor: `claim` for `claiming`,
 * `reclaimStale` for `reclaimingStale`, `releaseClaim` for `stopping`, and `cleanStale` for the stop
 * protocol's `staleCleaned`. Owns the order of the steps; what to do with each result is the
 * machine's business.
 *
 * Steps of a claim, all under the claim lock (flock on `daemon.pid.lock`, as the Rust binary does;
 * held only for the claim because the Rust claimer blocks on it):
 *   1. take the lifetime lock (flock LOCK_EX on `daemon.lock`, non-blocking): busy ⇔ a daemon of
 *      ours lives → conflict;
 *   2. create `daemon.pid` exclusively with our pid; if one exists, judge its owner: alive and not
 *      provably someone else → conflict; dead, zombie, reused or garbage → stale;
 *   3. record our identity in `daemon-state.json` before the claim lock is released, so nobody sees
 *      our pid file without the identity that proves it. The identity it replaces is reported as
 *      `deadPredecessor` when that process is provably gone, so its outbox leases can be handed back.
 * The lifetime lock is then held until the daemon exits (`releaseClaim`) or dies (the kernel frees it).
 */
import type { HomePaths } from '../home/home.js';
import { type LockHandle, lock, probeLock, tryLock, unlock } from './flock.js';
import {
  claimLockBusy,
  createPidFile,
  type PidFileRead,
  readPidFile,
  removeGarbagePidFile,
  removePidFileIfHolds,
} from './pid-file.js';
import type { ClaimResult } from '../../machines/daemon.js';
import type { ProcessIdentity } from '../../machines/types.js';
import { isAlive, mayBeDifflore, sameProcess, selfIdentity } from './process-identity.js';
import { readRecordedIdentity, recordClaim } from './recorder.js';

export type ClaimPaths = Pick<HomePaths, 'pidFile' | 'claimLock' | 'lifetimeLock' | 'stateFile'>;

/** A stale pid file as the machine's `stale` claim result, plus the garbage text (first 64 bytes) for messages. */
export type StaleFinding = Extract<ClaimResult, { readonly kind: 'stale' }> & { readonly text?: string };

/** A live owner, as the machine's `conflict` claim result. */
export type ConflictFinding = Extract<ClaimResult, { readonly kind: 'conflict' }>;

/** The machine's `claimed` result plus what only the composition root needs. */
export interface Claimed extends Extract<ClaimResult, { readonly kind: 'claimed' }> {
  /**
   * The daemon recorded before us, when it is proven gone (dead, zombie, its pid reused, or the
   * machine rebooted since): whatever it still held in the outbox is nobody's now. `null` when no
   * identity was recorded (a first start, a Rust daemon) or when it cannot be proven gone.
   */
  readonly deadPredecessor: ProcessIdentity | null;
  /** The lifetime lock: keep it until exit, release it with `releaseClaim`. */
  readonly lifetime: LockHandle;
}

/** What `claim` and `reclaimStale` find: the machine's `ClaimResult`, with the adapter's extras. */
export type ClaimFinding = Claimed | ConflictFinding | StaleFinding;

export interface ClaimOptions {
  /** How long to wait for the claim lock before throwing `conflict`. Default 10 s. */
  readonly claimLockTimeoutMs?: number;
  /** The identity recorded by the last daemon; default: read from `paths.stateFile`. */
  readonly readRecordedIdentity?: () => ProcessIdentity | null;
  /** Writes our identity as the new run; default: `recordClaim(paths.stateFile, …)`. */
  readonly recordIdentity?: (identity: ProcessIdentity) => void;
  /** fsync of the state file on the default `recordIdentity`. Default true. */
  readonly fsync?: boolean;
}

/** How often a claimer re-tries a lifetime lock that only probes (shared holders) are touching. */
const PROBE_RETRIES = 50;

type LifetimeAttempt = { kind: 'acquired'; handle: LockHandle } | { kind: 'heldByDaemon' };

/**
 * Takes the lifetime lock without waiting for a daemon. Liveness probes take it *shared* for an
 * instant; a daemon holds it *exclusive*. So when the exclusive try fails, a shared try tells the
 * two apart: if it succeeds, only probes were there and we try again; if it fails, a daemon lives.
 */
async function takeLifetimeLock(path: string): Promise<LifetimeAttempt> {
  for (let attempt = 0; attempt < PROBE_RETRIES; attempt += 1) {
    const taken = tryLock(path, { mode: 'exclusive' });
    if (taken.kind === 'acquired') return taken;
    if (probeLock(path, 'shared').kind === 'held') return { kind: 'heldByDaemon' };
    await new Promise<void>((resolve) => setTimeout(resolve, Math.min(1 + attempt, 10)));
  }
  return { kind: 'heldByDaemon' };
}

function defaults(paths: ClaimPaths, options: ClaimOptions) {
  return {
    readRecorded: options.readRecordedIdentity ?? (() => readRecordedIdentity(paths.stateFile)),
    recordIdentity:
      options.recordIdentity ??
      ((identity: ProcessIdentity) => {
        recordClaim(paths.stateFile, identity, { fsync: options.fsync ?? true });
      }),
  };
}

/** Judges an existing pid file while we hold the lifetime lock (so no daemon of ours owns it). */
function judgeExisting(found: PidFileRead, recorded: ProcessIdentity | null): ConflictFinding | StaleFinding | null {
  if (found.kind === 'missing') return null;
  if (found.kind === 'garbage') return { kind: 'stale', pid: null, reason: 'invalidPid', text: found.text };
  const pid = found.pid;
  // Our own pid in the file: the daemon that wrote it is gone and the kernel gave its pid to us.
  if (pid === process.pid) return { kind: 'stale', pid, reason: 'identityMismatch' };
  const alive = isAlive(pid);
  if (alive.kind === 'invalid') return { kind: 'stale', pid, reason: 'invalidPid' };
  if (alive.kind === 'dead') return { kind: 'stale', pid, reason: alive.zombie ? 'zombie' : 'dead' };
  // Alive, nothing to check it against (a Rust daemon, an older record): a daemon unless what it runs
  // proves otherwise (start-stop-daemon's --exec check) — then the pid was reused and the file is stale.
  const unproven = (): ConflictFinding | StaleFinding =>
    mayBeDifflore(pid) === 'notDifflore'
      ? { kind: 'stale', pid, reason: 'identityMismatch' }
      : { kind: 'conflict', pid, verified: false };
  if (recorded === null || recorded.pid !== pid) return unproven();
  const same = sameProcess(recorded, pid);
  if (same.kind === 'same') return { kind: 'conflict', pid, verified: true };
  if (same.kind === 'unknown') return unproven();
  if (same.reason === 'dead' || same.reason === 'zombie') return { kind: 'stale', pid, reason: same.reason };
  return { kind: 'stale', pid, reason: 'identityMismatch' };
}

/** The conflict to report when a daemon holds the lifetime lock. */
function liveOwner(paths: ClaimPaths, recorded: ProcessIdentity | null): ConflictFinding {
  const found = readPidFile(paths.pidFile);
  const pid = found.kind === 'pid' ? found.pid : (recorded?.pid ?? null);
  const verified = pid !== null && recorded !== null && sameProcess(recorded, pid).kind === 'same';
  return { kind: 'conflict', pid, verified };
}

async function underClaimLock<T>(paths: ClaimPaths, options: ClaimOptions, body: () => Promise<T>): Promise<T> {
  const claimLock = await lock(paths.claimLock, { timeoutMs: options.claimLockTimeoutMs ?? 10_000 });
  if (claimLock.kind === 'busy') throw claimLockBusy(paths.claimLock);
  try {
    return await body();
  } finally {
    unlock(claimLock.handle);
  }
}

/**
 * `recorded` if that process is provably gone. Only a `different` verdict counts (dead, zombie, pid
 * reused — by us too — or rebooted); `unknown` (no start time to compare) and `same` (a daemon still on
 * its way out after releasing the lifetime lock) leave it alone.
 */
function provenGone(recorded: ProcessIdentity | null): ProcessIdentity | null {
  if (recorded === null) return null;
  return sameProcess(recorded).kind === 'different' ? recorded : null;
}

/**
 * Creates the pid file and records our identity; the lifetime lock is already ours. `recorded` is the
 * identity in the state file before ours replaces it.
 */
function finishClaim(
  paths: ClaimPaths,
  lifetime: LockHandle,
  record: (identity: ProcessIdentity) => void,
  recorded: ProcessIdentity | null,
): Claimed {
  let identity: ProcessIdentity;
  let deadPredecessor: ProcessIdentity | null;
  try {
    identity = selfIdentity();
    deadPredecessor = provenGone(recorded);
    record(identity);
  } catch (error) {
    removePidFileIfHolds(paths.pidFile, process.pid);
    throw error;
  }
  return { kind: 'claimed', identity, deadPredecessor, lifetime };
}

/**
 * Under the claim lock, with the lifetime lock taken (a live daemon holding it is the answer), runs
 * `attempt`. The lifetime lock is kept only with a `claimed` answer: the daemon holds it for its life.
 */
function withLifetimeLock(
  paths: ClaimPaths,
  options: ClaimOptions,
  readRecorded: () => ProcessIdentity | null,
  attempt: (lifetime: LockHandle) => ClaimFinding,
): Promise<ClaimFinding> {
  return underClaimLock(paths, options, async () => {
    const lifetime = await takeLifetimeLock(paths.lifetimeLock);
    if (lifetime.kind === 'heldByDaemon') return liveOwner(paths, readRecorded());
    let keep = false;
    try {
      const found = attempt(lifetime.handle);
      keep = found.kind === 'claimed';
      return found;
    } finally {
      if (!keep) unlock(lifetime.handle);
    }
  });
}

/**
 * Claims the daemon for this process. `claimed` keeps the lifetime lock; `conflict` and `stale`
 * hold nothing. Throws `conflict` if the claim lock stays busy, `unsafe_file` for a symlinked
 * pid/lock/state file, `io` for other failures.
 */
export async function claim(paths: ClaimPaths, options: ClaimOptions = {}): Promise<ClaimFinding> {
  const { readRecorded, recordIdentity } = defaults(paths, options);
  return withLifetimeLock(paths, options, readRecorded, (lifetime) => {
    if (createPidFile(paths.pidFile, process.pid).kind === 'exists') {
      const judged = judgeExisting(readPidFile(paths.pidFile), readRecorded());
      // `null`: it vanished between create and read (an unlocked Rust delete); judge it next time.
      if (judged !== null) return judged;
      if (createPidFile(paths.pidFile, process.pid).kind === 'exists') {
        return { kind: 'conflict', pid: null, verified: false } satisfies ConflictFinding;
      }
    }
    return finishClaim(paths, lifetime, recordIdentity, readRecorded());
  });
}

/** What a stale finding must still show to be removed: the same pid, or (`null`) still unparseable. */
export type StaleTarget = Pick<StaleFinding, 'pid'>;

function sameFinding(judged: StaleFinding, target: StaleTarget): boolean {
  // A judged `null` pid is always an unparseable file, so equal pids (or both null) is the whole test.
  return judged.pid === target.pid;
}

/**
 * After `claim` answered `stale`: under the claim lock, re-judges the pid file; only if it still
 * names the same stale pid (or is still garbage) is it removed and the claim made. Anything else
 * — a daemon appeared, another claimer won, a different pid — is returned as found, nothing removed.
 */
export async function reclaimStale(
  paths: ClaimPaths,
  stale: StaleTarget,
  options: ClaimOptions = {},
): Promise<ClaimFinding> {
  const { readRecorded, recordIdentity } = defaults(paths, options);
  return withLifetimeLock(paths, options, readRecorded, (lifetime) => {
    const found = readPidFile(paths.pidFile);
    const recorded = readRecorded();
    const judged = judgeExisting(found, recorded);
    if (judged !== null) {
      if (judged.kind === 'conflict' || !sameFinding(judged, stale)) return judged;
      // Remove exactly what we judged: the stale pid, or the garbage file.
      if (found.kind === 'pid') removePidFileIfHolds(paths.pidFile, found.pid);
      else removeGarbagePidFile(paths.pidFile);
    }
    if (createPidFile(paths.pidFile, process.pid).kind === 'exists') {
      return { kind: 'conflict', pid: null, verified: false } satisfies ConflictFinding;
    }
    return finishClaim(paths, lifetime, recordIdentity, recorded);
  });
}

export type CleanStaleResult =
  | { readonly kind: 'removed' }
  /** The situation changed since the finding (a daemon started, another pid): nothing removed. */
  | { readonly kind: 'changed'; readonly now: ConflictFinding | StaleFinding | { readonly kind: 'missing' } };

/**
 * For `daemon stop`: removes a stale pid file (never signals anything), under the claim lock and
 * only if the lifetime lock is free and the file still names the same stale pid or garbage. Also
 * right after a confirmed SIGKILL: the victim could not remove its own file, and it is now dead.
 */
export async function cleanStale(
  paths: ClaimPaths,
  stale: StaleTarget,
  options: ClaimOptions = {},
): Promise<CleanStaleResult> {
  const { readRecorded } = defaults(paths, options);
  return underClaimLock(paths, options, async () => {
    if (probeLock(paths.lifetimeLock, 'shared').kind === 'held') {
      return { kind: 'changed', now: liveOwner(paths, readRecorded()) };
    }
    const found = readPidFile(paths.pidFile);
    const judged = judgeExisting(found, readRecorded());
    if (judged === null) return { kind: 'changed', now: { kind: 'missing' } };
    if (judged.kind === 'conflict' || !sameFinding(judged, stale)) return { kind: 'changed', now: judged };
    if (found.kind === 'pid') removePidFileIfHolds(paths.pidFile, found.pid);
    else removeGarbagePidFile(paths.pidFile);
    return { kind: 'removed' };
  });
}

export interface ReleaseResult {
  /** What happened to `daemon.pid`: removed, already missing, or left because it names someone else. */
  readonly pidFile: 'removed' | 'missing' | 'notOurs';
}

/**
 * The daemon's exit path: removes `daemon.pid` under the claim lock if it still holds our pid,
 * *then* releases the lifetime lock — in that order, so a claimer never finds the lock free while
 * our pid file still stands. The lifetime lock is released even if the removal throws.
 */
export async function releaseClaim(
  paths: ClaimPaths,
  claimed: Pick<Claimed, 'lifetime'>,
  options: Pick<ClaimOptions, 'claimLockTimeoutMs'> & {
    /**
     * Leave the lifetime lock held: the caller lets it go as its very last act (or the kernel does at
     * exit), so that the lock being free means the daemon is gone — what `daemon stop` waits for.
     */
    readonly keepLifetimeLock?: boolean;
  } = {},
): Promise<ReleaseResult> {
  try {
    const removed = await underClaimLock(paths, options, async () => removePidFileIfHolds(paths.pidFile, process.pid));
    return { pidFile: removed.kind };
  } finally {
    if (options.keepLifetimeLock !== true) unlock(claimed.lifetime);
  }
}
