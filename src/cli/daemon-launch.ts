/**
 * What `daemon start` (and `daemon restart` after its stop) does: spawn `daemon run` detached
 * (adapters/lifecycle/daemon-spawn.ts) and wait until its machine reports `serving`, or say why it
 * did not. Loaded only by those two commands.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, constants, fstatSync, readSync } from 'node:fs';
import type { Socket } from 'node:net';
import { ensureHome, type HomePaths, resolveHome } from '../adapters/home/home.js';
import { openHomeFile } from '../adapters/home/home-files.js';
import { daemonRunTarget, READY_FD, spawnDaemon } from '../adapters/lifecycle/daemon-spawn.js';
import { type LivenessResult, probeLiveness } from '../adapters/lifecycle/liveness.js';
import { readState } from '../adapters/lifecycle/recorder.js';
import type { DaemonTag } from '../machines/daemon.js';
import type { Writer } from './command-spec.js';
import type { LaunchArgs } from './daemon-options.js';
import { printable } from './daemon-text.js';
import { formatDuration, monotonicMs } from './text.js';

export type LaunchResult =
  | { readonly status: 'started'; readonly pid: number; readonly elapsedMs: number }
  | { readonly status: 'alreadyRunning'; readonly pid: number | null; readonly verified: boolean }
  | { readonly status: 'failed'; readonly pid: number | null; readonly reason: string; readonly log: string };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The last warning or error the daemon `pid` wrote to its log (its own words for why it stopped). */
function lastComplaint(logPath: string, pid: number): string | null {
  let fd: number | undefined;
  try {
    fd = openHomeFile(logPath, constants.O_RDONLY);
  } catch {
    return null;
  }
  if (fd === undefined) return null;
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    let found: string | null = null;
    for (const line of buffer.toString('utf8').split('\n')) {
      let entry: { pid?: unknown; level?: unknown; msg?: unknown; detail?: unknown };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue;
      }
      if (entry.pid !== pid || (entry.level !== 'warn' && entry.level !== 'error')) continue;
      found = typeof entry.detail === 'string' ? entry.detail : typeof entry.msg === 'string' ? entry.msg : found;
    }
    return found;
  } finally {
    closeSync(fd);
  }
}

/**
 * A daemon already serving the home, if any. Only the liveness probe, not `daemon status` (which
 * opens the database). One that holds the lifetime lock but is still claiming records its identity
 * within milliseconds: it is waited for briefly, then reported as it is.
 */
async function alreadyRunning(paths: HomePaths): Promise<LaunchResult | null> {
  for (let attempt = 0; ; attempt += 1) {
    let report: LivenessResult | null;
    try {
      report = probeLiveness(paths);
    } catch {
      // Cannot tell (an unsafe file, say): try to start; the daemon's claim decides and says why.
      report = null;
    }
    if (report?.kind === 'running') return { status: 'alreadyRunning', pid: report.pid, verified: true };
    if (report?.kind !== 'unverified' || !report.lockHeld) return null;
    if (attempt >= 10) return { status: 'alreadyRunning', pid: report.pid, verified: false };
    await sleep(10);
  }
}

interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** What the spawned daemon has said so far: the readiness line, its exit, a failed exec. */
class ChildWatch {
  serving = false;
  exited: ChildExit | null = null;
  spawnError: Error | null = null;
  private readonly ready: Socket | null | undefined;
  private nudge: () => void = () => {};
  private nudged: Promise<void>;

  constructor(private readonly child: ChildProcess) {
    this.nudged = this.renew();
    this.ready = child.stdio[READY_FD] as Socket | null | undefined;
    this.ready?.on('data', (chunk: Buffer) => {
      if (chunk.toString('utf8').includes('serving')) this.serving = true;
      this.nudge();
    });
    this.ready?.on('error', () => {});
    child.once('exit', (code, signal) => {
      this.exited = { code, signal };
      this.nudge();
    });
    child.once('error', (error) => {
      this.spawnError = error;
    });
  }

  private renew(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.nudge = resolve;
    });
  }

  /** Waits `ms`, or less if the daemon says something or exits first. */
  async pause(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, ms))), this.nudged]);
    // A poll timer left armed would hold this process up to 50 ms after it has answered.
    clearTimeout(timer);
  }

  /** Lets the daemon go its own way: no listener or pipe of ours keeps this process alive. */
  release(): void {
    this.ready?.destroy();
    this.child.removeAllListeners('exit');
    this.child.on('error', () => {});
    this.child.unref();
  }
}

