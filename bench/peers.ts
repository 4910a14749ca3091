/**
 * `peers`: the same workload through our outbox and through plainjob (a better-sqlite3 job queue):
 * enqueue N rows, then deliver each one as its own POST to the same reference cloud on loopback (a
 * child process). Both sides use the same HTTP client and 8 requests in flight (plainjob: 8 workers,
 * each one job at a time), so the figure compares the queues, not the HTTP stacks. Both time
 * enqueue + delivery.
 */
import Database from 'better-sqlite3';
import { better, defineQueue, defineWorker, type Logger } from 'plainjob';
import { createCloudClient } from '../src/adapters/delivery/cloud-client.js';
import { idempotencyKey, routeFor, shapeRow } from '../src/adapters/delivery/cloud-routes.js';
import { openDatabase } from '../src/adapters/outbox/db.js';
import { stringifyJson } from '../src/machines/contracts/index.js';
import { closeSharedCloudClient, runDrainPass } from '../src/adapters/delivery/drain-pass.js';
import { ensureHome } from '../src/adapters/home/home.js';
import { OutboxStore } from '../src/adapters/outbox/outbox-store.js';
import { mcpQueryPayload, spawnCloud } from './_cloud.js';
import { round, tempHome } from './_util.js';
import type { Benchmark } from './run.js';

const KIND = 'mcp_query';
const IN_FLIGHT = 8;
const TOKEN = 'bench-token';

interface Run {
  readonly rate: number;
  /** CPU of this process (queue + HTTP client) per row, µs: steadier than wall time on a busy machine. */
  readonly cpuUsPerRow: number;
}

async function ours(url: string, rows: number): Promise<Run> {
  const temp = tempHome();
  try {
    const paths = ensureHome(temp.home);
    const db = openDatabase(paths.db);
    const store = new OutboxStore(db);
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < rows; i++) store.enqueue(KIND, mcpQueryPayload(i));
    const summary = await runDrainPass({
      store,
      paths,
      env: { DIFFLORE_CLOUD_URL: url, DIFFLORE_CLOUD_TOKEN: TOKEN },
      maxInFlight: IN_FLIGHT,
    });
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    closeSharedCloudClient();
    db.close();
    if (summary.confirmed !== rows) throw new Error(`ours confirmed ${summary.confirmed} of ${rows}`);
    return { rate: rows / seconds, cpuUsPerRow: (used.user + used.system) / rows };
  } finally {
    temp.cleanup();
  }
}

const silent: Logger = { error() {}, warn() {}, info() {}, debug() {} };

async function plainjob(url: string, rows: number): Promise<Run> {
  const temp = tempHome();
  const route = routeFor(KIND);
  if (!route) throw new Error(`no route for ${KIND}`);
  const client = createCloudClient({ baseUrl: url, token: TOKEN });
  const connection = better(new Database(`${temp.home}/plainjob.db`));
  // Store the payload text as it is, as our outbox does (plainjob would JSON.stringify it again).
  const queue = defineQueue({ connection, logger: silent, serializer: (data) => String(data) });
  try {
    let done = 0;
    let failed = 0;
    let finish: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const settle = (): void => {
      if (done + failed === rows) finish();
    };
    const workers = Array.from({ length: IN_FLIGHT }, () =>
      defineWorker(
        KIND,
        async (job) => {
          // The same shaping and request as ours; plainjob stores the payload as its job data.
          const shaped = shapeRow(route, job.data);
          if (!shaped.ok) throw new Error(shaped.reason);
          const result = await client.post({
            path: shaped.path,
            body: stringifyJson(shaped.body),
            idempotencyKey: idempotencyKey(KIND, job.data),
          });
          if (result.type !== 'response' || result.status >= 300) throw new Error(`delivery failed: ${result.type}`);
        },
        {
          queue,
          logger: silent,
          pollIntervall: 10,
          onCompleted: () => {
            done++;
            settle();
          },
          onFailed: () => {
            failed++;
            settle();
          },
        },
      ),
    );
    const cpu = process.cpuUsage();
    const started = performance.now();
    // The job data is the payload text itself, as our row's payload_json is.
    for (let i = 0; i < rows; i++) queue.add(KIND, mcpQueryPayload(i));
    const running = workers.map((w) => w.start());
    await finished;
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(running);
    if (failed > 0) throw new Error(`plainjob failed ${failed} of ${rows} jobs`);
    return { rate: rows / seconds, cpuUsPerRow: (used.user + used.system) / rows };
  } finally {
    client.close();
    queue.close();
    temp.cleanup();
  }
}

const bench: Benchmark = async ({ quick }) => {
  const cloud = await spawnCloud();
  try {
    const rows = quick ? 2_000 : 10_000;
    await ours(cloud.url, 500);
    await plainjob(cloud.url, 500);
    const a: Run[] = [];
    const b: Run[] = [];
    // Interleaved, best of three each, so machine noise hits both alike.
    for (let i = 0; i < (quick ? 1 : 3); i++) {
      a.push(await ours(cloud.url, rows));
      b.push(await plainjob(cloud.url, rows));
    }
    const best = (runs: Run[]): Run => runs.reduce((x, y) => (y.rate > x.rate ? y : x));
    const oursBest = best(a);
    const theirsBest = best(b);
    const oursRate = oursBest.rate;
    const theirs = theirsBest.rate;
    return [
      {
        name: 'peers',
        ours_rows_per_s: round(oursRate, 0),
        plainjob_rows_per_s: round(theirs, 0),
        ratio: round(oursRate / theirs, 2),
        ours_cpu_us_per_row: round(Math.min(...a.map((r) => r.cpuUsPerRow)), 1),
        plainjob_cpu_us_per_row: round(Math.min(...b.map((r) => r.cpuUsPerRow)), 1),
        rows,
      },
    ];
  } finally {
    await cloud.close();
  }
};

export default bench;
