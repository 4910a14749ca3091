/**
 * The outbox store: every read and write of `cloud_outbox`, synchronous, statements prepared once.
 *
 * Leases: a claim stamps `claimed_at` and a fresh `lease_id`; confirm, fail, release and abandon act
 * only while both still match, so a slow claimer cannot delete or reset a row that someone else
 * (including the Rust binary, which rewrites `claimed_at`) has re-claimed since.
 *
 * A store opened with a `leaseOwner` stamps `lease_id = <owner>/<uuid>`, so the rows a claimer holds
 * can be named later: when that claimer is proven dead, `releaseLeasesOf(owner)` hands its rows back
 * at once instead of leaving them to the lease timeout. Deciding that an owner is dead is the caller's
 * business; this module only matches the prefix.
 */
import type { ProcessIdentity } from '../../machines/types.js';
import { DiffloreError } from '../../errors.js';
import { KNOWN_KINDS } from '../../machines/contracts/index.js';
import { type Database, INSERT_SQL, insertRow, withShortLockWaits } from './db.js';
import { MAX_TRIES } from '../../machines/delivery-policy.js';

/** The try budget is the policy's (machines/delivery-policy.ts); the store applies it in SQL. */
export { MAX_TRIES } from '../../machines/delivery-policy.js';
export const DEFAULT_LEASE_MS = 60_000;
export const MAX_ERROR_CHARS = 2048;

export type OutboxStatus = 'pending' | 'processing' | 'abandoned';

export interface ClaimedRow {
  readonly id: number;
  readonly kind: string;
  readonly payloadJson: string;
  readonly retryCount: number;
  readonly createdAt: number;
}

export interface Lease {
  readonly leaseId: string;
  readonly claimedAt: number;
}

export interface Claim extends Lease {
  readonly rows: readonly ClaimedRow[];
}

export interface OutboxRow {
  readonly id: number;
  readonly kind: string;
  readonly payloadJson: string;
  readonly status: string;
  readonly retryCount: number;
  readonly createdAt: number;
  readonly claimedAt: number | null;
  readonly nextAttemptAt: number | null;
  readonly abandonedAt: number | null;
  readonly lastError: string | null;
}

export interface StatusCounts {
  readonly pending: number;
  readonly processing: number;
  readonly abandoned: number;
}

/** What happened to a failed row: it waits for another try, or it has used its last one. */
export type FailOutcome =
  | { kind: 'retrying'; tries: number }
  | { kind: 'abandoned'; tries: number }
  | { kind: 'lease_lost' };

/** Every outcome of one delivered claim, for `settle` to apply together. */
export interface SettlePlan {
  /** Delivered (or duplicates): deleted. */
  readonly confirm: readonly number[];
  /** Failed: one try spent, due again at `at` (unix ms), or abandoned when it was the last try. */
  readonly retry: readonly { readonly id: number; readonly error: string; readonly at: number }[];
  /** Refused for good (a payload Rust could never send, a definite no): abandoned with the reason. */
  readonly abandon: readonly { readonly id: number; readonly error: string }[];
  /** Claimed but not tried (cancelled, token refused, breaker opened): back to pending, no try spent. */
  readonly release: readonly number[];
  /** Replaces last_error of the released rows when not null. */
  readonly releaseNote: string | null;
}

/** What `settle` did; a row whose lease was lost (someone re-claimed it) counts nowhere. */
export interface SettleCounts {
  readonly confirmed: number;
  readonly retried: number;
  readonly abandoned: number;
  readonly released: number;
}

export interface KindCount {
  readonly kind: string;
  readonly count: number;
}

export interface BulkResult {
  readonly total: number;
  readonly byKind: readonly KindCount[];
  readonly dryRun: boolean;
}

export interface BulkFilter {
  readonly kind?: string;
  /** Only rows abandoned (or, for Rust-abandoned rows, created) before this unix ms. */
  readonly before?: number;
  readonly dryRun?: boolean;
}

