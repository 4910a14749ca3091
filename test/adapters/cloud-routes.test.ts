/**
 * Every route's request as the reference cloud sees it: path, headers and body for each kind, the
 * Idempotency-Key (stable across key order, retries and spill replay), observations batched up to 64
 * per POST, bounded requests in flight over keep-alive, and shaping failures that never reach the wire.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  canonicalJson,
  encodePathSegment,
  idempotencyKey,
  routeFor,
} from '../../src/adapters/delivery/cloud-routes.js';
import { type Database, openDatabase } from '../../src/adapters/outbox/db.js';
import { closeSharedCloudClient, runDrainPass } from '../../src/adapters/delivery/drain-pass.js';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import { OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { type ReferenceCloud, startReferenceCloud } from '../../src/reference-cloud/server.js';
import { spillRow } from '../../src/adapters/outbox/spill.js';
import { VERSION } from '../../src/version.js';
import { makeTempHome } from '../helpers/index.js';

const TOKEN = 'tok_routes_0123456789';

let temp: { home: string; cleanup: () => void };
let paths: HomePaths;
let db: Database;
let store: OutboxStore;
let cloud: ReferenceCloud;

beforeEach(async () => {
  temp = makeTempHome();
  paths = ensureHome(temp.home);
  db = openDatabase(paths.db);
  store = new OutboxStore(db);
  cloud = await startReferenceCloud({ token: TOKEN, recordRequests: true });
});

afterEach(async () => {
  closeSharedCloudClient();
  await cloud.close();
  db.close();
  temp.cleanup();
});

const env = (): NodeJS.ProcessEnv => ({ DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN });

const observation = (i: number, extra: Record<string, unknown> = {}) => ({
  session_id: 'sess-1',
  ts_ms: 1_760_000_000_000 + i,
  obs_type: 'change',
  tool: 'Edit',
  file_path: `src/f${i}.ts`,
  scope: { anchor_kind: 'file', anchor_key: `src/f${i}.ts` },
  title: `edit ${i}`,
  narrative: 'changed a line',
  diff_excerpt: '-a\n+b',
  content_hash: `hash-${i}`,
  ...extra,
});

const candidate = {
  session_id: 'sess-2',
  ts_ms: 1_760_000_000_500,
  source_repo: 'acme/app',
  title: 'Prefer const',
  body: 'Use const for bindings that never change.',
  file_patterns: ['src/**/*.ts'],
  gate_model: 'gate-1',
  gate_verdict: 'KEEP',
  content_hash: 'cand-1',
  origin: 'session_mined',
  requires_human_approval: true,
  local_triage: { status: 'superseded_by', reason: 'newer rule', ref: 'cand-0', at: 1_760_000_000_400, extra: 1 },
  localReview: { status: 'approved', ruleId: 'r-1', reviewedAtMs: 1_760_000_000_600 },
};

const PAYLOADS: Record<string, unknown> = {
  trajectory: { pr_review_id: 'rev/42 ü', steps: [{ tool: 'read', file: 'a.ts' }] },
  review_metrics: {
    review_id: 'rev-7',
    req: { inputTokens: 1200, outputTokens: 300, estimatedCostUsd: 0.012, durationMs: 5400, unknownField: 1 },
  },
  accepted_edit: {
    beforeCode: 'let x = 1',
    afterCode: 'const x = 1',
    filePath: 'src/a.ts',
    repoFullName: 'acme/app',
    targetPrNumber: 12,
    language: 'typescript',
    acceptanceSource: 'hook',
    client: 'claude-code',
    diffSignature: 'sig-1',
    ruleIds: [],
  },
  mcp_query: {
    file: 'src/a.ts',
    intent: null,
    rules_injected: 37,
    strict_match_count: 2,
    rule_titles: Array.from({ length: 12 }, (_, i) => `title ${i}`),
    rule_ids: Array.from({ length: 12 }, (_, i) => `r${i}`),
    client_label: '',
    repo_full_name: '   ',
  },
  imported_reviews: {
    reviews: [
      { repoFullName: 'acme/app', prNumber: 1, verdict: 'approve', comments: [{ content: 'c', commentUrl: 'u' }] },
    ],
  },
  observation: observation(1, { narrative: null, extra_key: true }),
  session_mined_candidate: candidate,
  fix_acceptance: { anything: true },
};

