/**
 * What `difflore daemon run` does: the daemon in the foreground until it stops, telling `daemon start`
 * on the readiness pipe when it serves. The composition root loads only here.
 */
import { closeSync, fstatSync, statSync, writeSync } from 'node:fs';
import { homePaths, resolveHome } from '../adapters/home/home.js';
import { READY_FD } from '../adapters/lifecycle/daemon-spawn.js';
import type { CommandIo } from './command-spec.js';
import { DEFAULT_INSPECT_URL } from './daemon-options.js';
import { loadEntry } from './bundle-loader.js';

export interface RunArgs {
  readonly tickMs: number;
  readonly idleMs: number;
  readonly batchSize: number;
  /** null: no inspector; '' : the default relay. */
  readonly inspect: string | null;
}

/** True when fd 2 is the daemon's own log file (spawned by `daemon start` or a hook's autostart). */
function stderrIsDaemonLog(env: NodeJS.ProcessEnv): boolean {
  try {
    const err = fstatSync(2);
    const logFile = statSync(homePaths(resolveHome(env)).daemonLog);
    return err.ino === logFile.ino && err.dev === logFile.dev;
  } catch {
    return false;
  }
}

/**
 * How to tell `daemon start` we serve: one line on the pipe it handed us as fd 3, then close it. Only
 * when it asked (DIFFLORE_READY_FD=3) and fd 3 is a pipe or socket, so that a stray variable never
 * makes the daemon write into some other file.
 */
function readinessNotifier(env: NodeJS.ProcessEnv): (() => void) | undefined {
  if (env.DIFFLORE_READY_FD !== String(READY_FD)) return undefined;
  try {
    const stat = fstatSync(READY_FD);
    if (!stat.isFIFO() && !stat.isSocket()) return undefined;
  } catch {
    return undefined;
  }
  return () => {
    try {
      writeSync(READY_FD, 'serving\n');
    } catch {
      // `daemon start` gave up waiting; the state file still says we serve.
    } finally {
      closeSync(READY_FD);
    }
  };
}

/** Runs the daemon in the foreground until it stops; returns its exit code. */
export async function runForeground(args: RunArgs, io: CommandIo): Promise<number> {
  let inspectUrl: string | null = null;
  if (args.inspect !== null) {
    const { checkInspectUrl } = await import('./inspect.js');
    inspectUrl = checkInspectUrl(args.inspect === '' ? DEFAULT_INSPECT_URL : args.inspect);
  }
  const { runDaemon } = await loadEntry('runtime/daemon-runtime', () => import('../runtime/daemon-runtime.js'));
  // Under `daemon start` and the autostart, stderr is logs/daemon.log, which gets JSON lines only.
  const quiet = stderrIsDaemonLog(io.env);
  const onServing = readinessNotifier(io.env);
  const output = await runDaemon({
    env: io.env,
    tickMs: args.tickMs,
    idleMs: args.idleMs,
    batchSize: args.batchSize,
    inspectUrl,
    ...(onServing === undefined ? {} : { onServing }),
    ...(quiet ? {} : { report: (line: string) => io.stderr.write(`${line}\n`) }),
  });
  if (output.reason === 'conflict' && !quiet) {
    // Not an error (exit 0), but whoever ran it should see why it exited at once, and for whom.
    const owner = output.detail ?? 'another daemon owns this data home';
    io.stderr.write(`difflore: yielding: ${owner}; it owns this data home, so this one exits with nothing to do\n`);
  } else if (output.reason !== 'stopped' && !quiet) {
    io.stderr.write(`difflore: daemon ${output.reason}: ${output.detail ?? 'no detail'}\n`);
  }
  // Nothing may keep a stopped daemon alive: its spec asks main.ts to end the process at once.
  return output.exitCode;
}
