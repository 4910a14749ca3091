/**
 * The detached spawn of `difflore daemon run`, for `daemon start|restart` (which wait for it to serve)
 * and a hook's autostart (which does not wait). Light: the hook path loads it.
 *
 * The daemon gets its own session (it survives the agent's or the terminal's process group), its
 * stdout and stderr on logs/daemon.log, and the data home as its working directory (it must not pin
 * the checkout or mount it was started from).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { deferExtraCertificates } from '../delivery/deferred-ca.js';
import type { HomePaths } from '../home/home.js';
import { openHomeAppend } from '../home/home-files.js';
import { cliEntryPath } from '../integrations/service-unit.js';
import { DAEMON_NODE_FLAGS } from './daemon-node-flags.js';

/**
 * The fd a daemon spawned with a readiness pipe says "serving" on (DIFFLORE_READY_FD names it), so
 * `daemon start` is told at once instead of polling the state file.
 */
export const READY_FD = 3;

export interface SpawnTarget {
  readonly command: string;
  readonly args: readonly string[];
}

/** `daemon run` of this very CLI, under this very node and the daemon's V8 flags, with `runArgs`. */
export function daemonRunTarget(runArgs: readonly string[] = []): SpawnTarget {
  return { command: process.execPath, args: [...DAEMON_NODE_FLAGS, cliEntryPath(), 'daemon', 'run', ...runArgs] };
}

/**
 * Spawns `target` detached for the home `paths`; with `readyPipe`, a pipe at READY_FD that the caller
 * reads (`child.stdio[READY_FD]`). Throws when the log cannot be opened safely; a failed exec is
 * reported on the child's 'error' event, which the caller must listen to.
 */
export function spawnDaemon(
  paths: HomePaths,
  env: NodeJS.ProcessEnv,
  target: SpawnTarget,
  options: { readonly readyPipe: boolean },
): ChildProcess {
  // The home-files rule: a link, FIFO or directory at logs/ or the log must not take the daemon's output.
  const logFd = openHomeAppend(paths.daemonLog);
  try {
    const home = resolve(paths.home);
    // Node would parse NODE_EXTRA_CA_CERTS before the daemon could serve; the cloud client does, later.
    const childEnv: NodeJS.ProcessEnv = { ...deferExtraCertificates(env) };
    // The working directory changes, so a relative DIFFLORE_HOME is made absolute first.
    if (env.DIFFLORE_HOME !== undefined && !isAbsolute(env.DIFFLORE_HOME)) childEnv.DIFFLORE_HOME = home;
    if (options.readyPipe) childEnv.DIFFLORE_READY_FD = String(READY_FD);
    return spawn(target.command, [...target.args], {
      cwd: home,
      env: childEnv,
      detached: true, // setsid(): the daemon survives the caller's process group and terminal
      stdio: options.readyPipe ? ['ignore', logFd, logFd, 'pipe'] : ['ignore', logFd, logFd],
      windowsHide: true,
    });
  } finally {
    closeSync(logFd);
  }
}
