/**
 * The pure steps of the drain pipeline on their own (classify → plan → settle plan) and the ledger
 * its steps share: which rows are sent, abandoned, confirmed or handed back; how sendable rows become
 * requests and what goes on the wire; what each failure becomes and the plan the store applies; how
 * the ledger counts and reports. No network, no database.
 */
import { describe, expect, it } from 'vitest';
import {
  OBSERVATION_BATCH_MAX,
  batchIdempotencyKey,
  idempotencyKey,
  routeFor,
} from '../../src/adapters/delivery/cloud-routes.js';
import {
  type ClassifyContext,
  type Sendable,
  classifyRow,
  isSendable,
} from '../../src/adapters/delivery/drain-classify.js';
import { planRequests, splitRequest, wireRequest } from '../../src/adapters/delivery/drain-plan.js';
import { type Outcome, outcomeOfFailure, settlePlan } from '../../src/adapters/delivery/drain-settle.js';
import { PassLedger } from '../../src/adapters/delivery/drain-ledger.js';
import type { DrainProgress } from '../../src/adapters/delivery/drain-pass.js';
import type { ClaimedRow } from '../../src/adapters/outbox/outbox-store.js';
import { CLOSED_BREAKER, DEFAULT_POLICY, retryAt } from '../../src/machines/delivery-policy.js';
import { observationPayload } from '../helpers/index.js';

const NOW = 1_700_000_000_000;
const SECRET = 'tok_pipeline_secret_0123456789';
const context: ClassifyContext = { secrets: [SECRET], now: () => NOW, config: DEFAULT_POLICY, random: () => 0.5 };

let nextId = 1;
const rowOf = (kind: string, payloadJson: string, retryCount = 0): ClaimedRow => ({
  id: nextId++,
  kind,
  payloadJson,
  retryCount,
  createdAt: NOW - 1_000,
});
const mcp = (i: number): string =>
  JSON.stringify({ file: `f${i}.ts`, rules_injected: 1, strict_match_count: 0, rule_titles: [], rule_ids: [] });

function sendable(row: ClaimedRow): Sendable {
  const classified = classifyRow(row, context);
  if (!isSendable(classified)) throw new Error(`row ${row.kind} was not sendable: ${JSON.stringify(classified)}`);
  return classified;
}

