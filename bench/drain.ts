/**
 * `drain`: rows per second from a full outbox to the reference cloud on loopback (the cloud in a
 * child process). Observations go 64 per POST; per-row kinds (mcp_query) one POST each with 8 in
 * flight. Budgets (DESIGN §9): ≥ 10,000 and ≥ 2,000 rows/s.
 */
import { openDatabase } from '../src/adapters/outbox/db.js';
import { closeSharedCloudClient, runDrainPass } from '../src/adapters/delivery/drain-pass.js';
import { ensureHome } from '../src/adapters/home/home.js';
import { OutboxStore } from '../src/adapters/outbox/outbox-store.js';
import { mcpQueryPayload, observationPayload, spawnCloud } from './_cloud.js';
import { round, tempHome } from './_util.js';
import type { Benchmark } from './run.js';

interface Run {
  readonly rate: number;
  /** CPU of the draining process per row, µs: steadier than wall time on a busy machine. */
  readonly cpuUsPerRow: number;
}

async function drainRate(url: string, kind: string, payload: (i: number) => string, rows: number): Promise<Run> {
  const temp = tempHome();
  try {
    const paths = ensureHome(temp.home);
    const db = openDatabase(paths.db);
    const store = new OutboxStore(db);
    store.enqueueMany(Array.from({ length: rows }, (_, i) => ({ kind, payloadJson: payload(i) })));
    const env = { DIFFLORE_CLOUD_URL: url, DIFFLORE_CLOUD_TOKEN: 'bench-token' };
    const cpu = process.cpuUsage();
    const started = performance.now();
    const summary = await runDrainPass({ store, paths, env });
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    closeSharedCloudClient();
    db.close();
    if (summary.confirmed !== rows) {
      throw new Error(`drain confirmed ${summary.confirmed} of ${rows} ${kind} rows: ${summary.lastError}`);
    }
    return { rate: rows / seconds, cpuUsPerRow: (used.user + used.system) / rows };
  } finally {
    temp.cleanup();
  }
}

const bench: Benchmark = async ({ quick }) => {
  const cloud = await spawnCloud();
  try {
    const obsRows = quick ? 10_000 : 50_000;
    const perRows = quick ? 3_000 : 10_000;
    // One warm-up each (JIT, sockets), then the best of three: the figure is what the code can do.
    await drainRate(cloud.url, 'observation', observationPayload, 2_000);
    await drainRate(cloud.url, 'mcp_query', mcpQueryPayload, 500);
    const obs: Run[] = [];
    const per: Run[] = [];
    for (let i = 0; i < (quick ? 1 : 3); i++) {
      obs.push(await drainRate(cloud.url, 'observation', observationPayload, obsRows));
      per.push(await drainRate(cloud.url, 'mcp_query', mcpQueryPayload, perRows));
    }
    return [
      {
        name: 'drain',
        observation_rows_per_s: round(Math.max(...obs.map((r) => r.rate)), 0),
        per_row_rows_per_s: round(Math.max(...per.map((r) => r.rate)), 0),
        observation_cpu_us_per_row: round(Math.min(...obs.map((r) => r.cpuUsPerRow)), 1),
        per_row_cpu_us_per_row: round(Math.min(...per.map((r) => r.cpuUsPerRow)), 1),
        observation_rows: obsRows,
        per_row_rows: perRows,
      },
    ];
  } finally {
    await cloud.close();
  }
};

export default bench;
