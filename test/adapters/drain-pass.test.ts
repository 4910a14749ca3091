/**
 * The drain pass against the reference cloud on loopback, with real SQLite: each row of the failure
 * policy, Retry-After, the breaker, a poison row among 1,000 good ones, a 30 %-failing cloud,
 * cancellation, token handling (none, refused file, rejected, changed), URL checks, redaction and the
 * drain state file. Time is a fake clock shared by the store and the pass; HTTP is real.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/adapters/outbox/db.js';
import {
  closeSharedCloudClient,
  type DrainPassOptions,
  type DrainProgress,
  runDrainPass,
} from '../../src/adapters/delivery/drain-pass.js';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import { OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { type ReferenceCloud, startReferenceCloud } from '../../src/reference-cloud/server.js';
import { DiffloreError } from '../../src/errors.js';
import { type BreakerState, CLOSED_BREAKER, REDACTED } from '../../src/machines/delivery-policy.js';
import { makeTempHome, observationPayload, waitFor } from '../helpers/index.js';

const TOKEN = 'tok_drain_secret_0123456789';

let temp: { home: string; cleanup: () => void };
let paths: HomePaths;
let db: Database;
let store: OutboxStore;
let cloud: ReferenceCloud;
let clock: number;
const now = (): number => clock;

beforeEach(async () => {
  temp = makeTempHome();
  paths = ensureHome(temp.home);
  db = openDatabase(paths.db);
  clock = Date.now();
  store = new OutboxStore(db, { now });
  cloud = await startReferenceCloud({ recordRequests: true });
});

afterEach(async () => {
  closeSharedCloudClient();
  await cloud.close();
  db.close();
  temp.cleanup();
});

/** Seeded [0,1) generator, so fault injection and jitter are the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const mcp = (i: number, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({
    file: `f${i}.ts`,
    rules_injected: 1,
    strict_match_count: 0,
    rule_titles: [],
    rule_ids: [],
    ...extra,
  });
const edit = (i: number): string => JSON.stringify({ beforeCode: `a${i}`, afterCode: `b${i}` });

const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  DIFFLORE_CLOUD_URL: cloud.url,
  DIFFLORE_CLOUD_TOKEN: TOKEN,
  ...extra,
});

function pass(extra: Partial<DrainPassOptions> = {}) {
  return runDrainPass({ store, paths, env: env(), now, random: () => 0.5, ...extra });
}

const row = (id: number) => store.list({ limit: 100_000 }).find((r) => r.id === id);

describe('failure policy, row by row', () => {
  it('2xx confirms (deletes) the row', async () => {
    const id = store.enqueue('mcp_query', mcp(1));
    expect(await pass()).toMatchObject({ attempted: 1, confirmed: 1, retried: 0, abandoned: 0, lastError: null });
    expect(row(id)).toBeUndefined();
  });

  it('409 confirms the row as a duplicate', async () => {
    cloud.setFaults({ status: 409 });
    const id = store.enqueue('mcp_query', mcp(1));
    expect(await pass()).toMatchObject({ confirmed: 1, retried: 0 });
    expect(row(id)).toBeUndefined();
  });

  it.each([408, 425, 429, 500, 503])('%i spends a try and waits behind a jittered backoff', async (status) => {
    cloud.setFaults({ status });
    const id = store.enqueue('mcp_query', mcp(1));
    const summary = await pass({ random: () => 0.5 });
    expect(summary).toMatchObject({ attempted: 1, confirmed: 0, retried: 1, abandoned: 0 });
    expect(row(id)).toMatchObject({ status: 'pending', retryCount: 1, nextAttemptAt: clock + 500 });
    expect(row(id)?.lastError).toMatch(new RegExp(`^${status} [A-Z][a-zA-Z ]+: \\{"error":"injected_failure"\\}$`));
  });

  it('a network error spends a try with a transport: message', async () => {
    const closed = await startReferenceCloud();
    const url = closed.url;
    await closed.close();
    const id = store.enqueue('mcp_query', mcp(1));
    const summary = await pass({ env: env({ DIFFLORE_CLOUD_URL: url }) });
    expect(summary.retried).toBe(1);
    expect(row(id)?.lastError).toMatch(/^transport: track_mcp_query: .*ECONNREFUSED/);
  });

  it('a timeout spends a try', async () => {
    cloud.setFaults({ latencyMs: 5_000 });
    const id = store.enqueue('accepted_edit', edit(1));
    const summary = await pass({ timeoutMs: 50 });
    expect(summary.retried).toBe(1);
    expect(row(id)?.lastError).toBe('transport: record_accepted_edit: timed out after 50 ms');
  });

  it.each([400, 404, 422])('%i abandons the row at once with the status and body', async (status) => {
    cloud.setFaults({ status });
    const id = store.enqueue('mcp_query', mcp(1));
    expect(await pass()).toMatchObject({ attempted: 1, abandoned: 1, retried: 0 });
    expect(row(id)).toMatchObject({ status: 'abandoned', retryCount: 0 });
    expect(row(id)?.lastError).toMatch(new RegExp(`^${status} `));
  });

  it('a body the cloud finds malformed is abandoned with its 400 answer', async () => {
    // Locally valid, but the cloud's schema wants a string client label.
    const id = store.enqueue('review_metrics', JSON.stringify({ review_id: 'r1', req: {} }));
    cloud.setFaults({ poison: '{}', poisonStatus: 400 });
    expect(await pass()).toMatchObject({ abandoned: 1 });
    expect(row(id)?.lastError).toBe('400 Bad Request: {"error":"poison","detail":"this payload always fails"}');
  });

  it('a row that fails for the eighth time is abandoned', async () => {
    cloud.setFaults({ status: 500 });
    const id = store.enqueue('mcp_query', mcp(1));
    let breaker: BreakerState = CLOSED_BREAKER;
    for (let i = 0; i < 8; i++) {
      clock += 10 * 60_000; // past any backoff and breaker cool-down
      breaker = (await pass({ breaker, random: () => 0 })).breaker;
    }
    expect(row(id)).toMatchObject({ status: 'abandoned', retryCount: 8 });
  });

  it('accepted_edit needs acceptanceRecorded: true; a garbage 2xx is retried and the replayed answer confirms it', async () => {
    const rejected = store.enqueue('accepted_edit', JSON.stringify({ beforeCode: 'same', afterCode: 'same' }));
    expect(await pass()).toMatchObject({ abandoned: 1 });
    expect(row(rejected)?.lastError).toBe(
      'record_accepted_edit: 200 OK but accepted_edit rejected: no_change: beforeCode equals afterCode',
    );

    cloud.setFaults({ garbage2xxRate: 1 });
    const id = store.enqueue('accepted_edit', edit(1));
    expect(await pass()).toMatchObject({ retried: 1 });
    expect(row(id)?.lastError).toMatch(/^record_accepted_edit: 200 OK but the response body is not JSON \(/);
    cloud.setFaults({ garbage2xxRate: 0 });
    clock += 60_000;
    expect(await pass()).toMatchObject({ confirmed: 1 });
    expect(cloud.stats()).toMatchObject({ received: { accepted_edit: 2 }, deduped: 1 });
  });

  it('401/403 spends no try, releases the rows, stops the pass and says delivery waits for the token', async () => {
    await cloud.close();
    cloud = await startReferenceCloud({ token: 'the-right-token', recordRequests: true });
    const ids = Array.from({ length: 20 }, (_, i) => store.enqueue('mcp_query', mcp(i)));
    const summary = await pass({ maxInFlight: 1 });
    expect(summary).toMatchObject({ waitingForAuth: true, stoppedBecause: 'auth', confirmed: 0, retried: 0 });
    expect(summary.released).toBeGreaterThanOrEqual(1);
    expect(summary.authProblem).toMatch(/refused the token: 401 Unauthorized/);
    // The rows are due, but nothing can move them before the token changes or the re-probe time.
    expect(summary.nextDueAt).toBe(clock + 600_000);
    expect(cloud.stats().requests).toBe(1);
    for (const id of ids) expect(row(id)).toMatchObject({ status: 'pending', retryCount: 0, claimedAt: null });
  });
});

describe('Retry-After', () => {
  it('is obeyed: nothing is sent again before it, and the row goes when it has passed', async () => {
    cloud.setFaults({ status: 503, retryAfter: '2' });
    const id = store.enqueue('mcp_query', mcp(1));
    // No jitter: the breaker may stretch a Retry-After (never shorten it); here it keeps it exact.
    const first = await pass({ random: () => 0 });
    expect(row(id)).toMatchObject({ retryCount: 1, nextAttemptAt: clock + 2_000 });
    expect(first.nextDueAt).toBe(clock + 2_000);
    cloud.setFaults({ status: null, retryAfter: null });

    clock += 1_999;
    const early = await pass({ breaker: first.breaker });
    expect(early.attempted).toBe(0);
    expect(cloud.stats().requests).toBe(1);

    clock += 1;
    const due = await pass({ breaker: early.breaker });
    expect(due.confirmed).toBe(1);
    expect(cloud.stats().requests).toBe(2);
  });

  it('as an HTTP date also pauses the other rows (the breaker holds until then)', async () => {
    cloud.setFaults({ status: 429, retryAfter: new Date(clock + 60_000).toUTCString() });
    store.enqueue('mcp_query', mcp(1));
    store.enqueue('mcp_query', mcp(2));
    const summary = await pass({ maxInFlight: 1 });
    expect(cloud.stats().requests).toBe(1);
    expect(summary.breaker.state).toBe('open');
    expect(summary.breaker.openUntil).toBeGreaterThanOrEqual(clock + 59_000);
    expect(summary.nextDueAt).toBeGreaterThanOrEqual(clock + 59_000);
    expect(store.counts().pending).toBe(2);
  });
});

describe('breaker', () => {
  // No jitter: the cool-downs are exactly the nominal ones (the fleet simulation covers the jitter).
  const policy = { breakerOpenMs: 10_000, backoffBaseMs: 1_000_000, breakerJitter: 0, breakerSpreadMs: 0 };

  it('opens after 3 consecutive retryable failures; the rest wait without spending a try', async () => {
    cloud.setFaults({ status: 503 });
    for (let i = 0; i < 10; i++) store.enqueue('mcp_query', mcp(i));
    const summary = await pass({ maxInFlight: 1, policy });
    expect(cloud.stats().requests).toBe(3);
    expect(summary).toMatchObject({ stoppedBecause: 'breaker', retried: 3 });
    expect(summary.breaker).toMatchObject({ state: 'open', openUntil: clock + 10_000 });
    const rows = store.list();
    expect(rows.filter((r) => r.retryCount === 1)).toHaveLength(3);
    expect(rows.filter((r) => r.retryCount === 0 && r.status === 'pending')).toHaveLength(7);

    // Still open: a pass sends nothing.
    clock += 9_999;
    const closed = await pass({ maxInFlight: 1, policy, breaker: summary.breaker });
    expect(closed.stoppedBecause).toBe('breaker');
    expect(cloud.stats().requests).toBe(3);
  });

  it('half-opens with exactly one probe: a failed probe reopens it for longer, a good one lets the rest through', async () => {
    cloud.setFaults({ status: 503 });
    for (let i = 0; i < 10; i++) store.enqueue('mcp_query', mcp(i));
    const opened = await pass({ maxInFlight: 1, policy });

    clock += 10_000;
    const probeFailed = await pass({ maxInFlight: 1, policy, breaker: opened.breaker });
    expect(cloud.stats().requests).toBe(4);
    expect(probeFailed.breaker).toMatchObject({ state: 'open', openUntil: clock + 20_000, opens: 2 });

    cloud.setFaults({ status: null });
    clock += 20_000;
    const recovered = await pass({ maxInFlight: 1, policy, breaker: probeFailed.breaker });
    expect(recovered.breaker).toEqual(CLOSED_BREAKER);
    // The probe and every other row that is not behind its own backoff: 10 − 3 − 1 failed ones.
    expect(recovered.confirmed).toBe(6);
    expect(cloud.stats().requests).toBe(4 + 6);
  });

  it('the probe for a batched kind is one request carrying every due row of that kind (up to a batch)', async () => {
    cloud.setFaults({ status: 503 });
    for (let i = 0; i < 3; i++) store.enqueue('mcp_query', mcp(i));
    const opened = await pass({ maxInFlight: 1, policy });
    expect(opened.breaker.state).toBe('open');
    store.enqueueMany(
      Array.from({ length: 40 }, (_, i) => ({ kind: 'observation', payloadJson: observationPayload(i) })),
    );

    cloud.setFaults({ status: null });
    clock += 10_000;
    const recovered = await pass({ maxInFlight: 1, policy, breaker: opened.breaker });
    // 3 failures, then one probe with all 40 observations (the mcp rows wait behind their backoff).
    expect(cloud.stats().requests).toBe(4);
    expect(recovered).toMatchObject({ confirmed: 40, attempted: 40 });
    expect(recovered.breaker).toEqual(CLOSED_BREAKER);
  });

  it('in an outage a batch is not split past the breaker', async () => {
    cloud.setFaults({ status: 503 });
    store.enqueueMany(
      Array.from({ length: 64 }, (_, i) => ({ kind: 'observation', payloadJson: observationPayload(i) })),
    );
    const summary = await pass({ policy });
    expect(summary.breaker.state).toBe('open');
    expect(cloud.stats().requests).toBeLessThanOrEqual(7);
    expect(store.counts().pending).toBe(64);
  });
});

describe('a poison row never stalls the queue', () => {
  it('an observation the cloud always fails, at the head of 1,000 good ones: all good rows go in the same pass', async () => {
    cloud.setFaults({ poison: 'POISON', poisonStatus: 500 });
    const poison = store.enqueue('observation', observationPayload(-1, { title: 'POISON' }), clock - 1_000);
    store.enqueueMany(
      Array.from({ length: 1_000 }, (_, i) => ({ kind: 'observation', payloadJson: observationPayload(i) })),
    );
    const summary = await pass();
    expect(cloud.stats().received.observation).toBe(1_000);
    expect(summary).toMatchObject({ confirmed: 1_000, retried: 1, abandoned: 0, stoppedBecause: 'idle' });
    expect(summary.breaker.state).toBe('closed');
    // Only the poison row spent a try; it waits behind its backoff.
    expect(store.list()).toEqual([expect.objectContaining({ id: poison, status: 'pending', retryCount: 1 })]);
    expect(row(poison)?.nextAttemptAt).toBeGreaterThan(clock);
    // Finding it took a handful of split requests, not one per row.
    expect(cloud.stats().requests).toBeLessThan(1_000 / 64 + 20);
  });

  it('a per-row kind the cloud always fails, at the head of 1,000 good ones', async () => {
    cloud.setFaults({ poison: 'POISON', poisonStatus: 503 });
    const poison = store.enqueue('mcp_query', mcp(-1, { file: 'POISON.ts' }), clock - 1_000);
    store.enqueueMany(Array.from({ length: 1_000 }, (_, i) => ({ kind: 'mcp_query', payloadJson: mcp(i) })));
    const summary = await pass();
    expect(summary).toMatchObject({ confirmed: 1_000, retried: 1, abandoned: 0 });
    expect(cloud.stats().received.mcp_query).toBe(1_000);
    expect(store.list()).toEqual([expect.objectContaining({ id: poison, status: 'pending', retryCount: 1 })]);
  });
});

describe('a cloud that fails 30 % of requests', () => {
  it('still receives every row exactly once after dedupe', async () => {
    await cloud.close();
    // Failures before processing, plus lost answers and garbage 2xx after it (the dedupe cases).
    cloud = await startReferenceCloud({
      random: seeded(42),
      faults: { failRate: 0.3, dropRate: 0.05, garbage2xxRate: 0.05 },
    });
    const rows = [
      ...Array.from({ length: 300 }, (_, i) => ({ kind: 'observation', payloadJson: observationPayload(i) })),
      ...Array.from({ length: 100 }, (_, i) => ({ kind: 'mcp_query', payloadJson: mcp(i) })),
      ...Array.from({ length: 50 }, (_, i) => ({ kind: 'accepted_edit', payloadJson: edit(i) })),
    ];
    store.enqueueMany(rows);
    const policy = { backoffBaseMs: 100, breakerOpenMs: 100 };
    let breaker: BreakerState = CLOSED_BREAKER;
    // One request at a time keeps the order of requests, and so the seeded faults, the same on every run.
    await waitFor(
      async () => {
        clock += 1_000;
        breaker = (await pass({ breaker, policy, maxInFlight: 1, random: seeded(7) })).breaker;
        return store.counts().pending === 0 && store.counts().processing === 0;
      },
      { what: 'the outbox to empty', intervalMs: 1 },
    );
    expect(store.counts().abandoned).toBe(0);
    const stats = cloud.stats();
    expect(stats.received).toEqual({ observation: 300, mcp_query: 100, accepted_edit: 50 });
    for (const kind of ['observation', 'mcp_query', 'accepted_edit']) {
      const keys = cloud.received(kind).map((r) => r.key);
      expect(new Set(keys).size).toBe(keys.length);
    }
    expect(stats.byStatus['503']).toBeGreaterThan(0);
    expect(stats.byStatus.dropped).toBeGreaterThan(0);
    expect(stats.deduped).toBeGreaterThan(0);
  });
});

describe('cancellation', () => {
  it('abort mid-pass returns claimed rows to pending without spending a try', async () => {
    cloud.setFaults({ latencyMs: 30_000 });
    const ids = Array.from({ length: 20 }, (_, i) => store.enqueue('mcp_query', mcp(i)));
    store.enqueueMany(
      Array.from({ length: 100 }, (_, i) => ({ kind: 'observation', payloadJson: observationPayload(i) })),
    );
    const controller = new AbortController();
    const running = pass({ signal: controller.signal });
    await waitFor(() => cloud.stats().requests >= 8, { what: 'requests in flight' });
    controller.abort();
    const summary = await running;
    expect(summary).toMatchObject({
      cancelled: true,
      stoppedBecause: 'cancelled',
      confirmed: 0,
      retried: 0,
      attempted: 0,
    });
    // Every claimed row came back: with four claims of 64 in flight, all 120 were claimed.
    expect(summary.released).toBe(120);
    expect(store.counts()).toEqual({ pending: 120, processing: 0, abandoned: 0 });
    for (const id of ids) expect(row(id)).toMatchObject({ retryCount: 0, claimedAt: null, lastError: null });
  });

  it('a signal that is already aborted sends nothing', async () => {
    store.enqueue('mcp_query', mcp(1));
    const summary = await pass({ signal: AbortSignal.abort() });
    expect(summary.cancelled).toBe(true);
    expect(cloud.stats().requests).toBe(0);
    expect(store.counts().pending).toBe(1);
  });
});

describe('tokens', () => {
  it('no token: nothing is sent, rows are untouched, the summary says delivery waits', async () => {
    const id = store.enqueue('mcp_query', mcp(1));
    const summary = await pass({ env: { DIFFLORE_CLOUD_URL: cloud.url } });
    expect(summary).toMatchObject({ waitingForAuth: true, attempted: 0, stoppedBecause: 'auth', nextDueAt: null });
    expect(summary.authProblem).toMatch(/^no cloud token: set DIFFLORE_CLOUD_TOKEN or write it to .*cloud-token/);
    expect(cloud.stats().requests).toBe(0);
    expect(row(id)).toMatchObject({ status: 'pending', retryCount: 0, lastError: null });
  });

  it('a token file readable by group or others is refused with a message saying how to fix it', async () => {
    writeFileSync(paths.tokenFile, `${TOKEN}\n`, { mode: 0o644 });
    chmodSync(paths.tokenFile, 0o644);
    store.enqueue('mcp_query', mcp(1));
    const summary = await pass({ env: { DIFFLORE_CLOUD_URL: cloud.url } });
    expect(summary.waitingForAuth).toBe(true);
    expect(summary.authProblem).toBe(
      `${paths.tokenFile} is readable by group or others (mode 644); refusing to use it. Fix: chmod 600 ${paths.tokenFile}`,
    );
    expect(cloud.stats().requests).toBe(0);
  });

  it('a token change is picked up on the next pass, without a restart', async () => {
    await cloud.close();
    cloud = await startReferenceCloud({ token: 'new-token-abcdef' });
    writeFileSync(paths.tokenFile, 'old-token-abcdef\n', { mode: 0o600 });
    const fileEnv = { DIFFLORE_CLOUD_URL: cloud.url };
    store.enqueue('mcp_query', mcp(1));
    const refused = await pass({ env: fileEnv });
    expect(refused.waitingForAuth).toBe(true);
    expect(cloud.stats().requests).toBe(1);

    // Same token, carried breaker: the pass does not knock again.
    const waiting = await pass({ env: fileEnv, breaker: refused.breaker });
    expect(waiting.waitingForAuth).toBe(true);
    expect(cloud.stats().requests).toBe(1);

    writeFileSync(paths.tokenFile, 'new-token-abcdef\n', { mode: 0o600 });
    const delivered = await pass({ env: fileEnv, breaker: waiting.breaker });
    expect(delivered).toMatchObject({ waitingForAuth: false, confirmed: 1 });
    expect(delivered.breaker.authRejected).toBeNull();
  });

  it('never lets the token into last_error, the summary or the drain state file, even when the cloud echoes it', async () => {
    let status = 400;
    const echo = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(`you sent: ${req.headers.authorization} (token ${TOKEN})`);
      });
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
    try {
      const abandoned = store.enqueue('mcp_query', mcp(1));
      const first = await pass({ env: env({ DIFFLORE_CLOUD_URL: url }) });
      status = 503;
      const retried = store.enqueue('mcp_query', mcp(2));
      const second = await pass({ env: env({ DIFFLORE_CLOUD_URL: url }) });
      status = 401;
      const third = await pass({ env: env({ DIFFLORE_CLOUD_URL: url }), limit: 1 });
      const texts = [
        row(abandoned)?.lastError,
        row(retried)?.lastError,
        JSON.stringify(first),
        JSON.stringify(second),
        JSON.stringify(third),
        readFileSync(paths.drainState, 'utf8'),
      ];
      expect(row(abandoned)?.lastError).toContain(REDACTED);
      for (const text of texts) {
        expect(text).toBeTruthy();
        expect(text).not.toContain(TOKEN);
      }
    } finally {
      closeSharedCloudClient();
      echo.closeAllConnections();
      await new Promise((r) => echo.close(r));
    }
  });
});

describe('cloud URL', () => {
  it.each(['http://example.com/api', 'http://10.0.0.8:8080', 'http://127.0.0.1.nip.io'])(
    'plain http to %s is refused before anything is sent',
    async (url) => {
      const id = store.enqueue('mcp_query', mcp(1));
      const error = await pass({ env: env({ DIFFLORE_CLOUD_URL: url }) }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DiffloreError);
      expect((error as DiffloreError).code).toBe('config');
      expect((error as DiffloreError).message).toContain('plain http://');
      expect(row(id)).toMatchObject({ status: 'pending', retryCount: 0 });
    },
  );

  it('an /api base path is kept', async () => {
    store.enqueue('mcp_query', mcp(1));
    expect(await pass({ env: env({ DIFFLORE_CLOUD_URL: `${cloud.url}/api/` }) })).toMatchObject({ confirmed: 1 });
    expect(cloud.requests()[0]?.path).toBe('/dashboard/mcp-query');
  });
});

describe('limits, spill and the drain state file', () => {
  it('attempts at most --limit rows and reports when more are due', async () => {
    store.enqueueMany(Array.from({ length: 100 }, (_, i) => ({ kind: 'mcp_query', payloadJson: mcp(i) })));
    const summary = await pass({ limit: 10 });
    expect(summary).toMatchObject({ attempted: 10, confirmed: 10, stoppedBecause: 'limit' });
    expect(summary.nextDueAt).toBeLessThanOrEqual(clock);
    expect(store.counts().pending).toBe(90);
  });

  it('writes outbox-drain-state.json in the Rust format after each pass', async () => {
    store.enqueue('mcp_query', mcp(1));
    await pass();
    const state = JSON.parse(readFileSync(paths.drainState, 'utf8')) as Record<string, unknown>;
    expect(state).toMatchObject({
      version: 1,
      updatedAtMs: clock,
      lastDrainAtMs: clock,
      attempted: 1,
      confirmed: 1,
      lastError: null,
      waitingForAuth: false,
    });

    // Without a token Rust writes no drain state, and neither do we: the last file stays as it was.
    const written = readFileSync(paths.drainState, 'utf8');
    clock += 5_000;
    const waiting = await pass({ env: { DIFFLORE_CLOUD_URL: cloud.url } });
    expect(waiting.lastError).toMatch(/^no cloud token/);
    expect(readFileSync(paths.drainState, 'utf8')).toBe(written);

    // With a token, a pass with nothing to send still writes it (as Rust does), lastDrainAtMs = now.
    clock += 5_000;
    await pass();
    const idle = JSON.parse(readFileSync(paths.drainState, 'utf8')) as Record<string, unknown>;
    expect(idle).toMatchObject({ version: 1, updatedAtMs: clock, lastDrainAtMs: clock, attempted: 0, confirmed: 0 });
  });

  it('reports progress events with running totals', async () => {
    store.enqueueMany(
      Array.from({ length: 130 }, (_, i) => ({ kind: 'observation', payloadJson: observationPayload(i) })),
    );
    const events: DrainProgress[] = [];
    await pass({ countWaiting: true, onProgress: (e) => events.push(e) });
    expect(events[0]).toEqual({ type: 'start', waiting: 130 });
    const last = events.at(-1);
    expect(events.filter((e) => e.type === 'progress').length).toBeGreaterThanOrEqual(1);
    expect(last).toEqual({ type: 'progress', attempted: 130, confirmed: 130, retried: 0, abandoned: 0 });
  });

  it('does not count the queue for the start event unless asked', async () => {
    store.enqueue('mcp_query', mcp(1));
    const events: DrainProgress[] = [];
    await pass({ onProgress: (e) => events.push(e) });
    expect(events[0]).toEqual({ type: 'start', waiting: null });
  });
});
