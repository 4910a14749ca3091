/**
 * What `difflore doctor` looks at, gathered in one read-only sweep of the data home: the daemon's
 * liveness and state file, the outbox counts, spill files, token, cloud URL, and the modes of the
 * home and its files. Owns the gathering only; `checks.ts` judges. Never creates, removes or
 * signals anything: a missing home or database is reported as missing.
 */
import { lstatSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readCloudToken, type TokenResult, type TokenSource } from '../../adapters/delivery/cloud-config.js';
import { resolveCloudUrl } from '../../adapters/delivery/cloud-url.js';
import { checkWritable, type Database, openDatabase, SCHEMA_VERSION } from '../../adapters/outbox/db.js';
import { AWAITING_APPROVAL_SQL, SENDABLE_SQL, UNKNOWN_KIND_SQL } from '../../adapters/outbox/outbox-store.js';
import { type HomePaths, homePaths } from '../../adapters/home/home.js';
import { type SpillStats, spillStats } from '../../adapters/outbox/spill.js';
import { DiffloreError, describeErrorLine, errnoCode } from '../../errors.js';
import { type DaemonStatusReport, daemonStatus, readBacklog } from '../daemon-status.js';
import { reasonPrefix } from './format.js';

/** A file in the home as lstat sees it. */
export interface FileFact {
  /** Short name for people (`data.db`, `daemon.pid`). */
  readonly name: string;
  readonly path: string;
  readonly type: 'file' | 'symlink' | 'directory' | 'other';
  /** Permission bits (mode & 0o777). */
  readonly mode: number;
  /** Owned by another user than the one running doctor. */
  readonly foreignOwner: boolean;
  /** Where a symlink points, for the message. */
  readonly target?: string;
  /** Pid, lock and state files must never be links (DESIGN §6); other files just should not be. */
  readonly mustNotBeLink: boolean;
  /** Holds rows, tokens or history: should be 0600. */
  readonly private: boolean;
  /** A directory belongs here (logs/, the spill directories), not a file. */
  readonly directory?: true;
}

export type HomeFact =
  | { readonly exists: false }
  | {
      readonly exists: true;
      readonly type: 'directory' | 'symlink' | 'other';
      readonly mode: number;
      readonly foreignOwner: boolean;
      readonly target?: string;
    };

export interface AbandonedGroup {
  /** The start of `last_error` that rows share (`track_mcp_query: 400 Bad Request`). */
  readonly reason: string;
  readonly count: number;
  readonly kinds: readonly string[];
}

export type DatabaseFact =
  | { readonly kind: 'missing' }
  | { readonly kind: 'error'; readonly message: string; readonly hint: string | null }
  | {
      readonly kind: 'ok';
      /** Our schema version from `difflore_ts_meta`; null for a database only the Rust binary has written. */
      readonly schemaVersion: number | null;
      /** The schema version this build writes. */
      readonly currentSchemaVersion: number;
      /** `_sqlx_migrations` exists: the Rust binary shares this database. */
      readonly sharedWithRust: boolean;
      readonly pending: number;
      readonly processing: number;
      readonly abandoned: number;
      /** Pending rows a drainer may send, by kind. */
      readonly pendingByKind: Readonly<Record<string, number>>;
      /** Pending mined candidates that wait for a human (never sent until approved). */
      readonly awaitingApproval: number;
      /** Pending rows of kinds this version does not know (a newer difflore sends them), by kind. */
      readonly unknownKinds: Readonly<Record<string, number>>;
      readonly oldestPendingAtMs: number | null;
      readonly abandonedGroups: readonly AbandonedGroup[];
      /** Rows abandoned within ABANDONED_RECENT_MS (by our `abandoned_at`; Rust-abandoned rows have none). */
      readonly abandonedRecently: number;
    };

export type TokenFact =
  | { readonly kind: 'token'; readonly source: TokenSource }
  | { readonly kind: 'none' }
  | { readonly kind: 'refused'; readonly message: string };

export type CloudUrlFact =
  | { readonly ok: true; readonly url: string; readonly configured: boolean }
  | { readonly ok: false; readonly message: string; readonly hint: string | null };

export interface DoctorFacts {
  readonly nowMs: number;
  /** How long delivery may be blocked before the delivery check fails (`doctor --grace`). */
  readonly deliveryGraceMs: number;
  readonly paths: HomePaths;
  readonly home: HomeFact;
  readonly files: readonly FileFact[];
  /** What `difflore daemon status` reports (with its backlog: the delivery summary counts waiting rows). */
  readonly daemon: DaemonStatusReport;
  readonly database: DatabaseFact;
  readonly spill: SpillStats | { readonly error: string };
  readonly token: TokenFact;
  readonly cloudUrl: CloudUrlFact;
}

