/**
 * The payload contracts against the Rust delivery contract (reference/rust-wire.md §2): hand-written
 * golden rows per kind with the exact body Rust sends, generated rows for all 8 kinds (the expected
 * bodies come from test/helpers/rust-rows.ts, written from the same tables on their own), and the
 * same generated rows through a real drain pass against the real reference cloud on loopback: each
 * row Rust would send arrives with Rust's body, each one Rust cannot parse is abandoned at once with
 * a reason, a kind this version does not know stays pending, and nothing is lost or stalls the pass.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/adapters/outbox/db.js';
import { closeSharedCloudClient, runDrainPass } from '../../src/adapters/delivery/drain-pass.js';
import { ensureHome } from '../../src/adapters/home/home.js';
import { OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { type ReferenceCloud, startReferenceCloud } from '../../src/reference-cloud/server.js';
import { contractFor, KNOWN_KINDS, parseRow, stringifyJson } from '../../src/machines/contracts/index.js';
import { JsonNumber, parseJson } from '../../src/machines/contracts/json.js';
import { makeTempHome } from '../helpers/index.js';
import { anyRustRow, ROWS_BY_KIND, type RustRow } from '../helpers/rust-rows.js';

/** Reads a stored row as the drain does: the path and exact body text, or the reason. */
function read(kind: string, stored: string): { path: string; body: string } | { reason: string } {
  const contract = contractFor(kind);
  if (contract === undefined) throw new Error(`no contract for ${kind}`);
  const result = parseRow(contract, stored);
  return result.ok ? { path: result.path, body: stringifyJson(result.body) } : { reason: result.reason };
}

const OBS_HOOK_ROW =
  '{"session_id":"s","ts_ms":1760000000000,"obs_type":"change","tool":"Edit","file_path":null,' +
  '"scope":{"anchor_kind":"file","anchor_key":"src/a.ts","display_name":null},"title":"t","diff_excerpt":"d",' +
  '"content_hash":"0123456789abcdef","extra":1}';

const CANDIDATE = {
  session_id: 's',
  ts_ms: 1,
  source_repo: 'acme/app',
  title: 'Prefer const',
  body: 'Use const.',
  file_patterns: ['src/**'],
  gate_model: 'g',
  gate_verdict: 'MERGE:rule-7',
  content_hash: 'h',
  origin: 'session_mined',
  requires_human_approval: true,
};

