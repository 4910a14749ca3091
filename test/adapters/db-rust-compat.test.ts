/**
 * Sharing `data.db` with the Rust binary: we open a database laid out as the Rust binary leaves it
 * (its migrations, its `_sqlx_migrations` rows, its other tables, its rows), use it, and check that
 * everything the Rust binary relies on is exactly as it was and that its own queries still work.
 */
import { randomBytes } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, SCHEMA_VERSION } from '../../src/adapters/outbox/db.js';
import { enqueue, loadContract } from '../../src/adapters/outbox/enqueue.js';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import { OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { makeTempHome } from '../helpers/index.js';

let temp: { home: string; cleanup: () => void };
let paths: HomePaths;

// The Rust schema (reference/difflore-behaviour.md §2.1, §4.3), as its sqlx migrations leave it.
const RUST_SCHEMA = `
  CREATE TABLE _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
  );
  CREATE TABLE cloud_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    retry_count INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    claimed_at INTEGER,
    last_error TEXT,
    enriched_at INTEGER
  );
  CREATE INDEX idx_cloud_outbox_status_created ON cloud_outbox(status, created_at);
  CREATE INDEX idx_cloud_outbox_enrich ON cloud_outbox(kind, status, enriched_at)
    WHERE kind = 'observation' AND enriched_at IS NULL;
  CREATE TABLE observation_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payload_json TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    retry_count INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE skills (id TEXT PRIMARY KEY, name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'archived', 'disabled')));
  CREATE TABLE memory_conflicts (id INTEGER PRIMARY KEY, left_id TEXT NOT NULL, right_id TEXT NOT NULL);
  CREATE TABLE repo_aliases (alias TEXT PRIMARY KEY, repo TEXT NOT NULL);
`;

const MIGRATIONS: [number, string][] = [
  [20260408000001, 'initial schema'],
  [20260619000001, 'memory conflicts'],
  [20260630000001, 'allow disabled skill status'],
  [20260701000001, 'repo aliases'],
];

const RUST_COLUMNS = [
  'id',
  'kind',
  'payload_json',
  'status',
  'retry_count',
  'created_at',
  'claimed_at',
  'last_error',
  'enriched_at',
];

function createRustDatabase(path: string): void {
  const db = new BetterSqlite3(path);
  db.pragma('journal_mode = WAL');
  db.exec(RUST_SCHEMA);
  const addMigration = db.prepare(
    'INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) VALUES (?, ?, ?, 1, ?, ?)',
  );
  for (const [version, description] of MIGRATIONS) {
    addMigration.run(version, description, '2026-07-02 10:00:00', randomBytes(48), 1234567);
  }
  const now = Date.now();
  const row = db.prepare(
    'INSERT INTO cloud_outbox (kind, payload_json, status, retry_count, created_at, claimed_at, last_error) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  row.run('observation', '{"rust":1}', 'pending', 0, now - 3000, null, null);
  row.run('trajectory', '{"rust":2}', 'processing', 0, now - 2000, now - 120_000, null); // stale claim
  row.run('accepted_edit', '{"rust":3}', 'abandoned', 8, now - 1000, null, 'HTTP 500 Internal Server Error');
  db.prepare('INSERT INTO observation_events (payload_json, created_at) VALUES (?, ?)').run('{"e":1}', now);
  db.prepare("INSERT INTO skills VALUES ('s1', 'lint', 'disabled')").run();
  db.prepare("INSERT INTO repo_aliases VALUES ('me/x', 'github.com/me/x')").run();
  db.close();
}

interface Snapshot {
  migrations: unknown[];
  objects: unknown[];
  outboxColumns: unknown[];
  otherRows: unknown[];
}

/** Everything the Rust binary depends on, read with a plain connection. */
function snapshot(path: string): Snapshot {
  const db = new BetterSqlite3(path, { readonly: true });
  try {
    return {
      migrations: db.prepare('SELECT * FROM _sqlx_migrations ORDER BY version').all(),
      // Rust-created tables and indexes, with their exact SQL.
      objects: db
        .prepare(
          `SELECT type, name, tbl_name, sql FROM sqlite_master
            WHERE tbl_name NOT LIKE 'difflore_%' AND name NOT LIKE 'idx_difflore_%' AND name <> 'sqlite_sequence'
              AND name <> 'cloud_outbox' ORDER BY name`,
        )
        .all(),
      outboxColumns: (db.prepare('PRAGMA table_info(cloud_outbox)').all() as { name: string }[]).filter((c) =>
        RUST_COLUMNS.includes(c.name),
      ),
      otherRows: [
        db.prepare('SELECT * FROM observation_events').all(),
        db.prepare('SELECT * FROM skills').all(),
        db.prepare('SELECT * FROM repo_aliases').all(),
        db.prepare('SELECT * FROM memory_conflicts').all(),
      ],
    };
  } finally {
    db.close();
  }
}

beforeEach(() => {
  temp = makeTempHome();
  paths = ensureHome(temp.home);
  createRustDatabase(paths.db);
});

afterEach(() => {
  temp.cleanup();
});

describe('a database the Rust binary created', () => {
  it('opens, works as an outbox, and keeps every Rust table, column, index and migration row as it was', async () => {
    const before = snapshot(paths.db);
    expect(before.outboxColumns.map((c) => (c as { name: string }).name)).toEqual(RUST_COLUMNS);

    const db = openDatabase(paths.db);
    try {
      const store = new OutboxStore(db);
      // The Rust rows are ours to deliver: the pending one and the stale claim come back, oldest first.
      const claim = store.claim(10);
      expect(claim.rows.map((r) => r.payloadJson)).toEqual(['{"rust":1}', '{"rust":2}']);
      expect(store.confirm(claim.rows[0]!.id, claim)).toBe(true);
      expect(store.fail(claim.rows[1]!.id, claim, 'HTTP 503', null)).toEqual({ kind: 'retrying', tries: 1 });
      expect(store.retryAbandoned().total).toBe(1);
      store.enqueue('observation', '{"ts":1}');
    } finally {
      db.close();
    }
    // mcp_query: any JSON is a row Rust would send, so the contract lets it through.
    await loadContract('mcp_query');
    expect(enqueue('mcp_query', '{"ts":2}', { env: { DIFFLORE_HOME: temp.home } }).kind).toBe('inserted');
    openDatabase(paths.db).close(); // opening again changes nothing more

    const after = snapshot(paths.db);
    expect(after.migrations).toEqual(before.migrations);
    expect(after.objects).toEqual(before.objects);
    expect(after.outboxColumns).toEqual(before.outboxColumns);
    expect(after.otherRows).toEqual(before.otherRows);

    const raw = new BetterSqlite3(paths.db, { readonly: true });
    try {
      // Only additions: new nullable columns after the Rust ones, our own table and indexes.
      const columns = raw.prepare('PRAGMA table_info(cloud_outbox)').all() as {
        name: string;
        notnull: number;
        dflt_value: unknown;
      }[];
      expect(columns.slice(0, RUST_COLUMNS.length).map((c) => c.name)).toEqual(RUST_COLUMNS);
      for (const added of columns.slice(RUST_COLUMNS.length)) {
        expect(added).toMatchObject({ notnull: 0, dflt_value: null });
      }
      expect(raw.prepare("SELECT value FROM difflore_ts_meta WHERE key = 'schema_version'").get()).toEqual({
        value: String(SCHEMA_VERSION),
      });
      expect(raw.prepare('SELECT COUNT(*) AS n FROM _sqlx_migrations').get()).toEqual({ n: 4 });
    } finally {
      raw.close();
    }
  });

  it('stays usable by the Rust binary: its enqueue, claim, mark-failed and confirm queries still work', () => {
    openDatabase(paths.db).close();
    const db = new BetterSqlite3(paths.db);
    try {
      const now = Date.now();
      // Rust's statements (reference/difflore-behaviour.md §2.3–§2.6), verbatim in shape.
      const id = Number(
        db
          .prepare(
            "INSERT INTO cloud_outbox (kind, payload_json, status, retry_count, created_at) VALUES (?, ?, 'pending', 0, ?)",
          )
          .run('observation', '{"from":"rust"}', now - 10_000).lastInsertRowid,
      );
      const claimed = db
        .prepare(
          `UPDATE cloud_outbox SET status = 'processing', claimed_at = @now
            WHERE id = (SELECT id FROM cloud_outbox
                         WHERE (status = 'pending' OR (status = 'processing' AND claimed_at IS NOT NULL AND claimed_at < @now - 60000))
                           AND (kind <> 'session_mined_candidate' OR (json_valid(payload_json)
                                AND LOWER(COALESCE(json_extract(payload_json, '$.localReview.status'), '')) = 'approved'))
                         ORDER BY created_at ASC, id ASC LIMIT 1)
            RETURNING id, kind, payload_json, retry_count`,
        )
        .get({ now }) as { id: number };
      expect(claimed.id).toBe(id);
      db.prepare(
        "UPDATE cloud_outbox SET status = 'pending', retry_count = 1, last_error = ?, claimed_at = NULL WHERE id = ?",
      ).run('HTTP 500', id);
      expect(db.prepare('DELETE FROM cloud_outbox WHERE id = ?').run(id).changes).toBe(1);
    } finally {
      db.close();
    }
  });

  it('migrates our own older schema forward and leaves a newer one alone', async () => {
    openDatabase(paths.db).close();
    const raw = new BetterSqlite3(paths.db);
    try {
      // What schema version 1 left: an index on claimed_at that version 2 drops.
      raw.exec('CREATE INDEX idx_difflore_outbox_claimed ON cloud_outbox(status, claimed_at)');
      raw.prepare("UPDATE difflore_ts_meta SET value = '1' WHERE key = 'schema_version'").run();
    } finally {
      raw.close();
    }
    openDatabase(paths.db).close();
    const check = new BetterSqlite3(paths.db);
    try {
      expect(check.prepare("SELECT name FROM sqlite_master WHERE name = 'idx_difflore_outbox_claimed'").get()).toBe(
        undefined,
      );
      expect(check.prepare("SELECT value FROM difflore_ts_meta WHERE key = 'schema_version'").get()).toEqual({
        value: String(SCHEMA_VERSION),
      });
      check.prepare("UPDATE difflore_ts_meta SET value = '99' WHERE key = 'schema_version'").run();
    } finally {
      check.close();
    }
    openDatabase(paths.db).close();
    await loadContract('mcp_query');
    expect(enqueue('mcp_query', '{}', { env: { DIFFLORE_HOME: temp.home } }).kind).toBe('inserted');
    const after = new BetterSqlite3(paths.db, { readonly: true });
    try {
      expect(after.prepare("SELECT value FROM difflore_ts_meta WHERE key = 'schema_version'").get()).toEqual({
        value: '99',
      });
    } finally {
      after.close();
    }
  });

  it('lets our store honour a row the Rust binary re-claimed: our stale lease no longer matches', () => {
    const db = openDatabase(paths.db);
    try {
      const store = new OutboxStore(db);
      const claim = store.claim(1);
      const id = claim.rows[0]!.id;
      // The Rust binary's claim rewrites claimed_at and knows nothing of lease_id.
      db.prepare("UPDATE cloud_outbox SET status = 'processing', claimed_at = ? WHERE id = ?").run(Date.now() + 1, id);
      expect(store.confirm(id, claim)).toBe(false);
      expect(store.fail(id, claim, 'late', null)).toEqual({ kind: 'lease_lost' });
    } finally {
      db.close();
    }
  });
});
