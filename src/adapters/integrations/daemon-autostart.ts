/**
 * Starting the daemon from a hook when none runs (reference/difflore-behaviour.md §5.2, done better).
 * Owns: the DIFFLORE_DISABLE_OUTBOX_DAEMON switch and the "is one alive?" probe on the lifetime lock;
 * the detached spawn of `difflore daemon run` is lifecycle/daemon-spawn.ts's, shared with `daemon start`.
 *
 * The probe is the lifetime lock, not the pid file: the daemon holds `daemon.lock` for its whole life
 * and the kernel frees it at death, so a busy lock means a daemon lives (no pid-reuse trap, §6.1).
 * Between the probe and the spawn another hook may spawn too; that race is settled by the daemon's own
 * claim protocol (the loser exits with a conflict), so nothing here waits or retries.
 */
import type { HomePaths } from '../home/home.js';
import { daemonRunTarget, type SpawnTarget, spawnDaemon } from '../lifecycle/daemon-spawn.js';

export type { SpawnTarget };

/** `DIFFLORE_DISABLE_OUTBOX_DAEMON` as Rust reads it: set, non-empty, and neither `0` nor `false` (case-sensitive). */
export function isAutostartDisabled(env: NodeJS.ProcessEnv): boolean {
  const value = env.DIFFLORE_DISABLE_OUTBOX_DAEMON;
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

export type LiveProbe = (lockPath: string) => 'busy' | 'free' | Promise<'busy' | 'free'>;

export interface AutostartOptions {
  /** What to run instead of `node dist/cli/main.js daemon run` (tests). */
  readonly target?: SpawnTarget;
  /** How to tell whether the lifetime lock is held (tests); flock by default. */
  readonly probe?: LiveProbe;
}

export type AutostartResult =
  | { kind: 'disabled' }
  | { kind: 'running' }
  | { kind: 'spawned'; pid: number }
  | { kind: 'failed'; reason: string };

/**
 * Makes sure a daemon runs for `paths.home`: does nothing when autostart is disabled or the lifetime
 * lock is held, and otherwise spawns one detached without waiting for it. Never throws.
 */
export async function ensureDaemonRunning(
  paths: HomePaths,
  env: NodeJS.ProcessEnv,
  options: AutostartOptions = {},
): Promise<AutostartResult> {
  if (isAutostartDisabled(env)) return { kind: 'disabled' };
  try {
    const probe = options.probe ?? flockProbe;
    if ((await probe(paths.lifetimeLock)) === 'busy') return { kind: 'running' };
    return spawnDetached(paths, env, options.target ?? daemonRunTarget());
  } catch (error) {
    return { kind: 'failed', reason: (error as Error).message ?? String(error) };
  }
}

function spawnDetached(paths: HomePaths, env: NodeJS.ProcessEnv, target: SpawnTarget): AutostartResult {
  const child = spawnDaemon(paths, env, target, { readyPipe: false });
  // A failed exec is reported asynchronously; without a listener it would crash the hook.
  child.on('error', () => {});
  child.unref();
  if (child.pid === undefined) return { kind: 'failed', reason: `could not spawn ${target.command}` };
  return { kind: 'spawned', pid: child.pid };
}

/**
 * Probes the lifetime lock: a non-blocking shared flock, released at once. Shared, so concurrent hooks
 * probing never see each other as a daemon; a missing lock file means no daemon ever ran (not created).
 */
async function flockProbe(lockPath: string): Promise<'busy' | 'free'> {
  const { probeLock } = await import('../lifecycle/flock.js');
  return probeLock(lockPath, 'shared').kind === 'held' ? 'busy' : 'free';
}