/** [kind, stored row, path, exact body Rust sends] — straight from rust-wire.md §2. */
const GOLDEN: readonly [string, string, string, string][] = [
  // §2.7: a Rust hook's row: a scope object (its None display_name dropped), null file_path, a missing
  // narrative sent as null, an unknown key dropped, struct order.
  [
    'observation',
    OBS_HOOK_ROW,
    '/cloud/observations',
    '{"session_id":"s","ts_ms":1760000000000,"obs_type":"change","tool":"Edit","file_path":null,' +
      '"scope":{"anchor_kind":"file","anchor_key":"src/a.ts"},"title":"t","narrative":null,"diff_excerpt":"d",' +
      '"content_hash":"0123456789abcdef"}',
  ],
  // An i64 beyond 2^53 keeps every digit.
  [
    'observation',
    '{"session_id":"","ts_ms":9007199254740993,"obs_type":"x","tool":"Write","title":"","content_hash":"h"}',
    '/cloud/observations',
    '{"session_id":"","ts_ms":9007199254740993,"obs_type":"x","tool":"Write","file_path":null,"title":"",' +
      '"narrative":null,"diff_excerpt":null,"content_hash":"h"}',
  ],
  // §2.5: defaults, filtering, first 10, intent null, client default, trimmed repo.
  [
    'mcp_query',
    '{"file":"a.ts","intent":null,"rules_injected":37,"strict_match_count":-1,"rule_titles":["a",1,null,"b"],' +
      '"rule_ids":"x","client_label":null,"repo_full_name":"  acme/app  "}',
    '/dashboard/mcp-query',
    '{"file":"a.ts","intent":null,"rulesInjected":37,"strictMatchCount":0,"ruleTitles":["a","b"],"ruleIds":[],' +
      '"client":"mcp-server","repoFullName":"acme/app"}',
  ],
  [
    'mcp_query',
    '[]',
    '/dashboard/mcp-query',
    '{"file":"","intent":null,"rulesInjected":0,"strictMatchCount":0,"ruleTitles":[],"ruleIds":[],"client":"mcp-server"}',
  ],
  [
    'mcp_query',
    `{"file":1,"intent":"why","rules_injected":2.0,"rule_ids":${JSON.stringify(Array.from({ length: 12 }, (_, i) => `r${i}`))},"client_label":"","repo_full_name":" "}`,
    '/dashboard/mcp-query',
    `{"file":"","intent":"why","rulesInjected":0,"strictMatchCount":0,"ruleTitles":[],"ruleIds":${JSON.stringify(Array.from({ length: 10 }, (_, i) => `r${i}`))},"client":""}`,
  ],
  // §2.1: an empty id is a string; steps null is sent as null; missing steps become [].
  ['trajectory', '{"pr_review_id":"","steps":null}', '/reviews//trajectory', '{"steps":null}'],
  ['trajectory', '{"pr_review_id":"a/b c","x":1}', '/reviews/a%2Fb%20c/trajectory', '{"steps":[]}'],
  [
    'trajectory',
    '{"pr_review_id":"r","steps":[{"kind":"llm_call","cost":1.0,"big":12345678901234567890}]}',
    '/reviews/r/trajectory',
    '{"steps":[{"kind":"llm_call","cost":1.0,"big":12345678901234567890}]}',
  ],
  // §2.2: None omitted, unknown and snake_case keys dropped, a missing req is {}.
  [
    'review_metrics',
    '{"review_id":"r","req":{"inputTokens":1,"estimatedCostUsd":0.5,"input_tokens":9,"durationMs":null}}',
    '/reviews/r/metrics',
    '{"inputTokens":1,"estimatedCostUsd":0.5}',
  ],
  ['review_metrics', '{"review_id":"r 1"}', '/reviews/r%201/metrics', '{}'],
  // §2.3: None omitted (filePath too), ruleIds omitted when empty or missing.
  [
    'accepted_edit',
    '{"filePath":null,"afterCode":"b","beforeCode":"a","ruleIds":[],"targetPrNumber":7}',
    '/accepted-edits',
    '{"beforeCode":"a","afterCode":"b","targetPrNumber":7}',
  ],
  [
    'accepted_edit',
    '{"beforeCode":"a","afterCode":"b","ruleIds":["r1"],"client":"claude-code"}',
    '/accepted-edits',
    '{"beforeCode":"a","afterCode":"b","client":"claude-code","ruleIds":["r1"]}',
  ],
  // §2.6: some None omitted, others null.
  [
    'imported_reviews',
    '{"reviews":[{"repoFullName":"a/b","prNumber":3,"comments":[{"eventType":"issue_comment","content":"c",' +
      '"commentUrl":"u","lineNumber":7,"extra":true}]}],"other":1}',
    '/reviews/import',
    '{"reviews":[{"repoFullName":"a/b","prNumber":3,"prTitle":null,"comments":[{"eventType":"issue_comment",' +
      '"filePath":null,"lineNumber":7,"content":"c","author":null,"commentUrl":"u","threadId":null,"occurredAt":null}]}]}',
  ],
  // §2.8: alias local_triage read, sent as localTriage; localReview dropped; unknown triage status → "unknown".
  [
    'session_mined_candidate',
    JSON.stringify({
      ...CANDIDATE,
      local_triage: { status: 'superseded_by', reason: 'newer', ref: 'other', at: 5, note: 'x' },
      localReview: { status: 'APPROVED' },
    }),
    '/cloud/session-mined-candidates',
    JSON.stringify([{ ...CANDIDATE, localTriage: { status: 'superseded_by', reason: 'newer', ref: 'other', at: 5 } }]),
  ],
  [
    'session_mined_candidate',
    JSON.stringify({
      ...CANDIDATE,
      localTriage: { status: 'renamed_later', reason: '', at: -1 },
      localEvidence: { updatedAt: 2, distinctEvidenceCount: 3 },
    }),
    '/cloud/session-mined-candidates',
    JSON.stringify([
      {
        ...CANDIDATE,
        localTriage: { status: 'unknown', reason: '', at: -1 },
        localEvidence: { distinctEvidenceCount: 3, updatedAt: 2 },
      },
    ]),
  ],
  // A triage that does not decode is dropped, not an error.
  [
    'session_mined_candidate',
    JSON.stringify({ ...CANDIDATE, localTriage: { status: 'dropped_low_signal' } }),
    '/cloud/session-mined-candidates',
    JSON.stringify([CANDIDATE]),
  ],
];

