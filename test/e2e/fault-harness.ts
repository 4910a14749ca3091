/**
 * Shared pieces of the fault suite (test/e2e/fault-*.test.ts): a `Lab` that owns every process and
 * temp home a test starts and kills them all afterwards (detached daemons included, found through
 * their pid and state files), the reference cloud as a child process (`difflore cloud serve`) with
 * its `/__stats` and runtime `/__faults`, a mixed workload of unique rows, and waits with deadlines
 * that explain themselves when they run out.
 *
 * Sizes: CI by default; `DIFFLORE_SOAK=1` (npm run soak) selects the long versions.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../../src/adapters/outbox/db.js';
import { type HomePaths, homePaths } from '../../src/adapters/home/home.js';
import { OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { type PidFileRead, readPidFile } from '../../src/adapters/lifecycle/pid-file.js';
import { isAlive } from '../../src/adapters/lifecycle/process-identity.js';
import { readState, type StateRead } from '../../src/adapters/lifecycle/recorder.js';
import type { CloudFaults, CloudStats } from '../../src/reference-cloud/server.js';
import { afterEach, beforeEach } from 'vitest';
import { CLI, type CliResult, cleanEnv, makeTempHome, waitFor } from '../helpers/index.js';

export const SOAK = process.env.DIFFLORE_SOAK === '1';
export const FAULT_TOKEN = 'tok_fault_suite_7c1e9a0b2d4f';

/** `soak` under `npm run soak`, `ci` otherwise. */
export function sized<T>(ci: T, soak: T): T {
  return SOAK ? soak : ci;
}

// ---------------------------------------------------------------------------------------------
// Processes

/** True if `pid` is a live (non-zombie) process running this repository's CLI. */
export function isOurCliProcess(pid: number): boolean {
  if (isAlive(pid).kind !== 'alive') return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(CLI);
  } catch {
    return false;
  }
}

export function processGone(pid: number): boolean {
  return isAlive(pid).kind !== 'alive';
}

/** SIGKILL, then wait (with a deadline) until the process is gone or a zombie. */
export async function killHard(pid: number, what = `process ${pid}`): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
  await waitFor(() => processGone(pid), { timeoutMs: 10_000, what: `${what} to die after SIGKILL` });
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface Tracked {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  /** How it ended, once it has. */
  exitedWith(): Exit | null;
  stdout(): string;
  stderr(): string;
}

// ---------------------------------------------------------------------------------------------
// The reference cloud as a child process

export interface CloudProcess {
  readonly url: string;
  readonly pid: number;
  stats(): Promise<CloudStats>;
  /** Changes the faults while it runs (`POST /__faults`); resolves with the faults now in force. */
  setFaults(patch: Partial<CloudFaults>): Promise<CloudFaults>;
  /** Every kind's received count added up. */
  receivedTotal(): Promise<number>;
  stderr(): string;
}

export function totalOf(counts: Readonly<Record<string, number>>): number {
  return Object.values(counts).reduce((n, c) => n + c, 0);
}

// ---------------------------------------------------------------------------------------------
// Homes

export class LabHome {
  readonly home: string;
  readonly paths: HomePaths;
  readonly #cleanup: () => void;

  constructor() {
    const { home, cleanup } = makeTempHome('difflore-fault-');
    mkdirSync(home, { recursive: true, mode: 0o700 });
    this.home = home;
    this.paths = homePaths(home);
    this.#cleanup = cleanup;
  }

  /** The environment of every process for this home: its cloud and token, nothing leaked from ours. */
  env(cloudUrl: string | null, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    return cleanEnv({
      DIFFLORE_HOME: this.home,
      DIFFLORE_CLOUD_URL: cloudUrl ?? undefined,
      DIFFLORE_CLOUD_TOKEN: cloudUrl === null ? undefined : FAULT_TOKEN,
      ...extra,
    });
  }

  pidFile(): PidFileRead {
    return readPidFile(this.paths.pidFile);
  }

