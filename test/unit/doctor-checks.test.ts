/**
 * The doctor's verdicts from hand-made facts: every check's ok case, each problem with its fix line,
 * the grouping of abandoned reasons, and the report's exit-relevant summary and text.
 */
import { describe, expect, it } from 'vitest';
import { homePaths } from '../../src/adapters/home.js';
import { type Check, runChecks, shellPath } from '../../src/cli/doctor/checks.js';
import { type DoctorFacts, reasonPrefix, stateValueText } from '../../src/cli/doctor/facts.js';
import { buildReport, renderText } from '../../src/cli/doctor/report.js';

const NOW = 1_800_000_000_000;
const HOME = '/home/ada/.difflore';
const paths = homePaths(HOME);

function healthy(): DoctorFacts {
  return {
    nowMs: NOW,
    paths,
    home: { exists: true, type: 'directory', mode: 0o700, foreignOwner: false },
    files: [
      {
        name: 'data.db',
        path: paths.db,
        type: 'file',
        mode: 0o600,
        foreignOwner: false,
        mustNotBeLink: true,
        private: true,
      },
    ],
    liveness: { kind: 'running', pid: 4242, identity: { pid: 4242, bootId: 'b', startTime: '1' }, lockHeld: true },
    state: {
      kind: 'ok',
      writtenBy: 'difflore-ts',
      pid: 4242,
      machineState: 'serving.running',
      startedAtMs: NOW - 600_000,
      heartbeatAtMs: NOW - 2_000,
      lastDrainAtMs: NOW - 2_000,
      lastAttempted: 5,
      lastConfirmed: 5,
      lastError: null,
    },
    database: {
      kind: 'ok',
      schemaVersion: 1,
      currentSchemaVersion: 1,
      sharedWithRust: false,
      pending: 2,
      processing: 0,
      abandoned: 0,
      pendingByKind: { observation: 2 },
      awaitingApproval: 0,
      oldestPendingAtMs: NOW - 1000,
      abandonedGroups: [],
    },
    spill: {
      count: 0,
      bytes: 0,
      newestError: null,
      oldestCreatedAtMs: null,
      newestCreatedAtMs: null,
      bad: 0,
      path: paths.spillDir,
    },
    token: { kind: 'token', source: 'file' },
    cloudUrl: { ok: true, url: 'https://difflore.dev/api', configured: false },
  };
}

function check(facts: DoctorFacts, name: string): Check {
  const found = runChecks(facts).find((c) => c.name === name);
  if (!found) throw new Error(`no check ${name}`);
  return found;
}

