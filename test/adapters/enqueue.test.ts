/**
 * The hook-fast enqueue adapter: input rules, the capture switch, and spilling whenever the
 * database cannot take the row (locked, read-only, corrupt, not openable), with nothing lost.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, openForInsert, PRODUCER_AUTOCHECKPOINT_PAGES } from '../../src/adapters/outbox/db.js';
import { enqueue, loadContract, MAX_PAYLOAD_BYTES, validateEnqueueInput } from '../../src/adapters/outbox/enqueue.js';
import { KNOWN_KINDS } from '../../src/machines/contracts/kinds.js';
import { ensureHome, homePaths } from '../../src/adapters/home/home.js';
import { OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { replaySpill } from '../../src/adapters/outbox/spill.js';
import { DiffloreError } from '../../src/errors.js';
import { makeTempHome } from '../helpers/index.js';

let temp: { home: string; cleanup: () => void };
let env: NodeJS.ProcessEnv;

/** A valid observation row (as a Rust hook writes it), with extra keys (dropped when sent). */
const obs = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({
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
    ...extra,
  });

beforeAll(async () => {
  for (const kind of KNOWN_KINDS) await loadContract(kind);
});

beforeEach(() => {
  temp = makeTempHome();
  env = { DIFFLORE_HOME: temp.home };
});

afterEach(() => {
  temp.cleanup();
});

function rows(): { id: number; kind: string; payload_json: string; created_at: number; status: string }[] {
  const db = openDatabase(homePaths(temp.home).db);
  try {
    return db.prepare('SELECT id, kind, payload_json, created_at, status FROM cloud_outbox ORDER BY id').all() as {
      id: number;
      kind: string;
      payload_json: string;
      created_at: number;
      status: string;
    }[];
  } finally {
    db.close();
  }
}

function invalid(kind: string, payload: string): DiffloreError {
  try {
    validateEnqueueInput(kind, payload);
  } catch (error) {
    expect(error).toBeInstanceOf(DiffloreError);
    expect((error as DiffloreError).code).toBe('invalid_input');
    return error as DiffloreError;
  }
  throw new Error(`expected ${kind} ${payload.slice(0, 20)} to be rejected`);
}

describe('enqueue', () => {
  it('creates the home and database and inserts a pending row', () => {
    const result = enqueue('observation', obs({ tool: 'Edit' }), { env, now: 1234 });
    expect(result).toEqual({ kind: 'inserted', id: 1 });
    expect(enqueue('trajectory', '{"pr_review_id":"r"}', { env, now: 1235 })).toEqual({ kind: 'inserted', id: 2 });
    expect(rows()).toEqual([
      { id: 1, kind: 'observation', payload_json: obs({ tool: 'Edit' }), created_at: 1234, status: 'pending' },
      { id: 2, kind: 'trajectory', payload_json: '{"pr_review_id":"r"}', created_at: 1235, status: 'pending' },
    ]);
    expect(statSync(temp.home).mode & 0o777).toBe(0o700);
    expect(statSync(homePaths(temp.home).db).mode & 0o777).toBe(0o600);
  });

  it('does nothing at all while capture is disabled (exactly DIFFLORE_CAPTURE=false)', () => {
    expect(enqueue('observation', obs(), { env: { ...env, DIFFLORE_CAPTURE: 'false' } })).toEqual({
      kind: 'capture_disabled',
    });
    expect(existsSync(temp.home)).toBe(false);
    for (const value of ['FALSE', ' false', '0', '', 'true']) {
      expect(enqueue('observation', obs(), { env: { ...env, DIFFLORE_CAPTURE: value } }).kind).toBe('inserted');
    }
  });

  it('rejects bad input before touching the disk', () => {
    expect(() => enqueue('Observation', '{}', { env })).toThrow(DiffloreError);
    expect(() => enqueue('observation', '{oops', { env })).toThrow(/not valid JSON/);
    expect(existsSync(temp.home)).toBe(false);
  });

  it('refuses an empty DIFFLORE_HOME', () => {
    expect(() => enqueue('observation', obs(), { env: { DIFFLORE_HOME: '' } })).toThrow(
      /DIFFLORE_HOME is set but empty/,
    );
  });
});

