/**
 * The hook starting the real daemon (`difflore daemon run`, detached) when none runs, and leaving
 * a running one alone. No token and an unreachable cloud: the daemon only has to run, not deliver.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { probeLock } from '../../src/adapters/lifecycle/flock.js';
import { cleanEnv, makeTempHome, runCli, waitFor } from '../helpers/index.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as typeof BetterSqlite3;

/** Daemons the hooks started in this file; whatever is still alive after a test is killed by pid. */
const started = new Set<number>();
const cleanups: (() => void)[] = [];

afterEach(() => {
  for (const pid of started) {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  started.clear();
  for (const c of cleanups.splice(0)) c();
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie has exited; it only waits for a parent to reap it.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

function env(home: string): NodeJS.ProcessEnv {
  return cleanEnv({
    DIFFLORE_HOME: home,
    DIFFLORE_CLOUD_URL: 'http://127.0.0.1:9/api',
    DIFFLORE_CLOUD_TOKEN: undefined,
  });
}

function edit(n: number): string {
  return JSON.stringify({
    session_id: 'autostart',
    cwd: '/work/app',
    hook_event_name: 'PostToolUse',
    tool_name: 'Edit',
    tool_input: { file_path: '/work/app/a.ts', old_string: `v${n}`, new_string: `v${n + 1}` },
  });
}

/** Pids of the daemons the hooks say they started (hook.log). */
function spawnedPids(home: string): number[] {
  const path = join(home, 'logs', 'hook.log');
  if (!existsSync(path)) return [];
  const pids = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { msg: string; pid?: number })
    .filter((l) => l.msg === 'daemon started' && typeof l.pid === 'number')
    .map((l) => l.pid as number);
  for (const pid of pids) started.add(pid);
  return pids;
}

function rowCount(home: string): number {
  const db = new Database(join(home, 'data.db'), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM cloud_outbox').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

const lockHeld = (home: string) => probeLock(join(home, 'daemon.lock'), 'shared').kind === 'held';

describe.skipIf(process.platform === 'win32')('hook claude-code starts the daemon', () => {
  it('starts one when none runs, and none while it runs', async () => {
    const { home, cleanup } = makeTempHome('difflore-hook-autostart-');
    cleanups.push(cleanup);

    const first = await runCli(['hook', 'claude-code'], { env: env(home), input: edit(1) });
    expect(first).toMatchObject({ code: 0, stdout: '{"continue":true}\n' });
    const [pid] = spawnedPids(home);
    expect(pid).toBeDefined();
    await waitFor(() => lockHeld(home), { what: 'the daemon to hold its lifetime lock' });

    const second = await runCli(['hook', 'claude-code'], { env: env(home), input: edit(2) });
    expect(second).toMatchObject({ code: 0, stdout: '{"continue":true}\n' });
    expect(spawnedPids(home)).toEqual([pid]);
    expect(rowCount(home)).toBe(2);

    const stop = await runCli(['daemon', 'stop'], { env: env(home) });
    expect(stop.code).toBe(0);
    await waitFor(() => !alive(pid as number), { what: 'the daemon to exit' });
    expect(lockHeld(home)).toBe(false);
  });

  it('leaves exactly one daemon when many hooks race to start one', async () => {
    const { home, cleanup } = makeTempHome('difflore-hook-autostart-race-');
    cleanups.push(cleanup);
    const hooks = await Promise.all(
      Array.from({ length: 8 }, (_, i) => runCli(['hook', 'claude-code'], { env: env(home), input: edit(i) })),
    );
    for (const result of hooks) expect(result).toMatchObject({ code: 0, stdout: '{"continue":true}\n' });
    expect(rowCount(home)).toBe(8);
    const pids = spawnedPids(home);
    expect(pids.length).toBeGreaterThanOrEqual(1);
    await waitFor(() => lockHeld(home), { what: 'a daemon to hold the lifetime lock' });
    // The losers of the claim exit on their own; one stays.
    await waitFor(() => pids.filter(alive).length === 1, { what: 'the losing daemons to exit' });
    const winner = pids.find(alive) as number;
    expect(readFileSync(join(home, 'daemon.pid'), 'utf8').trim()).toBe(String(winner));

    expect((await runCli(['daemon', 'stop'], { env: env(home) })).code).toBe(0);
    await waitFor(() => !alive(winner), { what: 'the daemon to exit' });
  });
});
