/**
 * The send step of the drain pipeline on its own, against the reference cloud on loopback: what each
 * answer makes of a request's rows, a failed batch split until the bad row stands alone, an open
 * breaker ending that search, a 401 answered by one refresh of the Rust login and a resend, and a
 * refused token or a cancelled pass handing rows back unsent. Real HTTP; rows are plain values.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { forgetLoginMemory } from '../../src/adapters/auth/login-memory.js';
import { type CloudClient, createCloudClient } from '../../src/adapters/delivery/cloud-client.js';
import { resolveCloudToken } from '../../src/adapters/delivery/cloud-config.js';
import { PassAuth } from '../../src/adapters/delivery/drain-auth.js';
import { type Sendable, classifyRow, isSendable } from '../../src/adapters/delivery/drain-classify.js';
import { PassLedger } from '../../src/adapters/delivery/drain-ledger.js';
import { type PlannedRequest, planRequests } from '../../src/adapters/delivery/drain-plan.js';
import { RequestSender } from '../../src/adapters/delivery/drain-send.js';
import type { Outcome } from '../../src/adapters/delivery/drain-settle.js';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import type { ClaimedRow } from '../../src/adapters/outbox/outbox-store.js';
import { CLOSED_BREAKER, DEFAULT_POLICY, type PolicyConfig, retryAt } from '../../src/machines/delivery-policy.js';
import { type ReferenceCloud, startReferenceCloud } from '../../src/reference-cloud/server.js';
import { makeTempHome, observationPayload } from '../helpers/index.js';
import { writeRustLogin } from '../helpers/rust-login-writer.js';

const TOKEN = 'tok_send_unit_0123456789';
const NOW = 1_700_000_000_000;
const random = (): number => 0.5;

let temp: { home: string; cleanup: () => void };
let paths: HomePaths;
let cloud: ReferenceCloud;
let client: CloudClient;
let nextId = 1;

beforeEach(async () => {
  forgetLoginMemory();
  temp = makeTempHome();
  paths = ensureHome(temp.home);
  cloud = await startReferenceCloud({ token: TOKEN, recordRequests: true });
  client = createCloudClient({ baseUrl: cloud.url, token: TOKEN });
});

afterEach(async () => {
  client.close();
  await cloud.close();
  temp.cleanup();
});

const mcp = (i: number): string =>
  JSON.stringify({ file: `f${i}.ts`, rules_injected: 1, strict_match_count: 0, rule_titles: [], rule_ids: [] });

function requestsFor(kind: string, payloads: readonly string[]): PlannedRequest[] {
  const sendable = payloads.map((payloadJson): Sendable => {
    const row: ClaimedRow = { id: nextId++, kind, payloadJson, retryCount: 0, createdAt: NOW };
    const classified = classifyRow(row, { secrets: [TOKEN], now: () => NOW, config: DEFAULT_POLICY, random });
    if (!isSendable(classified)) throw new Error('not sendable');
    return classified;
  });
  return planRequests(sendable);
}

interface Setup {
  readonly auth?: PassAuth;
  readonly maxInFlight?: number;
  readonly policy?: Partial<PolicyConfig>;
  readonly signal?: AbortSignal;
}

function sender(setup: Setup = {}) {
  const auth = setup.auth ?? new PassAuth(paths, cloud.url, TOKEN, undefined);
  const ledger = new PassLedger(CLOSED_BREAKER, undefined, setup.signal);
  const config = { ...DEFAULT_POLICY, ...setup.policy };
  const send = new RequestSender({
    client,
    auth,
    ledger,
    signal: setup.signal,
    maxInFlight: setup.maxInFlight ?? 8,
    config,
    random,
    now: () => NOW,
  });
  const run = async (requests: readonly PlannedRequest[]): Promise<Outcome[]> => {
    const out: Outcome[] = [];
    await Promise.all(requests.map((r) => send.send(r, out)));
    return out;
  };
  return { run, ledger, auth, config };
}

function kinds(out: readonly Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of out) counts[o.kind] = (counts[o.kind] ?? 0) + 1;
  return counts;
}

describe('one request, judged', () => {
  it('a good batch is one POST and confirms every row', async () => {
    const { run, ledger } = sender();
    const out = await run(
      requestsFor(
        'observation',
        Array.from({ length: 10 }, (_, i) => observationPayload(i)),
      ),
    );
    expect(kinds(out)).toEqual({ confirm: 10 });
    expect(cloud.stats().requests).toBe(1);
    expect(cloud.received('observation')).toHaveLength(10);
    expect(ledger.observed).toMatchObject({ outcome: 'ok' });
    expect(ledger.lastError).toBeNull();
  });

  it.each([
    [409, 'confirm'],
    [503, 'retry'],
    [429, 'retry'],
    [400, 'abandon'],
    [422, 'abandon'],
  ])('%i makes the row %s', async (status, kind) => {
    cloud.setFaults({ status });
    const { run, ledger, config } = sender();
    const [request] = requestsFor('mcp_query', [mcp(1)]);
    const out = await run([request as PlannedRequest]);
    expect(out).toHaveLength(1);
    expect(out[0]?.kind).toBe(kind);
    if (out[0]?.kind === 'retry') {
      expect(out[0].at).toBe(retryAt(NOW, 1, null, random, config));
      expect(out[0].error).toMatch(new RegExp(`^${status} `));
    }
    if (kind !== 'confirm') expect(ledger.lastError).toMatch(new RegExp(`^${status} `));
  });

  it('a 2xx whose body cannot be read spends a try; it is not a delivery', async () => {
    cloud.setFaults({ garbage2xxRate: 1 });
    const { run } = sender();
    const out = await run(requestsFor('mcp_query', [mcp(1)]));
    expect(out[0]).toMatchObject({ kind: 'retry', error: expect.stringMatching(/^track_mcp_query: 200 OK but /) });
  });

  it('a cloud that does not answer is a transport failure: the row spends a try', async () => {
    const port = cloud.port;
    await cloud.close();
    cloud = await startReferenceCloud({ token: TOKEN });
    client.close();
    client = createCloudClient({ baseUrl: `http://127.0.0.1:${port}`, token: TOKEN });
    const { run, ledger } = sender();
    const out = await run(requestsFor('mcp_query', [mcp(1)]));
    expect(out[0]).toMatchObject({ kind: 'retry', error: expect.stringMatching(/^transport: track_mcp_query: /) });
    expect(ledger.observed?.outcome).toBe('unreachable');
  });
});

describe('a failed batch is split until the bad row stands alone', () => {
  it('one row the cloud refuses among 64: 13 requests, 63 delivered, only that row abandoned', async () => {
    cloud.setFaults({ poison: 'POISON', poisonStatus: 400 });
    const payloads = Array.from({ length: 64 }, (_, i) =>
      observationPayload(i, i === 41 ? { title: `t${i}POISON` } : {}),
    );
    const { run, ledger } = sender();
    const out = await run(requestsFor('observation', payloads));
    expect(kinds(out)).toEqual({ confirm: 63, abandon: 1 });
    const bad = out.find((o) => o.kind === 'abandon');
    expect(bad?.row.payloadJson).toContain('POISON');
    expect(bad).toMatchObject({ error: expect.stringMatching(/^400 Bad Request: .*poison/) });
    // The whole batch, then both halves at each of six levels.
    expect(cloud.stats().requests).toBe(1 + 2 * 6);
    expect(cloud.received('observation')).toHaveLength(63);
    expect(ledger.breaker).toEqual(CLOSED_BREAKER);
  });

  it('a retryable bad row alone spends a try; its neighbours go through', async () => {
    cloud.setFaults({ poison: 'POISON', poisonStatus: 500 });
    const payloads = Array.from({ length: 64 }, (_, i) =>
      observationPayload(i, i === 0 ? { title: `t${i}POISON` } : {}),
    );
    // One request at a time: each failed half is followed by a good one, so the breaker never trips.
    const { run } = sender({ maxInFlight: 1 });
    const out = await run(requestsFor('observation', payloads));
    expect(kinds(out)).toEqual({ confirm: 63, retry: 1 });
    expect(out.find((o) => o.kind === 'retry')?.row.payloadJson).toContain('POISON');
  });

  it('an open breaker ends the search: the request that tripped it spends tries, halves not yet sent go back untried', async () => {
    cloud.setFaults({ status: 503 });
    const { run, ledger } = sender({ maxInFlight: 1, policy: { breakerThreshold: 3 } });
    const out = await run(
      requestsFor(
        'observation',
        Array.from({ length: 64 }, (_, i) => observationPayload(i)),
      ),
    );
    // 64 fails, then its halves (32 + 32) fail: the third failure in a row opens the breaker.
    expect(cloud.stats().requests).toBe(3);
    expect(ledger.breaker.state).toBe('open');
    expect(kinds(out)).toEqual({ retry: 32, release: 32 });
    expect(out.filter((o) => o.kind === 'release').every((o) => !('note' in o))).toBe(true);
  });
});

describe('the token', () => {
  it('a 401 to a Rust login refreshes it once for every request in flight, and each resends once', async () => {
    const key = randomBytes(32);
    const refresh = 'r'.repeat(64);
    await cloud.close();
    cloud = await startReferenceCloud({ token: TOKEN, refreshToken: refresh, recordRequests: true });
    writeRustLogin(join(temp.home, 'cloud-auth.db'), key, {
      token: TOKEN,
      refreshToken: refresh,
      tokenHost: new URL(cloud.url).origin,
    });
    client.close();
    client = createCloudClient({ baseUrl: cloud.url, token: TOKEN });
    const env = { DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_MASTER_KEY: key.toString('hex') };
    const token = await resolveCloudToken(paths, env);
    if (token.kind !== 'token' || token.login === undefined) throw new Error('the Rust login did not open');
    const auth = new PassAuth(paths, cloud.url, token.token, token.login);
    cloud.rotateToken();

    const { run, ledger } = sender({ auth });
    const out = await run(
      requestsFor(
        'mcp_query',
        Array.from({ length: 6 }, (_, i) => mcp(i)),
      ),
    );
    expect(kinds(out)).toEqual({ confirm: 6 });
    expect(cloud.authStats().refreshes).toBe(1);
    expect(auth.refreshed).toBe('server');
    expect(auth.token).toBe(cloud.currentLogin().token);
    expect(auth.secrets).toContain(auth.token);
    expect(ledger.stop).toBeNull();
    // Six refused with the old token, six accepted with the new one.
    expect(cloud.requests().filter((r) => r.path !== '/token/refresh')).toHaveLength(12);
  });

  it('a 401 without a login to refresh stops the pass: the rows go back untried, with why', async () => {
    const wrong = new PassAuth(paths, cloud.url, 'tok_wrong_0123456789abcdef', undefined);
    const { run, ledger } = sender({ auth: wrong, maxInFlight: 1 });
    const out = await run(
      requestsFor(
        'mcp_query',
        Array.from({ length: 5 }, (_, i) => mcp(i)),
      ),
    );
    expect(kinds(out)).toEqual({ release: 5 });
    // Only the first request went out: the others saw the pass stopped.
    expect(cloud.stats().requests).toBe(1);
    expect(ledger.stop).toBe('auth');
    expect(ledger.authProblem).toMatch(/^the cloud refused the token: 401 Unauthorized/);
    expect(ledger.breaker.authRejected).not.toBeNull();
    const noted = out.filter((o) => o.kind === 'release' && o.note !== undefined);
    expect(noted).toHaveLength(1);
  });

  it('a cancelled pass sends nothing and hands every row back', async () => {
    const controller = new AbortController();
    controller.abort();
    const { run } = sender({ signal: controller.signal });
    const out = await run(requestsFor('observation', [observationPayload(1), observationPayload(2)]));
    expect(kinds(out)).toEqual({ release: 2 });
    expect(cloud.stats().requests).toBe(0);
  });
});
