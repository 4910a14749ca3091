/**
 * `claim-scale`: latency of claiming a batch of 64 with 1 000 and with 1 000 000 pending rows.
 * A claim must cost the same however deep the queue is (it walks the due-order index from the
 * front), so the ratio should stay near 1. Each claimed batch is released untimed, keeping the
 * queue the same size for the next claim.
 */
import { type Database, openDatabase } from '../src/adapters/outbox/db.js';
import { ensureHome } from '../src/adapters/home/home.js';
import { OutboxStore } from '../src/adapters/outbox/outbox-store.js';
import type { Figure } from './run.js';
import { median, percentile, round, tempHome } from './_util.js';

const BATCH = 64;

function fill(db: Database, rows: number, now: number): void {
  // One statement: a recursive CTE makes the million rows in about a second.
  db.prepare(
    `WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < @rows)
       INSERT INTO cloud_outbox (kind, payload_json, status, retry_count, created_at)
       SELECT CASE i % 3 WHEN 0 THEN 'trajectory' ELSE 'observation' END,
              '{"tool":"Edit","path":"src/file' || i || '.ts","linesAdded":12}',
              'pending', 0, @now - @rows + i
         FROM seq`,
  ).run({ rows, now });
}

function measure(rows: number, iterations: number): { median: number; p90: number } {
  const { home, cleanup } = tempHome();
  try {
    const db = openDatabase(ensureHome(home).db);
    try {
      const now = Date.now();
      const store = new OutboxStore(db, { now: () => now });
      fill(db, rows, now);
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.exec('ANALYZE');
      const samples: number[] = [];
      for (let i = 0; i < iterations + 20; i++) {
        const start = process.hrtime.bigint();
        const claim = store.claim(BATCH);
        const elapsed = Number(process.hrtime.bigint() - start) / 1000;
        if (claim.rows.length !== BATCH) throw new Error(`claimed ${claim.rows.length}, expected ${BATCH}`);
        store.release(
          claim.rows.map((r) => r.id),
          claim,
        );
        if (i >= 20) samples.push(elapsed); // the first claims warm the page cache
      }
      return { median: median(samples), p90: percentile(samples, 90) };
    } finally {
      db.close();
    }
  } finally {
    cleanup();
  }
}

export default async function claimScale({ quick }: { quick: boolean }): Promise<Figure[]> {
  const iterations = quick ? 100 : 400;
  const small = measure(1000, iterations);
  const large = measure(quick ? 200_000 : 1_000_000, iterations);
  return [
    {
      name: 'claim-scale',
      batch: BATCH,
      small_rows: 1000,
      large_rows: quick ? 200_000 : 1_000_000,
      small_us: round(small.median),
      large_us: round(large.median),
      small_p90_us: round(small.p90),
      large_p90_us: round(large.p90),
      ratio: round(large.median / small.median, 3),
      budget_ratio: 2,
    },
  ];
}