/** SQL list of the kinds this version knows (kind names are `[a-z][a-z0-9_]*`, safe to inline). */
const KNOWN_KIND_LIST = `(${KNOWN_KINDS.map((k) => `'${k}'`).join(', ')})`;
/** SQL: a kind this version does not know. Such rows stay pending for a newer version (never claimed). */
export const UNKNOWN_KIND_SQL = `(kind NOT IN ${KNOWN_KIND_LIST})`;
/** SQL: a mined candidate that waits for a human's approval (never sent until then, as in Rust). */
export const AWAITING_APPROVAL_SQL = `(kind = 'session_mined_candidate' AND NOT (json_valid(payload_json)
  AND lower(coalesce(json_extract(payload_json, '$.localReview.status'), '')) = 'approved'))`;
/** SQL that is true for rows a drainer may send: a known kind, and not a candidate awaiting approval. */
export const SENDABLE_SQL = `(kind IN ${KNOWN_KIND_LIST} AND NOT ${AWAITING_APPROVAL_SQL})`;
const SENDABLE = SENDABLE_SQL;
export const DUE_AT = 'COALESCE(next_attempt_at, created_at)';
/** When a Rust-abandoned row has no abandoned_at, fall back as Rust does. */
const ABANDONED_AT = 'COALESCE(abandoned_at, claimed_at, created_at)';

export function truncateError(text: string): string {
  const chars = Array.from(text);
  return chars.length <= MAX_ERROR_CHARS ? text : chars.slice(0, MAX_ERROR_CHARS).join('');
}

/** Re-exported for callers that imported it from here; the hook path takes it from db.ts. */
export { insertRow };

/** Separates the owner from the random part of a lease id; an owner never contains it. */
const LEASE_OWNER_END = '/';

/**
 * The lease owner for a process: `pid:bootId:startTime`, the same triple the identity check compares,
 * so an owner named in a lease can be proven dead later. `null` when the process has no start time
 * (a platform without /proc or ps): such an owner could never be told apart from a later process
 * with the same pid, so its leases stay anonymous and only expire.
 */
export function leaseOwnerFor(identity: ProcessIdentity): string | null {
  if (identity.startTime === null) return null;
  const owner = `${identity.pid}:${identity.bootId ?? ''}:${identity.startTime}`;
  return owner.includes(LEASE_OWNER_END) ? owner.replaceAll(LEASE_OWNER_END, '_') : owner;
}

function checkOwner(owner: string): string {
  if (owner === '' || owner.includes(LEASE_OWNER_END)) {
    throw new DiffloreError('internal', `invalid lease owner ${JSON.stringify(owner)}: empty or containing '/'`);
  }
  return owner;
}