  state(): StateRead {
    return readState(this.paths.stateFile);
  }

  withStore<T>(fn: (store: OutboxStore) => T): T {
    const db = openDatabase(this.paths.db);
    try {
      return fn(new OutboxStore(db));
    } finally {
      db.close();
    }
  }

  /** Inserts rows in one transaction, as a busy producer would (the daemon may be draining). */
  seed(rows: readonly WorkRow[]): void {
    this.withStore((store) => store.enqueueMany(rows.map((r) => ({ kind: r.kind, payloadJson: r.payloadJson }))));
  }

  /** Rows still in the outbox by status. */
  outbox(): { pending: number; processing: number; abandoned: number } {
    if (!existsSync(this.paths.db)) return { pending: 0, processing: 0, abandoned: 0 };
    return this.withStore((store) => store.counts());
  }

  /** A few rows still in the outbox with their last errors, for failure messages. */
  outboxSample(limit = 5): string {
    if (!existsSync(this.paths.db)) return '(no database)';
    return this.withStore((store) =>
      store
        .list({ limit })
        .map((r) => `#${r.id} ${r.kind} ${r.status} tries=${r.retryCount} err=${r.lastError ?? '-'}`)
        .join('; '),
    );
  }

  /** Spill files by state: waiting (`*.json`), quarantined (`*.bad`), anything else. */
  spill(): { waiting: string[]; bad: string[]; other: string[] } {
    const out = { waiting: [] as string[], bad: [] as string[], other: [] as string[] };
    for (const dir of [this.paths.observationSpillDir, this.paths.otherSpillDir]) {
      if (!existsSync(dir)) continue;
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (name.endsWith('.json')) out.waiting.push(path);
        else if (name.endsWith('.bad')) out.bad.push(path);
        else out.other.push(path);
      }
    }
    return out;
  }

  daemonLogTail(lines = 15): string {
    try {
      return readFileSync(this.paths.daemonLog, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no daemon log)';
    }
  }

  /** Pids this home's files name: the pid file's and the state file's. */
  namedPids(): number[] {
    const pids: number[] = [];
    try {
      const found = this.pidFile();
      if (found.kind === 'pid') pids.push(found.pid);
    } catch {
      // a symlink or worse: nothing to read a pid from
    }
    try {
      const state = this.state();
      if (state.kind === 'ok' && state.state.pid > 1) pids.push(state.state.pid);
      if (state.kind === 'ok' && state.state.identity) pids.push(state.state.identity.pid);
    } catch {
      // unreadable state file
    }
    return pids;
  }

  remove(): void {
    this.#cleanup();
  }
}

// ---------------------------------------------------------------------------------------------
// The lab: everything one test starts, and its teardown

export class Lab {
  readonly #homes: LabHome[] = [];
  readonly #tracked: Tracked[] = [];
  /** Daemon pids seen (printed by `daemon start`, read from pid files): killed in `dispose`. */
  readonly daemonPids = new Set<number>();

  home(): LabHome {
    const h = new LabHome();
    this.#homes.push(h);
    return h;
  }

  #disposed = false;

