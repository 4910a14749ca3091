/**
 * The outbox store on a real SQLite file: leases, the 8-try cap, claim order, the unapproved
 * candidate rule, counts, and the bulk retry/purge of abandoned rows.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/adapters/outbox/db.js';
import { ensureHome } from '../../src/adapters/home/home.js';
import { leaseOwnerFor, MAX_TRIES, OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { makeTempHome } from '../helpers/index.js';

let temp: { home: string; cleanup: () => void };
let db: Database;
let clock: number;
let store: OutboxStore;

const LEASE_MS = 60_000;

beforeEach(() => {
  temp = makeTempHome();
  db = openDatabase(ensureHome(temp.home).db);
  clock = 1_700_000_000_000;
  store = new OutboxStore(db, { now: () => clock, leaseMs: LEASE_MS });
});

afterEach(() => {
  db.close();
  temp.cleanup();
});

function row(id: number): Record<string, unknown> | undefined {
  return db.prepare('SELECT * FROM cloud_outbox WHERE id = ?').get(id) as Record<string, unknown> | undefined;
}

const candidate = (status: string | null): string =>
  JSON.stringify(status === null ? { title: 'x' } : { title: 'x', localReview: { status } });

describe('claim', () => {
  it('marks rows processing with claimed_at and a lease, and returns them', () => {
    const id = store.enqueue('observation', '{"a":1}');
    const claim = store.claim(10);
    expect(claim.rows).toEqual([{ id, kind: 'observation', payloadJson: '{"a":1}', retryCount: 0, createdAt: clock }]);
    expect(claim.claimedAt).toBe(clock);
    expect(row(id)).toMatchObject({ status: 'processing', claimed_at: clock, lease_id: claim.leaseId });
    expect(store.claim(10).rows).toEqual([]); // a live lease is not claimable
  });

  it('names when the oldest lease in flight expires (the idle daemon wakes then), none when nothing is in flight', () => {
    expect(store.nextLeaseExpiryAt()).toBeNull();
    store.enqueue('observation', '{"a":1}');
    store.claim(10);
    const first = clock;
    clock += 5_000;
    store.enqueue('observation', '{"a":2}');
    store.claim(10);
    expect(store.nextLeaseExpiryAt()).toBe(first + LEASE_MS);
  });

  it('takes the oldest due rows first, and no more than asked', () => {
    const late = store.enqueue('observation', '{"n":"late"}', clock - 1000);
    const early = store.enqueue('observation', '{"n":"early"}', clock - 5000);
    const middle = store.enqueue('trajectory', '{"n":"middle"}', clock - 3000);
    const future = store.enqueue('observation', '{"n":"future"}', clock + 60_000);

    expect(store.claim(2).rows.map((r) => r.id)).toEqual([early, middle]);
    expect(store.claim(10).rows.map((r) => r.id)).toEqual([late]);
    expect(row(future)?.status).toBe('pending'); // created in the future: not due yet
  });

  it('orders by due time: a row waiting for its retry goes behind rows that are due', () => {
    const first = store.enqueue('observation', '{"n":1}', clock - 10_000);
    const second = store.enqueue('observation', '{"n":2}', clock - 5000);
    const claim = store.claim(1);
    expect(claim.rows.map((r) => r.id)).toEqual([first]);
    store.fail(first, claim, 'HTTP 503', clock + 30_000);

    expect(store.claim(10).rows.map((r) => r.id)).toEqual([second]);
    clock += 30_000;
    expect(store.claim(10).rows.map((r) => r.id)).toEqual([first]);
  });

  it('breaks ties between equally old rows by id', () => {
    const ids = [1, 2, 3, 4].map((i) => store.enqueue('observation', `{"i":${i}}`, clock - 100));
    expect(store.claim(10).rows.map((r) => r.id)).toEqual(ids);
  });

  it('re-claims a row whose lease expired, without spending a try', () => {
    const id = store.enqueue('observation', '{}');
    const first = store.claim(10);
    clock += LEASE_MS - 1;
    expect(store.claim(10).rows).toEqual([]);
    clock += 2;
    const second = store.claim(10);
    expect(second.rows.map((r) => [r.id, r.retryCount])).toEqual([[id, 0]]);
    expect(second.leaseId).not.toBe(first.leaseId);
  });

  it('does not take the write lock when there is nothing to claim', () => {
    // Another connection holds the write lock; a claimer that tried to take it would time out.
    const other = openDatabase(ensureHome(temp.home).db);
    const impatient = openDatabase(ensureHome(temp.home).db, { busyTimeoutMs: 10 });
    try {
      const idle = new OutboxStore(impatient, { now: () => clock });
      other.exec('BEGIN IMMEDIATE');
      expect(idle.claim(64).rows).toEqual([]);
      other.exec('ROLLBACK');
      store.enqueue('observation', '{}', clock + 60_000); // not due yet: still nothing to claim
      other.exec('BEGIN IMMEDIATE');
      expect(idle.claim(64).rows).toEqual([]);
      other.exec('ROLLBACK');
      clock += 60_000; // due now: the claimer needs the lock, and waits for it in vain
      other.exec('BEGIN IMMEDIATE');
      expect(() => idle.claim(64)).toThrow(/locked|busy/i);
      other.exec('ROLLBACK');
    } finally {
      other.close();
      impatient.close();
    }
  });

  it('can be limited to one kind', () => {
    store.enqueue('observation', '{}', clock - 10);
    const t = store.enqueue('trajectory', '{}');
    expect(store.claim(10, { kind: 'trajectory' }).rows.map((r) => r.id)).toEqual([t]);
  });
});

describe('leases', () => {
  it('a stale claimer cannot confirm a row someone re-claimed', () => {
    const id = store.enqueue('observation', '{}');
    const stale = store.claim(10);
    clock += LEASE_MS + 1;
    const fresh = store.claim(10);

    expect(store.confirm(id, stale)).toBe(false);
    expect(row(id)).toMatchObject({ status: 'processing', lease_id: fresh.leaseId });
    expect(store.confirm(id, fresh)).toBe(true);
    expect(row(id)).toBeUndefined();
  });

  it('a stale claimer cannot fail, release or abandon a row someone re-claimed', () => {
    const id = store.enqueue('observation', '{}');
    const stale = store.claim(10);
    clock += LEASE_MS + 1;
    const fresh = store.claim(10);

    expect(store.fail(id, stale, 'timeout', null)).toEqual({ kind: 'lease_lost' });
    expect(store.release([id], stale)).toBe(0);
    expect(store.abandon(id, stale, 'nope')).toBe(false);
    expect(row(id)).toMatchObject({ status: 'processing', retry_count: 0, lease_id: fresh.leaseId, last_error: null });
  });

  it('a claimer loses its lease when another program re-stamps claimed_at (as the Rust binary does)', () => {
    const id = store.enqueue('observation', '{}');
    const claim = store.claim(10);
    db.prepare('UPDATE cloud_outbox SET claimed_at = ? WHERE id = ?').run(clock + 5, id);
    expect(store.confirm(id, claim)).toBe(false);
    expect(row(id)).toBeDefined();
  });

  it('release returns rows to pending without spending a try, optionally deferred', () => {
    const a = store.enqueue('observation', '{}');
    const b = store.enqueue('observation', '{}');
    const claim = store.claim(10);
    expect(store.release([a], claim)).toBe(1);
    expect(store.release([b], claim, { notBefore: clock + 5000, note: 'waiting for a token' })).toBe(1);
    expect(row(a)).toMatchObject({ status: 'pending', retry_count: 0, claimed_at: null, lease_id: null });
    expect(row(b)).toMatchObject({
      status: 'pending',
      next_attempt_at: clock + 5000,
      last_error: 'waiting for a token',
    });
    expect(store.claim(10).rows.map((r) => r.id)).toEqual([a]);
  });

  it('confirmMany deletes only the rows the lease still holds', () => {
    const a = store.enqueue('observation', '{}');
    const b = store.enqueue('observation', '{}');
    const claim = store.claim(10);
    db.prepare("UPDATE cloud_outbox SET lease_id = 'someone-else' WHERE id = ?").run(b);
    expect(store.confirmMany([a, b], claim)).toBe(1);
    expect(row(a)).toBeUndefined();
    expect(row(b)).toBeDefined();
  });
});

describe('leases that name their owner', () => {
  /** A store on the same database whose claims name `owner`. */
  const storeOf = (owner: string): OutboxStore => new OutboxStore(db, { now: () => clock, leaseOwner: owner });

  it('stamps <owner>/<uuid> as the lease id', () => {
    const id = store.enqueue('observation', '{}');
    const claim = storeOf('4242:boot:99').claim(10);
    expect(claim.leaseId).toMatch(/^4242:boot:99\/[0-9a-f-]{36}$/);
    expect(row(id)).toMatchObject({ status: 'processing', lease_id: claim.leaseId });
  });

  it("releaseLeasesOf hands back exactly that owner's rows, without spending a try", () => {
    const dead = storeOf('100:boot:7');
    const live = storeOf('101:boot:8');
    // An owner whose name extends the dead one's, and names with LIKE wildcards: none match the prefix.
    const longer = storeOf('100:boot:70');
    const wildcard = storeOf('10%:boot:_');

    const deadRows = [1, 2, 3].map((i) => store.enqueue('observation', `{"dead":${i}}`));
    dead.claim(2);
    const deadSecond = dead.claim(10); // two claims of the same owner: both go back
    expect(deadSecond.rows).toHaveLength(1);
    // One of them had failed once before: release keeps its count, it does not add one.
    db.prepare('UPDATE cloud_outbox SET retry_count = 3 WHERE id = ?').run(deadRows[0]);

    const liveRow = store.enqueue('observation', '{"live":1}');
    const liveClaim = live.claim(10);
    const longerRow = store.enqueue('observation', '{"longer":1}');
    const longerClaim = longer.claim(10);
    const wildRow = store.enqueue('observation', '{"wild":1}');
    wildcard.claim(10);
    const anonymousRow = store.enqueue('observation', '{"anonymous":1}');
    const anonymousClaim = store.claim(10);
    // The Rust binary claims by status and claimed_at alone, with no lease id.
    const rustRow = store.enqueue('observation', '{"rust":1}');
    db.prepare("UPDATE cloud_outbox SET status = 'processing', claimed_at = ? WHERE id = ?").run(clock, rustRow);

    // With LIKE, '10%:boot:_/%' would match the dead owner's rows too; a prefix compare matches its own.
    expect(store.releaseLeasesOf('10%:boot:_')).toBe(1);
    expect(row(wildRow)).toMatchObject({ status: 'pending', lease_id: null });
    expect(row(deadRows[0] as number)).toMatchObject({ status: 'processing' });

    expect(store.releaseLeasesOf('100:boot:7')).toBe(3);

    expect(row(deadRows[0] as number)).toMatchObject({
      status: 'pending',
      retry_count: 3,
      claimed_at: null,
      lease_id: null,
    });
    for (const id of deadRows.slice(1)) {
      expect(row(id)).toMatchObject({ status: 'pending', retry_count: 0, claimed_at: null, lease_id: null });
    }
    for (const [id, claim] of [
      [liveRow, liveClaim],
      [longerRow, longerClaim],
      [anonymousRow, anonymousClaim],
    ] as const) {
      expect(row(id)).toMatchObject({ status: 'processing', lease_id: claim.leaseId, claimed_at: clock });
    }
    expect(row(rustRow)).toMatchObject({ status: 'processing', lease_id: null, claimed_at: clock });

    // The rows handed back are due at once (no lease to wait out); the live owner still confirms its own.
    expect(
      live
        .claim(10)
        .rows.map((r) => r.id)
        .sort(),
    ).toEqual([...deadRows, wildRow].sort());
    expect(live.confirm(liveRow, liveClaim)).toBe(true);
    expect(store.releaseLeasesOf('100:boot:7')).toBe(0);
  });

  it("a dead owner's late confirm finds its lease gone", () => {
    const id = store.enqueue('observation', '{}');
    const dead = storeOf('100:boot:7');
    const claim = dead.claim(10);
    store.releaseLeasesOf('100:boot:7');
    expect(dead.confirm(id, claim)).toBe(false);
    expect(row(id)).toMatchObject({ status: 'pending' });
  });

  it('refuses an owner that is empty or contains the separator', () => {
    expect(() => storeOf('')).toThrow(/lease owner/);
    expect(() => storeOf('a/b')).toThrow(/lease owner/);
    expect(() => store.releaseLeasesOf('')).toThrow(/lease owner/);
  });

  it('leaseOwnerFor: pid:bootId:startTime, none without a start time', () => {
    expect(leaseOwnerFor({ pid: 42, bootId: 'b-1', startTime: '123' })).toBe('42:b-1:123');
    expect(leaseOwnerFor({ pid: 42, bootId: null, startTime: 'Tue Nov 14 10:00:00 2023' })).toBe(
      '42::Tue Nov 14 10:00:00 2023',
    );
    expect(leaseOwnerFor({ pid: 42, bootId: 'b', startTime: null })).toBeNull();
    expect(leaseOwnerFor({ pid: 42, bootId: '{ sec = 1/2 }', startTime: '1' })).toBe('42:{ sec = 1_2 }:1');
  });
});