/** The store's SQL, one statement per entry (prepared once per connection in prepareStatements). */
const SQL = {
  expireLeases: `UPDATE cloud_outbox SET status = 'pending', claimed_at = NULL, lease_id = NULL
          WHERE status = 'processing' AND claimed_at IS NOT NULL AND claimed_at < ?`,
  // Anything to claim at all? Read without the write lock (see claim).
  claimable: `SELECT 1 AS yes
          WHERE EXISTS (SELECT 1 FROM cloud_outbox
                         WHERE status = 'pending' AND ${DUE_AT} <= @now AND ${SENDABLE}
                           AND (@kind IS NULL OR kind = @kind))
             OR EXISTS (SELECT 1 FROM cloud_outbox
                         WHERE status = 'processing' AND claimed_at IS NOT NULL AND claimed_at < @staleBefore)`,
  selectDue: `SELECT id, kind, payload_json AS payloadJson, retry_count AS retryCount, created_at AS createdAt
           FROM cloud_outbox
          WHERE status = 'pending' AND ${DUE_AT} <= @now AND ${SENDABLE} AND (@kind IS NULL OR kind = @kind)
          ORDER BY ${DUE_AT}, id LIMIT @limit`,
  // `+status`: look the ids up by rowid. Without it SQLite walks every pending row of the status
  // index and filters them by the id list, so each claim cost O(pending): draining a 1M-row
  // backlog ran at ~1,800 rows/s instead of the ~15,000 of a 100k one.
  markClaimed: `UPDATE cloud_outbox SET status = 'processing', claimed_at = @now, lease_id = @lease
          WHERE id IN (SELECT value FROM json_each(@ids)) AND +status = 'pending'`,
  confirm: `DELETE FROM cloud_outbox WHERE id = ? AND lease_id = ? AND claimed_at = ? AND status = 'processing'`,
  confirmMany: `DELETE FROM cloud_outbox
          WHERE id IN (SELECT value FROM json_each(@ids)) AND lease_id = @lease AND claimed_at = @claimedAt
            AND status = 'processing'`,
  fail: `UPDATE cloud_outbox
            SET retry_count = retry_count + 1,
                status = CASE WHEN retry_count + 1 >= ${MAX_TRIES} THEN 'abandoned' ELSE 'pending' END,
                abandoned_at = CASE WHEN retry_count + 1 >= ${MAX_TRIES} THEN @now ELSE NULL END,
                next_attempt_at = @retryAt, last_error = @error, claimed_at = NULL, lease_id = NULL
          WHERE id = @id AND lease_id = @lease AND claimed_at = @claimedAt AND status = 'processing'
          RETURNING status, retry_count AS tries`,
  // substr, not LIKE: an owner may contain '%' or '_' (a macOS start time has neither, but the
  // owner is the caller's text). `status` is indexed; only rows in flight are looked at.
  releaseOwner: `UPDATE cloud_outbox SET status = 'pending', claimed_at = NULL, lease_id = NULL
          WHERE status = 'processing' AND lease_id IS NOT NULL
            AND substr(lease_id, 1, length(@prefix)) = @prefix`,
  release: `UPDATE cloud_outbox SET status = 'pending', claimed_at = NULL, lease_id = NULL,
                next_attempt_at = @notBefore, last_error = COALESCE(@error, last_error)
          WHERE id = @id AND lease_id = @lease AND claimed_at = @claimedAt AND status = 'processing'`,
  abandon: `UPDATE cloud_outbox SET status = 'abandoned', abandoned_at = @now, last_error = @error,
                claimed_at = NULL, lease_id = NULL, next_attempt_at = NULL
          WHERE id = @id AND lease_id = @lease AND claimed_at = @claimedAt AND status = 'processing'`,
  countsByStatus: 'SELECT status, COUNT(*) AS n FROM cloud_outbox GROUP BY status',
  pendingByKind: `SELECT kind, COUNT(*) AS count FROM cloud_outbox WHERE status = 'pending' AND ${SENDABLE}
          GROUP BY kind ORDER BY kind`,
  oldestPending: `SELECT MIN(created_at) AS oldest FROM cloud_outbox WHERE status = 'pending' AND ${SENDABLE}`,
  oldestLease: `SELECT MIN(claimed_at) AS at FROM cloud_outbox WHERE status = 'processing' AND claimed_at IS NOT NULL`,
  nextDue: `SELECT ${DUE_AT} AS due FROM cloud_outbox WHERE status = 'pending' AND ${SENDABLE}
          ORDER BY ${DUE_AT}, id LIMIT 1`,
  awaitingApproval: `SELECT COUNT(*) AS n FROM cloud_outbox WHERE status = 'pending' AND ${AWAITING_APPROVAL_SQL}`,
  unknownKinds: `SELECT kind, COUNT(*) AS count FROM cloud_outbox WHERE status = 'pending' AND ${UNKNOWN_KIND_SQL}
          GROUP BY kind ORDER BY kind`,
  list: `SELECT id, kind, payload_json AS payloadJson, status, retry_count AS retryCount, created_at AS createdAt,
                claimed_at AS claimedAt, next_attempt_at AS nextAttemptAt, abandoned_at AS abandonedAt,
                last_error AS lastError
           FROM cloud_outbox
          WHERE (@status IS NULL OR status = @status) AND (@kind IS NULL OR kind = @kind)
          ORDER BY id LIMIT @limit`,
  abandonedByKind: `SELECT kind, COUNT(*) AS count FROM cloud_outbox
          WHERE status = 'abandoned' AND (@kind IS NULL OR kind = @kind) AND ${ABANDONED_AT} < @before
          GROUP BY kind ORDER BY kind`,
  retryAbandoned: `UPDATE cloud_outbox SET status = 'pending', retry_count = 0, last_error = NULL, claimed_at = NULL,
                lease_id = NULL, next_attempt_at = NULL, abandoned_at = NULL
          WHERE status = 'abandoned' AND (@kind IS NULL OR kind = @kind) AND ${ABANDONED_AT} < @before`,
  purgeAbandoned: `DELETE FROM cloud_outbox
          WHERE status = 'abandoned' AND (@kind IS NULL OR kind = @kind) AND ${ABANDONED_AT} < @before`,
} as const;