  /** Spawns a process that `dispose` kills; stdout and stderr are collected. */
  spawn(command: string, args: readonly string[], options: SpawnOptions = {}): Tracked {
    // A test that timed out keeps running after its teardown: it must not start anything more.
    if (this.#disposed) throw new Error('this test is over (its lab was disposed); not starting another process');
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: cleanEnv(), ...options });
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    let ended: Exit | null = null;
    const exited = new Promise<Exit>((resolve) =>
      child.on('close', (code, signal) => {
        ended = { code, signal };
        resolve(ended);
      }),
    );
    const tracked: Tracked = { child, exited, exitedWith: () => ended, stdout: () => out, stderr: () => err };
    this.#tracked.push(tracked);
    return tracked;
  }

  /**
   * Runs the CLI to completion (a real process). Tracked like every other child, so a test that
   * fails while some are still running leaves none behind; the timeout only bounds a hung run.
   */
  async cli(
    args: readonly string[],
    env: NodeJS.ProcessEnv,
    options: { input?: string; timeoutMs?: number } = {},
  ): Promise<CliResult> {
    const t = this.spawn(process.execPath, [CLI, ...args], { env });
    t.child.stdin?.end(options.input ?? '');
    const timer = setTimeout(() => t.child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    const { code, signal } = await t.exited;
    clearTimeout(timer);
    return { code, signal, stdout: t.stdout(), stderr: t.stderr() };
  }

  /** `difflore cloud serve --token FAULT_TOKEN …` on a free loopback port. */
  async cloud(args: readonly string[] = []): Promise<CloudProcess> {
    const t = this.spawn(process.execPath, [CLI, 'cloud', 'serve', '--token', FAULT_TOKEN, ...args]);
    t.child.stdin?.end();
    const seen = await waitFor(
      () => {
        const ended = t.exitedWith();
        if (ended) return { failed: `cloud serve exited early (${ended.code}): ${t.stderr()}` };
        const url = /^listening on (\S+)\n/.exec(t.stdout())?.[1];
        return url === undefined ? null : { url };
      },
      { timeoutMs: 20_000, what: 'the reference cloud to listen' },
    );
    if ('failed' in seen) throw new Error(seen.failed);
    const url = seen.url;
    const get = async <T>(path: string, init?: RequestInit): Promise<T> => {
      const res = await fetch(`${url}${path}`, init);
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    };
    const cloud: CloudProcess = {
      url,
      pid: t.child.pid as number,
      stats: () => get<CloudStats>('/__stats'),
      setFaults: (patch) =>
        get<CloudFaults>('/__faults', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(patch),
        }),
      receivedTotal: async () => totalOf((await cloud.stats()).received),
      stderr: t.stderr,
    };
    return cloud;
  }

  /** `difflore daemon start …` for a home; remembers the daemon's pid for `dispose`. */
  async daemonStart(
    h: LabHome,
    env: NodeJS.ProcessEnv,
    args: readonly string[] = [],
  ): Promise<CliResult & { pid: number | null }> {
    const result = await this.cli(['daemon', 'start', ...args], env);
    const pid = parsePrintedPid(result.stdout);
    if (pid !== null) this.daemonPids.add(pid);
    for (const p of h.namedPids()) this.daemonPids.add(p);
    return { ...result, pid };
  }

  /** Kills everything this lab started, then removes its homes. Never throws. */
  async dispose(): Promise<void> {
    this.#disposed = true;
    for (const h of this.#homes) for (const pid of h.namedPids()) this.daemonPids.add(pid);
    const waits: Promise<unknown>[] = [];
    for (const t of this.#tracked.splice(0)) {
      if (t.child.exitCode === null && t.child.signalCode === null) t.child.kill('SIGKILL');
      waits.push(t.exited);
    }
    for (const pid of this.daemonPids) {
      // Only our own CLI: a pid in a file may have been reused by a stranger since.
      if (isOurCliProcess(pid)) waits.push(killHard(pid, `daemon ${pid}`).catch(() => undefined));
    }
    this.daemonPids.clear();
    await Promise.all(waits);
    for (const h of this.#homes.splice(0)) h.remove();
  }
}

/**
 * One lab per test for a file's sequential tests: created before each test, disposed after it.
 * A test takes its lab once, at its start (`const lab = useLab()`), so a test body that outlives
 * its timeout keeps its own (disposed) lab and cannot start processes in the next test's.
 */
export function labPerTest(): () => Lab {
  let current: Lab | null = null;
  beforeEach(() => {
    current = new Lab();
  });
  afterEach(async () => {
    const lab = current;
    current = null;
    await lab?.dispose();
  });
  return () => {
    if (current === null) throw new Error('a lab exists only while a test runs');
    return current;
  };
}

/**
 * Labs by test id, for files whose tests run concurrently (`it.concurrent`): each test takes its own
 * lab and the file's `afterEach` disposes exactly that one.
 */
const labs = new Map<string, Lab>();

export function labFor(testId: string): Lab {
  let lab = labs.get(testId);
  if (!lab) {
    lab = new Lab();
    labs.set(testId, lab);
  }
  return lab;
}

export async function disposeLab(testId: string): Promise<void> {
  const lab = labs.get(testId);
  labs.delete(testId);
  await lab?.dispose();
}

/** The pid `daemon start` printed (`… pid 1234 …`, `{"pid":1234}` or a bare number), or null. */
export function parsePrintedPid(stdout: string): number | null {
  const json = /"pid"\s*:\s*(\d+)/.exec(stdout);
  const text = json ?? /\bpid\s*(\d+)/i.exec(stdout) ?? /^\s*(\d+)\s*$/m.exec(stdout);
  const pid = text?.[1] === undefined ? Number.NaN : Number(text[1]);
  return Number.isSafeInteger(pid) && pid > 1 ? pid : null;
}

// ---------------------------------------------------------------------------------------------
// Workload: unique rows across the kinds the cloud serves

export interface WorkRow {
  readonly kind: string;
  readonly payloadJson: string;
}

/** The kinds in a mixed workload, observations weighted up as they are the hooks' bulk. */
const MIX = [
  'observation',
  'observation',
  'observation',
  'mcp_query',
  'accepted_edit',
  'review_metrics',
  'trajectory',
  'imported_reviews',
] as const;

/**
 * Row number `i` of a run: every payload is unique (run tag and index inside), so the cloud's
 * dedupe keys are unique too and "received == enqueued" means exactly once.
 */
export function workRow(tag: string, i: number, kind: string = MIX[i % MIX.length] as string): WorkRow {
  const id = `${tag}-${i}`;
  let payload: unknown;
  switch (kind) {
    case 'observation':
      payload = {
        session_id: `s-${tag}`,
        ts_ms: 1_700_000_000_000 + i,
        obs_type: 'edit',
        tool: 'Edit',
        file_path: `src/f${i}.ts`,
        title: `Edit src/f${i}.ts`,
        narrative: `row ${id}`,
        diff_excerpt: `-a${i}\n+b${i}`,
        content_hash: id,
      };
      break;
    case 'mcp_query':
      payload = { file: `src/q${id}.ts`, intent: 'fault', rules_injected: i % 25, strict_match_count: 1 };
      break;
    case 'accepted_edit':
      payload = { beforeCode: `old ${id}`, afterCode: `new ${id}`, filePath: `src/e${i}.ts` };
      break;
    case 'review_metrics':
      // Only numbers reach the cloud: the row number is the identity, so one tag per cloud.
      payload = { review_id: `r-${id}`, req: { inputTokens: i, outputTokens: 1, durationMs: 5 } };
      break;
    case 'trajectory':
      payload = { pr_review_id: `pr-${id}`, steps: [{ id }] };
      break;
    case 'imported_reviews':
      payload = {
        reviews: [{ repoFullName: 'acme/app', prNumber: i, comments: [{ content: id, commentUrl: `u/${id}` }] }],
      };
      break;
    default:
      throw new Error(`no workload shape for kind ${kind}`);
  }
  return { kind, payloadJson: JSON.stringify(payload) };
}

/**
 * The row's identity as the cloud will see it in the request body (the route reshapes payloads, so
 * each kind keeps it in a different field). `workRow` puts the row number in every one of them.
 */
export function rowIdentity(kind: string, value: unknown): string {
  const v = value as Record<string, unknown>;
  const req = (v.req ?? v) as Record<string, unknown>;
  switch (kind) {
    case 'observation':
      return `observation:${String(v.content_hash)}`;
    case 'mcp_query':
      return `mcp_query:${String(v.file)}`;
    case 'accepted_edit':
      return `accepted_edit:${String(v.beforeCode)}`;
    case 'review_metrics':
      return `review_metrics:${String(req.inputTokens)}`;
    case 'trajectory':
      return `trajectory:${JSON.stringify(v.steps)}`;
    case 'imported_reviews':
      // The cloud holds the body Rust sends (nulls filled in), so key on the comment's text.
      return `imported_reviews:${String((v.reviews as { comments: { content: string }[] }[])[0]?.comments[0]?.content)}`;
    default:
      return `${kind}:${JSON.stringify(v)}`;
  }
}

/**
 * Compares what the cloud stored (`GET /__received`, one entry per dedupe key) with the rows
 * enqueued: returns the identities missing from the cloud and those it holds more than once (each
 * must be empty for "exactly once after dedupe") and the ones it holds that nobody enqueued.
 */
export async function compareReceived(
  cloud: CloudProcess,
  rows: readonly WorkRow[],
): Promise<{ missing: string[]; duplicated: string[]; unexpected: string[] }> {
  const res = await fetch(`${cloud.url}/__received`);
  const received = (await res.json()) as { kind: string; body: unknown }[];
  const seen = new Map<string, number>();
  for (const r of received) {
    const id = rowIdentity(r.kind, r.body);
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  const wanted = new Set(rows.map((r) => rowIdentity(r.kind, JSON.parse(r.payloadJson))));
  return {
    missing: [...wanted].filter((id) => !seen.has(id)),
    duplicated: [...seen].filter(([, n]) => n > 1).map(([id]) => id),
    unexpected: [...seen.keys()].filter((id) => !wanted.has(id)),
  };
}

export function workRows(tag: string, from: number, count: number): WorkRow[] {
  return Array.from({ length: count }, (_, k) => workRow(tag, from + k));
}

export function countByKind(rows: readonly WorkRow[], into: Record<string, number> = {}): Record<string, number> {
  for (const r of rows) into[r.kind] = (into[r.kind] ?? 0) + 1;
  return into;
}

// ---------------------------------------------------------------------------------------------
// Waiting for delivery

export interface DeliveryCheck {
  readonly cloud: CloudProcess;
  readonly home: LabHome;
  /** Rows enqueued, by kind: what the cloud must have received, each exactly once. */
  readonly expected: Readonly<Record<string, number>>;
  readonly timeoutMs: number;
  readonly what?: string;
}

/**
 * Waits until the cloud has received every expected row and the outbox is empty (nothing pending,
 * processing or abandoned). The deadline bounds a hung test; on expiry the error shows where things
 * stand (cloud stats, outbox, daemon log).
 */
export async function waitForDelivery(check: DeliveryCheck): Promise<CloudStats> {
  const { cloud, home, expected } = check;
  const want = totalOf(expected);
  try {
    await waitFor(
      async () => {
        const stats = await cloud.stats();
        if (totalOf(stats.received) < want) return false;
        const o = home.outbox();
        return o.pending + o.processing + o.abandoned === 0 && home.spill().waiting.length === 0;
      },
      { timeoutMs: check.timeoutMs, intervalMs: 100, what: check.what ?? `${want} rows delivered` },
    );
  } catch (error) {
    const stats = await cloud.stats().catch((e: unknown) => String(e));
    throw new Error(
      `${(error as Error).message}\n  expected: ${JSON.stringify(expected)}\n  cloud: ${JSON.stringify(stats)}` +
        `\n  outbox: ${JSON.stringify(home.outbox())} ${home.outboxSample()}` +
        `\n  spill: ${JSON.stringify(home.spill())}\n  daemon log:\n${home.daemonLogTail()}`,
    );
  }
  return cloud.stats();
}

/**
 * Runs `fn` over `items` with at most `limit` at once: real processes on a 2-core machine, where a
 * hundred at once would only measure the scheduler and trip unrelated deadlines.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>) {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Sleeps for workload purposes only (a random kill moment), never to wait for something. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
