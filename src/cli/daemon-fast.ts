/**
 * The daemon commands without Clipanion: option parsing for `daemon run|start|stop` and what `daemon
 * run` does in the foreground. main.ts runs plain argument lists through here, skipping Clipanion and
 * the command registry (about a bare `node` start's worth of CPU on a small machine), which `daemon
 * start` would otherwise pay twice — for itself and for the `daemon run` it spawns — and which the
 * stop benchmark compares against `node -e 0`. Anything unusual (`--help`, unknown options, stray
 * words, repeated options) returns undefined and goes to Clipanion, whose commands call the same code.
 */
import { closeSync, fstatSync, statSync, writeSync } from 'node:fs';
import { homePaths, resolveHome } from '../adapters/home/home.js';
import { DiffloreError, describeError, exitCodeFor } from '../errors.js';
import { loadEntry } from './bundle-loader.js';
import { parseDuration, TIMEOUT_UNITS } from './durations.js';

/** Longest tick accepted: a daemon that sleeps for an hour between ticks is a misconfiguration. */
const MAX_TICK_MS = 3_600_000;
export const DEFAULT_TICK = '5s';
/** Without --tick, the idle daemon's heartbeat while commits wake it (DESIGN §9: idle ≤ 0.02 % CPU). */
export const DEFAULT_IDLE_MS = 60_000;
export const DEFAULT_BATCH = 64;
export const DEFAULT_START_TIMEOUT = '10s';

/** Parses --tick (10ms to 60m). */
export function parseTick(text: string): number {
  const ms = parseDuration('--tick', text, TIMEOUT_UNITS);
  if (ms < 10 || ms > MAX_TICK_MS) throw new DiffloreError('usage', `--tick '${text}' must be between 10ms and 60m`);
  return ms;
}

/**
 * The idle bounds for `daemon run`: without --tick, the fallback tick is DEFAULT_TICK (used only where
 * no wake watch runs) and the idle sleep is DEFAULT_IDLE_MS; an explicit --tick is both, as asked.
 */
export function idleBounds(tick: string | undefined): { readonly tickMs: number; readonly idleMs: number } {
  if (tick === undefined) return { tickMs: parseTick(DEFAULT_TICK), idleMs: DEFAULT_IDLE_MS };
  const tickMs = parseTick(tick);
  return { tickMs, idleMs: tickMs };
}

/** Parses --batch (1 to 1000). */
export function parseBatch(text: string): number {
  const n = /^\d{1,4}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 1 && n <= 1000))
    throw new DiffloreError('usage', `--batch '${text}' must be a whole number from 1 to 1000`);
  return n;
}

export interface Io {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: NodeJS.ProcessEnv;
}

// ── daemon run ────────────────────────────────────────────────────────────────────────────────────

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

/** The fd `daemon start` reads the daemon's readiness from (DIFFLORE_READY_FD, see daemon-launch.ts). */
export const READY_FD = 3;

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
export async function runForeground(args: RunArgs, io: Io): Promise<number> {
  let inspectUrl: string | null = null;
  if (args.inspect !== null) {
    const { checkInspectUrl, DEFAULT_INSPECT_URL } = await import('./inspect.js');
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
  // Nothing may keep a stopped daemon alive: its lock and pid file are released, its last record is
  // synced and its log closed. On Linux, where writes to stdout/stderr (files, pipes, TTYs) are
  // synchronous, leave now rather than wait for the event loop to wind down: a `daemon stop` is
  // polling to see the process gone. Elsewhere a pipe may still be draining: if some handle still
  // holds the event loop a moment from now, leave anyway.
  if (process.platform === 'linux') process.exit(output.exitCode);
  setTimeout(() => process.exit(output.exitCode), 2_000).unref();
  return output.exitCode;
}

// ── the fast path ─────────────────────────────────────────────────────────────────────────────────

interface Grammar {
  readonly values: readonly string[];
  readonly flags: readonly string[];
  /** An option whose value is optional (`--inspect`, `--inspect=URL`, `--inspect URL`). */
  readonly optionalValue?: string;
}

const GRAMMARS: Readonly<Record<'run' | 'start' | 'stop', Grammar>> = {
  run: { values: ['--tick', '--batch'], flags: [], optionalValue: '--inspect' },
  start: { values: ['--tick', '--batch', '--timeout'], flags: ['--json'] },
  stop: { values: ['--grace', '--kill-timeout'], flags: ['--force', '--json'] },
};

/** Parses `args` with `grammar`; undefined for anything the grammar does not cover exactly. */
export function parseFast(args: readonly string[], grammar: Grammar): Map<string, string> | undefined {
  const found = new Map<string, string>();
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] as string;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (found.has(name)) return undefined;
    if (grammar.flags.includes(name)) {
      if (inline !== undefined) return undefined;
      found.set(name, 'true');
    } else if (grammar.values.includes(name)) {
      let value = inline;
      if (value === undefined) {
        i += 1;
        value = args[i];
      }
      if (value === undefined || value.startsWith('-')) return undefined;
      found.set(name, value);
    } else if (name === grammar.optionalValue) {
      let value = inline ?? '';
      const next = args[i + 1];
      if (inline === undefined && next !== undefined && !next.startsWith('-')) {
        value = next;
        i += 1;
      }
      found.set(name, value);
    } else {
      return undefined;
    }
  }
  return found;
}

/**
 * `difflore daemon <run|start|stop> …` without Clipanion. Returns undefined when the arguments are
 * not a plain use of the command, so the caller hands them to Clipanion.
 */
export async function fastDaemon(argv: readonly string[], io: Io): Promise<number | undefined> {
  const [command, ...rest] = argv;
  if (command !== 'run' && command !== 'start' && command !== 'stop') return undefined;
  const options = parseFast(rest, GRAMMARS[command]);
  if (options === undefined) return undefined;
  try {
    if (command === 'stop') {
      const { DEFAULT_GRACE, DEFAULT_KILL_TIMEOUT, parseStopDurations, runStopCommand } = await loadEntry(
        'cli/daemon-stop-fast',
        () => import('./daemon-stop-fast.js'),
      );
      const durations = parseStopDurations(
        options.get('--grace') ?? DEFAULT_GRACE,
        options.get('--kill-timeout') ?? DEFAULT_KILL_TIMEOUT,
      );
      return await runStopCommand({ ...durations, force: options.has('--force'), json: options.has('--json') }, io);
    }
    const tick = options.get('--tick');
    const bounds = idleBounds(tick);
    const batch = options.has('--batch') ? parseBatch(options.get('--batch') as string) : DEFAULT_BATCH;
    if (command === 'run') {
      return await runForeground({ ...bounds, batchSize: batch, inspect: options.get('--inspect') ?? null }, io);
    }
    const timeoutMs = parseDuration('--timeout', options.get('--timeout') ?? DEFAULT_START_TIMEOUT, TIMEOUT_UNITS);
    const { launchDaemon, printLaunch } = await loadEntry('cli/daemon-launch', () => import('./daemon-launch.js'));
    const result = await launchDaemon({ tick, batch, timeoutMs }, io.env);
    return printLaunch(result, options.has('--json'), {
      print: (line) => io.stdout.write(`${line}\n`),
      warn: (line) => io.stderr.write(`${line}\n`),
    });
  } catch (error) {
    io.stderr.write(`difflore: ${describeError(error)}\n`);
    if (!(error instanceof DiffloreError)) return command === 'stop' ? 3 : 1;
    const code = exitCodeFor(error.code);
    // Usage errors keep the CLI-wide code 2; anything else is the command's failure code.
    return code === 2 ? 2 : command === 'stop' ? 3 : 1;
  }
}
