/**
 * `backlog [--rows N]`: a real daemon (`daemon start`) draining a backlog to the reference cloud on
 * loopback (a child process), timed from the moment it serves until the outbox is empty:
 * - `rows_per_s`: N observations (default 1,000,000); `small_rows_per_s`: 10,000 of them, the same
 *   way; `scale_ratio` = the first ÷ the second (budget ≥ 0.8: a big backlog drains as fast per row);
 * - `peak_rss_mb`: the daemon's VmHWM over the big run (budget ≤ 150 MB);
 * - `mixed_rows_per_s`, `stop_mid_ms`: N/10 rows of every kind (the demo's mix, per-row kinds one POST
 *   each), and, a third of the way through, the whole `daemon stop` process; after it no row may have
 *   spent a try and none may be left in flight (`stop_tries_spent`, `stop_left_in_flight`: both 0).
 * Rows are written before the daemon starts, by a producer connection, in transactions of 10,000.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { openDatabase } from '../src/adapters/outbox/db.js';
import { ensureHome } from '../src/adapters/home/home.js';
import { OutboxStore } from '../src/adapters/outbox/outbox-store.js';
import { buildWorkload, MAX_ROWS } from '../src/cli/demo/workload.js';
import { spawnCloud } from './_cloud.js';
import { observationPayload } from './_cloud.js';
import { benchEnv, cli, killQuietly, requireBuild, stopDaemon } from './_daemon.js';
import { round, tempHome } from './_util.js';
import type { Benchmark } from './run.js';

const CHUNK = 10_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function rowsArg(): number {
  const at = process.argv.indexOf('--rows');
  if (at < 0) return 1_000_000;
  const n = Number(process.argv[at + 1]);
  if (!Number.isInteger(n) || n < 1_000) throw new Error('--rows must be a whole number ≥ 1000');
  return n;
}

/** Fills the outbox of `dbPath` with `count` rows from `row(i)`. */
function fill(dbPath: string, count: number, row: (i: number) => { kind: string; payloadJson: string }): void {
  const db = openDatabase(dbPath, { producer: true });
  try {
    const store = new OutboxStore(db);
    for (let start = 0; start < count; start += CHUNK) {
      const n = Math.min(CHUNK, count - start);
      store.enqueueMany(Array.from({ length: n }, (_, k) => row(start + k)));
    }
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

interface Outbox {
  readonly left: number;
  readonly inFlight: number;
  readonly triesSpent: number;
}

/** Whether rows are left: an index probe, so that watching a 1M-row drain does not slow it. */
function anyLeft(dbPath: string): boolean {
  const db = openDatabase(dbPath, { readonly: true, busyTimeoutMs: 2_000 });
  try {
    const probe = "SELECT EXISTS (SELECT 1 FROM cloud_outbox WHERE status IN ('pending', 'processing')) AS yes";
    return (db.prepare(probe).get() as { yes: number }).yes === 1;
  } finally {
    db.close();
  }
}

function outbox(dbPath: string): Outbox {
  const db = openDatabase(dbPath, { readonly: true, busyTimeoutMs: 2_000 });
  try {
    return db
      .prepare(
        `SELECT COUNT(*) FILTER (WHERE status IN ('pending', 'processing')) AS left,
                COUNT(*) FILTER (WHERE status = 'processing') AS inFlight,
                COUNT(*) FILTER (WHERE retry_count > 0) AS triesSpent
           FROM cloud_outbox`,
      )
      .get() as Outbox;
  } finally {
    db.close();
  }
}

function peakRssMb(pid: number): number {
  try {
    const kb = Number(/^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return kb / 1024;
  } catch {
    return Number.NaN;
  }
}

interface Drained {
  readonly rate: number;
  readonly peakRssMb: number;
  readonly stopMs: number | null;
  readonly afterStop: Outbox | null;
}

/**
 * Starts a daemon on a filled home and waits until the outbox is empty (or, with `stopAt`, until that
 * share is drained, then times `daemon stop`). Samples the daemon's peak RSS as it goes.
 */
async function drain(home: string, url: string, total: number, stopAt: number | null): Promise<Drained> {
  const env = benchEnv(home, { DIFFLORE_CLOUD_URL: url, DIFFLORE_CLOUD_TOKEN: 'bench-token' });
  const dbPath = ensureHome(home).db;
  const launched = cli(['daemon', 'start', '--json'], env);
  if (launched.code !== 0) throw new Error(`daemon start: ${launched.stderr}${launched.stdout}`);
  // From serving (`daemon start` returns once the daemon claimed the home): its process start-up is
  // the `start` benchmark's figure, and would weigh on a small run more than on a big one.
  const started = performance.now();
  const pid = (JSON.parse(launched.stdout) as { pid: number }).pid;
  let peak = 0;
  try {
    for (;;) {
      await sleep(total > 100_000 ? 500 : 50);
      peak = Math.max(peak, peakRssMb(pid) || 0);
      if (performance.now() - started > 30 * 60_000) throw new Error('the backlog was not drained in 30 minutes');
      if (stopAt === null) {
        if (anyLeft(dbPath)) continue;
        const rate = total / ((performance.now() - started) / 1000);
        stopDaemon(env);
        return { rate, peakRssMb: peak, stopMs: null, afterStop: null };
      }
      const now = outbox(dbPath);
      const drained = total - now.left;
      if (drained >= total * stopAt) {
        const rate = drained / ((performance.now() - started) / 1000);
        const stopped = cli(['daemon', 'stop', '--json'], env);
        if (stopped.code !== 0) throw new Error(`daemon stop: ${stopped.stderr}${stopped.stdout}`);
        return { rate, peakRssMb: peak, stopMs: stopped.ms, afterStop: outbox(dbPath) };
      }
      if (now.left === 0) throw new Error('the backlog drained before the stop was due');
    }
  } catch (error) {
    killQuietly(pid);
    throw error;
  }
}

async function observations(url: string, rows: number): Promise<Drained> {
  const temp = tempHome();
  try {
    fill(ensureHome(temp.home).db, rows, (i) => ({ kind: 'observation', payloadJson: observationPayload(i) }));
    return await drain(temp.home, url, rows, null);
  } finally {
    temp.cleanup();
  }
}

async function mixedWithStop(url: string, rows: number): Promise<Drained> {
  const temp = tempHome();
  try {
    const workload = buildWorkload(Math.min(rows, MAX_ROWS), 'no-poison-in-this-bench', 1_760_000_000_000);
    fill(ensureHome(temp.home).db, workload.rows.length, (i) => workload.rows[i] as (typeof workload.rows)[number]);
    return await drain(temp.home, url, workload.rows.length, 1 / 3);
  } finally {
    temp.cleanup();
  }
}

const bench: Benchmark = async ({ quick }) => {
  requireBuild();
  const rows = quick ? 100_000 : rowsArg();
  const cloud = await spawnCloud();
  try {
    // A warm-up (page cache, the cloud's JIT), not counted.
    await observations(cloud.url, 2_000);
    const small = await observations(cloud.url, 10_000);
    const big = await observations(cloud.url, rows);
    const mixed = await mixedWithStop(cloud.url, Math.max(1_000, Math.floor(rows / 10)));
    const load = spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.split(' ')[0];
    return [
      {
        name: 'backlog',
        rows,
        rows_per_s: round(big.rate, 0),
        small_rows_per_s: round(small.rate, 0),
        scale_ratio: round(big.rate / small.rate, 3),
        peak_rss_mb: round(big.peakRssMb, 1),
        stop_mid_ms: mixed.stopMs === null ? null : round(mixed.stopMs),
        mixed_rows: Math.max(1_000, Math.floor(rows / 10)),
        mixed_rows_per_s: round(mixed.rate, 0),
        stop_tries_spent: mixed.afterStop?.triesSpent ?? null,
        stop_left_in_flight: mixed.afterStop?.inFlight ?? null,
        load_avg_1m: Number(load),
        budget_scale_ratio: 0.8,
        budget_peak_rss_mb: 150,
      },
    ];
  } finally {
    await cloud.close();
  }
};

export default bench;
