/**
 * `enqueue`: in-process latency of one enqueue (a prepared INSERT on an open connection, what a
 * long-lived producer pays) while a separate process drains the same outbox as the daemon does:
 * claim a batch of 64, deliver it (a 1 ms pause stands in for the POST to a loopback cloud),
 * confirm it, and poll again shortly when the outbox is empty.
 *
 * The headline figures come from a producer inserting as fast as it can. The `paced_*` figures come
 * from one paced at 2 000 rows/s, far above what hooks produce; it sleeps between rows, so each
 * insert starts with colder caches, which costs more than the drainer does.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { openDatabase } from '../src/adapters/outbox/db.js';
import { ensureHome } from '../src/adapters/home/home.js';
import { OutboxStore } from '../src/adapters/outbox/outbox-store.js';
import type { Figure } from './run.js';
import { median, percentile, round, tempHome } from './_util.js';

const PACED_RATE_PER_S = 2000;
const pauseCell = new Int32Array(new SharedArrayBuffer(4));

const DIST = join(process.cwd(), 'dist', 'adapters', 'outbox');

function drainerScript(dbPath: string): string {
  return `
    const { openDatabase } = await import(${JSON.stringify(join(DIST, 'db.js'))});
    const { OutboxStore } = await import(${JSON.stringify(join(DIST, 'outbox-store.js'))});
    const db = openDatabase(${JSON.stringify(dbPath)});
    const store = new OutboxStore(db);
    let stop = false;
    let drained = 0;
    let claims = 0;
    process.stdin.on('data', () => { stop = true; });
    process.stdout.write('ready\\n');
    while (!stop) {
      const claim = store.claim(64);
      claims++;
      if (claim.rows.length > 0) {
        await new Promise((r) => setTimeout(r, 1)); // the delivery
        drained += store.confirmMany(claim.rows.map((r) => r.id), claim);
      } else {
        await new Promise((r) => setTimeout(r, 1));
      }
      // let the stop message in even while there is work
      if (claims % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    db.close();
    process.stdout.write(JSON.stringify({ drained, claims }) + '\\n');`;
}

function waitForOutput(ready: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (ready()) resolve();
      else setTimeout(check, 5);
    };
    check();
  });
}

export default async function enqueueBench({ quick }: { quick: boolean }): Promise<Figure[]> {
  const n = quick ? 2000 : 10_000;
  const { home, cleanup } = tempHome();
  try {
    const paths = ensureHome(home);
    // A producer's connection, as a long-lived enqueuer opens it (checkpoints left to the drainer).
    const db = openDatabase(paths.db, { producer: true });
    const store = new OutboxStore(db);
    const drainer = spawn(process.execPath, ['--input-type=module', '-e', drainerScript(paths.db)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    drainer.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    const exited = new Promise<number | null>((resolve) => drainer.once('exit', resolve));
    await Promise.race([
      waitForOutput(() => out.includes('ready\n')),
      exited.then((code) => Promise.reject(new Error(`drainer exited early (${code})`))),
    ]);

    const payload = JSON.stringify({
      tool: 'Edit',
      path: 'src/adapters/outbox/outbox-store.ts',
      session: '6f1c2a9e-4b1d-4a55-9a0e-0d2d0f6a1b33',
      linesAdded: 12,
      linesRemoved: 3,
      at: Date.now(),
    });
    for (let i = 0; i < 200; i++) store.enqueue('observation', payload); // warm-up
    const timeOne = (): number => {
      const start = process.hrtime.bigint();
      store.enqueue('observation', payload);
      return Number(process.hrtime.bigint() - start) / 1000;
    };

    const saturated: number[] = [];
    for (let i = 0; i < n; i++) {
      saturated.push(timeOne());
      if (i % 1000 === 999) await new Promise((r) => setImmediate(r)); // keep the pipes moving
    }

    const paced: number[] = [];
    const interval = 1000 / PACED_RATE_PER_S;
    let next = performance.now();
    for (let i = 0; i < n; i++) {
      next += interval;
      paced.push(timeOne());
      const wait = next - performance.now();
      if (wait > 0) Atomics.wait(pauseCell, 0, 0, wait);
      if (i % 500 === 499) await new Promise((r) => setImmediate(r));
    }

    drainer.stdin.end('stop\n');
    await exited;
    const stats = JSON.parse(out.split('\n').filter(Boolean).at(-1) ?? '{}') as { drained: number; claims: number };
    db.close();
    if (process.env.BENCH_DEBUG) {
      const buckets = [50, 100, 300, 1000, 3000, 10000, Number.POSITIVE_INFINITY];
      for (const [label, samples] of [
        ['paced', paced],
        ['saturated', saturated],
      ] as const) {
        process.stderr.write(
          `${label}: ${buckets.map((b) => `<${b}: ${samples.filter((x) => x < b).length}`).join('  ')}\n`,
        );
      }
    }
    return [
      {
        name: 'enqueue',
        n,
        median_us: round(median(saturated)),
        p90_us: round(percentile(saturated, 90)),
        p99_us: round(percentile(saturated, 99)),
        paced_rate_per_s: PACED_RATE_PER_S,
        paced_median_us: round(median(paced)),
        paced_p99_us: round(percentile(paced, 99)),
        drained_concurrently: stats.drained,
        drainer_claims: stats.claims,
        budget_median_us: 35,
        budget_p99_us: 300,
      },
    ];
  } finally {
    cleanup();
  }
}
