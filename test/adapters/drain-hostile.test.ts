/**
 * Hostile payloads in the drain (issue 9, case 1): a row nested deeper than the call stack must
 * settle alone, with its reason, while every other row of the batch and the pass is delivered; and
 * the Idempotency-Key's canonical JSON must not recurse as deep as its input. Real SQLite, the
 * reference cloud on loopback.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson, idempotencyKey } from '../../src/adapters/delivery/cloud-routes.js';
import { type Database, openDatabase } from '../../src/adapters/outbox/db.js';
import { closeSharedCloudClient, runDrainPass } from '../../src/adapters/delivery/drain-pass.js';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import { OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { type ReferenceCloud, startReferenceCloud } from '../../src/reference-cloud/server.js';
import { makeTempHome } from '../helpers/index.js';

const TOKEN = 'tok_drain_hostile_0123456789';

/** The recursive definition the iterative one must agree with (fine for the shallow values fast-check makes). */
function recursiveCanonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => recursiveCanonical(v === undefined ? null : v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${recursiveCanonical(obj[k])}`).join(',')}}`;
}

const OBSERVATION = {
  session_id: 's',
  ts_ms: 0,
  obs_type: 'edit',
  tool: 'Edit',
  file_path: 'f.ts',
  title: 't',
  narrative: 'n',
  diff_excerpt: 'd',
  content_hash: 'h',
};

/** `depth` nested arrays around `inner`, as text: a few bytes per level. */
const nested = (depth: number, inner = '1'): string => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;

describe('canonicalJson', () => {
  it('agrees with the recursive definition on any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(value)).toBe(recursiveCanonical(value));
      }),
      { numRuns: 300 },
    );
  });

  it('sorts keys at every level and handles 200,000 levels of nesting without recursion', () => {
    expect(canonicalJson({ b: [1, { d: 1, c: null }], a: 'x' })).toBe('{"a":"x","b":[1,{"c":null,"d":1}]}');
    const deep = JSON.parse(nested(200_000)) as unknown;
    expect(canonicalJson(deep)).toBe(nested(200_000));
    expect(idempotencyKey('trajectory', nested(200_000))).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('one hostile row never stalls the pass', () => {
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
    cloud = await startReferenceCloud();
  });

  afterEach(async () => {
    closeSharedCloudClient();
    await cloud.close();
    db.close();
    temp.cleanup();
  });

  it('rows nested past the stack are abandoned alone with the reason; every other row is delivered', async () => {
    const deep = nested(50_000);
    const good: number[] = [];
    for (let i = 0; i < 20; i++) {
      good.push(store.enqueue('mcp_query', JSON.stringify({ file: `f${i}.ts`, rules_injected: 1 })));
      good.push(
        store.enqueue(
          'observation',
          JSON.stringify({ ...OBSERVATION, ts_ms: i, file_path: `f${i}.ts`, content_hash: `h${i}` }),
        ),
      );
    }
    const poison = [
      store.enqueue('trajectory', `{"pr_review_id":"pr-1","steps":${deep}}`),
      store.enqueue('observation', `${JSON.stringify(OBSERVATION).slice(0, -1)},"x":${deep}}`),
      store.enqueue('mcp_query', `{"file":"deep.ts","rules_injected":1,"extra":${deep}}`),
    ];

    const summary = await runDrainPass({
      store,
      paths,
      env: { DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN },
      random: () => 0.5,
    });

    // Poison rows whose body drops the deep field are simply delivered; the good ones always are.
    expect(summary.confirmed).toBeGreaterThanOrEqual(good.length);
    const left = store.list({ limit: 100 });
    expect(left.filter((r) => good.includes(r.id))).toEqual([]);
    // Whatever the contract makes of a poison row, it is settled: confirmed or abandoned, never left processing.
    expect(left.filter((r) => r.status !== 'abandoned')).toEqual([]);
    for (const r of left) {
      expect(poison).toContain(r.id);
      expect(r.lastError).toMatch(/\S/);
      expect(r.retryCount).toBe(0);
    }
    // At least the ones that cannot be serialised are abandoned, naming the cause.
    expect(left.some((r) => /stack|prepare|nest|deep/i.test(r.lastError ?? ''))).toBe(true);
    const stats = cloud.stats();
    expect((stats.received.mcp_query ?? 0) + (stats.received.observation ?? 0)).toBeGreaterThanOrEqual(good.length);
  });
});