describe('classify: each claimed row by its kind’s contract', () => {
  it('a batched kind is sendable with its body and no key of its own yet', () => {
    const row = rowOf('observation', observationPayload(1));
    const { route, work } = sendable(row);
    expect(route).toBe(routeFor('observation'));
    expect(work.key).toBeNull();
    expect(JSON.parse(work.text)).toMatchObject({ session_id: 's', file_path: 'f1.ts' });
  });

  it('a per-row kind is sendable with its own Idempotency-Key and path', () => {
    const row = rowOf('mcp_query', mcp(1));
    const { work } = sendable(row);
    expect(work.key).toBe(idempotencyKey('mcp_query', row.payloadJson));
    expect(work.path).toMatch(/^\//);
  });

  it('a payload Rust could never send is abandoned at once with the reason, secrets scrubbed', () => {
    const row = rowOf('observation', `{"session_id":"${SECRET}"}`);
    const outcome = classifyRow(row, context);
    expect(outcome).toMatchObject({ kind: 'abandon', row });
    const error = 'error' in outcome ? outcome.error : '';
    expect(error).toMatch(/^invalid payload: /);
    expect(error).not.toContain(SECRET);
  });

  it('text that is not JSON is abandoned, not sent', () => {
    expect(classifyRow(rowOf('observation', '{not json'), context)).toMatchObject({ kind: 'abandon' });
  });

  it('a kind confirmed without sending (fix_acceptance) is confirmed untouched', () => {
    const row = rowOf('fix_acceptance', 'anything at all');
    expect(classifyRow(row, context)).toEqual({ kind: 'confirm', row });
  });

  it('a kind this version does not know stays pending: handed back without a note or a try', () => {
    const row = rowOf('from_the_future', '{}');
    expect(classifyRow(row, context)).toEqual({ kind: 'release', row });
  });

  it('a payload nested past any stack is abandoned alone with why, never thrown', () => {
    const deep = `${'['.repeat(50_000)}1${']'.repeat(50_000)}`;
    const outcome = classifyRow(rowOf('trajectory', `{"pr_review_id":"pr-1","steps":${deep}}`), context);
    expect(outcome).toMatchObject({
      kind: 'abandon',
      error: expect.stringMatching(/^invalid payload: .*nested deeper/),
    });
  });
});

describe('plan: sendable rows become requests', () => {
  it('batched rows go up to a batch per request, then one request per per-row row, in claim order', () => {
    const obs = Array.from({ length: 150 }, (_, i) => sendable(rowOf('observation', observationPayload(i))));
    const per = Array.from({ length: 3 }, (_, i) => sendable(rowOf('mcp_query', mcp(i))));
    const mixed = [per[0], ...obs.slice(0, 70), per[1], ...obs.slice(70), per[2]] as Sendable[];
    const requests = planRequests(mixed);
    expect(requests.map((r) => [r.route.kind, r.items.length])).toEqual([
      ['observation', OBSERVATION_BATCH_MAX],
      ['observation', OBSERVATION_BATCH_MAX],
      ['observation', 150 - 2 * OBSERVATION_BATCH_MAX],
      ['mcp_query', 1],
      ['mcp_query', 1],
      ['mcp_query', 1],
    ]);
    expect(requests.flatMap((r) => r.items.map((w) => w.row.id))).toEqual([...obs, ...per].map((s) => s.work.row.id));
  });

  it('nothing to send plans no request', () => {
    expect(planRequests([])).toEqual([]);
  });

  it('a batch goes on the wire as a JSON array keyed by its rows’ stored texts', () => {
    const items = [0, 1, 2].map((i) => sendable(rowOf('observation', observationPayload(i))));
    const [request] = planRequests(items);
    const wire = wireRequest(request as NonNullable<typeof request>);
    expect(wire.path).toBe(routeFor('observation')?.route);
    expect(JSON.parse(wire.body)).toHaveLength(3);
    expect(wire.body).toBe(`[${items.map((s) => s.work.text).join(',')}]`);
    expect(wire.idempotencyKey).toBe(
      batchIdempotencyKey(
        'observation',
        items.map((s) => s.work.row.payloadJson),
      ),
    );
  });

  it('a batched row alone keeps the array form and takes its own row key', () => {
    const one = sendable(rowOf('observation', observationPayload(7)));
    const wire = wireRequest({ route: one.route, items: [one.work] });
    expect(wire.body).toBe(`[${one.work.text}]`);
    expect(wire.idempotencyKey).toBe(idempotencyKey('observation', one.work.row.payloadJson));
  });

  it('a per-row request is the row’s body on its own path with its own key', () => {
    const one = sendable(rowOf('mcp_query', mcp(3)));
    expect(wireRequest({ route: one.route, items: [one.work] })).toEqual({
      path: one.work.path,
      body: one.work.text,
      idempotencyKey: one.work.key,
    });
  });

  it('a split request keeps its route and divides its rows at the middle', () => {
    const items = Array.from({ length: 5 }, (_, i) => sendable(rowOf('observation', observationPayload(i))).work);
    const route = routeFor('observation');
    if (route === undefined) throw new Error('no observation route');
    const [left, right] = splitRequest({ route, items }, 3);
    expect(left.items).toEqual(items.slice(0, 3));
    expect(right.items).toEqual(items.slice(3));
    expect(left.route).toBe(route);
  });
});

describe('settle plan: what each outcome does to its row', () => {
  it('a retry verdict schedules the next try behind the policy’s jittered backoff', () => {
    const row = rowOf('mcp_query', mcp(1), 2);
    const verdict = { action: 'retry', error: '503 Service Unavailable', retryAfterMs: null } as const;
    expect(outcomeOfFailure(verdict, row, NOW, context)).toEqual({
      kind: 'retry',
      row,
      error: '503 Service Unavailable',
      at: retryAt(NOW, 3, null, () => 0.5, DEFAULT_POLICY),
    });
  });

  it('a server’s Retry-After is honoured', () => {
    const row = rowOf('mcp_query', mcp(1));
    const verdict = { action: 'retry', error: '429 Too Many Requests', retryAfterMs: 30_000 } as const;
    const outcome = outcomeOfFailure(verdict, row, NOW, context);
    expect(outcome.kind === 'retry' && outcome.at).toBeGreaterThanOrEqual(NOW + 30_000);
  });

  it('an abandon verdict abandons with the error', () => {
    const row = rowOf('mcp_query', mcp(1));
    expect(outcomeOfFailure({ action: 'abandon', error: '400 Bad Request' }, row, NOW, context)).toEqual({
      kind: 'abandon',
      row,
      error: '400 Bad Request',
    });
  });

  it('outcomes are grouped for one transaction; released rows take the first note given', () => {
    const [a, b, c, d, e, f, g] = Array.from({ length: 7 }, (_, i) => rowOf('mcp_query', mcp(i))) as [
      ClaimedRow,
      ClaimedRow,
      ClaimedRow,
      ClaimedRow,
      ClaimedRow,
      ClaimedRow,
      ClaimedRow,
    ];
    const outcomes: Outcome[] = [
      { kind: 'confirm', row: a },
      { kind: 'release', row: b },
      { kind: 'retry', row: c, error: 'x', at: NOW + 5 },
      { kind: 'release', row: d, note: 'first note' },
      { kind: 'abandon', row: e, error: 'y' },
      { kind: 'release', row: f, note: 'second note' },
      { kind: 'confirm', row: g },
    ];
    expect(settlePlan(outcomes)).toEqual({
      confirm: [a.id, g.id],
      retry: [{ id: c.id, error: 'x', at: NOW + 5 }],
      abandon: [{ id: e.id, error: 'y' }],
      release: [b.id, d.id, f.id],
      releaseNote: 'first note',
    });
  });

  it('rows handed back without a note keep their last error', () => {
    expect(settlePlan([{ kind: 'release', row: rowOf('x', '{}') }]).releaseNote).toBeNull();
  });
});

describe('the pass ledger: what the steps of one pass share', () => {
  it('reports the breaker only when its state changes, and keeps the last error of a failure', () => {
    const events: DrainProgress[] = [];
    const ledger = new PassLedger(CLOSED_BREAKER, (e) => events.push(e));
    const failure = { type: 'response', status: 503, body: '', retryAfter: null } as const;
    const verdict = { action: 'retry', error: '503 Service Unavailable', retryAfterMs: null } as const;
    const judged = { now: NOW, tokenFingerprint: 'f', config: DEFAULT_POLICY, random: () => 0.5 };
    ledger.judged(failure, verdict, judged);
    ledger.judged(failure, verdict, judged);
    expect(events).toEqual([]);
    ledger.judged(failure, verdict, judged);
    expect(events).toEqual([{ type: 'breaker', breaker: ledger.breaker }]);
    expect(ledger.breaker.state).toBe('open');
    expect(ledger.shut(NOW)).toBe(true);
    expect(ledger.lastError).toBe('503 Service Unavailable');
    expect(ledger.observed).toMatchObject({ outcome: 'failing' });
  });

  it('rows handed back untried are taken off the attempted count, and each settled claim is reported', () => {
    const events: DrainProgress[] = [];
    const ledger = new PassLedger(CLOSED_BREAKER, (e) => events.push(e));
    ledger.claimed(10);
    ledger.settled({ confirmed: 5, retried: 2, abandoned: 1, released: 2 }, 2);
    expect(ledger.totals).toEqual({ attempted: 8, confirmed: 5, retried: 2, abandoned: 1 });
    expect(ledger.released).toBe(2);
    expect(events).toEqual([{ type: 'progress', attempted: 8, confirmed: 5, retried: 2, abandoned: 1 }]);
  });

  it('a refused token stops the pass and tells the user what to do', () => {
    const events: DrainProgress[] = [];
    const ledger = new PassLedger(CLOSED_BREAKER, (e) => events.push(e));
    expect(ledger.stopped()).toBe(false);
    ledger.refused('log in again');
    expect(ledger).toMatchObject({ stop: 'auth', authProblem: 'log in again', lastError: 'log in again' });
    expect(ledger.stopped()).toBe(true);
    expect(events).toEqual([{ type: 'waiting_for_auth', reason: 'log in again' }]);
  });

  it('a cancelled signal stops the pass', () => {
    const controller = new AbortController();
    const ledger = new PassLedger(CLOSED_BREAKER, undefined, controller.signal);
    controller.abort();
    expect(ledger.stopped()).toBe(true);
  });
});