/** [kind, stored row, what the reason says] — rows Rust could never parse. */
const NEVER: readonly [string, string, RegExp][] = [
  ['observation', 'null', /invalid type: null/],
  ['observation', '[]', /invalid type/],
  [
    'observation',
    OBS_HOOK_ROW.replace('1760000000000', '1760000000000.0'),
    /floating point `1760000000000.0`, expected i64/,
  ],
  ['observation', OBS_HOOK_ROW.replace('"scope":{', '"scope":"file","x":{'), /expected a struct .* at 'scope'/],
  ['observation', OBS_HOOK_ROW.replace('"src/a.ts"', '1'), /at 'scope.anchor_key'/],
  ['observation', OBS_HOOK_ROW.replace('"title":"t"', '"title":"t","title":"u"'), /duplicate field `title`/],
  ['observation', OBS_HOOK_ROW.replace('"d"', '"\\ud800"'), /lone leading surrogate/],
  ['observation', OBS_HOOK_ROW.replace('1760000000000', '1e400'), /number out of range/],
  ['trajectory', '{"steps":[]}', /trajectory missing pr_review_id/],
  ['trajectory', '{"pr_review_id":7}', /trajectory missing pr_review_id/],
  ['review_metrics', '{"review_id":"r","req":null}', /decode req: invalid type: null/],
  ['review_metrics', '{"review_id":"r","req":{"inputTokens":1.0}}', /floating point `1.0`, expected u32/],
  ['review_metrics', '{"review_id":"r","req":{"inputTokens":4294967296}}', /expected u32/],
  ['review_metrics', '{"review_id":"r","req":{"durationMs":-1}}', /expected u64/],
  ['accepted_edit', '{"beforeCode":"a","afterCode":"b","ruleIds":null}', /invalid type: null, expected a sequence/],
  ['accepted_edit', '{"beforeCode":"a","afterCode":"b","ruleIds":["a",1]}', /at 'ruleIds\[1\]'/],
  ['accepted_edit', '{"before_code":"a","after_code":"b"}', /missing field `beforeCode`/],
  ['imported_reviews', '{"reviews":[{"repoFullName":"a","prNumber":2147483648,"comments":[]}]}', /expected i32/],
  [
    'imported_reviews',
    '{"reviews":[{"repoFullName":"a","prNumber":1,"comments":[{"eventType":"push","content":"c","commentUrl":"u"}]}]}',
    /unknown variant `push`/,
  ],
  ['imported_reviews', '{}', /missing field `reviews`/],
  [
    'session_mined_candidate',
    JSON.stringify({ ...CANDIDATE, localTriage: { status: 'x', reason: 'r', at: 1 }, local_triage: null }),
    /duplicate field `localTriage`/,
  ],
  [
    'session_mined_candidate',
    JSON.stringify({ ...CANDIDATE, localEvidence: { distinctEvidenceCount: -1, updatedAt: 1 } }),
    /expected usize/,
  ],
  ['session_mined_candidate', JSON.stringify({ ...CANDIDATE, gate_verdict: 'keep' }), /validate: gate_verdict/],
  [
    'session_mined_candidate',
    JSON.stringify({ ...CANDIDATE, localTriage: { status: 'clustered_into', reason: 'r', ref: 'h', at: 1 } }),
    /validate: localTriage.ref is the candidate itself/,
  ],
  ['session_mined_candidate', JSON.stringify({ session_id: 's' }), /missing field `ts_ms`/],
];

