/**
 * `difflore demo`, the orchestration: a data home (temporary unless --home), the reference cloud in
 * a child process with a short burst of failures, a mixed workload with one poison row, the daemon
 * started and stopped through the CLI, live progress until every deliverable row is acknowledged,
 * then the daemon's status, its last transitions and where the state diagram is.
 *
 * Owns the demo's promises to the user: it ends within the deadline with a reason, and whatever
 * happens (failure, Ctrl-C, SIGTERM) it leaves no daemon, no cloud and (unless --keep or --home)
 * no home behind. Cleanup runs in one place, `cleanUp`, whichever way the run ends.
 *
 * The burst: the cloud answers 503 with `Retry-After: 1` until the first of those answers is seen
 * (BurstWatch), then recovers. The daemon's breaker pauses for the second the cloud asked for and its probe then
 * finds the cloud healthy, so the outage costs about a second. (Failures without Retry-After would
 * trip the breaker's 30 s cool-down, which is right for a real outage and wrong for a 30 s demo.)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Database } from '../../adapters/outbox/db.js';
import type { HomePaths } from '../../adapters/home/home.js';
import type { CloudStats } from '../../reference-cloud/server.js';
import { describeError } from '../../errors.js';
import { formatDuration, plural } from '../text.js';
import {
  type CloudChild,
  type ChildResult,
  killAllChildren,
  requestJson,
  runCli,
  shown,
  startCloud,
} from './children.js';
import { type Out, ProgressView } from './progress.js';
import { buildWorkload, type Workload } from './workload.js';

export interface DemoOptions {
  readonly rows: number;
  /** Use this data home instead of a temporary one (it is never removed). */
  readonly home?: string;
  /** Keep the temporary home and print where it is. */
  readonly keep: boolean;
  /** Give up after this long (ms), saying what was left. */
  readonly deadlineMs: number;
}

export interface DemoIO {
  readonly out: Out;
  readonly err: Out;
  readonly env: NodeJS.ProcessEnv;
  /** Draw a live bar (stdout is a terminal). */
  readonly tty: boolean;
  readonly colour: boolean;
}

const POLL_MS = 100;
const RETRY_AFTER_S = 1;

/** A reason the demo cannot go on, said to the user as it is. */
class DemoFailure extends Error {}

class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

interface DemoOutcome {
  readonly workload: Workload;
  readonly received: number;
  readonly deduped: number;
  readonly retriedRows: number;
  readonly failedRequests: number;
  readonly abandonedReason: string | null;
  readonly deliveredInMs: number;
}

/** Everything the run has started, so cleanup knows what to undo. */
class Run {
  readonly startedAt = performance.now();
  tempRoot: string | null = null;
  paths: HomePaths | null = null;
  cloud: CloudChild | null = null;
  burst: BurstWatch | null = null;
  daemonEnv: NodeJS.ProcessEnv | null = null;
  /** `daemon start` was run (it may have started a daemon even if it then failed). */
  daemonStartRan = false;
  daemonStopped = false;
  interrupted: NodeJS.Signals | null = null;
  #wake: (() => void) | null = null;

  constructor(
    readonly options: DemoOptions,
    readonly io: DemoIO,
  ) {}

  elapsed(): number {
    return performance.now() - this.startedAt;
  }

  say(line = ''): void {
    this.io.out.write(`${line}\n`);
  }

  interrupt(signal: NodeJS.Signals): void {
    this.interrupted ??= signal;
    this.#wake?.();
  }

  /** Throws if a signal arrived: every step between child processes checks. */
  check(): void {
    if (this.interrupted !== null) throw new Interrupted(this.interrupted);
  }

  /** Waits `ms`, or less if a signal arrives. */
  pause(ms: number): Promise<void> {
    return new Promise((done) => {
      const timer = setTimeout(finish, ms);
      function finish(): void {
        clearTimeout(timer);
        done();
      }
      this.#wake = finish;
    });
  }
}

/**
 * Ends the burst as soon as the cloud has answered its first 503: polls `/__stats` every 25 ms
 * from before `daemon start` runs, so the recovery never waits for the start command to return and
 * always lands well inside the Retry-After pause (the breaker's probe must find the cloud healthy).
 */