describe('enqueue by the payload contract', () => {
  it('refuses a payload Rust could never parse for a known kind, and writes nothing', () => {
    for (const [kind, payload] of [
      ['observation', 'null'],
      ['observation', '1'],
      ['observation', '"str"'],
      ['observation', '[]'],
      ['accepted_edit', '{"beforeCode":"a"}'],
      ['accepted_edit', '{"beforeCode":"a","afterCode":"b","ruleIds":null}'],
      ['review_metrics', '{"review_id":"r","req":{"inputTokens":1.0}}'],
      ['trajectory', '{"steps":[]}'],
      ['observation', obs({ ts_ms: 1.5 })],
      ['observation', obs({ scope: 'file' })],
      ['session_mined_candidate', '{"session_id":"s"}'],
    ] as const) {
      const error = invalid(kind, payload);
      expect(error.message, `${kind} ${payload}`).toMatch(new RegExp(`not a valid '${kind}' row`));
      expect(() => enqueue(kind, payload, { env })).toThrow(DiffloreError);
    }
    expect(existsSync(temp.home)).toBe(false);
  });

  it('takes what Rust sends: a scope object, null optionals, any mcp_query JSON, a kind it does not know', () => {
    expect(enqueue('observation', obs({ file_path: null, narrative: null, scope: null }), { env }).kind).toBe(
      'inserted',
    );
    expect(enqueue('mcp_query', '[]', { env }).kind).toBe('inserted');
    expect(enqueue('fix_acceptance', '"anything"', { env }).kind).toBe('inserted');
    expect(enqueue('new_kind_v9', '{"x":1}', { env }).kind).toBe('inserted');
    expect(rows().map((r) => r.kind)).toEqual(['observation', 'mcp_query', 'fix_acceptance', 'new_kind_v9']);
  });
});

describe('validateEnqueueInput', () => {
  it('names each problem', () => {
    expect(invalid('', '{}').message).toMatch(/invalid kind ""/);
    expect(invalid('1abc', '{}').message).toMatch(/invalid kind "1abc".*lowercase letter/);
    expect(invalid('has-dash', '{}').message).toMatch(/invalid kind "has-dash"/);
    expect(invalid('UPPER', '{}').message).toMatch(/invalid kind "UPPER"/);
    expect(invalid('a'.repeat(65), '{}').message).toMatch(/longer than 64/);
    expect(invalid('observation', '').message).toMatch(/payload is empty/);
    expect(invalid('observation', '  \n').message).toMatch(/payload is empty/);
    expect(invalid('observation', '{"a":').message).toMatch(/payload is not valid JSON/);
    expect(invalid('observation', 'hello').message).toMatch(/payload is not valid JSON/);
    const big = JSON.stringify('x'.repeat(MAX_PAYLOAD_BYTES));
    expect(invalid('observation', big).message).toMatch(/too large: 1048578 bytes, the limit is 1 MiB/);
  });

  it('shows the offending text escaped, on one line, so it cannot drive the terminal', () => {
    const json = invalid('observation', '\u001b[2J\nforged line\u007f').message;
    const kind = invalid('a\u001b[31m\u009bx\ny', '{}').message;
    const controls = (text: string): number[] =>
      [...text].map((ch) => ch.charCodeAt(0)).filter((c) => c < 0x20 || (c >= 0x7f && c <= 0x9f));
    expect(controls(json)).toEqual([]);
    expect(controls(kind)).toEqual([]);
    expect(json).toContain('\\u001b[2J\\nforged line');
    expect(kind).toContain('invalid kind "a\\u001b[31m\\u009bx\\ny"');
    expect(invalid('x'.repeat(500).toUpperCase(), '{}').message.length).toBeLessThan(200);
  });

  it('counts the cap in UTF-8 bytes and accepts exactly 1 MiB', () => {
    const exact = JSON.stringify('x'.repeat(MAX_PAYLOAD_BYTES - 2));
    expect(() => validateEnqueueInput('a1_b2', exact)).not.toThrow();
    // 3 bytes per character: under the cap in UTF-16 units, over it in bytes
    const wide = JSON.stringify('€'.repeat(Math.ceil(MAX_PAYLOAD_BYTES / 3)));
    expect(invalid('observation', wide).message).toMatch(/too large/);
  });

  it('accepts any JSON value and kinds with digits and underscores', () => {
    for (const payload of ['{}', '[]', '0', '"s"', 'null', ' {"a":[1,{"b":null}]} ']) {
      expect(() => validateEnqueueInput('a1_b2', payload)).not.toThrow();
    }
  });
});

