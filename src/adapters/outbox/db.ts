/**
 * Opening `data.db`: pragmas on every connection, files created 0600, and our additive schema.
 *
 * Compatibility with the Rust binary (reference/difflore-behaviour.md §2.1, §6.29): we create the
 * Rust `cloud_outbox` table only if it is missing, add nullable columns and indexes of our own, and
 * keep our schema version in `difflore_ts_meta`. We never touch `_sqlx_migrations` or an existing column.
 */
import { accessSync, chmodSync, constants, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { DiffloreError, errnoCode } from '../../errors.js';
import { checkHomeEntry } from '../home/home-files.js';

export type Database = BetterSqlite3.Database;

/**
 * Bump when `migrate` learns a new step; steps must leave the Rust schema as it is.
 * 1: nullable columns next_attempt_at, lease_id, abandoned_at; indexes on due time and claimed_at.
 * 2: drops our claimed_at index: the few processing rows are found through the Rust status index,
 *    and one index less makes every insert, claim and confirm cheaper.
 */
export const SCHEMA_VERSION = 2;

const require = createRequire(import.meta.filename);

let DatabaseCtor: typeof BetterSqlite3 | undefined;
function databaseCtor(): typeof BetterSqlite3 {
  DatabaseCtor ??= require('better-sqlite3') as typeof BetterSqlite3;
  return DatabaseCtor;
}

let addonPath: string | null | undefined;
/**
 * The addon's path, handed to better-sqlite3 so it skips `bindings`, whose search (a stack trace
 * and a dozen stat calls) costs the hook path about a millisecond. Null: let `bindings` search.
 */
function nativeBinding(): string | null {
  if (addonPath === undefined) {
    try {
      const candidate = join(
        dirname(require.resolve('better-sqlite3')),
        '..',
        'build',
        'Release',
        'better_sqlite3.node',
      );
      addonPath = existsSync(candidate) ? candidate : null;
    } catch {
      addonPath = null;
    }
  }
  return addonPath;
}

/** What the hook path needs from a connection: one insert, then close. */
export interface InsertConnection {
  insert(kind: string, payloadJson: string, createdAt: number): number;
  close(): void;
}

// The slice of better-sqlite3's native addon that `openForInsert` uses (lib/database.js, v12).
// Typed by the row the statement's SQL returns, as better-sqlite3's own `prepare<P, R>()` is.
interface NativeStatement<Row = unknown> {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): Row | undefined;
}
interface NativeDatabase {
  prepare<Row = unknown>(sql: string, owner: object, pragmaMode: boolean): NativeStatement<Row>;
  close(): void;
}
interface NativeAddon {
  Database: new (
    filename: string,
    filenameGiven: string,
    anonymous: boolean,
    readonly: boolean,
    fileMustExist: boolean,
    timeout: number,
    verbose: null,
    buffer: null,
  ) => NativeDatabase;
  setErrorConstructor(ctor: unknown): void;
  isInitialized?: boolean;
}

/** The better-sqlite3 major whose native constructor `openForInsert` was written against. */
const NATIVE_MAJOR = '12.';
let nativeAddonCache: NativeAddon | null | undefined;
function nativeAddon(): NativeAddon | null {
  if (nativeAddonCache !== undefined) return nativeAddonCache;
  nativeAddonCache = null;
  try {
    const binding = nativeBinding();
    if (binding === null) return null;
    // Paths from the addon's, read directly: each package lookup through require costs the hook path.
    const root = join(dirname(binding), '..', '..');
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    if (version.startsWith(NATIVE_MAJOR)) {
      const addon = require(binding) as NativeAddon;
      if (!addon.isInitialized) {
        // Exactly what better-sqlite3 does on first open, with its own error class (the same module
        // its wrapper loads), so errors look the same whichever path opened the connection.
        addon.setErrorConstructor(require(join(root, 'lib', 'sqlite-error.js')));
        addon.isInitialized = true;
      }
      nativeAddonCache = addon;
    }
  } catch {
    nativeAddonCache = null;
  }
  return nativeAddonCache;
}

