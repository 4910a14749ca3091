/**
 * The doctor's verdicts from hand-made facts: every check's ok case, each problem with its fix line,
 * the grouping of abandoned reasons, and the report's exit-relevant summary and text.
 */
import { describe, expect, it } from 'vitest';
import { homePaths } from '../../src/adapters/home/home.js';
import type { DaemonStatusReport, DeliveryReport } from '../../src/cli/daemon-status.js';
import { type Check, runChecks } from '../../src/cli/doctor/checks.js';
import type { DoctorFacts } from '../../src/cli/doctor/facts.js';
import { formatAge, reasonPrefix, shellPath } from '../../src/cli/doctor/format.js';
import { buildReport, renderText } from '../../src/cli/doctor/report.js';

const NOW = 1_800_000_000_000;
const HOME = '/home/ada/.difflore';
const paths = homePaths(HOME);

/** `daemon status` for a healthy running daemon; tests override what they need. */
function daemon(overrides: Partial<DaemonStatusReport> = {}): DaemonStatusReport {
  return {
    status: 'running',
    exitCode: 0,
    summary: 'running (pid 4242)',
    home: HOME,
    pid: 4242,
    staleReason: null,
    lockHeld: true,
    startedAtMs: NOW - 600_000,
    uptimeMs: 600_000,
    heartbeatAtMs: NOW - 2000,
    heartbeatAgeMs: 2000,
    machineState: 'serving.running',
    lastPass: { atMs: NOW - 2000, attempted: 5, confirmed: 5, lastError: null },
    backlog: null,
    backlogError: null,
    spillFiles: null,
    waitingForToken: false,
    tokenProblem: null,
    tokenSource: null,
    stateFile: 'ok',
    stateFileError: null,
    lastStop: null,
    delivery: null,
    ...overrides,
  };
}

const notRunning = (): DaemonStatusReport =>
  daemon({
    status: 'notRunning',
    exitCode: 3,
    summary: 'not running',
    pid: null,
    lockHeld: false,
    startedAtMs: null,
    uptimeMs: null,
    heartbeatAtMs: null,
    heartbeatAgeMs: null,
    machineState: null,
    lastPass: null,
    waitingForToken: null,
  });