describe('the JSON reader reads as serde_json does', () => {
  it('keeps number lexemes, refuses what serde refuses, and treats "__proto__" as a key', () => {
    const read = parseJson('{"a":1.0,"b":-0,"c":12345678901234567890,"d":7,"__proto__":{"x":1}}');
    if (!read.ok) throw new Error(read.reason);
    const v = read.value as Record<string, unknown>;
    expect(v.a).toEqual(new JsonNumber('1.0'));
    expect((v.a as JsonNumber).isInteger).toBe(false);
    expect((v.b as JsonNumber).isInteger).toBe(false); // serde_json reads -0 as the float -0.0
    expect((v.c as JsonNumber).isInteger).toBe(true);
    expect(v.d).toBe(7);
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toContain('__proto__');
    expect(stringifyJson(v)).toBe('{"a":1.0,"b":-0,"c":12345678901234567890,"d":7,"__proto__":{"x":1}}');
    for (const bad of [
      '{"a":1,}',
      '[1 2]',
      '"\\ud800"',
      '1e400',
      '01',
      '{"a":1} x',
      '"a\tb"',
      '['.repeat(129) + ']'.repeat(129),
    ]) {
      expect(parseJson(bad).ok, bad).toBe(false);
    }
    expect(parseJson('['.repeat(128) + ']'.repeat(128)).ok).toBe(true);
  });
});

describe('golden rows from rust-wire.md', () => {
  it.each(GOLDEN.map((g, i) => [i, ...g] as const))(
    '#%i %s: Rust’s path and exact body',
    (_, kind, stored, path, body) => {
      expect(read(kind, stored)).toEqual({ path, body });
    },
  );

  it.each(NEVER.map((n, i) => [i, ...n] as const))(
    '#%i %s that Rust cannot parse says why',
    (_, kind, stored, reason) => {
      const result = read(kind, stored);
      expect(result).toHaveProperty('reason');
      expect((result as { reason: string }).reason).toMatch(reason);
    },
  );

  it('fix_acceptance is never parsed: any text is confirmed without a request', () => {
    const contract = contractFor('fix_acceptance');
    expect(contract?.mode).toBe('skip');
    expect(contract && parseRow(contract, 'not json at all').ok).toBe(true);
  });

  it('knows exactly the 8 kinds the Rust binary queues', () => {
    expect([...KNOWN_KINDS].sort()).toEqual(Object.keys(ROWS_BY_KIND).sort());
  });
});

describe('generated rows, read by the contract', () => {
  it.each(Object.keys(ROWS_BY_KIND))('%s: the body Rust sends, or the refusal Rust gives', (kind) => {
    fc.assert(
      fc.property(ROWS_BY_KIND[kind] as fc.Arbitrary<RustRow>, (row) => {
        const contract = contractFor(kind);
        if (contract === undefined) throw new Error('no contract');
        const result = parseRow(contract, row.stored);
        if (row.outcome === 'skipped') {
          expect(contract.mode).toBe('skip');
          return;
        }
        if (row.outcome === 'unparseable') {
          expect(result.ok, `${row.stored} should be refused`).toBe(false);
          expect(result.ok ? '' : result.reason).toMatch(/\S/);
          return;
        }
        expect(result.ok ? '' : result.reason).toBe('');
        if (result.ok) {
          expect(result.path).toBe(row.path);
          expect(stringifyJson(result.body)).toBe(row.body);
        }
      }),
      { numRuns: 120 },
    );
  });
});