describe('spilling when the database cannot take the row', () => {
  it('spills while another connection holds the write lock past the busy timeout, then replays', () => {
    const paths = ensureHome(temp.home);
    const holder = openDatabase(paths.db);
    holder.exec('BEGIN IMMEDIATE');
    let result: ReturnType<typeof enqueue>;
    try {
      result = enqueue('observation', obs({ held: true }), { env, now: 4242, busyTimeoutMs: 20 });
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }

    expect(result.kind).toBe('spilled');
    if (result.kind !== 'spilled') return;
    expect(result.reason).toMatch(/locked|busy/i);
    expect(dirname(result.path)).toBe(paths.observationSpillDir);
    expect(JSON.parse(readFileSync(result.path, 'utf8'))).toMatchObject({
      kind: 'observation',
      payloadJson: obs({ held: true }),
      createdAtMs: 4242,
    });
    expect(rows()).toEqual([]);

    const db = openDatabase(paths.db);
    try {
      expect(replaySpill(paths, new OutboxStore(db)).replayed).toBe(1);
    } finally {
      db.close();
    }
    expect(rows()).toEqual([
      { id: 1, kind: 'observation', payload_json: obs({ held: true }), created_at: 4242, status: 'pending' },
    ]);
  });

  it('waits for a write lock that another connection holds for a moment, then inserts (no spill)', async () => {
    const paths = ensureHome(temp.home);
    openDatabase(paths.db).close();
    const dist = join(import.meta.dirname, '..', '..', 'dist', 'adapters', 'outbox', 'db.js');
    // A worker thread takes the write lock and keeps it for a moment. This thread then enqueues at
    // once, so the insert meets the lock and has to wait for it.
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       import(${JSON.stringify(dist)}).then(({ openDatabase }) => {
         const db = openDatabase(${JSON.stringify(paths.db)});
         db.exec('BEGIN IMMEDIATE');
         parentPort.postMessage('locked');
         setTimeout(() => { db.exec('COMMIT'); db.close(); parentPort.postMessage('released'); }, 60);
       });`,
      { eval: true },
    );
    const messages: string[] = [];
    worker.on('message', (m: string) => messages.push(m));
    await new Promise<void>((resolve) => worker.once('message', () => resolve()));
    const result = enqueue('observation', obs({ waited: true }), { env });
    await worker.terminate();

    expect(result.kind).toBe('inserted');
    expect(messages[0]).toBe('locked');
    expect(rows().map((r) => r.payload_json)).toEqual([obs({ waited: true })]);
    expect(existsSync(paths.spillDir)).toBe(false);
  });

  it('leaves the connection busy_timeout as it found it', () => {
    const paths = ensureHome(temp.home);
    const db = openDatabase(paths.db, { busyTimeoutMs: 1234 });
    try {
      const store = new OutboxStore(db);
      store.enqueue('observation', obs());
      expect(db.pragma('busy_timeout', { simple: true })).toBe(1234);
    } finally {
      db.close();
    }
  });

  it('spills other kinds to the sibling directory', () => {
    const paths = ensureHome(temp.home);
    const holder = openDatabase(paths.db);
    holder.exec('BEGIN IMMEDIATE');
    try {
      const result = enqueue('trajectory', '{"pr_review_id":"r"}', { env, busyTimeoutMs: 10 });
      expect(result.kind === 'spilled' && dirname(result.path)).toBe(paths.otherSpillDir);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
  });

  it('spills when data.db is not a database', () => {
    const paths = ensureHome(temp.home);
    writeFileSync(paths.db, 'this is not sqlite, it is a shopping list: eggs, milk, more eggs, '.repeat(100));
    const result = enqueue('observation', obs(), { env });
    expect(result.kind).toBe('spilled');
    expect(result.kind === 'spilled' && result.reason).toMatch(/not a (usable SQLite )?database/i);
    expect(readdirSync(paths.observationSpillDir)).toHaveLength(1);
  });

  it('spills when data.db cannot be opened at all', () => {
    const paths = ensureHome(temp.home);
    mkdirSync(paths.db); // a directory where the file should be
    const result = enqueue('observation', obs(), { env });
    expect(result.kind).toBe('spilled');
    // The home-files rule refuses it before SQLite is asked.
    expect(result.kind === 'spilled' && result.reason).toMatch(/is a directory, not a regular file/i);
  });

  it('spills when data.db is read-only for the user', () => {
    const paths = ensureHome(temp.home);
    openDatabase(paths.db).close();
    if (process.getuid?.() !== 0) {
      chmodSync(paths.db, 0o444);
      const result = enqueue('observation', obs(), { env });
      expect(result.kind).toBe('spilled');
      return;
    }
    // Root writes through file modes, so enqueue as nobody in a home nobody owns, with data.db
    // still owned by root (0644): readable, not writable, as on a sandboxed agent's mount.
    chownSync(dirname(temp.home), 65534, 65534);
    chownSync(temp.home, 65534, 65534);
    const dist = join(import.meta.dirname, '..', '..', 'dist', 'adapters', 'outbox', 'enqueue.js');
    const script = `const { enqueue, loadContract } = await import(${JSON.stringify(dist)});
      await loadContract('observation');
      process.stdout.write(JSON.stringify(enqueue('observation', ${JSON.stringify(obs({ ro: 1 }))}, { env: { DIFFLORE_HOME: ${JSON.stringify(temp.home)} } })));`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      uid: 65534,
      gid: 65534,
      encoding: 'utf8',
    });
    expect(child.stderr).toBe('');
    const result = JSON.parse(child.stdout);
    expect(result.kind).toBe('spilled');
    // data.db is root's: the home-files rule refuses another user's file before SQLite would fail on it.
    expect(result.reason).toMatch(/readonly|read-only|unable to open|belongs to another user/i);
    expect(existsSync(result.path)).toBe(true);
    expect(rows()).toEqual([]);
  });
});

describe('openForInsert', () => {
  it('inserts into an existing database through the native shortcut with the same pragmas', () => {
    const paths = ensureHome(temp.home);
    openDatabase(paths.db).close();
    const connection = openForInsert(paths.db);
    try {
      expect(connection.insert('observation', '{"n":1}', 77)).toBe(1);
      expect(connection.insert('observation', '{"n":2}', 78)).toBe(2);
    } finally {
      connection.close();
    }
    expect(rows().map((r) => [r.payload_json, r.created_at])).toEqual([
      ['{"n":1}', 77],
      ['{"n":2}', 78],
    ]);
    const db = new BetterSqlite3(paths.db);
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });

  it('leaves checkpoints to the daemon: its commits never copy the WAL back below the safety net', () => {
    const paths = ensureHome(temp.home);
    const daemon = openDatabase(paths.db);
    const connection = openForInsert(paths.db);
    const payload = JSON.stringify({ text: 'x'.repeat(3_000) });
    try {
      // About 6 MB of rows: past SQLite's default 1,000-page autocheckpoint, well short of ours.
      for (let i = 0; i < 2_000; i++) connection.insert('observation', payload, i);
      const pageSize = daemon.pragma('page_size', { simple: true }) as number;
      expect(statSync(`${paths.db}-wal`).size).toBeGreaterThan(1_400 * pageSize);
      // The daemon's connection keeps SQLite's default: its next commit checkpoints (passively).
      expect(daemon.pragma('wal_autocheckpoint', { simple: true })).toBe(1_000);
      const producer = openDatabase(paths.db, { producer: true });
      expect(producer.pragma('wal_autocheckpoint', { simple: true })).toBe(PRODUCER_AUTOCHECKPOINT_PAGES);
      producer.close();
    } finally {
      connection.close();
      daemon.close();
    }
  });

  it('migrates a database that lacks our schema before inserting', () => {
    const paths = ensureHome(temp.home);
    const raw = new BetterSqlite3(paths.db);
    raw.exec(`CREATE TABLE cloud_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
      payload_json TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', retry_count INTEGER NOT NULL DEFAULT 0,
      created_at INTEGER NOT NULL, claimed_at INTEGER, last_error TEXT, enriched_at INTEGER)`);
    raw.close();
    const connection = openForInsert(paths.db);
    try {
      expect(connection.insert('observation', '{}', 1)).toBe(1);
    } finally {
      connection.close();
    }
    const db = openDatabase(paths.db);
    try {
      const columns = (db.prepare('PRAGMA table_info(cloud_outbox)').all() as { name: string }[]).map((c) => c.name);
      expect(columns).toContain('lease_id');
    } finally {
      db.close();
    }
  });

  it("throws SQLite's own error on a lock, and leaves better-sqlite3 throwing its SqliteError", () => {
    const paths = ensureHome(temp.home);
    const holder = openDatabase(paths.db);
    holder.exec('BEGIN IMMEDIATE');
    try {
      const connection = openForInsert(paths.db, { busyTimeoutMs: 10 });
      let caught: unknown;
      try {
        connection.insert('observation', '{}', 1);
      } catch (error) {
        caught = error;
      } finally {
        connection.close();
      }
      expect(caught).toBeInstanceOf(BetterSqlite3.SqliteError);
      expect((caught as { code: string }).code).toBe('SQLITE_BUSY');
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    const other = new BetterSqlite3(':memory:');
    expect(() => other.exec('NOT SQL')).toThrow(BetterSqlite3.SqliteError);
    other.close();
  });
});
