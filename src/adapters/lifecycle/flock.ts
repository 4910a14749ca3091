/**
 * flock(2) advisory locks on files in the data home.
 * Owns: opening lock files safely (the home-files rule, created 0600) and the
 * try/poll/unlock calls. No policy: callers decide what a busy lock means.
 *
 * Why flock and why fs-ext-extra-prebuilt: Node has no flock of its own; fcntl/SQLite locks do not
 * see flock locks on Linux, and the Rust binary flocks `daemon.pid.lock`, so only flock(2) excludes
 * it. fs-ext-extra-prebuilt ships prebuilt `.node` files for linux/darwin/win32 × x64/arm64 × Node
 * 20–25 inside its npm tarball, so it installs from the registry alone, without a compiler.
 *
 * flock locks belong to the *open file description*: a handle keeps its fd open for the lock's
 * whole life, and the kernel drops the lock when the fd is closed or the process dies (kill -9
 * included). Opening and closing the same lock file elsewhere in the holder (e.g. a liveness probe
 * run inside the daemon) is harmless with flock — a fresh description neither shares nor releases
 * the holder's lock — unlike fcntl locks, which any close() in the process drops. Node opens files
 * with O_CLOEXEC, so a child the holder spawns does not inherit (and prolong) the lock.
 */
import { closeSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as FsExt from 'fs-ext-extra-prebuilt';
import { DiffloreError, errnoCode } from '../../errors.js';
import { openHomeFile } from '../home/home-files.js';

export type LockMode = 'exclusive' | 'shared';

/** A held lock. Keep it (and so its fd) alive for as long as the lock must hold. */
export interface LockHandle {
  readonly path: string;
  readonly fd: number;
  readonly mode: LockMode;
}

export type LockResult = { readonly kind: 'acquired'; readonly handle: LockHandle } | { readonly kind: 'busy' };

/** Whether anyone holds a lock that conflicts with `mode`; the probe itself holds nothing afterwards. */
export type LockProbe = { readonly kind: 'free' } | { readonly kind: 'held' };

export interface LockOptions {
  /** 'exclusive' (LOCK_EX, default) or 'shared' (LOCK_SH). */
  readonly mode?: LockMode;
}

export interface WaitOptions extends LockOptions {
  /** How long to keep trying before answering `busy`. */
  readonly timeoutMs: number;
}

/** The one call this module makes: flock(2) with LOCK_SH|LOCK_NB, LOCK_EX|LOCK_NB or LOCK_UN. */
interface Flocker {
  flockSync(fd: number, operation: 'shnb' | 'exnb' | 'un'): unknown;
}

const require = createRequire(import.meta.filename);
let flocker: Flocker | undefined;
function native(): Flocker {
  flocker ??= prebuiltBinary() ?? (require('fs-ext-extra-prebuilt') as typeof FsExt);
  return flocker;
}

/**
 * fs-ext-extra-prebuilt's binary for this platform and Node, loaded straight: the package's own
 * loader finds the same file by reading its package.json, two scripts and its binaries directory,
 * ~1 ms of `daemon stop` before its signal and of every claim. Undefined where that file is not it
 * (another libc, Electron, a local build, a binding of another shape): then the package loads it.
 */
function prebuiltBinary(): Flocker | undefined {
  try {
    const major = process.versions.node.split('.')[0];
    const file = `fs-ext-${process.platform}-${process.arch}-node-${major}.0.0.node`;
    const binding = require(join(dirname(require.resolve('fs-ext-extra-prebuilt/package.json')), 'binaries', file)) as {
      readonly flock?: unknown;
      readonly constants?: Readonly<Record<string, unknown>>;
    };
    const { flock, constants: c } = binding;
    const [sh, ex, nb, un] = [c?.LOCK_SH, c?.LOCK_EX, c?.LOCK_NB, c?.LOCK_UN];
    if (typeof flock !== 'function' || ![sh, ex, nb, un].every((n) => typeof n === 'number')) return undefined;
    const operations = { shnb: (sh as number) | (nb as number), exnb: (ex as number) | (nb as number), un };
    return { flockSync: (fd, operation) => flock.call(binding, fd, operations[operation]) };
  } catch {
    return undefined;
  }
}

const released = new WeakSet<LockHandle>();

/**
 * Opens `path` for locking. With `create`, a missing file is created 0600; without it, a missing
 * file gives `undefined`. Symlinks and non-regular files are refused.
 */
function openLockFile(path: string, create: boolean): number | undefined {
  // The home-files rule: a link, FIFO, socket, directory or someone else's file is refused.
  return openHomeFile(path, constants.O_RDWR | (create ? constants.O_CREAT : 0));
}

function isBusyError(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
}

/** flock(fd, mode|LOCK_NB): true if taken, false if someone holds a conflicting lock. */
function tryFlock(fd: number, mode: LockMode, path: string): boolean {
  try {
    native().flockSync(fd, mode === 'exclusive' ? 'exnb' : 'shnb');
    return true;
  } catch (error) {
    if (isBusyError(error)) return false;
    throw new DiffloreError('io', `cannot lock ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Tries once, without waiting. Creates the lock file (0600) if it is missing. */
export function tryLock(path: string, options: LockOptions = {}): LockResult {
  const mode = options.mode ?? 'exclusive';
  const fd = openLockFile(path, true) as number;
  let taken = false;
  try {
    taken = tryFlock(fd, mode, path);
  } finally {
    if (!taken) closeSync(fd);
  }
  return taken ? { kind: 'acquired', handle: { path, fd, mode } } : { kind: 'busy' };
}

/**
 * Asks whether someone holds a lock conflicting with `mode` ('shared' by default: "is there an
 * exclusive holder?") by taking it non-blocking and releasing it at once. A missing file is free
 * and is not created, so probing leaves no trace.
 */
export function probeLock(path: string, mode: LockMode = 'shared'): LockProbe {
  const fd = openLockFile(path, false);
  if (fd === undefined) return { kind: 'free' };
  try {
    return tryFlock(fd, mode, path) ? { kind: 'free' } : { kind: 'held' };
  } finally {
    // Closing the probe's own description releases only what the probe took.
    closeSync(fd);
  }
}

const FIRST_BACKOFF_MS = 1;
const MAX_BACKOFF_MS = 50;

/**
 * The polling loop `lock` and `lockSync` share: tries the lock and, while the time is not up, yields
 * how long to sleep before the next try (each caller sleeps its own way). Returns the result; the fd
 * stays open only when the lock was acquired.
 */
function* pollLock(path: string, options: WaitOptions): Generator<number, LockResult, void> {
  const mode = options.mode ?? 'exclusive';
  const fd = openLockFile(path, true) as number;
  const deadline = Date.now() + Math.max(0, options.timeoutMs);
  let delay = FIRST_BACKOFF_MS;
  let taken = false;
  try {
    for (;;) {
      taken = tryFlock(fd, mode, path);
      if (taken) return { kind: 'acquired', handle: { path, fd, mode } };
      const left = deadline - Date.now();
      if (left <= 0) return { kind: 'busy' };
      yield Math.min(delay, left);
      delay = Math.min(delay * 2, MAX_BACKOFF_MS);
    }
  } finally {
    if (!taken) closeSync(fd);
  }
}

/**
 * Waits up to `timeoutMs` for the lock, polling with a short backoff; `busy` when the time is up.
 *
 * Polling instead of a blocking flock in libuv's thread pool: a blocked flock cannot be cancelled,
 * so a timed-out wait would pin a pool thread and keep the process alive until the holder let go.
 * The locks this is used for (the claim lock) are held for a millisecond or two.
 */
export async function lock(path: string, options: WaitOptions): Promise<LockResult> {
  const poll = pollLock(path, options);
  for (let step = poll.next(); ; step = poll.next()) {
    if (step.done) return step.value;
    const ms = step.value;
    await new Promise<void>((resolve) => setTimeout(resolve, ms));
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Synchronous `lock`, for read-modify-write sections that hold the lock for a few milliseconds
 * and must not interleave with other callbacks (the recorder). Blocks the thread while it waits.
 */
export function lockSync(path: string, options: WaitOptions): LockResult {
  const poll = pollLock(path, options);
  for (let step = poll.next(); ; step = poll.next()) {
    if (step.done) return step.value;
    Atomics.wait(sleeper, 0, 0, step.value);
  }
}

/** Releases the lock and closes its fd. Calling it twice is harmless. */
export function unlock(handle: LockHandle): void {
  if (released.has(handle)) return;
  released.add(handle);
  try {
    native().flockSync(handle.fd, 'un');
  } finally {
    // Closing alone would release it too; the explicit LOCK_UN keeps the intent visible in strace.
    closeSync(handle.fd);
  }
}