class BurstWatch {
  #cleared = false;
  #stopped = false;
  readonly done: Promise<void>;

  constructor(url: string) {
    this.done = this.#loop(url);
  }

  get cleared(): boolean {
    return this.#cleared;
  }

  stop(): void {
    this.#stopped = true;
  }

  async #loop(url: string): Promise<void> {
    while (!this.#stopped) {
      try {
        const stats = (await requestJson('GET', `${url}/__stats`, undefined, 2000)).json as CloudStats;
        if ((stats.byStatus['503'] ?? 0) > 0) {
          await requestJson('POST', `${url}/__faults`, { status: null, retryAfter: null }, 2000);
          this.#cleared = true;
          return;
        }
      } catch {
        // The cloud is going away (cleanup) or busy; the next round tells.
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** An environment for the children: ours without any DIFFLORE_* setting of the user's. */
function isolatedEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!k.startsWith('DIFFLORE_') && !k.startsWith('DIFF_LORE_')) out[k] = v;
  return out;
}

function indent(text: string, prefix = '    '): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `${prefix}${l}`)
    .join('\n');
}

function childFailure(what: string, result: ChildResult): string {
  const said = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-3).join(' / ');
  const how = result.signal === null ? `exit ${result.code}` : `killed by ${result.signal}`;
  return `${what} failed (${how})${said ? `: ${said}` : ''}`;
}

