/**
 * `difflore demo` as a user runs it: a small run end to end (exit 0, the cloud's counts, the poison
 * row abandoned with its reason, nothing left running), and Ctrl-C at different moments (no daemon,
 * no cloud, no temporary home left behind).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { routeFor, shapeRow } from '../../src/adapters/delivery/cloud-routes.js';
import { openDatabase } from '../../src/adapters/outbox/db.js';
import { homePaths } from '../../src/adapters/home/home.js';
import { isAlive } from '../../src/adapters/lifecycle/process-identity.js';
import { buildWorkload, MIN_ROWS } from '../../src/cli/demo/workload.js';
import { CLI, cleanEnv, makeTempHome, runCli, waitFor } from '../helpers/index.js';

const temps: { cleanup: () => void }[] = [];
const children: ChildProcessWithoutNullStreams[] = [];

afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const t of temps.splice(0)) t.cleanup();
});

/** Whether something accepts connections on 127.0.0.1:port. */
function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function dead(pid: number): boolean {
  return isAlive(pid).kind === 'dead';
}

/** Pids of processes whose environment names this data home (Linux: /proc). */
function processesForHome(home: string): number[] {
  if (!existsSync('/proc')) return [];
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const environ = readFileSync(`/proc/${name}/environ`, 'utf8');
      if (environ.split('\0').includes(`DIFFLORE_HOME=${home}`)) found.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

interface Printed {
  readonly home: string | null;
  readonly cloudPort: number | null;
  readonly daemonPid: number | null;
}

function printed(stdout: string): Printed {
  const home = /^ {2}home {4}(\S+)/m.exec(stdout)?.[1] ?? null;
  const port = /^ {2}cloud {3}http:\/\/127\.0\.0\.1:(\d+)/m.exec(stdout)?.[1];
  const pid = /^ {2}daemon {2}started, pid (\d+)/m.exec(stdout)?.[1];
  return { home, cloudPort: port ? Number(port) : null, daemonPid: pid ? Number(pid) : null };
}

/** Starts `difflore demo` and collects its output; `exited` resolves with code and signal. */
function startDemo(args: string[]) {
  const child = spawn(process.execPath, [CLI, 'demo', ...args], { env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, out: () => stdout, err: () => stderr };
}

describe('difflore demo', () => {
  it('delivers a small workload, abandons the poison row, stops everything (--home)', async () => {
    const temp = makeTempHome();
    temps.push(temp);
    const result = await runCli(['demo', '--rows', '200', '--home', temp.home], { env: cleanEnv(), timeoutMs: 90_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = result.stdout;
    // 200 rows: 1 poison, 1 exact repeat, 1 legacy fix_acceptance → 197 distinct rows for the cloud.
    expect(out).toContain('All 199 deliverable rows acknowledged');
    expect(out).toMatch(/^ {2}delivered {2}197 distinct rows received by the cloud; 1 legacy rows/m);
    expect(out).toMatch(/^ {2}deduped {4}[1-9]\d* /m);
    expect(out).toMatch(/^ {2}abandoned {2}1, the poison row: .*400/m);
    expect(out).toContain('Daemon status (difflore daemon status):');
    expect(out).toContain('Last transitions (difflore daemon log --limit 10):');
    expect(out).toContain('difflore machines export daemon --format mermaid');
    expect(out).toContain('Stopping the daemon (difflore daemon stop):');
    // No bar or colour on a pipe.
    expect(out).not.toContain('\x1b[');

    const { home, cloudPort, daemonPid } = printed(out);
    expect(home).toBe(temp.home);
    expect(daemonPid).not.toBeNull();
    expect(dead(daemonPid as number)).toBe(true);
    expect(await portOpen(cloudPort as number)).toBe(false);
    expect(processesForHome(temp.home)).toEqual([]);

    // The home is kept (it was given), holding exactly the poison row, abandoned with its reason.
    const paths = homePaths(temp.home);
    expect(existsSync(paths.pidFile)).toBe(false);
    expect(readFileSync(`${temp.home}/daemon.mmd`, 'utf8')).toContain('stateDiagram-v2');
    const db = openDatabase(paths.db, { readonly: true });
    try {
      const rows = db.prepare('SELECT kind, status, last_error AS error FROM cloud_outbox').all() as {
        kind: string;
        status: string;
        error: string;
      }[];
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ kind: 'mcp_query', status: 'abandoned' });
      expect(rows[0]?.error).toContain('400');
    } finally {
      db.close();
    }
  });

  it('refuses a --home whose outbox is not empty, starting nothing', async () => {
    const temp = makeTempHome();
    temps.push(temp);
    const queued = await runCli(['enqueue', 'mcp_query', '{"a":1}'], { env: cleanEnv({ DIFFLORE_HOME: temp.home }) });
    expect(queued.code).toBe(0);
    const result = await runCli(['demo', '--rows', '50', '--home', temp.home], { env: cleanEnv() });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('already holds 1 row');
    expect(processesForHome(temp.home)).toEqual([]);
  });

  it('rejects a --rows outside 10..200000 as a usage error', async () => {
    const result = await runCli(['demo', '--rows', '3'], { env: cleanEnv() });
    expect(result.code).toBe(2);
  });

  it('Ctrl-C while delivering stops the daemon and the cloud and removes the temporary home', async () => {
    const demo = startDemo(['--rows', '20000']);
    await waitFor(() => printed(demo.out()).daemonPid !== null, { timeoutMs: 45_000, what: 'the daemon to start' });
    const { home, cloudPort, daemonPid } = printed(demo.out());
    demo.child.kill('SIGINT');
    const end = await demo.exited;
    expect(end.code).toBe(1);
    expect(demo.err()).toContain('interrupted by SIGINT');
    expect(demo.out()).toContain('Stopping the daemon (difflore daemon stop):');
    expect(dead(daemonPid as number)).toBe(true);
    expect(await portOpen(cloudPort as number)).toBe(false);
    expect(home).not.toBeNull();
    expect(existsSync(home as string)).toBe(false);
    expect(processesForHome(home as string)).toEqual([]);
  });

  it('Ctrl-C right after the cloud starts leaves nothing either', async () => {
    const demo = startDemo(['--rows', '20000']);
    await waitFor(() => printed(demo.out()).cloudPort !== null, { timeoutMs: 30_000, what: 'the cloud to listen' });
    const { home, cloudPort } = printed(demo.out());
    demo.child.kill('SIGTERM');
    const end = await demo.exited;
    expect(end.code).toBe(1);
    expect(demo.err()).toContain('interrupted by SIGTERM');
    expect(await portOpen(cloudPort as number)).toBe(false);
    expect(existsSync(home as string)).toBe(false);
    expect(processesForHome(home as string)).toEqual([]);
    // Whether or not `daemon start` had begun, no daemon outlives the demo.
    const pid = printed(demo.out()).daemonPid;
    if (pid !== null) expect(dead(pid)).toBe(true);
  });
});

describe('the demo workload', () => {
  it.each([MIN_ROWS, 200, 2000])('%i rows: every kind, one poison row, the counts the demo expects', (total) => {
    const w = buildWorkload(total, 'poison-marker-1234', 1_800_000_000_000);
    expect(w.rows).toHaveLength(total);
    expect(Object.values(w.byKind).reduce((a, b) => a + b, 0)).toBe(total);
    for (const kind of [
      'observation',
      'mcp_query',
      'accepted_edit',
      'review_metrics',
      'session_mined_candidate',
      'trajectory',
      'imported_reviews',
      'fix_acceptance',
    ]) {
      expect(w.byKind[kind], kind).toBeGreaterThan(0);
    }
    expect(w.rows.filter((r) => r.payloadJson.includes(w.poisonMarker))).toHaveLength(1);
    const distinct = new Set(
      w.rows.filter((r) => r.kind !== 'fix_acceptance').map((r) => `${r.kind}\n${r.payloadJson}`),
    );
    // Everything but the poison row, the repeats and the legacy rows reaches the cloud once.
    expect(distinct.size - 1).toBe(w.expectedReceived);
    expect(w.deliverable).toBe(total - 1);
  });

  it('every row shapes for its route, so only the poison row can fail', () => {
    const w = buildWorkload(500, 'poison-marker-1234', 1_800_000_000_000);
    for (const row of w.rows) {
      const route = routeFor(row.kind);
      expect(route, row.kind).toBeDefined();
      const shaped = route && shapeRow(route, row.payloadJson);
      expect(shaped?.ok, `${row.kind}: ${JSON.stringify(shaped)}`).toBe(true);
    }
  });

  it('is the same for the same inputs and refuses sizes out of range', () => {
    expect(buildWorkload(100, 'm', 1).rows).toEqual(buildWorkload(100, 'm', 1).rows);
    expect(() => buildWorkload(MIN_ROWS - 1, 'm', 1)).toThrow(RangeError);
  });
});
