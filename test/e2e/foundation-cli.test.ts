/**
 * The foundation commands as a user runs them: `difflore enqueue` and `difflore outbox …` as real
 * processes on real data homes. Checks outputs, exit codes and what ends up on disk.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/adapters/outbox/db.js';
import { ensureHome, homePaths } from '../../src/adapters/home/home.js';
import { OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { spillRow } from '../../src/adapters/outbox/spill.js';
import { CLI, type CliResult, cleanEnv, makeTempHome, runCli, runProcess } from '../helpers/index.js';
import { writeModuleRecorder } from '../helpers/module-log.js';

let temp: { home: string; cleanup: () => void };
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  temp = makeTempHome();
  env = cleanEnv({ DIFFLORE_HOME: temp.home, NO_COLOR: '1' });
});

afterEach(() => {
  temp.cleanup();
});

const cli = (args: readonly string[], input?: string): Promise<CliResult> =>
  runCli(args, input === undefined ? { env } : { env, input });

function rows(): { id: number; kind: string; payload_json: string; status: string }[] {
  const path = homePaths(temp.home).db;
  if (!existsSync(path)) return [];
  const db = openDatabase(path);
  try {
    return db.prepare('SELECT id, kind, payload_json, status FROM cloud_outbox ORDER BY id').all() as {
      id: number;
      kind: string;
      payload_json: string;
      status: string;
    }[];
  } finally {
    db.close();
  }
}

function withStore<T>(fn: (store: OutboxStore, db: Database) => T): T {
  const db = openDatabase(ensureHome(temp.home).db);
  try {
    return fn(new OutboxStore(db), db);
  } finally {
    db.close();
  }
}

/** A valid observation row, as a Rust hook writes it. */
const OBS = JSON.stringify({
  session_id: 's1',
  ts_ms: 1_760_000_000_000,
  obs_type: 'change',
  tool: 'Edit',
  file_path: 'src/a.ts',
  scope: { anchor_kind: 'file', anchor_key: 'src/a.ts' },
  title: 'edited src/a.ts',
  narrative: null,
  diff_excerpt: null,
  content_hash: '0123456789abcdef',
});