const GROUPS_SHOWN = 8;

/** Rows abandoned more recently than this make the `abandoned` check fail rather than warn. */
export const ABANDONED_RECENT_MS = 24 * 60 * 60_000;
/** Delivery may be blocked this long before `doctor` fails (a blip is not a problem): `--grace`. */
export const DELIVERY_GRACE_MS = 60_000;

/**
 * Everything doctor reports on, for the home `home` as seen from `env`. `token` is the token lookup
 * done beforehand (it may ask the OS keyring, which takes a wait); without it the keyring is not asked.
 */
export function gatherFacts(
  home: string,
  env: NodeJS.ProcessEnv,
  nowMs: number = Date.now(),
  token?: TokenResult,
  deliveryGraceMs: number = DELIVERY_GRACE_MS,
): DoctorFacts {
  const paths = homePaths(home);
  const homeFact = inspectHome(home);
  const exists = homeFact.exists;
  return {
    nowMs,
    deliveryGraceMs,
    paths,
    home: homeFact,
    files: exists ? inspectFiles(paths) : [],
    daemon: daemonStatus(paths, {
      env,
      now: nowMs,
      ...(token === undefined ? {} : { token }),
      ...(exists ? { backlog: readBacklog } : {}),
    }),
    database: exists ? inspectDatabase(paths, nowMs) : { kind: 'missing' },
    spill: exists ? inspectSpill(paths) : emptySpill(paths),
    token: inspectToken(paths, env, token),
    cloudUrl: inspectCloudUrl(env),
  };
}

function uid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined;
}

function inspectHome(home: string): HomeFact {
  try {
    const stat = lstatSync(home);
    const me = uid();
    const foreignOwner = me !== undefined && stat.uid !== me;
    if (stat.isSymbolicLink()) {
      // A linked home is allowed (dotfiles repos); judge the directory it points to.
      let target: string | undefined;
      try {
        target = readlinkSync(home);
      } catch {
        target = undefined;
      }
      let mode = 0;
      try {
        mode = statSync(home).mode & 0o777;
      } catch {
        mode = 0; // a dangling link: the checks say so through the mode-less fact
      }
      return {
        exists: true,
        type: 'symlink',
        mode,
        foreignOwner,
        ...(target === undefined ? {} : { target }),
      };
    }
    return { exists: true, type: stat.isDirectory() ? 'directory' : 'other', mode: stat.mode & 0o777, foreignOwner };
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { exists: false };
    return { exists: true, type: 'other', mode: 0, foreignOwner: false };
  }
}

function inspectFiles(paths: HomePaths): FileFact[] {
  const me = uid();
  const candidates: { name: string; path: string; mustNotBeLink: boolean; private: boolean; directory?: true }[] = [
    // Directories first: a link there would take the logs or the spill files somewhere else.
    { name: 'logs/', path: paths.logsDir, mustNotBeLink: true, private: false, directory: true },
    { name: 'hook-spill/', path: paths.spillDir, mustNotBeLink: true, private: false, directory: true },
    {
      name: 'hook-spill/observations/',
      path: paths.observationSpillDir,
      mustNotBeLink: true,
      private: false,
      directory: true,
    },
    { name: 'hook-spill/outbox/', path: paths.otherSpillDir, mustNotBeLink: true, private: false, directory: true },
    { name: 'daemon.pid', path: paths.pidFile, mustNotBeLink: true, private: false },
    { name: 'daemon.pid.lock', path: paths.claimLock, mustNotBeLink: true, private: false },
    { name: 'daemon.lock', path: paths.lifetimeLock, mustNotBeLink: true, private: false },
    { name: 'daemon-state.json', path: paths.stateFile, mustNotBeLink: true, private: true },
    { name: 'daemon-journal.jsonl', path: paths.journal, mustNotBeLink: true, private: true },
    { name: 'data.db', path: paths.db, mustNotBeLink: true, private: true },
    { name: 'data.db-wal', path: `${paths.db}-wal`, mustNotBeLink: true, private: true },
    { name: 'data.db-shm', path: `${paths.db}-shm`, mustNotBeLink: true, private: true },
    { name: 'cloud-token', path: paths.tokenFile, mustNotBeLink: true, private: true },
    // The Rust binary's login and its local key seed: read (never through a link), never created here.
    { name: 'cloud-auth.db', path: join(paths.home, 'cloud-auth.db'), mustNotBeLink: true, private: true },
    { name: 'keyseed', path: join(paths.home, 'keyseed'), mustNotBeLink: true, private: true },
    { name: 'outbox-drain-state.json', path: paths.drainState, mustNotBeLink: true, private: false },
    { name: 'logs/daemon.log', path: paths.daemonLog, mustNotBeLink: true, private: true },
    { name: 'logs/hook.log', path: join(paths.logsDir, 'hook.log'), mustNotBeLink: true, private: true },
  ];
  const facts: FileFact[] = [];
  for (const c of candidates) {
    let stat: ReturnType<typeof lstatSync>;
    try {
      stat = lstatSync(c.path);
    } catch {
      continue; // missing (or unreadable directory): nothing to judge
    }
    const type = stat.isSymbolicLink()
      ? 'symlink'
      : stat.isFile()
        ? 'file'
        : stat.isDirectory()
          ? 'directory'
          : 'other';
    let target: string | undefined;
    if (type === 'symlink') {
      try {
        target = readlinkSync(c.path);
      } catch {
        target = undefined;
      }
    }
    facts.push({
      ...c,
      type,
      mode: stat.mode & 0o777,
      foreignOwner: me !== undefined && stat.uid !== me,
      ...(target === undefined ? {} : { target }),
    });
  }
  return facts;
}