describe('retries', () => {
  it('abandons a row on its 8th failed try, and never claims it again', () => {
    expect(MAX_TRIES).toBe(8);
    const id = store.enqueue('observation', '{}');
    for (let attempt = 1; attempt <= 7; attempt++) {
      const claim = store.claim(10);
      expect(claim.rows.map((r) => [r.id, r.retryCount])).toEqual([[id, attempt - 1]]);
      expect(store.fail(id, claim, `HTTP 500 (try ${attempt})`, null)).toEqual({ kind: 'retrying', tries: attempt });
      expect(row(id)).toMatchObject({ status: 'pending', retry_count: attempt, abandoned_at: null });
    }
    const last = store.claim(10);
    expect(store.fail(id, last, 'HTTP 500 (try 8)', null)).toEqual({ kind: 'abandoned', tries: 8 });
    expect(row(id)).toMatchObject({
      status: 'abandoned',
      retry_count: 8,
      last_error: 'HTTP 500 (try 8)',
      abandoned_at: clock,
      claimed_at: null,
      lease_id: null,
    });
    clock += 10 * LEASE_MS;
    expect(store.claim(10).rows).toEqual([]);
  });

  it('abandon gives up at once and keeps the reason', () => {
    const id = store.enqueue('observation', 'null');
    const claim = store.claim(10);
    expect(store.abandon(id, claim, 'invalid payload: observation parse: invalid type: null')).toBe(true);
    expect(row(id)).toMatchObject({
      status: 'abandoned',
      retry_count: 0,
      last_error: 'invalid payload: observation parse: invalid type: null',
    });
  });

  it('never claims a kind this version does not know: it stays pending for a newer version, and is counted', () => {
    const unknown = store.enqueue('mystery_kind', '{}');
    const known = store.enqueue('mcp_query', '{}');
    expect(store.claim(10).rows.map((r) => r.id)).toEqual([known]);
    expect(row(unknown)).toMatchObject({ status: 'pending', retry_count: 0, claimed_at: null });
    expect(store.unknownKinds()).toEqual([{ kind: 'mystery_kind', count: 1 }]);
    expect(store.pendingByKind()).toEqual([]);
    expect(store.nextDueAt()).toBeNull();
  });

  it('keeps at most 2048 characters of an error', () => {
    const id = store.enqueue('observation', '{}');
    const claim = store.claim(10);
    store.fail(id, claim, 'x'.repeat(10_000), null);
    expect(String(row(id)?.last_error)).toHaveLength(2048);
  });
});