describe('doctor checks', () => {
  it('a healthy home: every check ok, no fix lines, report healthy', () => {
    const checks = runChecks(healthy());
    expect(checks.map((c) => c.name)).toEqual([
      'daemon',
      'backlog',
      'abandoned',
      'spill',
      'token',
      'cloud_url',
      'home',
      'files',
      'database',
    ]);
    for (const c of checks) {
      expect(c.status, `${c.name}: ${c.detail}`).toBe('ok');
      expect(c.fix).toBeUndefined();
    }
    const daemon = check(healthy(), 'daemon');
    expect(daemon.detail).toContain('running, pid 4242');
    expect(daemon.detail).toContain('state serving.running');
    expect(daemon.detail).toContain('heartbeat 2s ago');
    const report = buildReport(HOME, checks);
    expect(report).toMatchObject({ version: 1, healthy: true, problems: 0 });
    expect(renderText(report, { colour: false })).toContain('All checks passed.');
  });

  it('a stale pid file fails with `difflore daemon start`', () => {
    const f = { ...healthy(), liveness: { kind: 'stale', pid: 999_999, reason: 'dead', lockHeld: false } as const };
    const c = check(f, 'daemon');
    expect(c.status).toBe('fail');
    expect(c.detail).toContain('stale pid file');
    expect(c.detail).toContain('pid 999999 is not running');
    expect(c.fix).toBe('difflore daemon start');
  });

  it('garbage in the pid file is named', () => {
    const f = {
      ...healthy(),
      liveness: { kind: 'stale', pid: null, reason: 'invalidPid', text: 'hello', lockHeld: false } as const,
    };
    expect(check(f, 'daemon').detail).toContain('"hello"');
  });

  it('not running with work queued warns; with nothing queued it is fine', () => {
    const off = { ...healthy(), liveness: { kind: 'notRunning', lockHeld: false } as const };
    const c = check(off, 'daemon');
    expect(c.status).toBe('warn');
    expect(c.detail).toContain('2 rows waiting');
    expect(c.fix).toBe('difflore daemon start');
    const db = healthy().database;
    if (db.kind !== 'ok') throw new Error('fixture');
    const idle = { ...off, database: { ...db, pending: 0, pendingByKind: {}, oldestPendingAtMs: null } };
    expect(check(idle, 'daemon').status).toBe('ok');
  });

  it('a running daemon without a heartbeat for minutes warns with a restart', () => {
    const f = healthy();
    if (f.state.kind !== 'ok') throw new Error('fixture');
    const hung = { ...f, state: { ...f.state, heartbeatAtMs: NOW - 10 * 60_000 } };
    const c = check(hung, 'daemon');
    expect(c.status).toBe('warn');
    expect(c.fix).toBe('difflore daemon restart');
  });

  it('an unverified owner warns and suggests --force only after checking', () => {
    const f = { ...healthy(), liveness: { kind: 'unverified', pid: 77, lockHeld: false } as const };
    const c = check(f, 'daemon');
    expect(c.status).toBe('warn');
    expect(c.fix).toContain('difflore daemon stop --force');
  });

  it('abandoned rows are grouped by reason with the retry command', () => {
    const f = healthy();
    if (f.database.kind !== 'ok') throw new Error('fixture');
    const withAbandoned = {
      ...f,
      database: {
        ...f.database,
        abandoned: 5,
        abandonedGroups: [
          { reason: 'track_mcp_query: 400 Bad Request', count: 3, kinds: ['mcp_query'] },
          { reason: 'invalid payload: trajectory', count: 1, kinds: ['trajectory'] },
        ],
      },
    };
    const c = check(withAbandoned, 'abandoned');
    expect(c.status).toBe('warn');
    expect(c.detail).toContain('5 rows gave up');
    expect(c.notes).toEqual([
      '3× track_mcp_query: 400 Bad Request (mcp_query)',
      '1× invalid payload: trajectory (trajectory)',
      '1 more with other reasons',
    ]);
    expect(c.fix).toContain('difflore outbox retry --older-than 1d');
    expect(c.fix).toContain('difflore outbox list --status abandoned');
  });

  it('reasonPrefix keeps what rows failing the same way share', () => {
    expect(reasonPrefix('track_mcp_query: 400 Bad Request: {"error":"x"}')).toBe('track_mcp_query: 400 Bad Request');
    expect(reasonPrefix("invalid payload: trajectory: 'pr_review_id' must be a string")).toBe(
      'invalid payload: trajectory',
    );
    expect(reasonPrefix("unknown outbox kind 'zzz'")).toBe("unknown outbox kind 'zzz'");
    expect(reasonPrefix(null)).toBe('(no error recorded)');
    expect(reasonPrefix('x'.repeat(100))).toHaveLength(60);
  });

  it('spill files warn with the command that replays them; .bad files with where they are', () => {
    const f = healthy();
    const spilled = {
      ...f,
      spill: {
        ...(f.spill as Exclude<DoctorFacts['spill'], { error: string }>),
        count: 3,
        bytes: 2048,
        newestError: 'database is locked',
        oldestCreatedAtMs: NOW - 60_000,
        newestCreatedAtMs: NOW - 1000,
        bad: 2,
      },
    };
    const c = check(spilled, 'spill');
    expect(c.status).toBe('warn');
    expect(c.detail).toContain('3 files (2.0 KiB) waiting to be queued');
    expect(c.detail).toContain('2 quarantined files');
    expect(c.notes).toContain('newest error: database is locked');
    expect(c.fix).toContain('difflore outbox drain');
    expect(c.fix).toContain(`rm ${paths.spillDir}/*/*.bad`);
    const off = { ...spilled, liveness: { kind: 'notRunning', lockHeld: false } as const };
    expect(check(off, 'spill').fix).toContain('difflore daemon start');
  });

  it('token: absent warns, a group-readable file fails with chmod 600, and the token never appears', () => {
    expect(check({ ...healthy(), token: { kind: 'none' } }, 'token')).toMatchObject({ status: 'warn' });
    const f = healthy();
    const open = {
      ...f,
      files: [
        ...f.files,
        {
          name: 'cloud-token',
          path: paths.tokenFile,
          type: 'file' as const,
          mode: 0o640,
          foreignOwner: false,
          mustNotBeLink: true,
          private: true,
        },
      ],
      token: {
        kind: 'refused' as const,
        message: `${paths.tokenFile} is readable by group or others (mode 640); refusing to use it. Fix: chmod 600 ${paths.tokenFile}`,
      },
    };
    const c = check(open, 'token');
    expect(c.status).toBe('fail');
    expect(c.fix).toBe(`chmod 600 ${paths.tokenFile}`);
    expect(c.detail).not.toContain('Fix:');
    const files = check(open, 'files');
    expect(files.status).toBe('warn');
    expect(files.fix).toBe(`chmod 600 ${paths.tokenFile}`);
  });

  it('a cloud URL the daemon would refuse fails', () => {
    const f = {
      ...healthy(),
      cloudUrl: { ok: false, message: "DIFFLORE_CLOUD_URL 'http://x.example' uses plain http://", hint: null } as const,
    };
    const c = check(f, 'cloud_url');
    expect(c.status).toBe('fail');
    expect(c.fix).toContain('unset DIFFLORE_CLOUD_URL');
  });

  it('a 0755 home fails with chmod 700; a foreign home with chown', () => {
    const open = { ...healthy(), home: { exists: true, type: 'directory', mode: 0o755, foreignOwner: false } as const };
    const c = check(open, 'home');
    expect(c.status).toBe('fail');
    expect(c.detail).toContain('mode 755');
    expect(c.fix).toBe(`chmod 700 ${HOME}`);
    const foreign = {
      ...healthy(),
      home: { exists: true, type: 'directory', mode: 0o700, foreignOwner: true } as const,
    };
    expect(check(foreign, 'home').fix).toContain('chown');
  });

  it('a symlink at the pid or state path fails with rm', () => {
    const f = healthy();
    const linked = {
      ...f,
      files: [
        ...f.files,
        {
          name: 'daemon.pid',
          path: paths.pidFile,
          type: 'symlink' as const,
          mode: 0o777,
          foreignOwner: false,
          target: '/etc/passwd',
          mustNotBeLink: true,
          private: false,
        },
      ],
    };
    const c = check(linked, 'files');
    expect(c.status).toBe('fail');
    expect(c.notes?.[0]).toContain('daemon.pid is a symbolic link to /etc/passwd');
    expect(c.fix).toBe(`rm ${paths.pidFile}`);
  });

  it('database: an unreadable one fails with its hint; a newer schema warns; a Rust-only one is fine', () => {
    const broken = {
      ...healthy(),
      database: { kind: 'error', message: 'data.db is not a usable SQLite database', hint: 'move it aside' } as const,
    };
    expect(check(broken, 'database')).toMatchObject({ status: 'fail', fix: 'move it aside' });
    const f = healthy();
    if (f.database.kind !== 'ok') throw new Error('fixture');
    expect(check({ ...f, database: { ...f.database, schemaVersion: 9 } }, 'database').status).toBe('warn');
    const rust = check({ ...f, database: { ...f.database, schemaVersion: null, sharedWithRust: true } }, 'database');
    expect(rust.status).toBe('ok');
    expect(rust.detail).toContain('Rust');
  });

  it('the text report lists each problem with its fix, and counts them', () => {
    const f = { ...healthy(), home: { exists: true, type: 'directory', mode: 0o755, foreignOwner: false } as const };
    const report = buildReport(HOME, runChecks({ ...f, token: { kind: 'none' } }));
    expect(report).toMatchObject({ healthy: false, problems: 2 });
    const text = renderText(report, { colour: false });
    expect(text).toContain('FAIL  home');
    expect(text).toContain(`fix: chmod 700 ${HOME}`);
    expect(text).toContain('2 problems (1 failing, 1 warning)');
    expect(text).not.toContain('\x1b[');
    expect(renderText(report, { colour: true })).toContain('\x1b[31m');
  });

  it('helpers: shell quoting and state names', () => {
    expect(shellPath('/a/b')).toBe('/a/b');
    expect(shellPath("/a b/it's")).toBe(`'/a b/it'\\''s'`);
    expect(stateValueText({ serving: 'running' })).toBe('serving.running');
    expect(stateValueText('stopped')).toBe('stopped');
    expect(stateValueText(42)).toBeNull();
  });
});