describe('difflore enqueue', () => {
  it('queues a payload given as an argument and prints the id', async () => {
    const first = await cli(['enqueue', 'observation', OBS]);
    expect(first).toMatchObject({ code: 0, stdout: '1\n', stderr: '' });
    const second = await cli(['enqueue', 'review_metrics', '{"review_id":"r","score":3}', '--json']);
    expect(second).toMatchObject({ code: 0, stdout: '{"id":2}\n', stderr: '' });
    expect(rows()).toEqual([
      { id: 1, kind: 'observation', payload_json: OBS, status: 'pending' },
      { id: 2, kind: 'review_metrics', payload_json: '{"review_id":"r","score":3}', status: 'pending' },
    ]);
  });

  it('reads the payload from stdin for - or when it is left out, without the trailing newline', async () => {
    expect((await cli(['enqueue', 'trajectory', '-'], '{"pr_review_id":"a"}\n')).stdout).toBe('1\n');
    expect((await cli(['enqueue', '--json', 'mcp_query'], '  [1, 2]  \n')).stdout).toBe('{"id":2}\n');
    const big = JSON.stringify({ pr_review_id: 'p', blob: 'x'.repeat(200_000) });
    expect((await cli(['enqueue', 'trajectory'], big)).code).toBe(0);
    expect(rows().map((r) => r.payload_json)).toEqual(['{"pr_review_id":"a"}', '[1, 2]', big]);
  });

  it.each([
    ['invalid JSON', ['enqueue', 'observation', '{"a":'], undefined, /payload is not valid JSON/],
    ['an empty payload', ['enqueue', 'observation', ''], undefined, /payload is empty/],
    ['an empty stdin', ['enqueue', 'observation', '-'], '', /payload is empty/],
    ['a blank stdin', ['enqueue', 'observation'], ' \n\n', /payload is empty/],
    ['a kind with a capital', ['enqueue', 'Observation', '{}'], undefined, /invalid kind "Observation"/],
    ['a kind starting with a digit', ['enqueue', '9lives', '{}'], undefined, /invalid kind "9lives"/],
    ['a kind with a dash', ['enqueue', 'my-kind', '{}'], undefined, /invalid kind "my-kind"/],
    ['a payload over 1 MiB', ['enqueue', 'observation'], JSON.stringify('x'.repeat(1024 * 1024)), /too large.*1 MiB/],
  ])('refuses %s with exit code 2, a message and nothing written', async (_what, args, input, message) => {
    const result = await cli(args, input);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^difflore: /);
    expect(result.stderr).toMatch(message);
    expect(existsSync(homePaths(temp.home).db)).toBe(false);
    expect(existsSync(join(temp.home, 'hook-spill'))).toBe(false);
  });

  it.each([
    ['no kind', ['enqueue'], /Not enough positional arguments/],
    ['a third argument', ['enqueue', 'a', '{}', 'extra'], /Command not found|Extraneous/i],
    ['an unknown option', ['enqueue', 'a', '--jsn', '{}'], /Unsupported option name \("--jsn"\)/],
  ])('refuses a command line with %s with exit code 2 on stderr', async (_what, args, message) => {
    const result = await cli(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(rows()).toEqual([]);
  });

  it('gives the same answers through Clipanion as through the fast path', async () => {
    // A repeated --json is legal but not a form the fast path takes, so Clipanion parses these.
    const cases: [string[], string | undefined][] = [
      [['mcp_query', '{"x":1}'], undefined],
      [['Observation', '{}'], undefined],
      [['observation', '{oops'], undefined],
      [['observation', '{"x":1}'], undefined],
      [['observation', '-'], ''],
      [['mcp_query'], '{"from":"stdin"}\n'],
    ];
    for (const [args, input] of cases) {
      const fast = await cli(['enqueue', ...args, '--json'], input);
      const slow = await cli(['enqueue', ...args, '--json', '--json'], input);
      expect({ code: slow.code, stderr: slow.stderr }).toEqual({ code: fast.code, stderr: fast.stderr });
      expect(slow.stdout.replace(/\d+/, 'N')).toBe(fast.stdout.replace(/\d+/, 'N'));
    }
    expect(rows().map((r) => r.payload_json)).toEqual(['{"x":1}', '{"x":1}', '{"from":"stdin"}', '{"from":"stdin"}']);
  });

  it('refuses a bad kind at once, without waiting for a payload on stdin', async () => {
    // stdin stays open: a command that read it before checking the kind would never finish.
    const child = spawn(process.execPath, [CLI, 'enqueue', 'Bad-Kind'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stdin.destroy();
    expect(code).toBe(2);
    expect(stderr).toMatch(/invalid kind "Bad-Kind"/);
  });

  it('writes nothing and says so while capture is disabled', async () => {
    const disabled = { ...env, DIFFLORE_CAPTURE: 'false' };
    const result = await runCli(['enqueue', 'observation', OBS], { env: disabled });
    expect(result).toMatchObject({ code: 0, stdout: '' });
    expect(result.stderr).toMatch(/capture is disabled \(DIFFLORE_CAPTURE=false\); nothing was queued/);
    expect((await runCli(['enqueue', 'observation', OBS, '--json'], { env: disabled })).stdout).toBe(
      '{"captureDisabled":true}\n',
    );
    expect(existsSync(temp.home)).toBe(false);
    // anything but the exact lowercase value leaves capture on
    expect((await runCli(['enqueue', 'observation', OBS], { env: { ...env, DIFFLORE_CAPTURE: 'False' } })).code).toBe(
      0,
    );
    expect(rows()).toHaveLength(1);
  });

  it('spills to disk and says where when the database is unusable, and exits 0', async () => {
    const paths = ensureHome(temp.home);
    writeFileSync(paths.db, 'not a database at all, just text that fills a page. '.repeat(200));
    const result = await cli(['enqueue', 'observation', OBS, '--json']);
    expect(result.code).toBe(0);
    const { spilled } = JSON.parse(result.stdout) as { spilled: string };
    expect(spilled.startsWith(paths.observationSpillDir)).toBe(true);
    expect(existsSync(spilled)).toBe(true);
    expect(result.stderr).toMatch(/could not write the outbox database/);
    expect(result.stderr).toContain(spilled);

    const human = await cli(['enqueue', 'trajectory', '{"pr_review_id":"p"}']);
    expect(human).toMatchObject({ code: 0, stdout: '' });
    expect(human.stderr).toMatch(/saved to .*hook-spill\/outbox\//);
  });

  it('refuses an empty DIFFLORE_HOME with a clear message', async () => {
    const result = await runCli(['enqueue', 'observation', OBS], { env: { ...env, DIFFLORE_HOME: '' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/DIFFLORE_HOME is set but empty/);
  });

  it('has --help with examples', async () => {
    const result = await cli(['enqueue', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/difflore enqueue <kind> \[payload\]/);
    expect(result.stdout).toMatch(/Examples/);
    expect(result.stdout).toMatch(/--json/);
  });

  it('loads no heavy module: no Clipanion, xstate, HTTP client, inspector or write-file-atomic', async () => {
    mkdirSync(temp.home, { recursive: true });
    openDatabase(homePaths(temp.home).db).close(); // an up-to-date database, as after the first run
    const dir = join(temp.home, '..', 'modules');
    mkdirSync(dir, { recursive: true });
    const log = join(dir, 'modules.txt');
    const result = await runProcess(
      process.execPath,
      ['--import', writeModuleRecorder(dir), CLI, 'enqueue', 'observation', OBS],
      { env: { ...env, DIFFLORE_TEST_MODULE_LOG: log } },
    );
    expect(result.code).toBe(0);
    const loaded = readFileSync(log, 'utf8').split('\n');
    const ours = loaded.filter((l) => l.includes('/dist/')).map((l) => l.replace(/^.*\/dist\//, ''));
    expect(new Set(ours)).toEqual(
      new Set([
        // the binary: main.ts with the bundle loader, as CommonJS (scripts/build-entries.mjs), and the
        // daemon's V8 flags the loader names the daemon's code caches by
        'cli/main.cjs',
        'cli/main.js',
        'adapters/lifecycle/daemon-node-flags.js',
        'errors.js',
        // the fast router, the enqueue spec it reads the command line with, and the command itself,
        // from their bundles (scripts/build-entries.mjs) through the bundle loader
        'cli/bundle-loader.js',
        'entries/cli/fast-entry.cjs',
        'cli/fast-entry.js',
        'cli/router.js',
        'cli/command-spec.js',
        'cli/exit-codes.js',
        'cli/commands/enqueue.js',
        'entries/cli/run-enqueue.cjs',
        'cli/run-enqueue.js',
        'cli/fd-writer.js',
        'adapters/outbox/enqueue-core.js',
        'adapters/outbox/db.js',
        'adapters/home/home.js',
        // The payload contracts (pure, small): only the observation's, for the row enqueue checks.
        ...['kinds', 'json', 'serde', 'responses', 'observation'].map((m) => `machines/contracts/${m}.js`),
        // the home-files rule (node:fs and errors only): data.db is checked before SQLite opens it
        'adapters/home/home-files.js',
      ]),
    );
    const packages = loaded.filter((l) => l.includes('node_modules'));
    for (const heavy of ['clipanion', 'typanion', 'xstate', '@statelyai', 'write-file-atomic', 'undici', 'bindings']) {
      expect(packages.filter((l) => l.includes(`node_modules/${heavy}/`))).toEqual([]);
    }
    // the database wrapper's JavaScript is skipped too (see openForInsert)
    expect(packages.filter((l) => l.includes('better-sqlite3/lib/database.js'))).toEqual([]);
  });
});

describe('difflore outbox status', () => {
  it('reports an empty outbox without creating anything', async () => {
    const result = await cli(['outbox', 'status', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      database: homePaths(temp.home).db,
      databaseExists: false,
      pending: 0,
      processing: 0,
      abandoned: 0,
      awaitingApproval: 0,
      byKind: {},
      unknownKinds: {},
      oldestPendingAgeMs: null,
      nextDueInMs: null,
      delivery: null,
      daemonRunning: false,
      spill: {
        count: 0,
        bytes: 0,
        newestError: null,
        oldestCreatedAtMs: null,
        newestCreatedAtMs: null,
        bad: 0,
        path: join(temp.home, 'hook-spill'),
      },
    });
    expect(existsSync(temp.home)).toBe(false);
    const human = await cli(['outbox', 'status']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/not created yet/);
  });

  it('counts rows by status and kind, ages, candidates awaiting approval, and spill files', async () => {
    const now = Date.now();
    withStore((store) => {
      store.enqueue('observation', '{}', now - 90_000);
      store.enqueue('observation', '{}', now - 1000);
      store.enqueue('trajectory', '{}', now - 500);
      store.enqueue('session_mined_candidate', '{"localReview":{"status":"pending"}}', now - 200_000);
      const claim = store.claim(1, { kind: 'trajectory' });
      store.abandon(claim.rows[0]!.id, claim, 'HTTP 422');
      store.enqueue('review_metrics', '{}', now);
      store.claim(1, { kind: 'review_metrics' });
      // A kind a newer Rust binary may queue: left pending for a newer difflore, and named.
      store.enqueue('teleport_v2', '{}', now - 100);
      store.enqueue('teleport_v2', '{}', now - 100);
    });
    const paths = homePaths(temp.home);
    spillRow(paths, 'observation', '{}', 'database is locked', now - 5000);
    writeFileSync(join(paths.observationSpillDir, '1-1-0.bad'), 'junk');

    const result = await cli(['outbox', 'status', '--json']);
    const status = JSON.parse(result.stdout);
    expect(status).toMatchObject({
      databaseExists: true,
      pending: 5,
      processing: 1,
      abandoned: 1,
      awaitingApproval: 1,
      byKind: { observation: 2 },
      unknownKinds: { teleport_v2: 2 },
      nextDueInMs: 0,
      spill: { count: 1, newestError: 'database is locked', bad: 1, oldestCreatedAtMs: now - 5000 },
    });
    expect(status.oldestPendingAgeMs).toBeGreaterThanOrEqual(90_000);
    expect(status.oldestPendingAgeMs).toBeLessThan(200_000); // the unapproved candidate is not counted

    const human = (await cli(['outbox', 'status'])).stdout;
    expect(human).toMatch(/pending\s+5 .*oldest queued 1m \d+s ago.*1 awaiting approval/);
    expect(human).toContain("2 rows of kind 'teleport_v2' this version does not know; a newer difflore will send them");
    expect(human).toMatch(/Pending by kind \(2 ready to send\)/);
    expect(human).toMatch(/processing\s+1/);
    expect(human).toMatch(/abandoned\s+1/);
    expect(human).toMatch(/observation\s+2/);
    expect(human).toMatch(/1 file .* waiting to be queued/);
    expect(human).toMatch(/newest error: database is locked/);
    expect(human).toMatch(/1 quarantined file/);
  });
});

describe('difflore outbox list', () => {
  beforeEach(() => {
    withStore((store) => {
      store.enqueue('observation', '{"n":1}');
      store.enqueue('trajectory', '{"n":2}');
      store.enqueue('observation', '{"n":3}');
      const claim = store.claim(1, { kind: 'trajectory' });
      store.abandon(claim.rows[0]!.id, claim, 'HTTP 400 invalid payload');
    });
  });

  it('lists rows oldest first with their state, filtered and limited', async () => {
    const all = await cli(['outbox', 'list']);
    expect(all.code).toBe(0);
    const lines = all.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+KIND\s+STATUS\s+TRIES\s+AGE/);
    expect(lines.slice(1).map((l) => l.trim().split(/\s+/).slice(0, 3))).toEqual([
      ['1', 'observation', 'pending'],
      ['2', 'trajectory', 'abandoned'],
      ['3', 'observation', 'pending'],
    ]);
    expect(lines[2]).toMatch(/error: HTTP 400 invalid payload/);

    const json = JSON.parse((await cli(['outbox', 'list', '--kind', 'observation', '--limit', '1', '--json'])).stdout);
    expect(json).toHaveLength(1);
    expect(json[0]).toMatchObject({ id: 1, kind: 'observation', status: 'pending', payloadJson: '{"n":1}' });

    const abandoned = JSON.parse((await cli(['outbox', 'list', '--status', 'abandoned', '--json'])).stdout);
    expect(abandoned.map((r: { id: number }) => r.id)).toEqual([2]);
    expect((await cli(['outbox', 'list', '--kind', 'nothing_here'])).stdout).toMatch(/No nothing_here rows/);
  });

  it('shows payloads and errors with their control characters escaped', async () => {
    withStore((store) => {
      const id = store.enqueue('observation', '{"x":"\u001b[2J"}');
      const claim = store.claim(1, { kind: 'observation' });
      store.fail(claim.rows[0]!.id, claim, 'HTTP 500\u001b[31m red\nforged line', null);
      expect(id).toBe(4);
    });
    const listed = (await cli(['outbox', 'list'])).stdout;
    expect([...listed].filter((ch) => ch.charCodeAt(0) < 0x20 && ch !== '\n')).toEqual([]);
    expect(listed).toContain('\\u001b[31m red forged line');
    expect(listed.split('\n').filter((line) => line.startsWith('forged line'))).toEqual([]);
  });

  it.each([
    [['--status', 'failed'], /--status 'failed' is not a status; use one of pending, processing, abandoned/],
    [['--limit', '0'], /--limit '0' must be a whole number of at least 1/],
    [['--limit', 'ten'], /--limit 'ten' must be a whole number/],
    [['--kind', 'Bad Kind'], /--kind 'Bad Kind' is not a kind/],
  ])('refuses %j with exit code 2', async (args, message) => {
    const result = await cli(['outbox', 'list', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});

describe('difflore outbox retry and purge', () => {
  const day = 86_400_000;
  function abandonRows(): void {
    withStore((store, db) => {
      const now = Date.now();
      for (const [kind, age] of [
        ['observation', 40 * day],
        ['observation', 1 * day],
        ['trajectory', 40 * day],
      ] as const) {
        const id = store.enqueue(kind, '{}', now - age - 1000);
        const claim = store.claim(1, { kind });
        store.abandon(id, claim, 'HTTP 500');
        // abandoned `age` ago
        db.prepare('UPDATE cloud_outbox SET abandoned_at = ? WHERE id = ?').run(now - age, id);
      }
      store.enqueue('observation', '{"still":"pending"}');
    });
  }

  it('retry --dry-run reports per kind and changes nothing; retry returns rows to pending', async () => {
    abandonRows();
    const dry = await cli(['outbox', 'retry', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/Would return 3 abandoned rows to pending: observation 2, trajectory 1\./);
    expect(dry.stdout).toMatch(/Nothing changed \(--dry-run\)/);
    expect(rows().filter((r) => r.status === 'abandoned')).toHaveLength(3);

    const json = JSON.parse(
      (await cli(['outbox', 'retry', '--kind', 'observation', '--older-than', '30d', '--json'])).stdout,
    );
    expect(json).toMatchObject({
      dryRun: false,
      total: 1,
      byKind: [{ kind: 'observation', count: 1 }],
      olderThanMs: 30 * day,
    });
    const retried = await cli(['outbox', 'retry']);
    expect(retried.stdout).toMatch(
      /Returned 2 abandoned rows to pending with tries reset: observation 1, trajectory 1\./,
    );
    expect(rows().every((r) => r.status === 'pending')).toBe(true);
    expect((await cli(['outbox', 'retry'])).stdout).toMatch(/No abandoned rows; nothing to retry\./);
  });

  it('purge deletes only abandoned rows older than the cutoff', async () => {
    abandonRows();
    const dry = await cli(['outbox', 'purge', '--status', 'abandoned', '--older-than', '30d', '--dry-run']);
    expect(dry.stdout).toMatch(/Would delete 2 abandoned rows: observation 1, trajectory 1\./);
    expect(rows()).toHaveLength(4);

    const real = await cli(['outbox', 'purge', '--status', 'abandoned', '--older-than', '720h']);
    expect(real).toMatchObject({ code: 0 });
    expect(real.stdout).toMatch(/Deleted 2 abandoned rows: observation 1, trajectory 1\./);
    expect(
      rows()
        .map((r) => r.status)
        .sort(),
    ).toEqual(['abandoned', 'pending']);
  });

  it.each([
    [['outbox', 'purge'], /outbox purge needs --status abandoned/],
    [['outbox', 'purge', '--status', 'pending'], /--status 'pending' cannot be purged; only abandoned rows can/],
    [
      ['outbox', 'purge', '--status', 'abandoned', '--older-than', '30'],
      /--older-than '30' is missing a unit \(m, h, d\)/,
    ],
    [['outbox', 'retry', '--older-than', '2w'], /--older-than '2w' has an unknown unit 'w'; use one of \(m, h, d\)/],
    [['outbox', 'retry', '--older-than', 'soon'], /--older-than 'soon' is not a duration/],
    [['outbox', 'retry', '--older-than', '0d'], /--older-than '0d' must be greater than zero/],
    [['outbox', 'retry', '--older-than', '30s'], /unknown unit 's'/],
  ])('%j is a usage error (exit 2) that says what is wrong', async (args, message) => {
    abandonRows();
    const result = await cli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(rows()).toHaveLength(4);
  });

  it('every outbox command has --help with examples', async () => {
    for (const sub of ['status', 'list', 'retry', 'purge']) {
      const result = await cli(['outbox', sub, '--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`difflore outbox ${sub}`));
      expect(result.stdout).toMatch(/Examples/);
    }
  });
});

describe('many writers and a claimer at once', () => {
  it('three processes enqueueing while a fourth claims: no error, no lost row, no duplicate', async () => {
    const perWriter = 400;
    const dist = join(import.meta.dirname, '..', '..', 'dist', 'adapters');
    ensureHome(temp.home);
    openDatabase(homePaths(temp.home).db).close();
    const writer = (w: number): string => `
      const { enqueue, loadContract } = await import(${JSON.stringify(join(dist, 'outbox', 'enqueue.js'))});
      await loadContract('mcp_query');
      for (let i = 0; i < ${perWriter}; i++) {
        const result = enqueue('mcp_query', JSON.stringify({ w: ${w}, i }));
        if (result.kind !== 'inserted') { console.error(JSON.stringify(result)); process.exit(3); }
      }`;
    const claimer = `
      const { openDatabase } = await import(${JSON.stringify(join(dist, 'outbox', 'db.js'))});
      const { OutboxStore } = await import(${JSON.stringify(join(dist, 'outbox', 'outbox-store.js'))});
      const db = openDatabase(${JSON.stringify(homePaths(temp.home).db)});
      const store = new OutboxStore(db);
      const seen = [];
      let claims = 0;
      while (seen.length < ${3 * perWriter}) {
        const claim = store.claim(64);
        claims++;
        for (const row of claim.rows) seen.push(row.payloadJson);
        if (store.confirmMany(claim.rows.map((r) => r.id), claim) !== claim.rows.length) process.exit(4);
        if (claim.rows.length === 0) await new Promise((r) => setImmediate(r));
      }
      process.stdout.write(JSON.stringify({ seen, claims }));
      db.close();`;
    const run = (script: string) => runProcess(process.execPath, ['--input-type=module', '-e', script], { env });
    const results = await Promise.all([run(claimer), run(writer(0)), run(writer(1)), run(writer(2))]);

    for (const r of results) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const { seen } = JSON.parse(results[0]!.stdout) as { seen: string[] };
    expect(seen).toHaveLength(3 * perWriter);
    expect(new Set(seen).size).toBe(3 * perWriter);
    for (let w = 0; w < 3; w++) {
      const mine = seen.map((s) => JSON.parse(s)).filter((p: { w: number }) => p.w === w);
      // each writer's rows arrive complete and in the order it wrote them
      expect(mine.map((p: { i: number }) => p.i)).toEqual(Array.from({ length: perWriter }, (_, i) => i));
    }
    expect(rows()).toEqual([]);
    expect(existsSync(join(temp.home, 'hook-spill'))).toBe(false);
  });

  it('CLI enqueues from several processes at once all land', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => cli(['enqueue', 'mcp_query', JSON.stringify({ p: i }), '--json'])),
    );
    for (const r of results) expect(r.code).toBe(0);
    const ids = results.map((r) => (JSON.parse(r.stdout) as { id: number }).id);
    expect(new Set(ids).size).toBe(6);
    expect(rows()).toHaveLength(6);
    expect(readdirSync(temp.home)).not.toContain('hook-spill');
  });
});