describe('unapproved session_mined_candidate rows', () => {
  it('are never claimed; approved ones are, whatever the case of "approved"', () => {
    const unapproved = store.enqueue('session_mined_candidate', candidate('pending'));
    const noReview = store.enqueue('session_mined_candidate', candidate(null));
    const notJson = store.enqueue('session_mined_candidate', 'not json');
    const approved = store.enqueue('session_mined_candidate', candidate('Approved'));
    const other = store.enqueue('observation', '{}');

    expect(
      store
        .claim(10)
        .rows.map((r) => r.id)
        .sort(),
    ).toEqual([approved, other].sort());
    expect(store.claim(10, { kind: 'session_mined_candidate' }).rows).toEqual([]);
    for (const id of [unapproved, noReview, notJson]) expect(row(id)?.status).toBe('pending');
  });

  it('count as pending (as in Rust) but are reported apart and left out of pending by kind', () => {
    store.enqueue('session_mined_candidate', candidate('pending'));
    store.enqueue('session_mined_candidate', candidate('approved'));
    store.enqueue('observation', '{}', clock - 500);

    expect(store.counts()).toEqual({ pending: 3, processing: 0, abandoned: 0 });
    expect(store.awaitingApproval()).toBe(1);
    expect(store.pendingByKind()).toEqual([
      { kind: 'observation', count: 1 },
      { kind: 'session_mined_candidate', count: 1 },
    ]);
  });

  it('become claimable once approved', () => {
    const id = store.enqueue('session_mined_candidate', candidate('pending'));
    expect(store.claim(10).rows).toEqual([]);
    db.prepare('UPDATE cloud_outbox SET payload_json = ? WHERE id = ?').run(candidate('approved'), id);
    expect(store.claim(10).rows.map((r) => r.id)).toEqual([id]);
  });
});

