/**
 * Starting the daemon from a hook when none runs (reference/difflore-behaviour.md §5.2, done better).
 * Owns: the DIFFLORE_DISABLE_OUTBOX_DAEMON switch, the "is one alive?" probe on the lifetime lock, and
 * the detached spawn of `difflore daemon run`.
 *
 * The probe is the lifetime lock, not the pid file: the daemon holds `daemon.lock` for its whole life
 * and the kernel frees it at death, so a busy lock means a daemon lives (no pid-reuse trap, §6.1).
 * Between the probe and the spawn another hook may spawn too; that race is settled by the daemon's own
 * claim protocol (the loser exits with a conflict), so nothing here waits or retries.
 */
import { type SpawnOptions, spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { HomePaths } from '../home/home.js';
import { openHomeAppend } from '../home/home-files.js';
import { cliEntryPath } from './service-unit.js';
import { DAEMON_NODE_FLAGS } from '../lifecycle/daemon-node-flags.js';

/** `DIFFLORE_DISABLE_OUTBOX_DAEMON` as Rust reads it: set, non-empty, and neither `0` nor `false` (case-sensitive). */
export function isAutostartDisabled(env: NodeJS.ProcessEnv): boolean {
  const value = env.DIFFLORE_DISABLE_OUTBOX_DAEMON;
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

export type LiveProbe = (lockPath: string) => 'busy' | 'free' | Promise<'busy' | 'free'>;

export interface SpawnTarget {
  readonly command: string;
  readonly args: readonly string[];
}

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

/** The command a hook runs to start a daemon: this very CLI, under this very node. */
export function defaultSpawnTarget(): SpawnTarget {
  return { command: process.execPath, args: [...DAEMON_NODE_FLAGS, cliEntryPath(), 'daemon', 'run'] };
}

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
    return spawnDetached(paths, env, options.target ?? defaultSpawnTarget());
  } catch (error) {
    return { kind: 'failed', reason: (error as Error).message ?? String(error) };
  }
}

function spawnDetached(paths: HomePaths, env: NodeJS.ProcessEnv, target: SpawnTarget): AutostartResult {
  // The home-files rule: a link, FIFO or directory at logs/ or the log must not take the daemon's output.
  const logFd = openHomeAppend(paths.daemonLog);
  try {
    const childEnv: NodeJS.ProcessEnv = { ...env };
    // The daemon runs from the data home, not from the project the hook ran in (it must not pin a
    // checkout or a mount), so a relative DIFFLORE_HOME is made absolute first.
    const home = resolve(paths.home);
    if (env.DIFFLORE_HOME !== undefined && !isAbsolute(env.DIFFLORE_HOME)) childEnv.DIFFLORE_HOME = home;
    const options: SpawnOptions = {
      cwd: home,
      env: childEnv,
      detached: true, // setsid(): the daemon survives the agent's process group and terminal
      stdio: ['ignore', logFd, logFd],
      windowsHide: true,
    };
    const child = spawn(target.command, [...target.args], options);
    // A failed exec is reported asynchronously; without a listener it would crash the hook.
    child.on('error', () => {});
    child.unref();
    if (child.pid === undefined) return { kind: 'failed', reason: `could not spawn ${target.command}` };
    return { kind: 'spawned', pid: child.pid };
  } finally {
    closeSync(logFd);
  }
}

/**
 * Probes the lifetime lock: a non-blocking shared flock, released at once. Shared, so concurrent hooks
 * probing never see each other as a daemon; a missing lock file means no daemon ever ran (not created).
 */
async function flockProbe(lockPath: string): Promise<'busy' | 'free'> {
  const { probeLock } = await import('../lifecycle/flock.js');
  return probeLock(lockPath, 'shared').kind === 'held' ? 'busy' : 'free';
}