/** True once the daemon `pid` serves: told on the pipe, or (fallback) written in the state file. */
function isServing(watch: ChildWatch, paths: HomePaths, pid: number): boolean {
  if (watch.serving) return true;
  try {
    // The state file stays the fallback (and the word of a daemon that could not use the pipe).
    const read = readState(paths.stateFile);
    const serving: DaemonTag = 'serving';
    return read.kind === 'ok' && read.state.pid === pid && read.state.tags.includes(serving);
  } catch {
    return false;
  }
}

/** Why a daemon that exited before serving did not start, or the daemon that won the race. */
async function afterEarlyExit(paths: HomePaths, pid: number, end: ChildExit): Promise<LaunchResult> {
  // Lost a race with another start (or a hook's autostart): that daemon runs, which is what was asked.
  const other = await alreadyRunning(paths);
  if (other !== null) return other;
  const said = lastComplaint(paths.daemonLog, pid);
  const failed = (reason: string): LaunchResult => ({ status: 'failed', pid, reason, log: paths.daemonLog });
  // Exit 0 before serving means it yielded to an owner it could not verify (e.g. the Rust daemon): its reason says all.
  if (end.signal === null && end.code === 0 && said !== null) return failed(said);
  const how = end.signal === null ? `exited with code ${end.code}` : `was killed by ${end.signal}`;
  return failed(`the daemon ${how} before it was serving${said === null ? '' : `: ${said}`}`);
}

/** Waits until the daemon `pid` serves, exits, or `timeoutMs` passes (state file polled 5 ms doubling to 50 ms). */
async function awaitServing(
  watch: ChildWatch,
  paths: HomePaths,
  pid: number,
  { timeoutMs, started }: { readonly timeoutMs: number; readonly started: number },
): Promise<LaunchResult> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 50)) {
    if (isServing(watch, paths, pid)) {
      return { status: 'started', pid, elapsedMs: Math.round(monotonicMs() - started) };
    }
    if (watch.exited !== null) return afterEarlyExit(paths, pid, watch.exited);
    if (Date.now() > deadline) {
      const reason =
        `the daemon (pid ${pid}) did not report serving within ${formatDuration(timeoutMs)}; ` +
        'it may still be claiming the data home (is another claimer holding daemon.pid.lock?)';
      return { status: 'failed', pid, reason, log: paths.daemonLog };
    }
    await watch.pause(delay);
  }
}

/**
 * Starts a daemon for the home in `env` unless one runs, and waits until `timeoutMs` for it to reach
 * `serving`: told at once on the readiness pipe, with the state file polled as the fallback.
 */
export async function launchDaemon(args: LaunchArgs, env: NodeJS.ProcessEnv): Promise<LaunchResult> {
  const paths = ensureHome(resolveHome(env));
  const before = await alreadyRunning(paths);
  if (before !== null) return before;
  const started = monotonicMs();
  const runArgs = [...(args.tick === undefined ? [] : ['--tick', args.tick]), '--batch', String(args.batch)];
  const child = spawnDaemon(paths, env, daemonRunTarget(runArgs), { readyPipe: true });
  const watch = new ChildWatch(child);
  try {
    const pid = child.pid;
    if (pid === undefined) {
      await sleep(0);
      const reason = `could not run ${process.execPath}: ${watch.spawnError?.message ?? 'spawn failed'}`;
      return { status: 'failed', pid: null, reason, log: paths.daemonLog };
    }
    return await awaitServing(watch, paths, pid, { timeoutMs: args.timeoutMs, started });
  } finally {
    watch.release();
  }
}

/** Prints a launch result; returns `daemon start`'s exit code (0 started or already running, else 1). */
export function printLaunch(
  result: LaunchResult,
  json: boolean,
  io: { readonly stdout: Writer; readonly stderr: Writer },
): number {
  const out = {
    print: (line: string) => io.stdout.write(`${line}\n`),
    warn: (line: string) => io.stderr.write(`${line}\n`),
  };
  if (json) {
    out.print(JSON.stringify(result));
    return result.status === 'failed' ? 1 : 0;
  }
  switch (result.status) {
    case 'started':
      out.print(`started (pid ${result.pid})`);
      return 0;
    case 'alreadyRunning':
      out.print(
        result.pid === null
          ? 'already running (a daemon holds daemon.lock; its pid is unknown)'
          : `already running (pid ${result.pid}${result.verified ? '' : ', identity unverified'})`,
      );
      return 0;
    case 'failed':
      out.warn(`difflore: the daemon did not start: ${printable(result.reason)}`);
      out.warn(`  see ${result.log}`);
      return 1;
  }
}
