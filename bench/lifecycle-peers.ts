/**
 * `lifecycle-peers`: `difflore daemon start` / `daemon stop` against `pm2 start` / `pm2 stop` of an
 * idle script, each timed as the whole CLI process, alternating ours-first and pm2-first round by
 * round so both see the same load; medians. pm2 runs with a private PM2_HOME in a temp directory and
 * its daemon is already up (`pm2 ping`) before anything is timed, as a user's would be; it is killed
 * at the end. Ours is "started" when `daemon start` returns: the daemon has claimed the data home and
 * serves (README: what "started" means). Budgets (DESIGN §9): start ≤ 1.0× pm2, stop ≤ 0.5× pm2.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchEnv, cli, killQuietly, requireBuild, untilIdle, untilSettled } from './_daemon.js';
import { median, round, tempHome } from './_util.js';
import type { Benchmark } from './run.js';

const PM2 = join(process.cwd(), 'node_modules', 'pm2', 'bin', 'pm2');

function pm2(args: readonly string[], env: NodeJS.ProcessEnv): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, [PM2, ...args], { env, encoding: 'utf8' });
  const ms = performance.now() - started;
  if (result.status !== 0) throw new Error(`pm2 ${args.join(' ')} failed: ${result.stderr}${result.stdout}`);
  return ms;
}

const bench: Benchmark = async ({ quick }) => {
  requireBuild();
  const runs = quick ? 6 : 20;
  const ours = tempHome();
  const theirs = tempHome('difflore-bench-pm2-');
  const env = benchEnv(ours.home);
  const pm2Env: NodeJS.ProcessEnv = { ...benchEnv(theirs.home), PM2_HOME: join(theirs.home, 'pm2') };
  const script = join(theirs.home, 'idle.js');
  // The same idle workload pm2 would keep: a process that sleeps.
  writeFileSync(script, 'setInterval(() => {}, 1 << 30);\n');
  const times = { start: [] as number[], pm2Start: [] as number[], stop: [] as number[], pm2Stop: [] as number[] };
  let pid: number | null = null;
  try {
    pm2(['ping'], pm2Env);
    const oursStart = async (count: boolean): Promise<void> => {
      const started = cli(['daemon', 'start', '--json'], env);
      const result = JSON.parse(started.stdout || '{}') as { status?: string; pid?: number };
      if (started.code !== 0 || result.status !== 'started') throw new Error(`daemon start: ${started.stderr}`);
      pid = result.pid ?? null;
      if (count) times.start.push(started.ms);
      // Stop an idle daemon, as pm2 stops an idle script: serving, and done with its start-up work.
      await untilIdle(ours.home, pid as number);
      await untilSettled(pid as number);
    };
    const oursStop = (count: boolean): void => {
      const stopped = cli(['daemon', 'stop', '--json'], env);
      if (stopped.code !== 0) throw new Error(`daemon stop: ${stopped.stderr}`);
      pid = null;
      if (count) times.stop.push(stopped.ms);
    };
    const theirStart = (count: boolean): void => {
      const ms = pm2(['start', script, '--name', 'idle', '--no-autorestart'], pm2Env);
      if (count) times.pm2Start.push(ms);
    };
    const theirStop = (count: boolean): void => {
      const ms = pm2(['stop', 'idle'], pm2Env);
      if (count) times.pm2Stop.push(ms);
      pm2(['delete', 'idle'], pm2Env);
    };
    // Round -1 warms both (page cache, our database, pm2's process list) and is not counted.
    for (let i = -1; i < runs; i++) {
      const count = i >= 0;
      if (i % 2 === 0) {
        await oursStart(count);
        theirStart(count);
        oursStop(count);
        theirStop(count);
      } else {
        theirStart(count);
        await oursStart(count);
        theirStop(count);
        oursStop(count);
      }
    }
  } finally {
    killQuietly(pid);
    spawnSync(process.execPath, [PM2, 'kill'], { env: pm2Env, stdio: 'ignore' });
    ours.cleanup();
    theirs.cleanup();
  }
  const start = median(times.start);
  const pm2Start = median(times.pm2Start);
  const stop = median(times.stop);
  const pm2Stop = median(times.pm2Stop);
  return [
    {
      name: 'lifecycle-peers',
      runs,
      start_ms: round(start),
      pm2_start_ms: round(pm2Start),
      start_ratio: round(start / pm2Start, 3),
      stop_ms: round(stop),
      pm2_stop_ms: round(pm2Stop),
      stop_ratio: round(stop / pm2Stop, 3),
      budget_start_ratio: 1.0,
      budget_stop_ratio: 0.5,
    },
  ];
};

export default bench;
