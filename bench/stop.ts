/**
 * `stop`: the whole `difflore daemon stop` process stopping an idle daemon (SIGTERM, the daemon's
 * clean exit, the stopper seeing it gone, both recording their transitions) against `node -e 0`,
 * alternating so both see the same load. Budget (DESIGN §9): ratio ≤ 1.5.
 */
import { benchEnv, cli, killQuietly, nodeNoop, requireBuild, startIdleDaemon } from './_daemon.js';
import { median, round, tempHome } from './_util.js';
import type { Benchmark } from './run.js';

const bench: Benchmark = async ({ quick }) => {
  requireBuild();
  const runs = quick ? 8 : 25;
  const { home, cleanup } = tempHome();
  const env = benchEnv(home);
  const stops: number[] = [];
  const nodes: number[] = [];
  let pid: number | null = null;
  try {
    // One warm-up round: page cache, the database file, the journal.
    pid = await startIdleDaemon(env);
    cli(['daemon', 'stop'], env);
    nodeNoop(env);
    for (let i = 0; i < runs; i++) {
      pid = await startIdleDaemon(env);
      const timeStop = (): void => {
        const stopped = cli(['daemon', 'stop', '--json'], env);
        const outcome = (JSON.parse(stopped.stdout || '{}') as { outcome?: string }).outcome;
        if (stopped.code !== 0 || outcome !== 'terminated')
          throw new Error(`daemon stop: ${stopped.stderr}${stopped.stdout}`);
        stops.push(stopped.ms);
      };
      if (i % 2 === 0) {
        timeStop();
        nodes.push(nodeNoop(env));
      } else {
        nodes.push(nodeNoop(env));
        timeStop();
      }
      pid = null;
    }
  } finally {
    killQuietly(pid);
    cleanup();
  }
  const stopMedian = median(stops);
  const nodeMedian = median(nodes);
  return [
    {
      name: 'stop',
      runs,
      median_ms: round(stopMedian),
      node_median_ms: round(nodeMedian),
      ratio_vs_node: round(stopMedian / nodeMedian, 3),
      budget_ratio: 1.5,
    },
  ];
};

export default bench;