type OkDatabase = Extract<DatabaseFact, { kind: 'ok' }>;

function inspectDatabase(paths: HomePaths, nowMs: number): DatabaseFact {
  try {
    lstatSync(paths.db);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { kind: 'missing' };
  }
  const db = openToInspect(paths);
  if (!('prepare' in db)) return db;
  try {
    const tables = new Set(
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map(
        (t) => t.name,
      ),
    );
    const base = {
      kind: 'ok' as const,
      schemaVersion: tables.has('difflore_ts_meta') ? schemaVersionOf(db) : null,
      currentSchemaVersion: SCHEMA_VERSION,
      sharedWithRust: tables.has('_sqlx_migrations'),
    };
    return { ...base, ...(tables.has('cloud_outbox') ? outboxFacts(db, nowMs) : EMPTY_OUTBOX) };
  } catch (error) {
    return { kind: 'error', message: `cannot read ${paths.db}: ${(error as Error).message}`, hint: null };
  } finally {
    db.close();
  }
}

/** The database opened read-only and found writable, or the error fact that says why not. */
function openToInspect(paths: HomePaths): Database | DatabaseFact {
  try {
    // Read-only: looking must not migrate, and a database only the Rust binary wrote stays as it is.
    const db = openDatabase(paths.db, { readonly: true, busyTimeoutMs: 2000 });
    try {
      // Readable is not enough: every producer and pass writes. A read-only data.db fails them all.
      checkWritable(paths.db);
    } catch (error) {
      db.close();
      throw error;
    }
    return db;
  } catch (error) {
    return {
      kind: 'error',
      message: error instanceof Error ? error.message : String(error),
      hint: error instanceof DiffloreError ? (error.hint ?? null) : null,
    };
  }
}

function schemaVersionOf(db: Database): number | null {
  const row = db.prepare("SELECT value FROM difflore_ts_meta WHERE key = 'schema_version'").get() as
    | { value: string }
    | undefined;
  return row === undefined ? null : Number(row.value);
}

type OutboxFacts = Omit<OkDatabase, 'kind' | 'schemaVersion' | 'currentSchemaVersion' | 'sharedWithRust'>;

/** A database without the outbox table (yet): nothing queued. */
const EMPTY_OUTBOX: OutboxFacts = {
  pending: 0,
  processing: 0,
  abandoned: 0,
  pendingByKind: {},
  awaitingApproval: 0,
  unknownKinds: {},
  oldestPendingAtMs: null,
  abandonedGroups: [],
  abandonedRecently: 0,
};