function healthy(): DoctorFacts {
  return {
    nowMs: NOW,
    deliveryGraceMs: 60_000,
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
    daemon: daemon(),
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
      unknownKinds: {},
      oldestPendingAtMs: NOW - 1000,
      abandonedGroups: [],
      abandonedRecently: 0,
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
  it('backlog names rows of a kind this version does not know, as left for a newer difflore', () => {
    const f = healthy();
    if (f.database.kind !== 'ok') throw new Error('fixture');
    const facts: DoctorFacts = { ...f, database: { ...f.database, unknownKinds: { teleport_v2: 3, x: 1 } } };
    const backlog = check(facts, 'backlog');
    expect(backlog.status).toBe('ok');
    expect(backlog.detail).toContain(
      "3 rows of kind 'teleport_v2' this version does not know; a newer difflore will send them",
    );
    expect(backlog.detail).toContain("1 row of kind 'x' this version does not know");
  });

  it('a healthy home: every check ok, no fix lines, report healthy', () => {
    const checks = runChecks(healthy());
    expect(checks.map((c) => c.name)).toEqual([
      'daemon',
      'delivery',
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
    const f = {
      ...healthy(),
      daemon: daemon({ ...notRunning(), status: 'stale', exitCode: 1, pid: 999_999, staleReason: 'dead' }),
    };
    const c = check(f, 'daemon');
    expect(c.status).toBe('fail');
    expect(c.detail).toContain('stale pid file');
    expect(c.detail).toContain('pid 999999 is not running');
    expect(c.detail).toContain('2 rows waiting');
    expect(c.fix).toBe('difflore daemon start');
  });

  it('a pid file that holds no pid is stale too', () => {
    const f = { ...healthy(), daemon: daemon({ ...notRunning(), status: 'stale', staleReason: 'invalidPid' }) };
    expect(check(f, 'daemon')).toMatchObject({ status: 'fail', fix: 'difflore daemon start' });
    expect(check(f, 'daemon').detail).toContain('it is not a valid pid');
  });

  it('a daemon the probe cannot read fails with what to remove', () => {
    const f = {
      ...healthy(),
      daemon: daemon({ ...notRunning(), status: 'unknown', summary: 'cannot tell: daemon.pid is a symbolic link' }),
    };
    const c = check(f, 'daemon');
    expect(c.status).toBe('fail');
    expect(c.detail).toContain('symbolic link');
    expect(c.fix).toContain('remove the file the message names');
  });

  it('not running with work queued warns; with nothing queued it is fine', () => {
    const off = { ...healthy(), daemon: notRunning() };
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
    const hung = { ...healthy(), daemon: daemon({ heartbeatAtMs: NOW - 600_000, heartbeatAgeMs: 600_000 }) };
    const c = check(hung, 'daemon');
    expect(c.status).toBe('warn');
    expect(c.fix).toBe('difflore daemon restart');
  });

  it('an unverified owner warns and suggests --force only after checking', () => {
    const f = { ...healthy(), daemon: daemon({ status: 'unverified', pid: 77, machineState: null }) };
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
    // Rows that gave up in the last day fail: something broke recently.
    const recent = check(
      { ...withAbandoned, database: { ...withAbandoned.database, abandonedRecently: 2 } },
      'abandoned',
    );
    expect(recent.status).toBe('fail');
    expect(recent.detail).toContain('2 in the last 1d');
    expect(recent.fix).toContain('difflore outbox retry');
  });

  describe('delivery', () => {
    const delivery = (overrides: Partial<DeliveryReport>): DeliveryReport => ({
      state: 'ok',
      since: NOW - 600_000,
      lastError: null,
      errorCode: null,
      lastSuccessAtMs: NOW - 2_000,
      nextAttemptAtMs: null,
      breaker: { open: false, until: null },
      cloudUrl: 'https://difflore.dev/api',
      rowsWaiting: 0,
      dueNow: 0,
      backingOff: 0,
      oldestPendingAgeMs: null,
      summary: 'delivering to the cloud at https://difflore.dev/api',
      ...overrides,
    });
    const withDelivery = (d: DeliveryReport, graceMs = 60_000): DoctorFacts => ({
      ...healthy(),
      deliveryGraceMs: graceMs,
      daemon: daemon({ delivery: d }),
    });

    it('ok and idle pass; no daemon says unknown and passes (the daemon check speaks for it)', () => {
      expect(check(withDelivery(delivery({})), 'delivery').status).toBe('ok');
      expect(check(withDelivery(delivery({ state: 'idle' })), 'delivery').status).toBe('ok');
      expect(check(healthy(), 'delivery')).toMatchObject({ status: 'ok', detail: expect.stringContaining('unknown') });
    });

    it('blocked within the grace passes and says so; past it, each state fails with its fix', () => {
      const fresh = check(withDelivery(delivery({ state: 'unreachable', since: NOW - 5_000 })), 'delivery');
      expect(fresh.status).toBe('ok');
      expect(fresh.detail).toContain('within the 1m grace');
      const fixes: Record<string, string> = {
        unreachable: 'check the network and any proxy',
        failing: 'rows are kept and retried',
        'auth-rejected': 'difflore cloud login',
        'waiting-for-token': paths.tokenFile,
      };
      for (const [state, fix] of Object.entries(fixes)) {
        const d = delivery({
          state: state as DeliveryReport['state'],
          since: NOW - 120_000,
          lastError: 'transport: post_observations: getaddrinfo ENOTFOUND nonexistent.invalid',
          summary: `${state} words`,
        });
        const c = check(withDelivery(d), 'delivery');
        expect(c.status, state).toBe('fail');
        expect(c.fix, state).toContain(fix);
        expect(c.notes?.[0]).toContain('ENOTFOUND');
      }
      expect(check(withDelivery(delivery({ state: 'failing', since: NOW - 1 }), 0), 'delivery').status).toBe('fail');
    });

    it('never-tried with rows waiting past the grace fails; with nothing waiting it passes', () => {
      const stuck = delivery({ state: 'never-tried', since: null, rowsWaiting: 3 });
      expect(check(withDelivery(stuck), 'delivery').status).toBe('fail');
      expect(check(withDelivery({ ...stuck, rowsWaiting: 0 }), 'delivery').status).toBe('ok');
    });

    it('a sendable row pending for longer than 15 minutes fails the backlog check', () => {
      const f = healthy();
      if (f.database.kind !== 'ok') throw new Error('fixture');
      const old = { ...f, database: { ...f.database, oldestPendingAtMs: NOW - 16 * 60_000 } };
      expect(check(old, 'backlog')).toMatchObject({ status: 'fail', fix: expect.stringContaining('daemon status') });
    });
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
    const off = { ...spilled, daemon: notRunning() };
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

  it('a running daemon whose last pass found no usable token fails, whatever this shell has', () => {
    const f = {
      ...healthy(),
      daemon: daemon({ waitingForToken: true, tokenProblem: 'no cloud token: set DIFFLORE_CLOUD_TOKEN' }),
    };
    const c = check(f, 'token');
    expect(c.status).toBe('fail');
    expect(c.detail).toContain('the running daemon has no usable token');
    expect(c.fix).toContain(`chmod 600 ${paths.tokenFile}`);
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

  it('helpers: shell quoting and ages', () => {
    expect(shellPath('/a/b')).toBe('/a/b');
    expect(shellPath("/a b/it's")).toBe(`'/a b/it'\\''s'`);
    expect(formatAge(800)).toBe('800ms');
    expect(formatAge(65_000)).toBe('1m 5s');
    expect(formatAge(3 * 86_400_000 + 4 * 3_600_000 + 5000)).toBe('3d 4h');
    expect(formatAge(3_600_000 + 5000)).toBe('1h');
  });
});