describe('counts and listing', () => {
  it('counts by status, pending by kind, and finds the oldest pending and next due row', () => {
    expect(store.counts()).toEqual({ pending: 0, processing: 0, abandoned: 0 });
    expect(store.oldestPendingCreatedAt()).toBeNull();
    expect(store.nextDueAt()).toBeNull();

    store.enqueue('observation', '{}', clock - 3000);
    store.enqueue('observation', '{}', clock - 2000);
    store.enqueue('trajectory', '{}', clock - 1000);
    const claimed = store.claim(1);
    const other = store.enqueue('review_metrics', '{}');
    const abandoned = store.claim(1, { kind: 'review_metrics' });
    store.abandon(other, abandoned, 'bad');

    expect(claimed.rows).toHaveLength(1);
    expect(store.counts()).toEqual({ pending: 2, processing: 1, abandoned: 1 });
    expect(store.pendingByKind()).toEqual([
      { kind: 'observation', count: 1 },
      { kind: 'trajectory', count: 1 },
    ]);
    expect(store.oldestPendingCreatedAt()).toBe(clock - 2000);
    expect(store.nextDueAt()).toBe(clock - 2000);
  });

  it('lists rows oldest first, filtered by status and kind, up to a limit', () => {
    const ids = ['observation', 'trajectory', 'observation', 'observation'].map((k, i) =>
      store.enqueue(k, `{"i":${i}}`),
    );
    expect(store.list().map((r) => r.id)).toEqual(ids);
    expect(store.list({ kind: 'observation', limit: 2 }).map((r) => r.id)).toEqual([ids[0], ids[2]]);
    expect(store.list({ status: 'abandoned' })).toEqual([]);
    expect(store.list({ kind: 'trajectory' })[0]).toEqual({
      id: ids[1],
      kind: 'trajectory',
      payloadJson: '{"i":1}',
      status: 'pending',
      retryCount: 0,
      createdAt: clock,
      claimedAt: null,
      nextAttemptAt: null,
      abandonedAt: null,
      lastError: null,
    });
  });
});