describe('generated rows through a real drain and the reference cloud', () => {
  let cloud: ReferenceCloud;
  const TOKEN = 'tok_contracts_0123456789';
  beforeAll(async () => {
    cloud = await startReferenceCloud({ token: TOKEN, recordRequests: true });
  });
  afterAll(async () => {
    closeSharedCloudClient();
    await cloud.close();
  });

  it('delivers each sendable row with Rust’s body, abandons each unparseable one at once, leaves unknown kinds pending', async () => {
    const unknownRow = fc.record({
      kind: fc.constantFrom('teleport', 'observation_v2', 'x'),
      stored: fc.constantFrom('{}', '[1]', '{"a":null}'),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(anyRustRow, { minLength: 1, maxLength: 40 }),
        fc.array(unknownRow, { maxLength: 3 }),
        async (rows, unknown) => {
          const temp = makeTempHome();
          const paths = ensureHome(temp.home);
          const db = openDatabase(paths.db);
          const store = new OutboxStore(db);
          const seen = cloud.requests().length;
          try {
            const ids = store.enqueueMany([
              ...rows.map((r) => ({ kind: r.kind, payloadJson: r.stored })),
              ...unknown.map((u) => ({ kind: u.kind, payloadJson: u.stored })),
            ]);
            const summary = await runDrainPass({
              store,
              paths,
              env: { DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN },
            });
            expect(summary.stoppedBecause).toBe('idle');
            checkDelivery(rows, ids, unknown.length, store, cloud.requests().slice(seen));
          } finally {
            db.close();
            temp.cleanup();
          }
        },
      ),
      { numRuns: 8 },
    );
    expect(Object.keys(cloud.stats().byStatus)).toEqual(['200']);
  });
});

/** Compares what the cloud received with what Rust sends for each row, and what is left in the store. */
function checkDelivery(
  rows: readonly RustRow[],
  ids: readonly number[],
  unknownCount: number,
  store: OutboxStore,
  requests: readonly { path: string; body: string }[],
): void {
  const left = new Map(store.list({ limit: 1000 }).map((r) => [r.id, r]));
  // Every request body as sent; a batch's elements one by one (re-serialised: safe integers only here).
  const received: string[] = [];
  for (const r of requests) {
    if (r.path === '/cloud/observations') {
      for (const item of JSON.parse(r.body) as unknown[]) received.push(`${r.path} ${JSON.stringify(item)}`);
    } else received.push(`${r.path} ${r.body}`);
  }
  const expected: string[] = [];
  rows.forEach((row, i) => {
    const stored = left.get(ids[i] as number);
    if (row.outcome === 'sent') {
      expect(stored, `sent row ${row.kind} ${row.stored} left as ${stored?.lastError}`).toBeUndefined();
      expected.push(`${row.path} ${row.body}`);
    } else if (row.outcome === 'skipped') {
      expect(stored).toBeUndefined();
    } else {
      expect(stored, `${row.kind} ${row.stored}`).toMatchObject({ status: 'abandoned', retryCount: 0 });
      expect(stored?.lastError).toMatch(/^invalid payload: \S/);
    }
  });
  expect(received.sort()).toEqual(expected.sort());
  const pending = [...left.values()].filter((r) => r.status !== 'abandoned');
  expect(pending).toHaveLength(unknownCount);
  for (const r of pending) expect(r).toMatchObject({ status: 'pending', retryCount: 0, lastError: null });
}

