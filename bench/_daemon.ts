/**
 * Helpers for the daemon benchmarks (latency, stop, start, idle): run the built CLI against a temp
 * home, start a daemon and wait until it idles, and read a process's CPU time and RSS from /proc.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI_ENTRY } from './_util.js';

export function requireBuild(): void {
  if (!existsSync(CLI_ENTRY)) throw new Error(`${CLI_ENTRY} is missing; run npm run build first`);
}

/** Runs `difflore <args>` to completion; returns the wall time in ms and its output. */
export function cli(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): { ms: number; code: number | null; stdout: string; stderr: string } {
  const start = performance.now();
  const result = spawnSync(process.execPath, [CLI_ENTRY, ...args], { env, encoding: 'utf8' });
  return { ms: performance.now() - start, code: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function nodeNoop(env: NodeJS.ProcessEnv): number {
  const start = performance.now();
  spawnSync(process.execPath, ['-e', '0'], { env, stdio: 'ignore' });
  return performance.now() - start;
}

export function benchEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DIFFLORE_') && k !== 'NODE_OPTIONS') env[k] = v;
  return { ...env, DIFFLORE_HOME: home, ...extra };
}

function stateValue(home: string): { pid: number; value: unknown } | null {
  try {
    return JSON.parse(readFileSync(join(home, 'daemon-state.json'), 'utf8')) as { pid: number; value: unknown };
  } catch {
    return null;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `daemon start`, then waits until the machine idles in serving.running; returns the pid. */
export async function startIdleDaemon(env: NodeJS.ProcessEnv, args: readonly string[] = []): Promise<number> {
  const started = cli(['daemon', 'start', '--json', ...args], env);
  if (started.code !== 0) throw new Error(`daemon start failed: ${started.stderr}${started.stdout}`);
  const { pid } = JSON.parse(started.stdout) as { pid: number };
  await untilIdle(env.DIFFLORE_HOME as string, pid);
  await untilSettled(pid);
  return pid;
}

export async function untilIdle(home: string, pid: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const state = stateValue(home);
    if (state?.pid === pid && state.value === 'serving.running') return;
    if (Date.now() > deadline) throw new Error(`daemon ${pid} did not idle`);
    await sleep(5);
  }
}

/**
 * Waits until `pid` has used no CPU for `quietMs` (its utime + stime in /proc unchanged), at most
 * `maxMs`: a daemon that has just reached serving.running still loads what its first pass needs (the
 * HTTP client, TLS, ...) for some tens of milliseconds; "an idle daemon" is one that has done that.
 */
export async function untilSettled(pid: number, quietMs = 100, maxMs = 3_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  let last = cpuTicks(pid);
  let quietSince = Date.now();
  while (Date.now() < deadline) {
    await sleep(20);
    const now = cpuTicks(pid);
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= quietMs) {
      return;
    }
  }
}

export function stopDaemon(env: NodeJS.ProcessEnv): void {
  const stopped = cli(['daemon', 'stop', '--json'], env);
  if (stopped.code !== 0) throw new Error(`daemon stop failed: ${stopped.stderr}${stopped.stdout}`);
}

/** Kills a daemon left behind by a failed benchmark. */
export function killQuietly(pid: number | null): void {
  if (pid === null) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone.
  }
}

/** utime + stime of `pid` in clock ticks (fields 14 and 15 of /proc/<pid>/stat). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** VmRSS of `pid` in MiB. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

export function clockTicksPerSecond(): number {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(out.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
}