/** Lease columns every lease-checked statement binds. */
interface LeaseParams {
  readonly id: number;
  readonly lease: string;
  readonly claimedAt: number;
}

interface BulkParams {
  readonly kind: string | null;
  readonly before: number;
}

/** Every statement the store runs, prepared once per connection and typed by its parameters and rows. */
function prepareStatements(db: Database) {
  return {
    insert: db.prepare<[string, string, number]>(INSERT_SQL),
    expireLeases: db.prepare<[number]>(SQL.expireLeases),
    claimable: db.prepare<{ now: number; kind: string | null; staleBefore: number }, { yes: 1 }>(SQL.claimable),
    selectDue: db.prepare<{ now: number; kind: string | null; limit: number }, ClaimedRow>(SQL.selectDue),
    markClaimed: db.prepare<{ ids: string; now: number; lease: string }>(SQL.markClaimed),
    confirm: db.prepare<[number, string, number]>(SQL.confirm),
    confirmMany: db.prepare<{ ids: string; lease: string; claimedAt: number }>(SQL.confirmMany),
    fail: db.prepare<LeaseParams & { now: number; retryAt: number | null; error: string }, FailedRow>(SQL.fail),
    releaseOwner: db.prepare<{ prefix: string }>(SQL.releaseOwner),
    release: db.prepare<LeaseParams & { notBefore: number | null; error: string | null }>(SQL.release),
    abandon: db.prepare<LeaseParams & { now: number; error: string }>(SQL.abandon),
    countsByStatus: db.prepare<[], { status: string; n: number }>(SQL.countsByStatus),
    pendingByKind: db.prepare<[], KindCount>(SQL.pendingByKind),
    oldestPending: db.prepare<[], { oldest: number | null }>(SQL.oldestPending),
    oldestLease: db.prepare<[], { at: number | null }>(SQL.oldestLease),
    nextDue: db.prepare<[], { due: number }>(SQL.nextDue),
    awaitingApproval: db.prepare<[], { n: number }>(SQL.awaitingApproval),
    unknownKinds: db.prepare<[], KindCount>(SQL.unknownKinds),
    list: db.prepare<{ status: string | null; kind: string | null; limit: number }, OutboxRow>(SQL.list),
    abandonedByKind: db.prepare<BulkParams, KindCount>(SQL.abandonedByKind),
    retryAbandoned: db.prepare<BulkParams>(SQL.retryAbandoned),
    purgeAbandoned: db.prepare<BulkParams>(SQL.purgeAbandoned),
  };
}

type Statements = ReturnType<typeof prepareStatements>;
type BulkStatement = Statements['retryAbandoned' | 'purgeAbandoned'];

interface ClaimArgs {
  readonly now: number;
  readonly kind: string | null;
  readonly limit: number;
  readonly staleBefore: number;
  readonly leaseId: string;
}

/** A row to insert; `createdAt` defaults to now. */
interface NewRow {
  readonly kind: string;
  readonly payloadJson: string;
  readonly createdAt?: number;
}

interface FailedRow {
  readonly status: string;
  readonly tries: number;
}

