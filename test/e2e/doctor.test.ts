/**
 * `difflore doctor` as a real process on real homes: healthy (a running daemon against the reference
 * cloud), a stale pid file, abandoned rows, spill files, a group-readable token file, a 0755 home, a
 * symlinked pid file — each problem with its fix line and exit 1 — and a missing home left uncreated.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/adapters/outbox/db.js';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import { OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { spillRow } from '../../src/adapters/outbox/spill.js';
import { CLI, type CliResult, cleanEnv, makeTempHome, runCli, runProcess, waitFor } from '../helpers/index.js';

interface JsonCheck {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
  notes?: string[];
}
interface JsonReport {
  version: number;
  home: string;
  healthy: boolean;
  problems: number;
  checks: JsonCheck[];
}

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function home(): HomePaths {
  const temp = makeTempHome('difflore-doctor-');
  cleanups.push(temp.cleanup);
  return ensureHome(temp.home);
}

function withToken(paths: HomePaths): void {
  writeFileSync(paths.tokenFile, 'tok_doctor_e2e_5a4b3c2d1e\n', { mode: 0o600 });
}

async function doctor(paths: HomePaths, args: string[] = [], extra: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['doctor', ...args], { env: cleanEnv({ DIFFLORE_HOME: paths.home, ...extra }) });
}

async function doctorJson(paths: HomePaths, extra: Record<string, string> = {}): Promise<JsonReport> {
  const result = await doctor(paths, ['--json'], extra);
  expect(result.stderr).toBe('');
  const report = JSON.parse(result.stdout) as JsonReport;
  expect(result.code).toBe(report.healthy ? 0 : 1);
  return report;
}

function check(report: JsonReport, name: string): JsonCheck {
  const found = report.checks.find((c) => c.name === name);
  if (!found) throw new Error(`no check ${name} in ${JSON.stringify(report)}`);
  return found;
}

function store<T>(paths: HomePaths, fn: (s: OutboxStore) => T): T {
  const db = openDatabase(paths.db);
  try {
    return fn(new OutboxStore(db));
  } finally {
    db.close();
  }
}

/** A pid that surely names no process: a child that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  const pid = child.pid as number;
  await new Promise((resolve) => child.on('close', resolve));
  return pid;
}

describe('difflore doctor', () => {
  it('a healthy home with a running daemon: every check ok, exit 0', async () => {
    const paths = home();
    withToken(paths);
    const cloud: ChildProcessWithoutNullStreams = spawn(
      process.execPath,
      [CLI, 'cloud', 'serve', '--token', 'tok_doctor_e2e_5a4b3c2d1e'],
      {
        env: cleanEnv(),
      },
    );
    const cloudGone = new Promise((resolve) => cloud.on('close', resolve));
    cleanups.push(async () => {
      cloud.kill('SIGTERM');
      await cloudGone;
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      cloud.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = /^listening on (\S+)\n/.exec(out);
        if (m?.[1]) resolve(m[1]);
      });
      void cloudGone.then(() => reject(new Error('cloud serve exited')));
    });
    const env = cleanEnv({ DIFFLORE_HOME: paths.home, DIFFLORE_CLOUD_URL: url });
    const started = await runCli(['daemon', 'start'], { env });
    cleanups.push(async () => {
      await runCli(['daemon', 'stop'], { env });
    });
    expect(started.code).toBe(0);

    const result = await runCli(['doctor', '--json'], { env });
    const report = JSON.parse(result.stdout) as JsonReport;
    for (const c of report.checks) expect(c.status, `${c.name}: ${c.detail}`).toBe('ok');
    expect(result.code).toBe(0);
    expect(report).toMatchObject({ version: 1, home: paths.home, healthy: true, problems: 0 });
    expect(check(report, 'daemon').detail).toMatch(/^running, pid \d+/);
    expect(check(report, 'token').detail).toContain('present');
    expect(result.stdout).not.toContain('tok_doctor_e2e_5a4b3c2d1e');

    const text = await runCli(['doctor'], { env });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('All checks passed.');
    expect(text.stdout).not.toContain('\x1b[');
  });

  it('a running daemon without a usable token: token fails even when this shell has one', async () => {
    const paths = home();
    const env = cleanEnv({ DIFFLORE_HOME: paths.home, DIFFLORE_CLOUD_URL: 'http://127.0.0.1:9' });
    const started = await runCli(['daemon', 'start'], { env });
    cleanups.push(async () => {
      await runCli(['daemon', 'stop'], { env });
    });
    expect(started.code).toBe(0);
    const shell = { DIFFLORE_CLOUD_TOKEN: 'tok_only_in_this_shell' };
    const report = await waitFor(
      async () => {
        const r = await doctorJson(paths, shell);
        return check(r, 'token').status === 'fail' ? r : null;
      },
      { what: "the daemon's first pass to report the missing token" },
    );
    const token = check(report, 'token');
    expect(token.detail).toContain('the running daemon has no usable token');
    expect(token.fix).toContain(`chmod 600 ${paths.tokenFile}`);
    expect(check(report, 'daemon').status).toBe('ok');
  });

  it('a stale pid file: daemon fails, fix `difflore daemon start`', async () => {
    const paths = home();
    withToken(paths);
    writeFileSync(paths.pidFile, String(await deadPid()));
    const report = await doctorJson(paths);
    expect(report.healthy).toBe(false);
    const daemon = check(report, 'daemon');
    expect(daemon.status).toBe('fail');
    expect(daemon.detail).toContain('stale pid file');
    expect(daemon.fix).toBe('difflore daemon start');
    // Looking changes nothing: the stale file is still there for `daemon start` to reclaim.
    expect(existsSync(paths.pidFile)).toBe(true);

    const text = await doctor(paths);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/FAIL {2}daemon/);
    expect(text.stdout).toContain('fix: difflore daemon start');
  });

  it('abandoned rows: grouped by reason, with the retry command', async () => {
    const paths = home();
    withToken(paths);
    store(paths, (s) => {
      s.enqueueMany([
        { kind: 'mcp_query', payloadJson: '{"file":"a"}' },
        { kind: 'mcp_query', payloadJson: '{"file":"b"}' },
        { kind: 'trajectory', payloadJson: '{}' },
      ]);
      const claim = s.claim(10);
      for (const row of claim.rows) {
        const reason =
          row.kind === 'mcp_query'
            ? `track_mcp_query: 400 Bad Request: {"error":"invalid_body","row":${row.id}}`
            : "invalid payload: trajectory: 'pr_review_id' must be a string";
        s.abandon(row.id, claim, reason);
      }
    });
    const report = await doctorJson(paths);
    const abandoned = check(report, 'abandoned');
    // Abandoned within the last day: something broke recently, so it fails (older ones only warn).
    expect(abandoned.status).toBe('fail');
    expect(abandoned.detail).toContain('3 rows gave up');
    expect(abandoned.detail).toContain('3 in the last 1d');
    expect(abandoned.notes).toEqual([
      '2× track_mcp_query: 400 Bad Request (mcp_query)',
      '1× invalid payload: trajectory (trajectory)',
    ]);
    expect(abandoned.fix).toContain('difflore outbox retry --older-than 1d');
    expect(check(report, 'daemon').status).toBe('ok'); // nothing pending: no daemon needed
  });

  it('spill files and quarantined .bad files: warn, with how to replay and where they are', async () => {
    const paths = home();
    withToken(paths);
    spillRow(paths, 'observation', '{"title":"x"}', 'database is locked');
    spillRow(paths, 'observation', '{"title":"y"}', 'database is locked');
    writeFileSync(join(paths.observationSpillDir, '1-2-3.json.bad'), 'garbage', { mode: 0o600 });
    const report = await doctorJson(paths);
    const spill = check(report, 'spill');
    expect(spill.status).toBe('warn');
    expect(spill.detail).toContain('2 files');
    expect(spill.detail).toContain('1 quarantined file');
    expect(spill.notes).toContain('newest error: database is locked');
    expect(spill.fix).toContain('difflore daemon start');
    expect(spill.fix).toContain('.bad');
    // Spilled rows are a backlog: with no daemon running, that is a problem too.
    expect(check(report, 'daemon')).toMatchObject({ status: 'warn', fix: 'difflore daemon start' });
  });

  it('a group-readable token file: token fails with chmod 600, and the token is never printed', async () => {
    const paths = home();
    writeFileSync(paths.tokenFile, 'tok_secret_do_not_print_1234\n', { mode: 0o640 });
    chmodSync(paths.tokenFile, 0o640);
    const report = await doctorJson(paths);
    const token = check(report, 'token');
    expect(token.status).toBe('fail');
    expect(token.detail).toContain('mode 640');
    expect(token.fix).toBe(`chmod 600 ${paths.tokenFile}`);
    const text = await doctor(paths);
    expect(text.stdout).toContain(`fix: chmod 600 ${paths.tokenFile}`);
    expect(text.stdout + text.stderr).not.toContain('tok_secret_do_not_print_1234');
  });

  it('a 0755 home: home fails with chmod 700', async () => {
    const paths = home();
    withToken(paths);
    chmodSync(paths.home, 0o755);
    const report = await doctorJson(paths);
    const h = check(report, 'home');
    expect(h.status).toBe('fail');
    expect(h.detail).toContain('mode 755');
    expect(h.fix).toBe(`chmod 700 ${paths.home}`);
    const text = await doctor(paths);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain(`fix: chmod 700 ${paths.home}`);
  });

  it('a symlink at the state file path fails with rm', async () => {
    const paths = home();
    withToken(paths);
    const elsewhere = join(paths.home, '..', 'elsewhere.json');
    writeFileSync(elsewhere, '{}');
    symlinkSync(elsewhere, paths.stateFile);
    const report = await doctorJson(paths);
    const files = check(report, 'files');
    expect(files.status).toBe('fail');
    expect(files.fix).toBe(`rm ${paths.stateFile}`);
    // The daemon's status cannot be read through the link either: it says so, on one line.
    const daemon = check(report, 'daemon');
    expect(daemon.status).toBe('fail');
    expect(daemon.detail).toContain('symbolic link');
    expect(daemon.detail).not.toContain('\n');
    expect(daemon.fix).toBe(`rm ${paths.stateFile}; difflore daemon start`);
  });

  it('a cloud URL the daemon would refuse fails', async () => {
    const paths = home();
    withToken(paths);
    const report = await doctorJson(paths, { DIFFLORE_CLOUD_URL: 'http://cloud.example.com/api' });
    expect(check(report, 'cloud_url')).toMatchObject({ status: 'fail' });
    expect(check(report, 'cloud_url').fix).toContain('https://');
  });

  it('a home that does not exist is reported, and not created', async () => {
    const temp = makeTempHome('difflore-doctor-');
    cleanups.push(temp.cleanup);
    mkdirSync(join(temp.home, '..'), { recursive: true });
    const result = await runProcess(process.execPath, [CLI, 'doctor', '--json'], {
      env: cleanEnv({ DIFFLORE_HOME: temp.home, DIFFLORE_CLOUD_TOKEN: 'tok_env_only' }),
    });
    const report = JSON.parse(result.stdout) as JsonReport;
    expect(result.code).toBe(0);
    expect(check(report, 'home').detail).toContain('does not exist yet');
    expect(check(report, 'token').detail).toBe('present (DIFFLORE_CLOUD_TOKEN in this environment)');
    expect(existsSync(temp.home)).toBe(false);
  });
});
