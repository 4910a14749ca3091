/**
 * The delivery summary's pure rules: how each pass moves it, what a request's result says about the
 * cloud, the cause in plain words, and reading it back from a state file.
 */
import { describe, expect, it } from 'vitest';
import { isInvalidName } from '../../src/adapters/home/special-names.js';
import { CLOSED_BREAKER, judgeAttempt } from '../../src/machines/delivery-policy.js';
import {
  causeInWords,
  deliveryRecord,
  INITIAL_DELIVERY,
  nextDelivery,
  observeAttempt,
  type PassDeliveryFacts,
  reviveDelivery,
  transportCode,
} from '../../src/machines/delivery-summary.js';

const pass = (finishedAt: number, facts: Partial<PassDeliveryFacts> = {}): PassDeliveryFacts => ({
  finishedAt,
  nextDueAt: null,
  outcome: null,
  errorCode: null,
  lastError: null,
  rowsWaiting: false,
  breaker: CLOSED_BREAKER,
  ...facts,
});

describe('nextDelivery', () => {
  it('starts never-tried; nothing to send is idle; a success is ok and stays ok with nothing to send', () => {
    expect(INITIAL_DELIVERY.state).toBe('never-tried');
    const idle = nextDelivery(INITIAL_DELIVERY, pass(1_000));
    expect(idle).toMatchObject({ state: 'idle', since: 1_000 });
    const ok = nextDelivery(idle, pass(2_000, { outcome: 'ok', cloudUrl: 'http://127.0.0.1:1' }));
    expect(ok).toMatchObject({ state: 'ok', since: 2_000, lastSuccessAtMs: 2_000, cloudUrl: 'http://127.0.0.1:1' });
    expect(nextDelivery(ok, pass(3_000))).toMatchObject({ state: 'ok', since: 2_000, lastSuccessAtMs: 2_000 });
  });

  it('a failure sets state, since, error and breaker; a pass that sends nothing keeps them', () => {
    const down = nextDelivery(
      INITIAL_DELIVERY,
      pass(1_000, {
        outcome: 'unreachable',
        errorCode: 'ECONNREFUSED',
        lastError: 'transport: x: connect ECONNREFUSED',
        rowsWaiting: true,
        nextDueAt: 31_000,
        breaker: { state: 'open', openUntil: 31_000 },
      }),
    );
    expect(down).toMatchObject({
      state: 'unreachable',
      since: 1_000,
      errorCode: 'ECONNREFUSED',
      lastError: 'transport: x: connect ECONNREFUSED',
      nextAttemptAtMs: 31_000,
      breaker: { open: true, until: 31_000 },
    });
    const quiet = nextDelivery(down, pass(2_000, { rowsWaiting: true, nextDueAt: 31_000 }));
    expect(quiet).toMatchObject({ state: 'unreachable', since: 1_000, errorCode: 'ECONNREFUSED' });
    // The failing rows are gone (abandoned, purged): nothing waits, so nothing is stuck.
    expect(nextDelivery(down, pass(3_000))).toMatchObject({ state: 'idle', lastError: null, errorCode: null });
    // A different failure is a new state with a new since.
    const failing = nextDelivery(down, pass(4_000, { outcome: 'failing', errorCode: 'http_503', rowsWaiting: true }));
    expect(failing).toMatchObject({ state: 'failing', since: 4_000, errorCode: 'http_503' });
  });

  it('rows waiting but none sent after idle: never-tried until something succeeded', () => {
    const idle = nextDelivery(INITIAL_DELIVERY, pass(1_000));
    expect(nextDelivery(idle, pass(2_000, { rowsWaiting: true })).state).toBe('never-tried');
  });

  it('journals identifiers and times only, and revives what a state file holds', () => {
    const down = nextDelivery(
      INITIAL_DELIVERY,
      pass(1_000, {
        outcome: 'auth-rejected',
        errorCode: 'http_401',
        lastError: '401 Unauthorized',
        rowsWaiting: true,
      }),
    );
    expect(deliveryRecord(down)).toEqual({
      state: 'auth-rejected',
      since: 1_000,
      errorCode: 'http_401',
      lastSuccessAtMs: null,
      nextAttemptAtMs: null,
      breakerOpen: false,
      breakerUntil: null,
    });
    expect(reviveDelivery(JSON.parse(JSON.stringify(down)))).toEqual(down);
    expect(reviveDelivery({ state: 'bogus' })).toBeNull();
    expect(reviveDelivery('garbage')).toBeNull();
  });
});

