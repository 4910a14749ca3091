/**
 * OutboxStore.settle on a real SQLite file: every outcome of one claim applied in one transaction —
 * delivered rows deleted, failed rows given their next try (abandoned on the last), refused rows
 * abandoned, unsent rows handed back with no try spent — only while the claim's lease still holds,
 * and all or nothing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/adapters/outbox/db.js';
import { ensureHome } from '../../src/adapters/home/home.js';
import { MAX_TRIES, OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { makeTempHome } from '../helpers/index.js';

let temp: { home: string; cleanup: () => void };
let db: Database;
let clock: number;
let store: OutboxStore;

beforeEach(() => {
  temp = makeTempHome();
  db = openDatabase(ensureHome(temp.home).db);
  clock = 1_700_000_000_000;
  store = new OutboxStore(db, { now: () => clock });
});

afterEach(() => {
  db.close();
  temp.cleanup();
});

const row = (id: number) => store.list({ limit: 1_000 }).find((r) => r.id === id);
const none = { confirm: [], retry: [], abandon: [], release: [], releaseNote: null } as const;

describe('settle', () => {
  it('applies confirm, retry, abandon and release together and counts what it did', () => {
    const ids = Array.from({ length: 6 }, (_, i) => store.enqueue('mcp_query', `{"n":${i}}`));
    const [a, b, c, d, e, f] = ids as [number, number, number, number, number, number];
    const claim = store.claim(10);
    clock += 1_000;
    const counts = store.settle(claim, {
      confirm: [a, b],
      retry: [{ id: c, error: '503 Service Unavailable', at: clock + 5_000 }],
      abandon: [{ id: d, error: '400 Bad Request' }],
      release: [e, f],
      releaseNote: 'the cloud refused the token',
    });
    expect(counts).toEqual({ confirmed: 2, retried: 1, abandoned: 1, released: 2 });
    expect(row(a)).toBeUndefined();
    expect(row(b)).toBeUndefined();
    expect(row(c)).toMatchObject({ status: 'pending', retryCount: 1, nextAttemptAt: clock + 5_000 });
    expect(row(c)?.lastError).toBe('503 Service Unavailable');
    expect(row(d)).toMatchObject({ status: 'abandoned', abandonedAt: clock, lastError: '400 Bad Request' });
    for (const id of [e, f]) {
      expect(row(id)).toMatchObject({ status: 'pending', retryCount: 0, claimedAt: null, nextAttemptAt: null });
      expect(row(id)?.lastError).toBe('the cloud refused the token');
    }
  });

  it('a failure on the last try abandons the row and counts it abandoned', () => {
    const id = store.enqueue('mcp_query', '{}');
    db.prepare('UPDATE cloud_outbox SET retry_count = ? WHERE id = ?').run(MAX_TRIES - 1, id);
    const claim = store.claim(1);
    const counts = store.settle(claim, { ...none, retry: [{ id, error: 'timed out', at: clock + 1 }] });
    expect(counts).toEqual({ confirmed: 0, retried: 0, abandoned: 1, released: 0 });
    expect(row(id)).toMatchObject({ status: 'abandoned', retryCount: MAX_TRIES });
  });

  it('released rows without a note keep their last error', () => {
    const id = store.enqueue('mcp_query', '{}');
    db.prepare("UPDATE cloud_outbox SET last_error = 'earlier' WHERE id = ?").run(id);
    store.settle(store.claim(1), { ...none, release: [id] });
    expect(row(id)).toMatchObject({ status: 'pending', lastError: 'earlier' });
  });

  it('touches no row whose lease was lost, and counts none of them', () => {
    const ids = Array.from({ length: 4 }, (_, i) => store.enqueue('mcp_query', `{"n":${i}}`));
    const [a, b, c, d] = ids as [number, number, number, number];
    const stale = store.claim(10);
    // The lease ran out and another claimer took the rows.
    clock += 120_000;
    const fresh = store.claim(10);
    expect(fresh.rows).toHaveLength(4);
    const counts = store.settle(stale, {
      confirm: [a],
      retry: [{ id: b, error: 'x', at: clock }],
      abandon: [{ id: c, error: 'y' }],
      release: [d],
      releaseNote: 'z',
    });
    expect(counts).toEqual({ confirmed: 0, retried: 0, abandoned: 0, released: 0 });
    for (const id of ids) expect(row(id)).toMatchObject({ status: 'processing', retryCount: 0, lastError: null });
  });

  it('is all or nothing: when one statement fails, no outcome of the claim is applied', () => {
    const ids = Array.from({ length: 3 }, (_, i) => store.enqueue('mcp_query', `{"n":${i}}`));
    const [a, b, c] = ids as [number, number, number];
    const claim = store.claim(10);
    db.exec(`CREATE TRIGGER no_abandon BEFORE UPDATE OF status ON cloud_outbox
             WHEN NEW.status = 'abandoned' BEGIN SELECT RAISE(ABORT, 'abandon refused'); END`);
    expect(() =>
      store.settle(claim, {
        ...none,
        confirm: [a],
        retry: [{ id: b, error: 'x', at: clock }],
        abandon: [{ id: c, error: 'y' }],
      }),
    ).toThrow(/abandon refused/);
    for (const id of ids) expect(row(id)).toMatchObject({ status: 'processing', retryCount: 0 });
    expect(db.inTransaction).toBe(false);
  });

  it('an empty plan does nothing and takes no lock', () => {
    const id = store.enqueue('mcp_query', '{}');
    const claim = store.claim(1);
    const other = openDatabase(db.name);
    try {
      other.exec('BEGIN IMMEDIATE'); // a producer holds the write lock
      expect(store.settle(claim, none)).toEqual({ confirmed: 0, retried: 0, abandoned: 0, released: 0 });
      other.exec('COMMIT');
    } finally {
      other.close();
    }
    expect(row(id)).toMatchObject({ status: 'processing' });
  });
});