const pauseCell = new Int32Array(new SharedArrayBuffer(4));
/** Lock-wait steps in ms: SQLite's own handler starts at 1 ms, ten times a drainer's claim. */
const LOCK_WAIT_STEPS = [0, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2];
const LOCK_WAIT_MAX_STEP = 5;

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code === 'SQLITE_LOCKED');
}

/**
 * Runs one autocommit write with SQLite's busy handler switched off and waits for the write lock
 * here instead, in steps from 20 µs up to 5 ms, for up to `timeoutMs` in all (the connection's
 * busy_timeout, restored afterwards). SQLite's handler sleeps at least 1 ms on its first retry, so
 * a producer that meets a drainer's 100–300 µs claim would wait several times longer than needed,
 * which is most of a hook's p99. A busy failure writes nothing, so retrying is safe.
 */
export function withShortLockWaits<T>(setBusyTimeout: (ms: number) => void, timeoutMs: number, write: () => T): T {
  setBusyTimeout(0);
  try {
    const deadline = performance.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return write();
      } catch (error) {
        const left = deadline - performance.now();
        if (!isBusy(error) || left <= 0) throw error;
        const step = Math.min(LOCK_WAIT_STEPS[attempt] ?? LOCK_WAIT_MAX_STEP, left);
        if (step > 0) Atomics.wait(pauseCell, 0, 0, step);
      }
    }
  } finally {
    setBusyTimeout(timeoutMs);
  }
}

const SCHEMA_VERSION_SQL = "SELECT value FROM difflore_ts_meta WHERE key = 'schema_version'";

/**
 * The daemon owns checkpoints: its connection keeps SQLite's default (a passive checkpoint once the
 * WAL passes 1,000 pages, run in its own commit, after it has drained), and producers — hooks,
 * `difflore enqueue`, in-process enqueuers — only checkpoint past this many pages (about 40 MB at
 * 4 KiB pages), a safety net for a home where no daemon runs. Otherwise the producer whose commit
 * crosses the threshold pays for copying the WAL back (milliseconds: the enqueue p99).
 */
export const PRODUCER_AUTOCHECKPOINT_PAGES = 10_000;
const PRODUCER_CHECKPOINT_PRAGMA = `wal_autocheckpoint = ${PRODUCER_AUTOCHECKPOINT_PAGES}`;

/**
 * Opens `data.db` for the hook's single insert, with the same pragmas as `openDatabase`.
 *
 * An existing database already at our schema version is opened through better-sqlite3's native
 * addon directly: its JavaScript wrapper is a dozen CommonJS modules whose loading costs a
 * `difflore enqueue` process more than all of its SQLite work. Anything else (no database yet, a
 * schema to migrate, an addon version this was not written for, an unexpected failure) takes the
 * ordinary `openDatabase` path, so correctness never depends on the shortcut.
 */
export function openForInsert(path: string, options: { busyTimeoutMs?: number } = {}): InsertConnection {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  const addon = checkDatabaseFiles(path) ? nativeAddon() : null;
  if (addon !== null) {
    const previousUmask = setPrivateUmask();
    let native: NativeDatabase | undefined;
    try {
      native = new addon.Database(path, path, false, false, false, busyTimeoutMs, null, null);
      const owner = {};
      native.prepare('PRAGMA journal_mode = WAL', owner, true).get();
      native.prepare('PRAGMA synchronous = NORMAL', owner, true).get();
      native.prepare('PRAGMA foreign_keys = ON', owner, true).get();
      native.prepare(`PRAGMA ${PRODUCER_CHECKPOINT_PRAGMA}`, owner, true).get();
      const row = native.prepare<{ value: string }>(SCHEMA_VERSION_SQL, owner, false).get();
      if (row !== undefined && Number(row.value) >= SCHEMA_VERSION) {
        const insert = native.prepare(INSERT_SQL, owner, false);
        const busyOff = native.prepare('PRAGMA busy_timeout = 0', owner, true);
        const busyOn = native.prepare(`PRAGMA busy_timeout = ${busyTimeoutMs}`, owner, true);
        const setBusy = (ms: number): unknown => (ms === 0 ? busyOff : busyOn).get();
        const db = native;
        return {
          insert: (kind, payloadJson, createdAt) =>
            withShortLockWaits(setBusy, busyTimeoutMs, () =>
              Number(insert.run(kind, payloadJson, createdAt).lastInsertRowid),
            ),
          close: () => db.close(),
        };
      }
      native.close(); // not at our version yet: openDatabase migrates it
    } catch (error) {
      native?.close();
      // A lock would only be waited for twice; anything else (no meta table in a Rust-only
      // database, say) is for openDatabase to handle or to report.
      const code = (error as { code?: unknown }).code;
      if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') throw databaseError(path, error);
    } finally {
      restoreUmask(previousUmask, path);
    }
  }
  const db = openDatabase(path, {
    producer: true,
    ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs }),
  });
  const setBusy = (ms: number): unknown => db.pragma(`busy_timeout = ${ms}`);
  return {
    insert: (kind, payloadJson, createdAt) =>
      withShortLockWaits(setBusy, busyTimeoutMs, () => insertRow(db, kind, payloadJson, createdAt)),
    close: () => db.close(),
  };
}