describe('every route against the reference cloud', () => {
  it('sends each kind to its path with the shaped body and every required header', async () => {
    for (const [kind, payload] of Object.entries(PAYLOADS)) store.enqueue(kind, JSON.stringify(payload));
    const summary = await runDrainPass({ store, paths, env: env() });
    expect(summary).toMatchObject({ attempted: 8, confirmed: 8, retried: 0, abandoned: 0, waitingForAuth: false });
    expect(store.counts()).toEqual({ pending: 0, processing: 0, abandoned: 0 });

    const requests = cloud.requests();
    const byPath = new Map(requests.map((r) => [r.path, r]));
    // fix_acceptance is confirmed without being sent: seven requests for eight rows.
    expect(requests).toHaveLength(7);
    for (const r of requests) {
      expect(r.method).toBe('POST');
      expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['user-agent']).toBe(`difflore-daemon/${VERSION} (node ${process.versions.node})`);
      expect(r.headers['idempotency-key']).toMatch(/^[0-9a-f]{64}$/);
      expect(r.headers.connection).toBe('keep-alive');
    }
    const body = (path: string): unknown => JSON.parse(byPath.get(path)?.body ?? 'null');
    const keyOf = (path: string): string | undefined => byPath.get(path)?.headers['idempotency-key'];

    expect(body('/reviews/rev%2F42%20%C3%BC/trajectory')).toEqual({ steps: [{ tool: 'read', file: 'a.ts' }] });
    expect(body('/reviews/rev-7/metrics')).toEqual({
      inputTokens: 1200,
      outputTokens: 300,
      estimatedCostUsd: 0.012,
      durationMs: 5400,
    });
    // ruleIds left out when empty.
    expect(body('/accepted-edits')).toEqual({
      beforeCode: 'let x = 1',
      afterCode: 'const x = 1',
      filePath: 'src/a.ts',
      repoFullName: 'acme/app',
      targetPrNumber: 12,
      language: 'typescript',
      acceptanceSource: 'hook',
      client: 'claude-code',
      diffSignature: 'sig-1',
    });
    // camelCase, counts as stored (Rust does not clamp), lists cut to 10, intent null, client "" kept
    // (Rust defaults only a missing label), blank repo left out.
    expect(body('/dashboard/mcp-query')).toEqual({
      file: 'src/a.ts',
      intent: null,
      rulesInjected: 37,
      strictMatchCount: 2,
      ruleTitles: Array.from({ length: 10 }, (_, i) => `title ${i}`),
      ruleIds: Array.from({ length: 10 }, (_, i) => `r${i}`),
      client: '',
    });
    // Rebuilt from Rust's types: unknown keys dropped, None sent as null where Rust has no skip.
    expect(body('/reviews/import')).toEqual({
      reviews: [
        {
          repoFullName: 'acme/app',
          prNumber: 1,
          prTitle: null,
          comments: [{ filePath: null, content: 'c', author: null, commentUrl: 'u', threadId: null, occurredAt: null }],
        },
      ],
    });
    expect(body('/cloud/observations')).toEqual([{ ...observation(1), narrative: null }]);
    const { localReview: _local, local_triage: triage, ...sentCandidate } = candidate;
    const { extra: _e, ...sentTriage } = triage;
    expect(body('/cloud/session-mined-candidates')).toEqual([{ ...sentCandidate, localTriage: sentTriage }]);

    // The key of a single row is the hash of its kind and canonical payload.
    expect(keyOf('/accepted-edits')).toBe(idempotencyKey('accepted_edit', JSON.stringify(PAYLOADS.accepted_edit)));
    expect(keyOf('/cloud/observations')).toBe(idempotencyKey('observation', JSON.stringify(PAYLOADS.observation)));
    expect(cloud.stats().received).toEqual({
      trajectory: 1,
      review_metrics: 1,
      accepted_edit: 1,
      mcp_query: 1,
      imported_reviews: 1,
      observation: 1,
      session_mined_candidate: 1,
    });
  });

  it('batches observations up to 64 per POST, as one JSON array', async () => {
    store.enqueueMany(
      Array.from({ length: 130 }, (_, i) => ({ kind: 'observation', payloadJson: JSON.stringify(observation(i)) })),
    );
    const summary = await runDrainPass({ store, paths, env: env(), batchSize: 200 });
    expect(summary.confirmed).toBe(130);
    const sizes = cloud
      .requests()
      .map((r) => (JSON.parse(r.body) as unknown[]).length)
      .sort((a, b) => b - a);
    expect(sizes).toEqual([64, 64, 2]);
    const hashes = cloud.received('observation').map((r) => (r.body as { content_hash: string }).content_hash);
    expect(new Set(hashes).size).toBe(130);
  });

  it('a row Rust could never parse is abandoned at once with the reason and never sent', async () => {
    store.enqueue('observation', '{not json');
    store.enqueue('observation', JSON.stringify({ ...observation(1), ts_ms: 'yesterday' }));
    store.enqueue('trajectory', JSON.stringify({ steps: [] }));
    store.enqueue('observation', JSON.stringify({ ...observation(2), scope: 'file' }));
    const summary = await runDrainPass({ store, paths, env: env() });
    expect(summary).toMatchObject({ attempted: 4, confirmed: 0, abandoned: 4 });
    expect(cloud.requests()).toHaveLength(0);
    const rows = store.list({ status: 'abandoned' });
    expect(rows.map((r) => r.retryCount)).toEqual([0, 0, 0, 0]);
    expect(rows.map((r) => r.lastError)).toEqual([
      expect.stringMatching(/^invalid payload: observation parse: not JSON: key must be a string at line 1 column 2/),
      "invalid payload: observation parse: invalid type: a string, expected i64 at 'ts_ms'",
      'invalid payload: trajectory missing pr_review_id',
      "invalid payload: observation parse: invalid type: a string, expected a struct (JSON object) at 'scope'",
    ]);
  });

  it('a kind this version does not know is neither sent nor abandoned, and never stalls a pass', async () => {
    store.enqueue('teleport', '{}');
    store.enqueue('mcp_query', '{}');
    const summary = await runDrainPass({ store, paths, env: env() });
    expect(summary).toMatchObject({ attempted: 1, confirmed: 1, abandoned: 0, stoppedBecause: 'idle' });
    expect(store.list().map((r) => [r.kind, r.status, r.retryCount])).toEqual([['teleport', 'pending', 0]]);
    expect(store.unknownKinds()).toEqual([{ kind: 'teleport', count: 1 }]);
    expect(store.nextDueAt()).toBeNull();
  });

  it('an unapproved mined candidate is never claimed (it waits for a human)', async () => {
    store.enqueue('session_mined_candidate', JSON.stringify({ ...candidate, localReview: { status: 'pending' } }));
    const summary = await runDrainPass({ store, paths, env: env() });
    expect(summary.attempted).toBe(0);
    expect(store.counts().pending).toBe(1);
  });
});

