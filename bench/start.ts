/**
 * `start`: the whole `difflore daemon start` process, which returns once the new daemon's machine is
 * serving (claimed the home, opened the outbox, first transition recorded). Budget (DESIGN §9):
 * median ≤ 600 ms.
 */
import { benchEnv, cli, killQuietly, requireBuild, stopDaemon, untilIdle } from './_daemon.js';
import { median, percentile, round, tempHome } from './_util.js';
import type { Benchmark } from './run.js';

const bench: Benchmark = async ({ quick }) => {
  requireBuild();
  const runs = quick ? 8 : 25;
  const { home, cleanup } = tempHome();
  const env = benchEnv(home);
  const times: number[] = [];
  let pid: number | null = null;
  try {
    for (let i = -1; i < runs; i++) {
      const started = cli(['daemon', 'start', '--json'], env);
      const result = JSON.parse(started.stdout || '{}') as { status?: string; pid?: number };
      if (started.code !== 0 || result.status !== 'started')
        throw new Error(`daemon start: ${started.stderr}${started.stdout}`);
      pid = result.pid ?? null;
      // The first run warms the page cache and creates the database; it is not counted.
      if (i >= 0) times.push(started.ms);
      await untilIdle(home, pid as number);
      stopDaemon(env);
      pid = null;
    }
  } finally {
    killQuietly(pid);
    cleanup();
  }
  return [
    {
      name: 'start',
      runs,
      median_ms: round(median(times)),
      p90_ms: round(percentile(times, 90)),
      budget_ms: 600,
    },
  ];
};

export default bench;
