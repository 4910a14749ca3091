/**
 * Fault suite, a locked database: another process holds `data.db` in an EXCLUSIVE transaction for
 * 10 s (CI and soak alike) while a running daemon drains and hooks keep firing:
 * `difflore hook claude-code` with PostToolUse edits and `difflore enqueue`, started at random
 * moments across the lock. A hook that cannot write within its short busy timeout (250 ms) spills its row to
 * `hook-spill/`; once the lock is gone the daemon's pass replays the spill and delivers. Nothing may
 * be lost: every hook's observation and every enqueued row reaches the cloud exactly once, no spill
 * file is left or quarantined, hooks never fail (exit 0), and the daemon survives the lock.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/index.js';
import {
  compareReceived,
  countByKind,
  isOurCliProcess,
  labPerTest,
  pause,
  SOAK,
  sized,
  totalOf,
  type WorkRow,
  waitForDelivery,
  workRow,
  workRows,
} from './fault-harness.js';

const useLab = labPerTest();

const LOCK_MS = 10_000;
const HOOKS = sized(10, 60);
const ENQUEUES = sized(6, 30);
const EPISODES = SOAK ? 3 : 1;

const require = createRequire(import.meta.url);
const SQLITE = require.resolve('better-sqlite3');

/** A child that takes the write lock, says so, holds it `ms`, then commits and exits. */
const LOCKER = `
const Database = require(process.argv[1]);
const db = new Database(process.argv[2]);
db.pragma('busy_timeout = 10000');
db.exec('BEGIN EXCLUSIVE');
db.prepare("SELECT count(*) FROM cloud_outbox").get();
process.stdout.write('locked\\n');
setTimeout(() => { db.exec('COMMIT'); db.close(); process.stdout.write('released\\n'); }, Number(process.argv[3]));
`;

function editEvent(n: number): string {
  return JSON.stringify({
    session_id: 'fault-lock',
    transcript_path: '/tmp/fault-transcript.jsonl',
    cwd: '/work/app',
    hook_event_name: 'PostToolUse',
    tool_name: 'Edit',
    tool_input: { file_path: `/work/app/src/locked-${n}.ts`, old_string: `a${n}`, new_string: `b${n}` },
    tool_response: { success: true },
  });
}

describe('fault suite: database locked by another writer', () => {
  it(
    `locked ${LOCK_MS / 1000} s while ${HOOKS} hooks and ${ENQUEUES} enqueues fire: spilled, replayed by the daemon, nothing lost`,
    async () => {
      const lab = useLab();
      const cloud = await lab.cloud();
      const h = lab.home();
      const env = h.env(cloud.url);
      const rows: WorkRow[] = [];
      rows.push(...workRows('lock', 0, 30));
      h.seed(rows);
      const started = await lab.daemonStart(h, env, ['--tick', '1s']);
      expect(started.code, started.stdout + started.stderr).toBe(0);
      await waitForDelivery({ cloud, home: h, expected: countByKind(rows), timeoutMs: 30_000, what: 'warm-up' });

      let hooksFired = 0;
      let spilledByEnqueue = 0;
      for (let episode = 0; episode < EPISODES; episode++) {
        const locker = lab.spawn(process.execPath, ['-e', LOCKER, SQLITE, h.paths.db, String(LOCK_MS)]);
        await waitFor(() => locker.stdout().includes('locked\n') || locker.exitedWith(), {
          timeoutMs: 20_000,
          what: 'the locker to take the lock',
        });
        expect(locker.stdout(), locker.stderr()).toContain('locked\n');

        // Hooks and enqueues at random moments across the lock (some wait out the busy timeout and
        // spill, late ones may get in after the commit); one of each at once, so some surely spill.
        const runs: Promise<void>[] = [];
        for (let i = 0; i < HOOKS; i++) {
          const n = hooksFired++;
          const delay = i === 0 ? 0 : Math.random() * LOCK_MS;
          runs.push(
            pause(delay).then(async () => {
              const r = await lab.cli(['hook', 'claude-code'], env, { input: editEvent(n) });
              expect(r.code, r.stderr).toBe(0);
              expect(r.stdout).toBe('{"continue":true}\n');
            }),
          );
        }
        for (let i = 0; i < ENQUEUES; i++) {
          const row = workRow('lock', rows.length);
          rows.push(row);
          const delay = i === 0 ? 0 : Math.random() * LOCK_MS;
          runs.push(
            pause(delay).then(async () => {
              const r = await lab.cli(['enqueue', row.kind, row.payloadJson], env);
              expect(r.code, r.stderr).toBe(0);
              if (r.stderr.includes('the row was saved to')) spilledByEnqueue++;
            }),
          );
        }
        await Promise.all(runs);
        await locker.exited;
        expect(locker.stdout()).toContain('released\n');
      }

      // Every hook observation and every row, delivered; no spill file left, none quarantined.
      const expected = countByKind(rows);
      expected.observation = (expected.observation ?? 0) + hooksFired;
      const stats = await waitForDelivery({
        cloud,
        home: h,
        expected,
        timeoutMs: 60_000,
        what: 'every hook observation and enqueued row delivered after the lock',
      });
      expect(stats.received).toEqual(expected);
      expect(h.spill().bad).toEqual([]);
      expect(h.spill().waiting).toEqual([]);

      // Rows from the workload exactly once; hook observations by their file paths, exactly once.
      // (The hooks' observations are the only ones `compareReceived` cannot name: they are checked below.)
      const compared = await compareReceived(cloud, rows);
      expect(compared.missing).toEqual([]);
      expect(compared.duplicated).toEqual([]);
      const observations = (await (await fetch(`${cloud.url}/__received?kind=observation`)).json()) as {
        body: { file_path: string };
      }[];
      const hookPaths = observations.map((o) => o.body.file_path).filter((p) => /locked-\d+\.ts$/.test(p));
      expect(new Set(hookPaths).size).toBe(hooksFired);
      expect(hookPaths.length).toBe(hooksFired);

      // The hooks said what happened: spilled rows are logged, nothing failed.
      const hookLog = readHookLog(h.paths.logsDir);
      const spilledByHooks = hookLog.filter((l) => l.msg === 'database unavailable; observation spilled').length;
      expect(hookLog.filter((l) => l.level === 'error')).toEqual([]);
      expect(spilledByHooks + spilledByEnqueue, 'rows spilled while the database was locked').toBeGreaterThan(0);

      // The daemon lived through it.
      expect(started.pid !== null && isOurCliProcess(started.pid), 'the daemon is still alive').toBe(true);
      const status = await lab.cli(['daemon', 'status', '--json'], env);
      expect(status.code, status.stdout).toBe(0);
      console.log(
        `fault-db-lock ${JSON.stringify({
          lockMs: LOCK_MS,
          episodes: EPISODES,
          hooks: hooksFired,
          enqueued: rows.length,
          spilledByHooks,
          spilledByEnqueue,
          received: totalOf(stats.received),
          deduped: stats.deduped,
        })}`,
      );
    },
    sized(120_000, 300_000),
  );
});

function readHookLog(logsDir: string): { level: string; msg: string }[] {
  try {
    return readFileSync(join(logsDir, 'hook.log'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { level: string; msg: string });
  } catch {
    return [];
  }
}