function outboxFacts(db: Database, nowMs: number): OutboxFacts {
  const counts = { pending: 0, processing: 0, abandoned: 0 };
  for (const row of db.prepare('SELECT status, COUNT(*) AS n FROM cloud_outbox GROUP BY status').all() as {
    status: string;
    n: number;
  }[]) {
    if (row.status === 'pending' || row.status === 'processing' || row.status === 'abandoned') {
      counts[row.status] = row.n;
    }
  }
  const pendingByKind = pendingCountsByKind(db, SENDABLE_SQL);
  const awaitingApproval = (
    db
      .prepare(`SELECT COUNT(*) AS n FROM cloud_outbox WHERE status = 'pending' AND ${AWAITING_APPROVAL_SQL}`)
      .get() as { n: number }
  ).n;
  const unknownKinds = pendingCountsByKind(db, UNKNOWN_KIND_SQL);
  const oldest = (
    db
      .prepare(`SELECT MIN(created_at) AS oldest FROM cloud_outbox WHERE status = 'pending' AND ${SENDABLE_SQL}`)
      .get() as { oldest: number | null }
  ).oldest;
  return {
    ...counts,
    pendingByKind,
    awaitingApproval,
    unknownKinds,
    oldestPendingAtMs: oldest,
    abandonedGroups: abandonedGroups(db),
    abandonedRecently: counts.abandoned === 0 ? 0 : abandonedSince(db, nowMs - ABANDONED_RECENT_MS),
  };
}

/** Abandoned rows grouped by the start of their error, largest groups first (at most GROUPS_SHOWN). */
function abandonedGroups(db: Database): AbandonedGroup[] {
  // Group in SQL by the first 120 characters (bounded work on a large table), then by prefix here.
  const raw = db
    .prepare(
      `SELECT substr(last_error, 1, 120) AS e, kind, COUNT(*) AS n FROM cloud_outbox
        WHERE status = 'abandoned' GROUP BY e, kind ORDER BY n DESC LIMIT 2000`,
    )
    .all() as { e: string | null; kind: string; n: number }[];
  const groups = new Map<string, { count: number; kinds: Set<string> }>();
  for (const row of raw) {
    const reason = reasonPrefix(row.e);
    const group = groups.get(reason) ?? { count: 0, kinds: new Set<string>() };
    group.count += row.n;
    group.kinds.add(row.kind);
    groups.set(reason, group);
  }
  return [...groups.entries()]
    .map(([reason, g]) => ({ reason, count: g.count, kinds: [...g.kinds].sort() }))
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason))
    .slice(0, GROUPS_SHOWN);
}

/** How many pending rows of each kind `condition` (an SQL expression) selects, by kind. */
function pendingCountsByKind(db: Database, condition: string): Record<string, number> {
  const counts: Record<string, number> = {};
  const rows = db
    .prepare(
      `SELECT kind, COUNT(*) AS n FROM cloud_outbox WHERE status = 'pending' AND ${condition}
        GROUP BY kind ORDER BY kind`,
    )
    .all() as { kind: string; n: number }[];
  for (const row of rows) counts[row.kind] = row.n;
  return counts;
}

/** Rows abandoned at or after `since`; 0 for a schema without `abandoned_at` (only Rust has written it). */
function abandonedSince(db: Database, since: number): number {
  try {
    const row = db
      .prepare(`SELECT COUNT(*) AS n FROM cloud_outbox WHERE status = 'abandoned' AND abandoned_at >= ?`)
      .get(since) as { n: number };
    return row.n;
  } catch {
    return 0;
  }
}

function emptySpill(paths: HomePaths): SpillStats {
  return {
    count: 0,
    bytes: 0,
    newestError: null,
    oldestCreatedAtMs: null,
    newestCreatedAtMs: null,
    bad: 0,
    path: paths.spillDir,
  };
}

function inspectSpill(paths: HomePaths): SpillStats | { error: string } {
  try {
    return spillStats(paths);
  } catch (error) {
    return { error: describeErrorLine(error) };
  }
}

function inspectToken(paths: HomePaths, env: NodeJS.ProcessEnv, known: TokenResult | undefined): TokenFact {
  try {
    const token = known ?? readCloudToken(paths, env);
    // The token itself never leaves this function.
    if (token.kind === 'token') return { kind: 'token', source: token.source };
    return token;
  } catch (error) {
    return { kind: 'refused', message: describeErrorLine(error) };
  }
}

function inspectCloudUrl(env: NodeJS.ProcessEnv): CloudUrlFact {
  try {
    return { ok: true, url: resolveCloudUrl(env), configured: Boolean(env.DIFFLORE_CLOUD_URL?.trim()) };
  } catch (error) {
    return {
      ok: false,
      message: error instanceof Error ? error.message : String(error),
      hint: error instanceof DiffloreError ? (error.hint ?? null) : null,
    };
  }
}
