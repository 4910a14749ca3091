/**
 * What `daemon start` (and `daemon restart` after its stop) does: spawn `daemon run` detached (its
 * own session, stdio to logs/daemon.log) and wait until its machine reports `serving`, or say why it
 * did not. Clipanion-free, so main.ts's fast path can run it.
 */
import { printable } from './daemon-text.js';
import { DAEMON_NODE_FLAGS } from '../adapters/lifecycle/daemon-node-flags.js';

export interface LaunchArgs {
  /** --tick for the daemon; undefined: its defaults (the long idle heartbeat while commits wake it). */
  readonly tick: string | undefined;
  readonly batch: number;
  readonly timeoutMs: number;
}

export type LaunchResult =
  | { readonly status: 'started'; readonly pid: number; readonly elapsedMs: number }
  | { readonly status: 'alreadyRunning'; readonly pid: number | null; readonly verified: boolean }
  | { readonly status: 'failed'; readonly pid: number | null; readonly reason: string; readonly log: string };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The last warning or error the daemon `pid` wrote to its log (its own words for why it stopped). */
async function lastComplaint(logPath: string, pid: number): Promise<string | null> {
  const [{ closeSync, fstatSync, readSync, constants }, { openHomeFile }] = await Promise.all([
    import('node:fs'),
    import('../adapters/home/home-files.js'),
  ]);
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
 * Starts a daemon for the home in `env` unless one runs, and waits until `timeoutMs` for it to reach
 * `serving`: told at once on the readiness pipe, with the state file polled (5 ms doubling to 50 ms)
 * as the fallback.
 */
export async function launchDaemon(args: LaunchArgs, env: NodeJS.ProcessEnv): Promise<LaunchResult> {
  // Only what starting needs: the liveness probe, not `daemon status` (which opens the database).
  const [
    { spawn },
    fs,
    { isAbsolute, resolve },
    { ensureHome, resolveHome },
    { readState },
    { probeLiveness },
    { stateLabel },
    { cliEntryPath },
    { READY_FD },
  ] = await Promise.all([
    import('node:child_process'),
    import('node:fs'),
    import('node:path'),
    import('../adapters/home/home.js'),
    import('../adapters/lifecycle/recorder.js'),
    import('../adapters/lifecycle/liveness.js'),
    import('./daemon-text.js'),
    import('../adapters/integrations/service-unit.js'),
    import('./daemon-fast.js'),
  ]);
  const paths = ensureHome(resolveHome(env));
  const probe = (): import('../adapters/lifecycle/liveness.js').LivenessResult | null => {
    try {
      return probeLiveness(paths);
    } catch {
      // Cannot tell (an unsafe file, say): try to start; the daemon's claim decides and says why.
      return null;
    }
  };
  const already = async (): Promise<LaunchResult | null> => {
    for (let attempt = 0; ; attempt += 1) {
      const report = probe();
      if (report?.kind === 'running') return { status: 'alreadyRunning', pid: report.pid, verified: true };
      if (report?.kind !== 'unverified' || !report.lockHeld) return null;
      // A daemon holds the lifetime lock. One that is still claiming records its identity within
      // milliseconds; wait briefly for it, then report it as it is.
      if (attempt >= 10) return { status: 'alreadyRunning', pid: report.pid, verified: false };
      await sleep(10);
    }
  };
  const before = await already();
  if (before !== null) return before;

  const started = performance.now();
  // The home-files rule: a link, FIFO or directory at logs/ or the log must not take the daemon's output.
  const { openHomeAppend } = await import('../adapters/home/home-files.js');
  const logFd = openHomeAppend(paths.daemonLog);
  const childEnv: NodeJS.ProcessEnv = { ...env };
  // The daemon runs from the data home (it must not pin the directory it was started from).
  if (env.DIFFLORE_HOME !== undefined && !isAbsolute(env.DIFFLORE_HOME)) childEnv.DIFFLORE_HOME = resolve(paths.home);
  // It says "serving" on a pipe at fd 3 the moment it serves (daemon-fast.ts), instead of us polling.
  childEnv.DIFFLORE_READY_FD = String(READY_FD);
  let child: import('node:child_process').ChildProcess;
  try {
    child = spawn(
      process.execPath,
      [
        ...DAEMON_NODE_FLAGS,
        cliEntryPath(),
        'daemon',
        'run',
        ...(args.tick === undefined ? [] : ['--tick', args.tick]),
        '--batch',
        String(args.batch),
      ],
      {
        cwd: resolve(paths.home),
        env: childEnv,
        detached: true,
        stdio: ['ignore', logFd, logFd, 'pipe'],
        windowsHide: true,
      },
    );
  } finally {
    fs.closeSync(logFd);
  }
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  let spawnError: Error | null = null;
  let serving = false;
  // Whatever ends the wait early: the readiness line, the daemon's exit.
  let nudge: () => void = () => {};
  const nudged = new Promise<void>((resolve) => {
    nudge = resolve;
  });
  const ready = child.stdio[READY_FD] as import('node:net').Socket | null | undefined;
  ready?.on('data', (chunk: Buffer) => {
    if (chunk.toString('utf8').includes('serving')) serving = true;
    nudge();
  });
  ready?.on('error', () => {});
  child.once('exit', (code, signal) => {
    exited = { code, signal };
    nudge();
  });
  child.once('error', (error) => {
    spawnError = error;
  });
  const pid = child.pid ?? null;
  const failed = (reason: string): LaunchResult => ({ status: 'failed', pid, reason, log: paths.daemonLog });
  try {
    if (pid === null) {
      await sleep(0);
      return failed(`could not run ${process.execPath}: ${(spawnError as Error | null)?.message ?? 'spawn failed'}`);
    }
    const deadline = Date.now() + args.timeoutMs;
    let delay = 5;
    for (;;) {
      let value: string | null = null;
      try {
        // The state file stays the fallback (and the word of a daemon that could not use the pipe).
        const read = serving ? null : readState(paths.stateFile);
        if (read?.kind === 'ok' && read.state.pid === pid) value = stateLabel(read.state.value);
      } catch {
        value = null;
      }
      if (serving || value?.startsWith('serving')) {
        return { status: 'started', pid, elapsedMs: Math.round(performance.now() - started) };
      }
      const end = exited as { code: number | null; signal: NodeJS.Signals | null } | null;
      if (end !== null) {
        // Lost a race with another start (or a hook's autostart): that daemon runs, which is what was asked.
        const other = await already();
        if (other !== null) return other;
        const said = await lastComplaint(paths.daemonLog, pid);
        // Exit 0 before serving means it yielded to an owner it could not verify (e.g. the Rust daemon): its reason says all.
        if (end.signal === null && end.code === 0 && said !== null) return failed(said);
        const how = end.signal === null ? `exited with code ${end.code}` : `was killed by ${end.signal}`;
        return failed(`the daemon ${how} before it was serving${said === null ? '' : `: ${said}`}`);
      }
      if (Date.now() > deadline) {
        return failed(
          `the daemon (pid ${pid}) did not report serving within ${Math.round(args.timeoutMs / 1000)} s; ` +
            'it may still be claiming the data home (is another claimer holding daemon.pid.lock?)',
        );
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, delay))), nudged]);
      // A poll timer left armed would hold this process up to 50 ms after it has answered.
      clearTimeout(timer);
      delay = Math.min(delay * 2, 50);
    }
  } finally {
    ready?.destroy();
    child.removeAllListeners('exit');
    child.on('error', () => {});
    child.unref();
  }
}

/** Prints a launch result; returns `daemon start`'s exit code (0 started or already running, else 1). */
export function printLaunch(
  result: LaunchResult,
  json: boolean,
  out: { print(line: string): void; warn(line: string): void },
): number {
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
