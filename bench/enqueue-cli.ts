/**
 * `enqueue-cli`: the whole `difflore enqueue` process against `node -e 0`, alternating so both see
 * the same machine load. Measured twice: with another connection holding data.db open, as the
 * daemon does (the usual case: the hook's close then does not checkpoint), and with nothing else
 * open (the cold case: every close checkpoints and deletes the WAL).
 */
import { observationPayload } from './_cloud.js';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { openDatabase } from '../src/adapters/outbox/db.js';
import { ensureHome } from '../src/adapters/home/home.js';
import type { Figure } from './run.js';
import { CLI_ENTRY, median, percentile, round, tempHome } from './_util.js';

function timeRun(args: readonly string[], env: NodeJS.ProcessEnv): number {
  const start = performance.now();
  const result = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const elapsed = performance.now() - start;
  if (result.status !== 0) throw new Error(`${args.join(' ')} failed: ${result.stderr?.toString()}`);
  return elapsed;
}

function measure(pairs: number, env: NodeJS.ProcessEnv): { cli: number[]; node: number[] } {
  const cli: number[] = [];
  const node: number[] = [];
  // A row as a Rust hook writes it: enqueue checks it against the observation contract.
  const enqueueArgs = [CLI_ENTRY, 'enqueue', 'observation', observationPayload(0)];
  // Warm the page cache and the database file before counting.
  for (let i = 0; i < 3; i++) {
    timeRun(enqueueArgs, env);
    timeRun(['-e', '0'], env);
  }
  for (let i = 0; i < pairs; i++) {
    // Alternate which goes first so a drifting load favours neither.
    if (i % 2 === 0) {
      cli.push(timeRun(enqueueArgs, env));
      node.push(timeRun(['-e', '0'], env));
    } else {
      node.push(timeRun(['-e', '0'], env));
      cli.push(timeRun(enqueueArgs, env));
    }
  }
  return { cli, node };
}

export default async function enqueueCli({ quick }: { quick: boolean }): Promise<Figure[]> {
  if (!existsSync(CLI_ENTRY)) throw new Error(`${CLI_ENTRY} is missing; run npm run build first`);
  const pairs = quick ? 15 : 60;
  const { home, cleanup } = tempHome();
  try {
    const env = { ...process.env, DIFFLORE_HOME: home, NODE_OPTIONS: '' };
    const paths = ensureHome(home);
    const daemonLike = openDatabase(paths.db);
    let warm: { cli: number[]; node: number[] };
    try {
      warm = measure(pairs, env);
    } finally {
      daemonLike.close();
    }
    const cold = measure(pairs, env);
    const cliMedian = median(warm.cli);
    const nodeMedian = median(warm.node);
    const coldMedian = median(cold.cli);
    const coldNode = median(cold.node);
    return [
      {
        name: 'enqueue-cli',
        runs: pairs,
        median_ms: round(cliMedian),
        p90_ms: round(percentile(warm.cli, 90)),
        node_median_ms: round(nodeMedian),
        ratio_vs_node: round(cliMedian / nodeMedian, 3),
        cold_median_ms: round(coldMedian),
        cold_node_median_ms: round(coldNode),
        cold_ratio_vs_node: round(coldMedian / coldNode, 3),
        budget_ratio: 1.25,
      },
    ];
  } finally {
    cleanup();
  }
}