describe('Idempotency-Key', () => {
  it('does not depend on key order or whitespace', () => {
    const a = idempotencyKey('observation', '{"b":1,"a":[1,{"y":2,"x":1}]}');
    const b = idempotencyKey('observation', ' { "a" : [1, {"x":1, "y":2}], "b": 1 } ');
    expect(a).toBe(b);
    expect(idempotencyKey('mcp_query', '{"b":1,"a":[1,{"y":2,"x":1}]}')).not.toBe(a);
    expect(canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"e":2,"f":1}]},"b":1}',
    );
  });

  it('is the same after a spill replay as for the row enqueued directly', async () => {
    const payload = observation(7);
    spillRow(paths, 'observation', JSON.stringify(payload, null, 2), 'db locked');
    const summary = await runDrainPass({ store, paths, env: env() });
    expect(summary.spill?.replayed).toBe(1);
    expect(summary.confirmed).toBe(1);
    expect(cloud.requests()[0]?.headers['idempotency-key']).toBe(
      idempotencyKey('observation', JSON.stringify(payload)),
    );
  });

  it('is the same on every retry of a row', async () => {
    cloud.setFaults({ status: 503 });
    store.enqueue('accepted_edit', JSON.stringify(PAYLOADS.accepted_edit));
    let clock = Date.now();
    const now = () => clock;
    const timed = new OutboxStore(db, { now });
    await runDrainPass({ store: timed, paths, env: env(), now, random: () => 0 });
    cloud.setFaults({ status: null });
    clock += 1;
    await runDrainPass({ store: timed, paths, env: env(), now, random: () => 0 });
    const keys = cloud.requests().map((r) => r.headers['idempotency-key']);
    // Jitter 0 makes the row due again at once: it is retried until the breaker opens, then sent once more.
    expect(keys.length).toBeGreaterThanOrEqual(2);
    expect(new Set(keys)).toEqual(new Set([idempotencyKey('accepted_edit', JSON.stringify(PAYLOADS.accepted_edit))]));
    expect(timed.counts().pending).toBe(0);
  });
});