export interface OpenOptions {
  readonly readonly?: boolean;
  /** busy_timeout in ms; 5000 by default as in Rust. */
  readonly busyTimeoutMs?: number;
  /** A connection that only adds rows: it leaves checkpoints to the daemon (PRODUCER_AUTOCHECKPOINT_PAGES). */
  readonly producer?: boolean;
}

/**
 * Opens (creating if needed) the database at `path` with WAL, synchronous=NORMAL,
 * busy_timeout and foreign_keys, and brings our additive schema up to date.
 */
export function openDatabase(path: string, options: OpenOptions = {}): Database {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  // The home-files rule before SQLite sees the path (it would follow a link): readers too.
  const exists = checkDatabaseFiles(path);
  const creating = !options.readonly && !exists;
  // SQLite opens a file it cannot write read-only without a word, and every write then fails: a
  // daemon would start and fail every pass. Say so at open instead.
  if (!options.readonly && exists) checkWritable(path);
  // SQLite creates -wal and -shm with the database file's mode; a 077 umask makes all three 0600
  // from their first byte instead of chmod-ing after a window in which they are readable.
  const previousUmask = setPrivateUmask();
  let db: Database | undefined;
  try {
    const Ctor = databaseCtor();
    const addon = nativeBinding();
    db = new Ctor(path, {
      readonly: options.readonly ?? false,
      fileMustExist: options.readonly ?? false,
      timeout: busyTimeoutMs,
      ...(addon === null ? {} : { nativeBinding: addon }),
    });
    if (!options.readonly) db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    if (options.producer === true && !options.readonly) db.pragma(PRODUCER_CHECKPOINT_PRAGMA);
    if (!options.readonly) migrate(db, creating);
    return db;
  } catch (error) {
    db?.close();
    throw databaseError(path, error);
  } finally {
    restoreUmask(previousUmask, path);
  }
}

/**
 * The home-files rule for the database, by name since SQLite opens the files itself (and follows
 * links): `data.db`, `-wal` and `-shm` must each be missing or a regular file of ours. Throws
 * `unsafe_file` otherwise; returns whether `data.db` exists.
 */
export function checkDatabaseFiles(path: string): boolean {
  const exists = checkHomeEntry(path) === 'ok';
  checkHomeEntry(`${path}-wal`);
  checkHomeEntry(`${path}-shm`);
  return exists;
}

/** Throws `db_unavailable` if `data.db` (or its directory, where -wal and -shm live) cannot be written. */
export function checkWritable(path: string): void {
  for (const target of [path, dirname(path)]) {
    try {
      accessSync(target, constants.W_OK);
    } catch (error) {
      throw new DiffloreError(
        'db_unavailable',
        `cannot write ${path}: ${target} is read-only (${errnoCode(error) ?? 'no access'}).`,
        {
          hint: 'make it writable again (a read-only mount or chmod?), or set DIFFLORE_HOME to a writable directory; rows spill to disk until then',
          cause: error,
        },
      );
    }
  }
}

/** Sets a 077 umask and returns the previous one, or null where it cannot be set (worker threads). */
function setPrivateUmask(): number | null {
  try {
    return process.umask(0o077);
  } catch {
    return null;
  }
}

/** Restores the umask; where none could be set, tightens the files SQLite made to 0600 instead. */
function restoreUmask(previous: number | null, path: string): void {
  if (previous !== null) {
    process.umask(previous);
    return;
  }
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      chmodSync(file, 0o600);
    } catch {
      // absent (no WAL yet) or not ours to change: nothing more to do
    }
  }
}

