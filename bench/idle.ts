/**
 * `idle`: what an idle daemon costs — CPU (utime + stime from /proc/<pid>/stat over the window, as a
 * percentage of one core) and resident memory (VmRSS at the end) — with the defaults (commits wake
 * the daemon, so it sleeps until its 60 s heartbeat, a real empty pass), an empty outbox and a token.
 * 60 s (15 s with --quick). Budget (DESIGN §9): ≤ 0.02 % CPU, ≤ 60 MB.
 */
import {
  benchEnv,
  clockTicksPerSecond,
  cpuTicks,
  killQuietly,
  requireBuild,
  rssMb,
  startIdleDaemon,
  stopDaemon,
} from './_daemon.js';
import { round, tempHome } from './_util.js';
import type { Benchmark } from './run.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const bench: Benchmark = async ({ quick }) => {
  requireBuild();
  const windowMs = quick ? 15_000 : 60_000;
  const { home, cleanup } = tempHome();
  // A loopback URL nothing is asked of: the outbox stays empty, so passes never send.
  const env = benchEnv(home, { DIFFLORE_CLOUD_URL: 'http://127.0.0.1:9', DIFFLORE_CLOUD_TOKEN: 'bench-token' });
  let pid: number | null = null;
  try {
    pid = await startIdleDaemon(env);
    // Let start-up work (JIT, first pass, first tick) settle before the window opens.
    await sleep(quick ? 6_000 : 10_000);
    const hz = clockTicksPerSecond();
    const ticks0 = cpuTicks(pid);
    const wall0 = performance.now();
    await sleep(windowMs);
    const ticks1 = cpuTicks(pid);
    const wallS = (performance.now() - wall0) / 1000;
    const rss = rssMb(pid);
    stopDaemon(env);
    pid = null;
    return [
      {
        name: 'idle',
        window_s: round(wallS, 1),
        cpu_pct: round(((ticks1 - ticks0) / hz / wallS) * 100, 3),
        rss_mb: round(rss, 1),
        budget_cpu_pct: 0.02,
        budget_rss_mb: 60,
      },
    ];
  } finally {
    killQuietly(pid);
    cleanup();
  }
};

export default bench;