describe('abandoned rows: retry and purge', () => {
  function abandonAt(kind: string, at: number): number {
    const saved = clock;
    clock = at;
    const id = store.enqueue(kind, '{}', at - 1);
    const claim = store.claim(1, { kind });
    store.abandon(id, claim, 'gave up');
    clock = saved;
    return id;
  }

  it('retry returns abandoned rows to pending with tries and error cleared', () => {
    const id = store.enqueue('observation', '{}');
    for (let i = 0; i < MAX_TRIES; i++) store.fail(id, store.claim(1), 'HTTP 500', null);
    expect(row(id)?.status).toBe('abandoned');

    expect(store.retryAbandoned()).toEqual({ total: 1, byKind: [{ kind: 'observation', count: 1 }], dryRun: false });
    expect(row(id)).toMatchObject({
      status: 'pending',
      retry_count: 0,
      last_error: null,
      abandoned_at: null,
      next_attempt_at: null,
    });
    expect(store.claim(1).rows.map((r) => r.id)).toEqual([id]);
  });

  it('a dry run reports per kind and changes nothing', () => {
    abandonAt('observation', clock - 1000);
    abandonAt('observation', clock - 1000);
    abandonAt('trajectory', clock - 1000);
    const before = store.list({ status: 'abandoned' });

    expect(store.retryAbandoned({ dryRun: true })).toEqual({
      total: 3,
      byKind: [
        { kind: 'observation', count: 2 },
        { kind: 'trajectory', count: 1 },
      ],
      dryRun: true,
    });
    expect(store.purgeAbandoned({ dryRun: true }).total).toBe(3);
    expect(store.list({ status: 'abandoned' })).toEqual(before);
  });

  it('filters by kind and by when the row was abandoned, not when it was created', () => {
    const day = 86_400_000;
    const old = abandonAt('observation', clock - 40 * day);
    const recent = abandonAt('observation', clock - 1 * day);
    const oldTrajectory = abandonAt('trajectory', clock - 40 * day);

    expect(store.purgeAbandoned({ kind: 'observation', before: clock - 30 * day }).total).toBe(1);
    expect(row(old)).toBeUndefined();
    expect(row(recent)?.status).toBe('abandoned');
    expect(row(oldTrajectory)?.status).toBe('abandoned');

    expect(store.retryAbandoned({ before: clock - 30 * day }).byKind).toEqual([{ kind: 'trajectory', count: 1 }]);
    expect(row(oldTrajectory)?.status).toBe('pending');
  });

  it('falls back to created_at for rows the Rust binary abandoned', () => {
    const day = 86_400_000;
    const id = store.enqueue('observation', '{}', clock - 40 * day);
    db.prepare("UPDATE cloud_outbox SET status = 'abandoned', retry_count = 8 WHERE id = ?").run(id);
    expect(store.purgeAbandoned({ before: clock - 30 * day }).total).toBe(1);
  });

  it('never touches pending or processing rows', () => {
    const pending = store.enqueue('observation', '{}', clock - 1000);
    store.enqueue('observation', '{}', clock - 500);
    store.claim(1);
    expect(store.purgeAbandoned()).toEqual({ total: 0, byKind: [], dryRun: false });
    expect(store.retryAbandoned()).toEqual({ total: 0, byKind: [], dryRun: false });
    expect(store.counts()).toEqual({ pending: 1, processing: 1, abandoned: 0 });
    expect(row(pending)).toBeDefined();
  });
});