/** Turns a SQLite failure into an error that says what to do. */
export function databaseError(path: string, error: unknown): DiffloreError {
  if (error instanceof DiffloreError) return error;
  const code = (error as { code?: string }).code ?? '';
  const message = (error as Error).message ?? String(error);
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new DiffloreError('db_unavailable', `${path} is locked by another process: ${message}`, {
      hint: 'retry in a moment; if it persists, find the process holding it (fuser data.db)',
      cause: error,
    });
  }
  if (code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN' || /read-?only|unable to open/i.test(message)) {
    return new DiffloreError('db_unavailable', `cannot write ${path}: ${message}`, {
      hint: 'the data home looks read-only (a sandboxed agent?); set DIFFLORE_HOME to a writable directory',
      cause: error,
    });
  }
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
    return new DiffloreError('db_unavailable', `${path} is not a usable SQLite database: ${message}`, {
      hint: 'move it aside (mv data.db data.db.broken) and run the command again; rows will spill until then',
      cause: error,
    });
  }
  return new DiffloreError('db_unavailable', `database error on ${path}: ${message}`, { cause: error });
}

const INSERT_SQL =
  "INSERT INTO cloud_outbox (kind, payload_json, status, retry_count, created_at) VALUES (?, ?, 'pending', 0, ?)";

/**
 * Inserts one pending row and returns its id. Lives here rather than in the store so the hook path
 * prepares exactly one statement and loads one module less; OutboxStore uses the same SQL.
 */
export function insertRow(db: Database, kind: string, payloadJson: string, createdAt: number): number {
  return Number(db.prepare<[string, string, number]>(INSERT_SQL).run(kind, payloadJson, createdAt).lastInsertRowid);
}

export { INSERT_SQL };

function migrate(db: Database, creating: boolean): void {
  const current = creating ? undefined : currentSchemaVersion(db);
  // A newer version of this program migrated it already; its schema is a superset of ours.
  if (current !== undefined && current >= SCHEMA_VERSION) return;
  db.transaction(() => {
    // The Rust table exactly as its first migration creates it: the binary must find it unchanged.
    db.exec(`
      CREATE TABLE IF NOT EXISTS cloud_outbox (
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
      CREATE INDEX IF NOT EXISTS idx_cloud_outbox_status_created ON cloud_outbox(status, created_at);
      CREATE TABLE IF NOT EXISTS difflore_ts_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
    const columns = new Set(
      db
        .prepare<[], { name: string }>('PRAGMA table_info(cloud_outbox)')
        .all()
        .map((c) => c.name),
    );
    // Additive, nullable columns only (DESIGN §5.1). NULL means "as the Rust binary would treat it".
    const additions: [string, string][] = [
      ['next_attempt_at', 'INTEGER'], // unix ms before which a pending row is not due; NULL = due now
      ['lease_id', 'TEXT'], // the claimer's lease; confirm/fail act only while it matches
      ['abandoned_at', 'INTEGER'], // unix ms the row was abandoned (Rust keys --older-than on created_at)
    ];
    for (const [name, type] of additions) {
      if (!columns.has(name)) db.exec(`ALTER TABLE cloud_outbox ADD COLUMN ${name} ${type}`);
    }
    // Claim order: pending rows by due time. The expression must match the claim query's exactly.
    db.exec(`
      CREATE INDEX IF NOT EXISTS idx_difflore_outbox_due
        ON cloud_outbox(status, COALESCE(next_attempt_at, created_at), id);
      DROP INDEX IF EXISTS idx_difflore_outbox_claimed;
    `);
    db.prepare(
      `INSERT INTO difflore_ts_meta(key, value) VALUES ('schema_version', ?)
       ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
    ).run(String(SCHEMA_VERSION));
  }).immediate();
}

function currentSchemaVersion(db: Database): number | undefined {
  try {
    const row = db.prepare<[], { value: string }>(SCHEMA_VERSION_SQL).get();
    return row ? Number(row.value) : undefined;
  } catch {
    return undefined; // no meta table yet: a fresh or Rust-only database
  }
}
