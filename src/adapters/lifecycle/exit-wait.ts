/**
 * Waiting for a daemon's death itself (the stop protocol's `awaitExit`): the daemon holds its lifetime
 * lock (daemon.lock, flock LOCK_EX) until it exits, and the kernel drops it the moment the process
 * dies, so a blocking shared flock on the same file returns exactly then. No poll is involved.
 *
 * Why a `flock(1)` child rather than a blocking flock in this process: a blocking flock in libuv's
 * thread pool cannot be cancelled, and Node's exit joins the pool's threads, so a stopper whose
 * target never dies (stuck in the kernel after SIGKILL) could never exit either. A child can be
 * killed. It gets the lock file as an already open fd (opened here by the home-files rule, read-only),
 * so it opens nothing in the home itself, and it is spawned by absolute path, never through PATH.
 * Where util-linux's flock is missing (macOS) the answer is `unwatchable` and the stop protocol polls.
 */
import type * as ChildProcesses from 'node:child_process';
import { closeSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ExitHint } from '../../machines/stop.js';
import { openHomeFile } from '../home/home-files.js';

const FLOCK_BINARIES = ['/usr/bin/flock', '/bin/flock'] as const;

export interface ExitWaiter {
  /**
   * Resolves `released` once nobody holds the lock exclusively; one wait per waiter, shared by
   * callers. The first call spawns the waiting child before it returns, so that the child is ready
   * before a daemon signalled just before could be gone.
   */
  wait(): Promise<ExitHint>;
  /** Ends a wait still under way (its promise then resolves `unwatchable`). */
  cancel(): void;
}

/** A waiter on the exclusive holder of `lockPath` (the lifetime lock). */
export function exitWaiter(lockPath: string): ExitWaiter {
  let waiting: Promise<ExitHint> | null = null;
  let child: ChildProcesses.ChildProcess | null = null;
  const start = async (): Promise<ExitHint> => {
    const binary = process.platform === 'linux' ? FLOCK_BINARIES.find((path) => existsSync(path)) : undefined;
    if (binary === undefined) return { kind: 'unwatchable' };
    let fd: number | undefined;
    try {
      fd = openHomeFile(lockPath, constants.O_RDONLY);
    } catch {
      return { kind: 'unwatchable' };
    }
    // No lock file: nothing holds it, and the check that follows decides.
    if (fd === undefined) return { kind: 'released' };
    // Loaded here, synchronously: only a stopper that signalled needs it (~2 ms to load).
    const { spawn } = createRequire(import.meta.filename)('node:child_process') as typeof ChildProcesses;
    let running: ChildProcesses.ChildProcess;
    try {
      // The C locale and nothing else from our environment: flock(1) then reads no locale or
      // message catalogue (~20 files) before it can wait, while the daemon may be exiting already.
      running = spawn(binary, ['--shared', '3'], { stdio: ['ignore', 'ignore', 'ignore', fd], env: { LC_ALL: 'C' } });
    } finally {
      // The child has its own copy of the descriptor; ours would only keep the file open.
      closeSync(fd);
    }
    child = running;
    const hint = await new Promise<ExitHint>((resolve) => {
      running.once('error', () => resolve({ kind: 'unwatchable' }));
      running.once('exit', (code) => resolve(code === 0 ? { kind: 'released' } : { kind: 'unwatchable' }));
    });
    child = null;
    return hint;
  };
  return {
    wait: () => {
      waiting ??= start().catch((): ExitHint => ({ kind: 'unwatchable' }));
      return waiting;
    },
    cancel: () => {
      child?.kill('SIGKILL');
    },
  };
}