describe('what a request says about delivery', () => {
  const context = { label: 'post_observations', secrets: [], now: 0 };
  const observe = (attempt: Parameters<typeof judgeAttempt>[0]) =>
    observeAttempt(attempt, judgeAttempt(attempt, context));

  it('transport errors are unreachable, 5xx/429 failing, 401/403 auth-rejected, 2xx and a row-blaming 4xx ok', () => {
    expect(observe({ type: 'network', message: 'getaddrinfo ENOTFOUND nonexistent.invalid' })).toEqual({
      outcome: 'unreachable',
      errorCode: 'ENOTFOUND',
    });
    expect(observe({ type: 'timeout', afterMs: 20_000 })).toEqual({ outcome: 'unreachable', errorCode: 'timeout' });
    const response = (status: number) => ({ type: 'response' as const, status, body: '', retryAfter: null });
    expect(observe(response(503))).toEqual({ outcome: 'failing', errorCode: 'http_503' });
    expect(observe(response(429))).toEqual({ outcome: 'failing', errorCode: 'http_429' });
    expect(observe(response(401))).toEqual({ outcome: 'auth-rejected', errorCode: 'http_401' });
    expect(observe(response(403))).toEqual({ outcome: 'auth-rejected', errorCode: 'http_403' });
    expect(observe(response(200))).toEqual({ outcome: 'ok', errorCode: null });
    expect(observe(response(400))).toEqual({ outcome: 'ok', errorCode: null });
    expect(observe({ type: 'invalid', reason: 'not JSON' })).toBeNull();
    const garbled = { ...response(200), success: { kind: 'undecodable' as const, reason: 'not JSON' } };
    expect(observe(garbled)).toEqual({ outcome: 'failing', errorCode: 'unreadable_2xx' });
    expect(causeInWords('unreadable_2xx')).toBe('the cloud answers 2xx with a body that does not confirm the rows');
  });

  it('names the cause in plain words', () => {
    expect(transportCode('transport: x: connect ECONNREFUSED 127.0.0.1:9')).toBe('ECONNREFUSED');
    expect(transportCode('self-signed: DEPTH_ZERO_SELF_SIGNED_CERT')).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(causeInWords('ENOTFOUND')).toBe('DNS lookup failed (ENOTFOUND)');
    expect(causeInWords('ECONNREFUSED')).toBe('connection refused (ECONNREFUSED)');
    expect(causeInWords('CERT_HAS_EXPIRED')).toBe('TLS handshake failed (CERT_HAS_EXPIRED)');
    expect(causeInWords('ERR_TLS_CERT_ALTNAME_INVALID')).toBe('TLS handshake failed (ERR_TLS_CERT_ALTNAME_INVALID)');
    expect(causeInWords('timeout')).toBe('no answer in time');
    expect(causeInWords('http_503')).toBe('the cloud answers 503 Service Unavailable');
    expect(causeInWords('http_429')).toBe('the cloud asks us to slow down (429 Too Many Requests)');
    expect(causeInWords('no_token')).toBe('no cloud token');
    expect(causeInWords(null)).toBeNull();
  });

  it('.invalid names never go to a resolver (RFC 6761)', () => {
    expect(isInvalidName('nonexistent.invalid')).toBe(true);
    expect(isInvalidName('NONEXISTENT.INVALID.')).toBe(true);
    expect(isInvalidName('invalid')).toBe(true);
    expect(isInvalidName('difflore.dev')).toBe(false);
    expect(isInvalidName('invalid.example.com')).toBe(false);
  });
});