describe('per-row kinds in flight', () => {
  it('keeps at most 8 requests in flight and reuses keep-alive connections', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let requests = 0;
    let connections = 0;
    const held: http.ServerResponse[] = [];
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        requests++;
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        held.push(res);
        // Answer only once eight are waiting: an unbounded client would have sent more by then.
        if (inFlight >= 8 || requests === 40) {
          for (const r of held.splice(0)) {
            inFlight--;
            r.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
          }
        }
      });
    });
    server.on('connection', () => connections++);
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      for (let i = 0; i < 40; i++) {
        store.enqueue('mcp_query', JSON.stringify({ ...(PAYLOADS.mcp_query as object), file: `f${i}.ts` }));
      }
      const summary = await runDrainPass({
        store,
        paths,
        env: { DIFFLORE_CLOUD_URL: url, DIFFLORE_CLOUD_TOKEN: TOKEN },
      });
      expect(summary.confirmed).toBe(40);
      expect(requests).toBe(40);
      expect(maxInFlight).toBe(8);
      expect(connections).toBeLessThanOrEqual(8);
    } finally {
      closeSharedCloudClient();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('route table', () => {
  it('knows every kind the Rust binary queues', () => {
    for (const kind of Object.keys(PAYLOADS)) expect(routeFor(kind)?.kind).toBe(kind);
    expect(routeFor('observation')?.mode).toBe('batch');
    expect(routeFor('fix_acceptance')?.mode).toBe('skip');
    expect(routeFor('nope')).toBeUndefined();
  });

  it('percent-encodes path ids byte by byte with uppercase hex', () => {
    expect(encodePathSegment('a-b.c_d~e')).toBe('a-b.c_d~e');
    expect(encodePathSegment('a/b c?é')).toBe('a%2Fb%20c%3F%C3%A9');
  });

  it('accepted_edit succeeds only when the answer decodes with acceptanceRecorded: true', () => {
    const judge = routeFor('accepted_edit')?.judge;
    const answer = (extra: Record<string, unknown>): string =>
      JSON.stringify({
        ok: true,
        acceptanceRecorded: true,
        attributedRuleIds: [],
        observationsInserted: 0,
        memoryReinforcementRecorded: false,
        memoryReinforcementDeduped: false,
        ...extra,
      });
    expect(judge?.(answer({}))).toEqual({ kind: 'accepted' });
    expect(judge?.(answer({ acceptanceRecorded: false, error: 'missing_team' }))).toEqual({
      kind: 'rejected',
      reason: 'accepted_edit rejected: missing_team',
    });
    expect(judge?.(answer({ acceptanceRecorded: false, error: null }))).toEqual({
      kind: 'rejected',
      reason: 'accepted_edit rejected: no detail',
    });
    // Rust's response type has required fields: a bare flag does not decode.
    expect(judge?.('{"acceptanceRecorded":true}')?.kind).toBe('undecodable');
    // serde: a float is no u32, even 1.0.
    expect(judge?.(answer({}).replace('"observationsInserted":0', '"observationsInserted":1.0'))?.kind).toBe(
      'undecodable',
    );
    expect(judge?.(answer({ observationsInserted: -1 }))?.kind).toBe('undecodable');
    expect(judge?.('<html>')?.kind).toBe('undecodable');
  });

  it('observations and candidates need {received, deduped}; other kinds any JSON; never an empty body', () => {
    for (const kind of ['observation', 'session_mined_candidate']) {
      const judge = routeFor(kind)?.judge;
      expect(judge?.('{"received":1,"deduped":0,"extra":true}')).toEqual({ kind: 'accepted' });
      for (const bad of ['{}', '{"received":1}', '{"received":-1,"deduped":0}', '{"received":1.0,"deduped":0}', '']) {
        expect(judge?.(bad)?.kind, `${kind} ${bad}`).toBe('undecodable');
      }
    }
    for (const kind of ['trajectory', 'review_metrics', 'mcp_query', 'imported_reviews']) {
      const judge = routeFor(kind)?.judge;
      expect(judge?.('null')).toEqual({ kind: 'accepted' });
      expect(judge?.('[1]')).toEqual({ kind: 'accepted' });
      expect(judge?.('')?.kind).toBe('undecodable');
      expect(judge?.('<html>')?.kind).toBe('undecodable');
    }
  });
});