function byKindText(byKind: Readonly<Record<string, number>>): string {
  return Object.entries(byKind)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

/** Runs the demo; returns the exit code (0 success, 1 with the reason on stderr). */
export async function runDemo(options: DemoOptions, io: DemoIO): Promise<number> {
  const run = new Run(options, io);
  const onSignal = (signal: NodeJS.Signals): void => {
    if (run.interrupted === null) {
      io.out.write(`\n${signal}: stopping the demo; cleaning up first...\n`);
    } else {
      io.out.write('still cleaning up (stopping the daemon and the cloud); one moment...\n');
    }
    run.interrupt(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  let outcome: DemoOutcome | null = null;
  let failure: string | null = null;
  try {
    outcome = await demo(run);
  } catch (error) {
    // A terminal Ctrl-C also reaches the cloud, which may exit first: the signal is the reason then.
    if (run.interrupted !== null) failure = `interrupted by ${run.interrupted}`;
    else failure = error instanceof DemoFailure ? error.message : describeError(error);
  }
  try {
    const problem = await cleanUp(run);
    if (problem !== null && failure === null) failure = problem;
  } catch (error) {
    // Cleanup must not leave children: end whatever is left, then report.
    killAllChildren();
    failure ??= `cleanup failed: ${describeError(error)}`;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
  if (outcome !== null && failure === null) {
    printSummary(run, outcome);
    return 0;
  }
  io.err.write(`difflore demo: ${failure ?? 'failed'}\n`);
  if (run.tempRoot !== null && !options.keep && run.interrupted === null) {
    io.err.write('  run it again with --keep to look at the data home afterwards\n');
  }
  return 1;
}

/** The adapters the demo uses, loaded when it runs (the CLI's other commands never pay for them). */
interface DemoAdapters {
  readonly ensureHome: typeof import('../../adapters/home/home.js').ensureHome;
  readonly openDatabase: typeof import('../../adapters/outbox/db.js').openDatabase;
  readonly OutboxStore: typeof import('../../adapters/outbox/outbox-store.js').OutboxStore;
  readonly probeLiveness: typeof import('../../adapters/lifecycle/liveness.js').probeLiveness;
}

async function loadAdapters(): Promise<DemoAdapters> {
  const [{ ensureHome }, { openDatabase }, { OutboxStore }, { probeLiveness }] = await Promise.all([
    import('../../adapters/home/home.js'),
    import('../../adapters/outbox/db.js'),
    import('../../adapters/outbox/outbox-store.js'),
    import('../../adapters/lifecycle/liveness.js'),
  ]);
  return { ensureHome, openDatabase, OutboxStore, probeLiveness };
}

async function demo(run: Run): Promise<DemoOutcome> {
  const { options } = run;
  const adapters = await loadAdapters();
  const paths = prepareHome(run, adapters);
  const workload = buildWorkload(options.rows, `poison-${randomBytes(6).toString('hex')}`, Date.now());
  run.say(`difflore demo: ${options.rows} rows from a local outbox to a local cloud, through the daemon`);
  run.say(
    `  home    ${paths.home}${run.tempRoot === null ? '' : options.keep ? ' (temporary, kept at the end)' : ' (temporary, removed at the end)'}`,
  );
  const token = `demo_${randomBytes(18).toString('base64url')}`;
  const childEnv = isolatedEnv(run.io.env);
  const cloud = await startBurstingCloud(run, token, childEnv, workload);
  queueWorkload(run, adapters, paths, workload);
  run.daemonEnv = {
    ...childEnv,
    DIFFLORE_HOME: paths.home,
    DIFFLORE_CLOUD_URL: cloud.url,
    DIFFLORE_CLOUD_TOKEN: token,
  };
  await startDaemon(run, run.daemonEnv);

  // 5. Watch until every deliverable row is acknowledged.
  const watched = await watch(run, workload, paths, adapters.openDatabase, adapters.probeLiveness);
  run.say();
  run.say(
    `All ${workload.deliverable} deliverable rows acknowledged in ${formatDuration(watched.deliveredInMs)} ` +
      `(the poison row is abandoned, as it should be).`,
  );
  run.say();
  await showDaemon(run, run.daemonEnv, paths.home);
  await stopDaemon(run, run.daemonEnv);
  return { workload, ...watched };
}

/** 1. The data home: --home (if nothing runs there and its outbox is empty), else a temporary one. */
function prepareHome(run: Run, adapters: DemoAdapters): HomePaths {
  const { options } = run;
  let home: string;
  if (options.home !== undefined) {
    home = resolve(options.home);
  } else {
    run.tempRoot = mkdtempSync(join(tmpdir(), 'difflore-demo-'));
    home = join(run.tempRoot, 'home');
  }
  const paths = adapters.ensureHome(home);
  run.paths = paths;
  if (options.home !== undefined) refuseBusyHome(paths, adapters.openDatabase, adapters.probeLiveness);
  return paths;
}

/** 2. The reference cloud, with a token of its own and the burst armed. */
async function startBurstingCloud(
  run: Run,
  token: string,
  childEnv: NodeJS.ProcessEnv,
  workload: Workload,
): Promise<CloudChild> {
  run.check();
  run.cloud = await startCloud(['--token', token], childEnv);
  const cloud = run.cloud;
  const armed = await requestJson('POST', `${cloud.url}/__faults`, {
    status: 503,
    retryAfter: String(RETRY_AFTER_S),
    poison: workload.poisonMarker,
    poisonStatus: 400,
  });
  if (armed.status !== 200) throw new DemoFailure(`the reference cloud refused the fault settings (${armed.status})`);
  run.burst = new BurstWatch(cloud.url);
  run.say(`  cloud   ${cloud.url} (${shown(['cloud', 'serve'])}, pid ${cloud.pid})`);
  run.say(`          answers 503 + Retry-After: ${RETRY_AFTER_S} until the daemon has felt it, then recovers`);
  run.say(`          rejects one poison row with 400, for good`);
  return cloud;
}

/** 3. The workload, as hooks would have queued it. */
function queueWorkload(run: Run, adapters: DemoAdapters, paths: HomePaths, workload: Workload): void {
  run.check();
  const db = adapters.openDatabase(paths.db);
  try {
    new adapters.OutboxStore(db).enqueueMany(workload.rows);
  } finally {
    db.close();
  }
  run.say(`  queued  ${workload.rows.length} rows: ${byKindText(workload.byKind)}`);
  run.say(
    `          incl. 1 poison row, ${plural(workload.repeats, 'exact repeat')} (a hook that fired twice), ` +
      `${workload.localOnly} legacy fix_acceptance (confirmed without sending)`,
  );
}

/** 4. The daemon, through `daemon start`. */
async function startDaemon(run: Run, env: NodeJS.ProcessEnv): Promise<void> {
  run.check();
  run.daemonStartRan = true;
  const started = await runCli(['daemon', 'start', '--json'], env);
  let daemonPid: number | null = null;
  try {
    const parsed = JSON.parse(started.stdout.trim().split('\n').at(-1) ?? '') as { status?: string; pid?: number };
    if (typeof parsed.pid === 'number') daemonPid = parsed.pid;
  } catch {
    daemonPid = null;
  }
  if (started.code !== 0) throw new DemoFailure(childFailure(shown(['daemon', 'start']), started));
  run.say(`  daemon  started, pid ${daemonPid ?? '?'} (${shown(['daemon', 'start'])})`);
  run.say();
}

/** 6. What the daemon says about itself (three read-only commands, run side by side). */
async function showDaemon(run: Run, env: NodeJS.ProcessEnv, home: string): Promise<void> {
  run.check();
  const [status, log, diagram] = await Promise.all([
    runCli(['daemon', 'status'], env),
    runCli(['daemon', 'log', '--limit', '10'], env),
    runCli(['machines', 'export', 'daemon', '--format', 'mermaid'], env),
  ]);
  run.say(`Daemon status (${shown(['daemon', 'status'])}):`);
  run.say(indent(status.stdout || status.stderr));
  run.say();
  run.say(`Last transitions (${shown(['daemon', 'log', '--limit', '10'])}):`);
  run.say(indent(log.code === 0 ? log.stdout : childFailure('daemon log', log)));
  run.say();
  const exportCommand = shown(['machines', 'export', 'daemon', '--format', 'mermaid']);
  if (diagram.code === 0) {
    const file = join(home, 'daemon.mmd');
    writeFileSync(file, diagram.stdout, { mode: 0o600 });
    const kept = run.tempRoot === null || run.options.keep;
    run.say(`State diagram: ${file}${kept ? '' : ' (removed with the home)'}; any time: ${exportCommand}`);
  } else {
    run.say(`State diagram: ${exportCommand} (${childFailure('export', diagram)})`);
  }
  run.say();
}

/** 7. Stop through the stop protocol, and show how it went. */
async function stopDaemon(run: Run, env: NodeJS.ProcessEnv): Promise<void> {
  run.check();
  const stopped = await runCli(['daemon', 'stop'], env);
  run.daemonStopped = stopped.code === 0;
  run.say(`Stopping the daemon (${shown(['daemon', 'stop'])}):`);
  run.say(indent(stopped.stdout || stopped.stderr));
  if (stopped.code !== 0) throw new DemoFailure(childFailure(shown(['daemon', 'stop']), stopped));
}

/** A --home the demo may use: no daemon running there and an empty outbox. */
function refuseBusyHome(
  paths: HomePaths,
  openDatabase: (path: string, options?: { readonly?: boolean }) => Database,
  probeLiveness: typeof import('../../adapters/lifecycle/liveness.js').probeLiveness,
): void {
  const live = probeLiveness(paths);
  if (live.kind === 'running' || live.kind === 'unverified') {
    throw new DemoFailure(
      `a daemon already runs for ${paths.home}${live.pid === null ? '' : ` (pid ${live.pid})`}; ` +
        `stop it first (${shown(['daemon', 'stop'])}) or give the demo another --home`,
    );
  }
  let rows = 0;
  try {
    const db = openDatabase(paths.db, { readonly: true });
    try {
      rows = (db.prepare('SELECT COUNT(*) AS n FROM cloud_outbox').get() as { n: number }).n;
    } finally {
      db.close();
    }
  } catch {
    rows = 0; // no database (or no outbox table) yet: nothing in the way
  }
  if (rows > 0) {
    throw new DemoFailure(
      `${paths.db} already holds ${plural(rows, 'row')}; the demo needs an empty outbox ` +
        '(give another --home, or none for a temporary one)',
    );
  }
}

interface Watched {
  readonly received: number;
  readonly deduped: number;
  readonly retriedRows: number;
  readonly failedRequests: number;
  readonly abandonedReason: string | null;
  readonly deliveredInMs: number;
}

async function watch(
  run: Run,
  workload: Workload,
  paths: HomePaths,
  openDatabase: (path: string, options?: { readonly?: boolean }) => Database,
  probeLiveness: typeof import('../../adapters/lifecycle/liveness.js').probeLiveness,
): Promise<Watched> {
  const cloud = run.cloud as CloudChild;
  const view = new ProgressView(run.io.out, { tty: run.io.tty, colour: run.io.colour });
  const db = openDatabase(paths.db, { readonly: true });
  const counts = db.prepare('SELECT status, COUNT(*) AS n FROM cloud_outbox GROUP BY status');
  const retriedIds = db.prepare('SELECT id FROM cloud_outbox WHERE retry_count > 0');
  const abandonedRows = db.prepare(
    "SELECT id, kind, payload_json AS payload, last_error AS error FROM cloud_outbox WHERE status = 'abandoned' LIMIT 20",
  );
  const retried = new Set<number>();
  const watchStart = performance.now();
  const samples: { at: number; acked: number }[] = [];
  let burstNoted = false;
  let stats: CloudStats = { requests: 0, received: {}, deduped: 0, byStatus: {} };
  let polls = 0;
  try {
    for (;;) {
      run.check();
      if (run.elapsed() > run.options.deadlineMs) {
        throw new DemoFailure(deadlineMessage(run, workload, stats, counts.all() as { status: string; n: number }[]));
      }
      if (cloud.hasExited()) throw new DemoFailure('the reference cloud exited unexpectedly');
      const got = await requestJson('GET', `${cloud.url}/__stats`);
      stats = got.json as CloudStats;
      if (!burstNoted && run.burst?.cleared) {
        burstNoted = true;
        view.note(
          `the cloud answered 503 (Retry-After: ${RETRY_AFTER_S}); it is healthy again and the daemon will retry`,
        );
      }
      const byStatus = { pending: 0, processing: 0, abandoned: 0 };
      for (const row of counts.all() as { status: string; n: number }[]) {
        if (row.status in byStatus) byStatus[row.status as keyof typeof byStatus] = row.n;
      }
      for (const row of retriedIds.all() as { id: number }[]) retried.add(row.id);
      const left = byStatus.pending + byStatus.processing;
      const acked = workload.rows.length - left - byStatus.abandoned;
      const now = performance.now();
      samples.push({ at: now, acked });
      while (samples.length > 2 && now - (samples[0] as { at: number }).at > 1000) samples.shift();
      const first = samples[0] as { at: number; acked: number };
      const rate = now - first.at >= 500 ? ((acked - first.acked) * 1000) / (now - first.at) : null;
      view.update({
        acknowledged: acked,
        total: workload.deliverable,
        retried: retried.size,
        elapsedMs: now - watchStart,
        rate,
      });
      if (left === 0) {
        view.end();
        // The stats above were read before the outbox counts: rows confirmed in between are in the
        // cloud but not in that answer, so ask again now that nothing is left to deliver.
        const final = (await requestJson('GET', `${cloud.url}/__stats`)).json as CloudStats;
        return settle(workload, final, retried.size, abandonedRows.all() as AbandonedRow[], now - watchStart);
      }
      if (++polls % 5 === 0) {
        const live = probeLiveness(paths);
        if (live.kind !== 'running' && live.kind !== 'unverified') {
          throw new DemoFailure(
            `the daemon is no longer running (${live.kind}) with ${plural(left, 'row')} left; see ${paths.daemonLog}`,
          );
        }
      }
      await run.pause(POLL_MS);
    }
  } finally {
    view.end();
    db.close();
  }
}

interface AbandonedRow {
  readonly id: number;
  readonly kind: string;
  readonly payload: string;
  readonly error: string | null;
}

/** The outbox holds only abandoned rows: check that it is just the poison row and the cloud has everything. */
function settle(
  workload: Workload,
  stats: CloudStats,
  retriedRows: number,
  abandoned: readonly AbandonedRow[],
  deliveredInMs: number,
): Watched {
  const received = Object.values(stats.received).reduce((a, b) => a + b, 0);
  const others = abandoned.filter((r) => !r.payload.includes(workload.poisonMarker));
  if (others.length > 0) {
    const first = others[0] as AbandonedRow;
    throw new DemoFailure(
      `${plural(others.length, 'healthy row')} ended abandoned, e.g. #${first.id} (${first.kind}): ${first.error ?? 'no error recorded'}`,
    );
  }
  const poison = abandoned.find((r) => r.payload.includes(workload.poisonMarker));
  if (poison === undefined) throw new DemoFailure('the poison row is not in the outbox as abandoned');
  if (received !== workload.expectedReceived) {
    throw new DemoFailure(
      `the outbox is empty but the cloud holds ${received} distinct rows, not the ${workload.expectedReceived} expected`,
    );
  }
  return {
    received,
    deduped: stats.deduped,
    retriedRows,
    failedRequests: stats.byStatus['503'] ?? 0,
    abandonedReason: poison.error,
    deliveredInMs,
  };
}

function deadlineMessage(
  run: Run,
  workload: Workload,
  stats: CloudStats,
  rows: readonly { status: string; n: number }[],
): string {
  const left = rows.map((r) => `${r.status} ${r.n}`).join(', ') || 'nothing';
  const received = Object.values(stats.received).reduce((a, b) => a + b, 0);
  return (
    `gave up after ${formatDuration(run.options.deadlineMs)}: the outbox still holds ${left}; ` +
    `the cloud has ${received} of ${workload.expectedReceived} rows (answers so far: ${JSON.stringify(stats.byStatus)})`
  );
}

/**
 * Stops what the run started, in order: the daemon (stop protocol; SIGKILL only for a verified
 * daemon that survived it), the cloud, then the temporary home. Returns a problem to report, if any.
 */
async function cleanUp(run: Run): Promise<string | null> {
  let problem: string | null = null;
  run.burst?.stop();
  if (run.daemonStartRan && !run.daemonStopped && run.daemonEnv !== null && run.paths !== null) {
    const stopped = await runCli(['daemon', 'stop', '--grace', '5s'], run.daemonEnv, 20_000);
    run.say(`Stopping the daemon (${shown(['daemon', 'stop'])}):`);
    run.say(indent(stopped.stdout || stopped.stderr));
    const { probeLiveness } = await import('../../adapters/lifecycle/liveness.js');
    const live = probeLiveness(run.paths);
    if (live.kind === 'running') {
      // The stop protocol failed and the process is provably our daemon: it must not outlive the demo.
      try {
        process.kill(live.pid, 'SIGKILL');
      } catch {
        // gone in the meantime
      }
      problem = `${shown(['daemon', 'stop'])} did not stop pid ${live.pid}; killed it`;
    } else if (stopped.code !== 0) {
      problem = childFailure(shown(['daemon', 'stop']), stopped);
    }
  }
  if (run.cloud !== null) await run.cloud.stop();
  await run.burst?.done;
  if (run.tempRoot !== null) {
    if (run.options.keep) {
      run.say(`Kept the data home: ${run.paths?.home ?? run.tempRoot}`);
      run.say(`  look around: DIFFLORE_HOME=${run.paths?.home ?? run.tempRoot} ${shown(['doctor'])}`);
    } else {
      rmSync(run.tempRoot, { recursive: true, force: true });
    }
  }
  return problem;
}

function printSummary(run: Run, o: DemoOutcome): void {
  const w = o.workload;
  run.say();
  run.say('Summary');
  run.say(`  rows       ${w.rows.length} (${byKindText(w.byKind)})`);
  run.say(
    `  delivered  ${o.received} distinct rows received by the cloud; ${w.localOnly} legacy rows confirmed without sending`,
  );
  run.say(
    `  deduped    ${o.deduped} (the workload repeats ${plural(w.repeats, 'row')}; the cloud kept one copy of each)`,
  );
  run.say(
    `  retried    ${plural(o.retriedRows, 'row')} (${plural(o.failedRequests, 'request')} answered 503 during the burst)`,
  );
  run.say(`  abandoned  1, the poison row: ${o.abandonedReason ?? 'no reason recorded'}`);
  run.say(`  time       ${formatDuration(run.elapsed())} in all; delivery took ${formatDuration(o.deliveredInMs)}`);
  if (run.tempRoot !== null && !run.options.keep) run.say(`  cleaned    removed ${run.tempRoot}`);
}