export class OutboxStore {
  readonly #db: Database;
  readonly #now: () => number;
  readonly #leaseMs: number;
  /** `<owner>/` when leases name their owner; '' when they are anonymous. */
  readonly #leasePrefix: string;
  readonly #stmts: Statements;
  /** The connection's busy_timeout, which enqueue honours with its own finer lock waits. */
  readonly #busyTimeoutMs: number;
  readonly #setBusyTimeout: (ms: number) => void;
  // Transaction functions, built once: better-sqlite3 wraps each call in BEGIN … COMMIT.
  readonly #claimTx: (args: ClaimArgs) => ClaimedRow[];
  readonly #settleTx: (lease: Lease, plan: SettlePlan, now: number) => SettleCounts;
  readonly #enqueueManyTx: (rows: readonly NewRow[], now: number) => number[];
  readonly #releaseTx: (ids: readonly number[], lease: Lease, notBefore: number | null, note: string | null) => number;
  readonly #bulkTx: (statement: BulkStatement, params: BulkParams, dryRun: boolean) => BulkResult;

  constructor(db: Database, options: { now?: () => number; leaseMs?: number; leaseOwner?: string } = {}) {
    this.#db = db;
    this.#now = options.now ?? Date.now;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#leasePrefix = options.leaseOwner === undefined ? '' : `${checkOwner(options.leaseOwner)}${LEASE_OWNER_END}`;
    this.#busyTimeoutMs = Number(db.pragma('busy_timeout', { simple: true }));
    const busyOff = db.prepare('PRAGMA busy_timeout = 0');
    const busyOn = db.prepare(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`);
    this.#setBusyTimeout = (ms) => (ms === 0 ? busyOff : busyOn).get();
    this.#stmts = prepareStatements(db);
    const claimTx = db.transaction((args: ClaimArgs) => this.#claimDue(args));
    this.#claimTx = (args) => claimTx.immediate(args);
    const settleTx = db.transaction((lease: Lease, plan: SettlePlan, now: number) =>
      this.#applySettlement(lease, plan, now),
    );
    this.#settleTx = (lease, plan, now) => settleTx.immediate(lease, plan, now);
    this.#enqueueManyTx = db.transaction((rows: readonly NewRow[], now: number) => this.#enqueueRows(rows, now));
    this.#releaseTx = db.transaction(
      (ids: readonly number[], lease: Lease, notBefore: number | null, note: string | null) =>
        this.#releaseRows(ids, lease, notBefore, note),
    );
    const bulkTx = db.transaction((statement: BulkStatement, params: BulkParams, dryRun: boolean) =>
      this.#countAndApply(statement, params, dryRun),
    );
    this.#bulkTx = (statement, params, dryRun) => bulkTx.immediate(statement, params, dryRun);
  }

  /** The database file, for error messages. */
  get file(): string {
    return this.#db.name;
  }

  /** Inserts one pending row. Waits for the write lock in fine steps (see withShortLockWaits). */
  enqueue(kind: string, payloadJson: string, createdAt: number = this.#now()): number {
    // Inside a caller's transaction the lock is already ours, and the busy timeout is not ours to touch.
    if (this.#db.inTransaction) return Number(this.#stmts.insert.run(kind, payloadJson, createdAt).lastInsertRowid);
    return withShortLockWaits(this.#setBusyTimeout, this.#busyTimeoutMs, () =>
      Number(this.#stmts.insert.run(kind, payloadJson, createdAt).lastInsertRowid),
    );
  }

  /** Many rows in one transaction (benchmarks, spill replay, tests). */
  enqueueMany(rows: readonly NewRow[]): number[] {
    return this.#enqueueManyTx(rows, this.#now());
  }

  /**
   * Claims up to `limit` due rows, oldest due first, in one immediate transaction. Rows whose lease
   * expired go back to pending first, so they are claimable again in the same call.
   *
   * A plain read comes first: when nothing is due and no lease has expired, the call returns
   * without taking the write lock, so a drainer polling an idle outbox never makes a producer wait.
   */
  claim(limit: number, options: { kind?: string } = {}): Claim {
    const now = this.#now();
    // The global Web Crypto, not node:crypto: importing that costs the hook path ~3 ms at start-up.
    const leaseId = this.#leasePrefix + globalThis.crypto.randomUUID();
    const kind = options.kind ?? null;
    const staleBefore = now - this.#leaseMs;
    if (limit <= 0 || this.#stmts.claimable.get({ now, kind, staleBefore }) === undefined) {
      return { leaseId, claimedAt: now, rows: [] };
    }
    const rows = this.#claimTx({ now, kind, limit, staleBefore, leaseId });
    return { leaseId, claimedAt: now, rows };
  }

  /** Deletes a delivered row. False if the lease no longer matches (someone re-claimed it). */
  confirm(id: number, lease: Lease): boolean {
    return this.#stmts.confirm.run(id, lease.leaseId, lease.claimedAt).changes === 1;
  }

  /** Deletes delivered rows in one statement; returns how many the lease still held. */
  confirmMany(ids: readonly number[], lease: Lease): number {
    if (ids.length === 0) return 0;
    return this.#stmts.confirmMany.run({ ids: JSON.stringify(ids), lease: lease.leaseId, claimedAt: lease.claimedAt })
      .changes;
  }

  /**
   * Spends one try. The row waits until `retryAt` (unix ms; null = due at once), or is abandoned
   * when this was try number MAX_TRIES.
   */
  fail(id: number, lease: Lease, error: string, retryAt: number | null): FailOutcome {
    const row = this.#stmts.fail.get({
      id,
      lease: lease.leaseId,
      claimedAt: lease.claimedAt,
      now: this.#now(),
      retryAt,
      error: truncateError(error),
    });
    if (!row) return { kind: 'lease_lost' };
    return row.status === 'abandoned'
      ? { kind: 'abandoned', tries: row.tries }
      : { kind: 'retrying', tries: row.tries };
  }

  /**
   * Returns claimed rows to pending without spending a try (cancelled pass, delivery waiting for a
   * token). `notBefore` defers them; `note` replaces last_error when given.
   */
  release(ids: readonly number[], lease: Lease, options: { notBefore?: number | null; note?: string } = {}): number {
    return this.#releaseTx(ids, lease, options.notBefore ?? null, options.note ?? null);
  }

  /** Gives up on a row at once (permanent failure), keeping the reason. */
  abandon(id: number, lease: Lease, reason: string): boolean {
    return this.#abandon(id, lease, reason, this.#now());
  }

  /**
   * Applies every outcome of one delivered claim in one immediate transaction: delivered rows
   * deleted in one statement, failed ones given their next try (or abandoned on their last),
   * rejected ones abandoned, unsent ones handed back. Rows whose lease was lost are left alone and
   * not counted.
   */
  settle(lease: Lease, plan: SettlePlan): SettleCounts {
    const empty = plan.confirm.length + plan.retry.length + plan.abandon.length + plan.release.length === 0;
    if (empty) return { confirmed: 0, retried: 0, abandoned: 0, released: 0 };
    return this.#settleTx(lease, plan, this.#now());
  }

  /**
   * Returns every row that `owner` holds to pending at once, without spending a try: for a claimer
   * that is proven dead (the caller checks), whose leases would otherwise wait out the lease time.
   * Rows of other owners, anonymous leases and the Rust binary's claims are not touched.
   */
  releaseLeasesOf(owner: string): number {
    return this.#stmts.releaseOwner.run({ prefix: `${checkOwner(owner)}${LEASE_OWNER_END}` }).changes;
  }

  /** Returns rows whose lease has expired to pending (a crashed claimer's rows). */
  returnExpiredLeases(): number {
    return this.#stmts.expireLeases.run(this.#now() - this.#leaseMs).changes;
  }

  counts(): StatusCounts {
    const counts = { pending: 0, processing: 0, abandoned: 0 };
    for (const row of this.#stmts.countsByStatus.all()) {
      if (row.status === 'pending' || row.status === 'processing' || row.status === 'abandoned') {
        counts[row.status] = row.n;
      }
    }
    return counts;
  }

  /** Pending rows that a drainer may send, by kind (unapproved candidates left out, as in Rust). */
  pendingByKind(): KindCount[] {
    return this.#stmts.pendingByKind.all();
  }

  /** Pending mined candidates that wait for a human's approval and will not be sent until then. */
  awaitingApproval(): number {
    return this.#stmts.awaitingApproval.get()?.n ?? 0;
  }

  /** Pending rows of kinds this version does not know, by kind: a newer version will send them. */
  unknownKinds(): KindCount[] {
    return this.#stmts.unknownKinds.all();
  }

  oldestPendingCreatedAt(): number | null {
    return this.#stmts.oldestPending.get()?.oldest ?? null;
  }

  /** When the next sendable pending row falls due (unix ms), or null if there is none. */
  nextDueAt(): number | null {
    return this.#stmts.nextDue.get()?.due ?? null;
  }

  /** When the oldest lease on a row in flight expires (unix ms), making it claimable again; null if none. */
  nextLeaseExpiryAt(): number | null {
    const at = this.#stmts.oldestLease.get()?.at ?? null;
    return at === null ? null : at + this.#leaseMs;
  }

  list(filter: { status?: string; kind?: string; limit?: number } = {}): OutboxRow[] {
    return this.#stmts.list.all({
      status: filter.status ?? null,
      kind: filter.kind ?? null,
      limit: filter.limit ?? 50,
    });
  }

  /** Abandoned rows back to pending with tries reset. */
  retryAbandoned(filter: BulkFilter = {}): BulkResult {
    return this.#bulk(this.#stmts.retryAbandoned, filter);
  }

  /** Deletes abandoned rows. */
  purgeAbandoned(filter: BulkFilter = {}): BulkResult {
    return this.#bulk(this.#stmts.purgeAbandoned, filter);
  }

  #claimDue(args: ClaimArgs): ClaimedRow[] {
    this.#stmts.expireLeases.run(args.staleBefore);
    const due = this.#stmts.selectDue.all(args);
    if (due.length > 0) {
      this.#stmts.markClaimed.run({ ids: JSON.stringify(due.map((r) => r.id)), now: args.now, lease: args.leaseId });
    }
    return due;
  }

  #enqueueRows(rows: readonly NewRow[], now: number): number[] {
    return rows.map((r) => Number(this.#stmts.insert.run(r.kind, r.payloadJson, r.createdAt ?? now).lastInsertRowid));
  }

  #releaseRows(ids: readonly number[], lease: Lease, notBefore: number | null, note: string | null): number {
    const params = {
      lease: lease.leaseId,
      claimedAt: lease.claimedAt,
      notBefore,
      error: note === null ? null : truncateError(note),
    };
    let released = 0;
    for (const id of ids) released += this.#stmts.release.run({ ...params, id }).changes;
    return released;
  }

  #abandon(id: number, lease: Lease, reason: string, now: number): boolean {
    const params = { id, lease: lease.leaseId, claimedAt: lease.claimedAt, now, error: truncateError(reason) };
    return this.#stmts.abandon.run(params).changes === 1;
  }

  #applySettlement(lease: Lease, plan: SettlePlan, now: number): SettleCounts {
    const confirmed = this.confirmMany(plan.confirm, lease);
    let retried = 0;
    let abandoned = 0;
    for (const r of plan.retry) {
      const outcome = this.fail(r.id, lease, r.error, r.at);
      if (outcome.kind === 'abandoned') abandoned++;
      else if (outcome.kind === 'retrying') retried++;
    }
    for (const a of plan.abandon) if (this.#abandon(a.id, lease, a.error, now)) abandoned++;
    const released = this.#releaseRows(plan.release, lease, null, plan.releaseNote);
    return { confirmed, retried, abandoned, released };
  }

  #bulk(statement: BulkStatement, filter: BulkFilter): BulkResult {
    const params = { kind: filter.kind ?? null, before: filter.before ?? Number.MAX_SAFE_INTEGER };
    return this.#bulkTx(statement, params, filter.dryRun ?? false);
  }

  #countAndApply(statement: BulkStatement, params: BulkParams, dryRun: boolean): BulkResult {
    const byKind = this.#stmts.abandonedByKind.all(params);
    const counted = byKind.reduce((n, k) => n + k.count, 0);
    const total = dryRun || counted === 0 ? counted : statement.run(params).changes;
    return { total, byKind, dryRun };
  }
}
