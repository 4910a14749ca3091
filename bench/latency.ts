/**
 * `latency`: from the commit of one row (by another process than the daemon: this one) to its
 * arrival at the reference cloud, with an idle daemon whose tick (60 s) is far too long to explain
 * any delivery — only the wake on commit can. 200 samples (50 with --quick), one at a time, each
 * after the previous row was confirmed and the daemon idled again. The cloud runs in this process
 * so its counter can be read every millisecond. Budget (DESIGN §9): p50 ≤ 50 ms, p99 ≤ 250 ms.
 */
import { openDatabase } from '../src/adapters/outbox/db.js';
import { ensureHome } from '../src/adapters/home/home.js';
import { insertRow } from '../src/adapters/outbox/outbox-store.js';
import { startReferenceCloud } from '../src/reference-cloud/server.js';
import { benchEnv, killQuietly, requireBuild, startIdleDaemon, stopDaemon, untilIdle } from './_daemon.js';
import { observationPayload } from './_cloud.js';
import { percentile, round, tempHome } from './_util.js';
import type { Benchmark } from './run.js';

const TOKEN = 'bench-latency-token';
const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

const bench: Benchmark = async ({ quick }) => {
  requireBuild();
  const samples = quick ? 50 : 200;
  const cloud = await startReferenceCloud({ token: TOKEN });
  const { home, cleanup } = tempHome();
  const env = benchEnv(home, { DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN });
  const paths = ensureHome(home);
  let pid: number | null = null;
  const latencies: number[] = [];
  try {
    pid = await startIdleDaemon(env, ['--tick', '60s']);
    const db = openDatabase(paths.db);
    const pending = db.prepare('SELECT COUNT(*) AS n FROM cloud_outbox');
    try {
      for (let i = -5; i < samples; i++) {
        const before = cloud.stats().received.observation ?? 0;
        const start = performance.now();
        insertRow(db, 'observation', observationPayload(i + 10), Date.now());
        const deadline = start + 10_000;
        while ((cloud.stats().received.observation ?? 0) === before) {
          if (performance.now() > deadline) throw new Error(`sample ${i}: the row did not reach the cloud in 10 s`);
          await tick();
        }
        // The first five warm the daemon's JIT and connections.
        if (i >= 0) latencies.push(performance.now() - start);
        while ((pending.get() as { n: number }).n > 0) await tick();
        await untilIdle(home, pid);
      }
    } finally {
      db.close();
    }
    stopDaemon(env);
    pid = null;
  } finally {
    killQuietly(pid);
    await cloud.close();
    cleanup();
  }
  return [
    {
      name: 'latency',
      samples,
      p50_ms: round(percentile(latencies, 50)),
      p99_ms: round(percentile(latencies, 99)),
      max_ms: round(Math.max(...latencies)),
      budget_p50_ms: 50,
      budget_p99_ms: 250,
    },
  ];
};

export default bench;