describe('the reference cloud judges requests by the Rust contract (its own tables)', () => {
  let cloud: ReferenceCloud;
  beforeAll(async () => {
    cloud = await startReferenceCloud();
  });
  afterAll(async () => {
    await cloud.close();
  });
  let n = 0;
  const post = async (path: string, body: string): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(`${cloud.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `key-${n++}` },
      body,
    });
    return { status: res.status, json: await res.json() };
  };

  it('accepts every golden body Rust sends, and answers with the shapes Rust decodes', async () => {
    for (const [kind, stored] of GOLDEN) {
      const r = read(kind, stored);
      if (!('body' in r)) throw new Error(r.reason);
      const body = contractFor(kind)?.mode === 'batch' ? `[${r.body}]` : r.body;
      const answer = await post(r.path === '/reviews//trajectory' ? '/reviews/x/trajectory' : r.path, body);
      expect(answer.status, `${kind} ${body} → ${JSON.stringify(answer.json)}`).toBe(200);
      // The contract's own judge accepts the answer, as Rust's decoder would.
      expect(contractFor(kind)?.judge(JSON.stringify(answer.json))).toEqual({ kind: 'accepted' });
    }
  });

  it('accepts the hooks’ ObservationEvent elements on the same route (rust-wire §3)', async () => {
    const events = [
      { event_type: 'rule_fired', rule_ids: ['r1'], session_id: 's', fired_at: '2026-05-05T12:00:00Z' },
      {
        event_type: 'mcp_rule_served',
        tool: 'search_rules',
        session_id: 's',
        query_hash: 'q',
        rule_ids: [],
        top_k: 5,
        was_empty: true,
        strict_match_count: 0,
        estimated_tokens: 120,
        served_at: '2026-05-05T12:00:00.123Z',
      },
      {
        event_type: 'fix_outcome',
        rule_id: 'r',
        session_id: 's',
        accepted: false,
        occurred_at: '2026-05-05T12:00:00+02:00',
        mcp_serve_event_ids: [1, 2],
      },
    ];
    const answer = await post('/cloud/observations', JSON.stringify(events));
    expect(answer).toEqual({ status: 200, json: { received: 3, deduped: 0 } });
  });

  it.each([
    // A stored row sent as is: Rust never sends its null display_name, nor its unknown key.
    ['/cloud/observations', `[${OBS_HOOK_ROW}]`, /'\[0\]\.scope\.display_name' is null/],
    [
      '/cloud/observations',
      `[${OBS_HOOK_ROW.replace(',"display_name":null', '').replace('"title":"t"', '"title":"t","narrative":null')}]`,
      /unexpected key '\[0\]\.extra'/,
    ],
    [
      '/cloud/observations',
      '[{"session_id":"s","ts_ms":1,"obs_type":"x","tool":"Edit","title":"t","content_hash":"h"}]',
      /file_path.*missing/,
    ],
    [
      '/cloud/observations',
      '[{"session_id":"s","ts_ms":1.0,"obs_type":"x","tool":"Edit","file_path":null,"title":"t","narrative":null,"diff_excerpt":null,"content_hash":"h"}]',
      /ts_ms.*integer/,
    ],
    [
      '/cloud/observations',
      '[{"session_id":"s","ts_ms":1,"obs_type":"x","tool":"Edit","file_path":null,"scope":"file","title":"t","narrative":null,"diff_excerpt":null,"content_hash":"h"}]',
      /scope.*object/,
    ],
    [
      '/cloud/observations',
      '[{"event_type":"rule_fired","rule_ids":[],"session_id":"s","fired_at":"yesterday"}]',
      /RFC 3339/,
    ],
    [
      '/dashboard/mcp-query',
      '{"file":"a","rulesInjected":1,"strictMatchCount":0,"ruleTitles":[],"ruleIds":[],"client":"c"}',
      /intent.*missing/,
    ],
    [
      '/dashboard/mcp-query',
      '{"file":"a","intent":null,"rulesInjected":1,"strictMatchCount":0,"ruleTitles":[],"ruleIds":[],"client":"c","repoFullName":null}',
      /repoFullName.*null/,
    ],
    ['/accepted-edits', '{"beforeCode":"a","afterCode":"b","filePath":null}', /filePath.*null/],
    ['/accepted-edits', '{"beforeCode":"a","afterCode":"b","ruleIds":[]}', /ruleIds.*fewer than 1/],
    ['/reviews/r/metrics', '{"inputTokens":null}', /inputTokens.*null/],
    ['/reviews/r/trajectory', '{}', /steps.*missing/],
    ['/reviews/a%2fb/trajectory', '{"steps":[]}', /not escaped/],
    ['/reviews/import', '{"reviews":[{"repoFullName":"a","prNumber":1,"comments":[]}]}', /prTitle.*missing/],
    [
      '/cloud/session-mined-candidates',
      JSON.stringify([{ ...CANDIDATE, localReview: { status: 'approved' } }]),
      /unexpected key '\[0\]\.localReview'/,
    ],
    ['/cloud/session-mined-candidates', JSON.stringify([{ ...CANDIDATE, origin: 'x' }]), /origin/],
  ])('400 for %s %s', async (path, body, detail) => {
    const answer = await post(path, body);
    expect(answer.status).toBe(400);
    expect((answer.json as { detail: string }).detail).toMatch(detail);
  });
});
