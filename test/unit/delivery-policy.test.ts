import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isScrubbable } from '../../src/machines/secrets.js';
import {
  type AttemptResult,
  type BreakerState,
  backoffDelayMs,
  breakerBeginProbe,
  breakerGate,
  breakerOnAuthAccepted,
  breakerOnAuthRejected,
  breakerOnHealthy,
  breakerOnRetryable,
  CLOSED_BREAKER,
  classifyStatus,
  DEFAULT_POLICY,
  formatHttpError,
  formatLastError,
  judgeAttempt,
  LAST_ERROR_MAX_CHARS,
  parseRetryAfter,
  REDACTED,
  redact,
  retryAt,
  reviveBreaker,
  tokenMayBeTried,
} from '../../src/machines/delivery-policy.js';

const NOW = 1_760_000_000_000;
const TOKEN = 'tok_live_abcdef123456';
const ctx = { label: 'post_observations', secrets: [TOKEN], now: NOW };
const response = (
  status: number,
  body = '',
  retryAfter: string | null = null,
): Extract<AttemptResult, { type: 'response' }> => ({
  type: 'response',
  status,
  body,
  retryAfter,
});

describe('failure policy: one verdict per row of DESIGN §5.2', () => {
  it.each([200, 201, 202, 204])('%i confirms', (status) => {
    expect(judgeAttempt(response(status), ctx)).toEqual({ action: 'confirm', duplicate: false });
  });

  it('409 confirms as a duplicate', () => {
    expect(judgeAttempt(response(409, '{"error":"duplicate"}'), ctx)).toEqual({ action: 'confirm', duplicate: true });
  });

  it.each([301, 302, 307, 308, 408, 425, 429, 500, 502, 503, 504, 599])('%i is retried and spends a try', (status) => {
    const verdict = judgeAttempt(response(status, 'busy'), ctx);
    expect(verdict.action).toBe('retry');
    expect(classifyStatus(status)).toBe('retryable');
  });

  it('a network error and a timeout are retried with a transport: message naming the route', () => {
    expect(judgeAttempt({ type: 'network', message: 'ECONNREFUSED' }, ctx)).toEqual({
      action: 'retry',
      error: 'transport: post_observations: ECONNREFUSED',
      retryAfterMs: null,
    });
    expect(judgeAttempt({ type: 'timeout', afterMs: 20_000 }, ctx)).toMatchObject({
      action: 'retry',
      error: 'transport: post_observations: timed out after 20000 ms',
    });
  });

  it.each([401, 403])('%i waits for the token (no try spent)', (status) => {
    const verdict = judgeAttempt(response(status, '{"error":"session_revoked"}'), ctx);
    expect(verdict.action).toBe('auth');
    expect(classifyStatus(status)).toBe('auth');
  });

  it.each([400, 404, 405, 410, 413, 422])('%i abandons at once with the reason', (status) => {
    const verdict = judgeAttempt(response(status, '{"error":"invalid_body"}'), ctx);
    expect(verdict).toMatchObject({ action: 'abandon' });
    expect(verdict.action === 'abandon' && verdict.error).toContain(`${status} `);
  });

  it('a payload the route cannot shape and an unknown kind are abandoned at once', () => {
    expect(judgeAttempt({ type: 'invalid', reason: "observation: 'ts_ms' must be an integer" }, ctx)).toEqual({
      action: 'abandon',
      error: "invalid payload: observation: 'ts_ms' must be an integer",
    });
    expect(judgeAttempt({ type: 'unknown_kind', kind: 'nope' }, ctx)).toEqual({
      action: 'abandon',
      error: "unknown outbox kind 'nope'",
    });
  });

  it('a kind confirmed without sending (fix_acceptance) confirms', () => {
    expect(judgeAttempt({ type: 'skipped' }, ctx)).toEqual({ action: 'confirm', duplicate: false });
  });

  it('a 2xx the route rejects is abandoned; one it cannot read is retried', () => {
    const rejected = judgeAttempt(
      { ...response(200, '{}'), success: { kind: 'rejected', reason: 'accepted_edit rejected: no_change' } },
      { ...ctx, label: 'record_accepted_edit' },
    );
    expect(rejected).toEqual({
      action: 'abandon',
      error: 'record_accepted_edit: 200 OK but accepted_edit rejected: no_change',
    });
    const garbage = judgeAttempt(
      { ...response(200, '<html>'), success: { kind: 'undecodable', reason: 'the response body is not JSON' } },
      ctx,
    );
    expect(garbage.action).toBe('retry');
  });

  it('Retry-After on a retryable answer comes back in ms', () => {
    expect(judgeAttempt(response(429, '', '7'), ctx)).toMatchObject({ action: 'retry', retryAfterMs: 7000 });
    expect(judgeAttempt(response(503, '', new Date(NOW + 90_000).toUTCString()), ctx)).toMatchObject({
      retryAfterMs: 90_000,
    });
  });
});

describe('Retry-After parsing', () => {
  const cap = DEFAULT_POLICY.retryAfterCapMs;
  it('reads delta-seconds and HTTP dates, capped, never negative', () => {
    expect(parseRetryAfter('0', NOW, cap)).toBe(0);
    expect(parseRetryAfter(' 120 ', NOW, cap)).toBe(120_000);
    expect(parseRetryAfter('99999999', NOW, cap)).toBe(cap);
    expect(parseRetryAfter(new Date(NOW + 5_000).toUTCString(), NOW, cap)).toBe(5_000);
    expect(parseRetryAfter(new Date(NOW - 5_000).toUTCString(), NOW, cap)).toBe(0);
    expect(parseRetryAfter('Wed, 21 Oct 2099 07:28:00 GMT', NOW, cap)).toBe(cap);
  });
  it('ignores what it cannot read', () => {
    for (const header of [null, undefined, '', '-5', '1.5', 'soon', 'NaN']) {
      expect(parseRetryAfter(header, NOW, cap)).toBeNull();
    }
  });
});

describe('backoff with full jitter', () => {
  it('is uniform in [0, base·2^(tries-1)] using the injected random source', () => {
    expect(backoffDelayMs(1, () => 0)).toBe(0);
    expect(backoffDelayMs(1, () => 0.5)).toBe(500);
    expect(backoffDelayMs(3, () => 0.5)).toBe(2_000);
    expect(backoffDelayMs(3, () => 0.999_999)).toBeLessThan(4_000);
  });
  it('is capped', () => {
    expect(backoffDelayMs(40, () => 0.999_999)).toBeLessThanOrEqual(DEFAULT_POLICY.backoffCapMs);
  });
  it('stays within its bounds for any try count and random value', () => {
    fc.assert(
      fc.property(fc.integer({ min: -5, max: 100 }), fc.double({ min: 0, max: 1, noNaN: true }), (tries, r) => {
        const d = backoffDelayMs(tries, () => r);
        const ceiling = Math.min(
          DEFAULT_POLICY.backoffCapMs,
          DEFAULT_POLICY.backoffBaseMs * 2 ** Math.max(tries - 1, 0),
        );
        return d >= 0 && d <= ceiling;
      }),
    );
  });
  it('Retry-After wins over backoff when the server gave one', () => {
    expect(retryAt(NOW, 5, 3_000, () => 0.9)).toBe(NOW + 3_000);
    expect(retryAt(NOW, 1, null, () => 0.5)).toBe(NOW + 500);
  });
});

describe('breaker', () => {
  const cfg = { ...DEFAULT_POLICY, breakerOpenMs: 1_000, breakerOpenCapMs: 8_000 };
  const fail = (b: BreakerState, at = NOW, retryAfter: number | null = null) =>
    breakerOnRetryable(b, at, retryAfter, cfg);

  it('opens after 3 consecutive retryable failures, not before', () => {
    const two = fail(fail(CLOSED_BREAKER));
    expect(two.state).toBe('closed');
    expect(breakerGate(two, NOW)).toEqual({ pass: 'all' });
    const three = fail(two);
    expect(three).toMatchObject({ state: 'open', openUntil: NOW + 1_000, opens: 1 });
    expect(breakerGate(three, NOW + 999)).toEqual({ pass: 'none', until: NOW + 1_000 });
  });

  it('a healthy answer in between resets the count', () => {
    const b = fail(breakerOnHealthy(fail(fail(CLOSED_BREAKER))));
    expect(b).toMatchObject({ state: 'closed', consecutiveFailures: 1 });
  });

  it('half-opens with one probe; a failed probe reopens for twice as long, a good one closes', () => {
    const open = fail(fail(fail(CLOSED_BREAKER)));
    expect(breakerGate(open, NOW + 1_000)).toEqual({ pass: 'probe' });
    const probing = breakerBeginProbe(open, NOW + 1_000);
    expect(probing.state).toBe('half_open');
    expect(breakerGate(probing, NOW + 1_000)).toEqual({ pass: 'probe' });
    const reopened = fail(probing, NOW + 1_000);
    expect(reopened).toMatchObject({ state: 'open', openUntil: NOW + 1_000 + 2_000, opens: 2 });
    expect(breakerOnHealthy(breakerBeginProbe(reopened, NOW + 3_000))).toEqual(CLOSED_BREAKER);
  });

  it('the cool-down is capped', () => {
    let b = fail(fail(fail(CLOSED_BREAKER)));
    for (let i = 0; i < 10; i++) b = fail(breakerBeginProbe(b, b.openUntil ?? NOW), b.openUntil ?? NOW);
    const probeAt = b.openUntil ?? 0;
    const again = fail(breakerBeginProbe(b, probeAt), probeAt);
    expect((again.openUntil ?? 0) - probeAt).toBe(8_000);
  });

  it('failures of requests already in flight while open neither extend nor escalate it', () => {
    const open = fail(fail(fail(CLOSED_BREAKER)));
    const later = fail(open, NOW + 10);
    expect(later.openUntil).toBe(open.openUntil);
    expect(later.opens).toBe(1);
  });

  it('a Retry-After pauses delivery for that long even below the threshold', () => {
    const b = fail(CLOSED_BREAKER, NOW, 30_000);
    expect(b).toMatchObject({ state: 'open', openUntil: NOW + 30_000, opens: 0 });
    expect(breakerGate(b, NOW + 29_999).pass).toBe('none');
  });

  it('remembers a refused token by fingerprint and lets a new one through at once', () => {
    const b = breakerOnAuthRejected(CLOSED_BREAKER, 'fp-old', NOW);
    expect(tokenMayBeTried(b, 'fp-old', NOW + 1)).toBe(false);
    expect(tokenMayBeTried(b, 'fp-new', NOW + 1)).toBe(true);
    expect(tokenMayBeTried(b, 'fp-old', NOW + DEFAULT_POLICY.authReprobeMs)).toBe(true);
    expect(breakerOnAuthAccepted(b).authRejected).toBeNull();
  });

  it('survives a round trip through JSON, and a malformed one revives closed', () => {
    const b = breakerOnAuthRejected(fail(fail(fail(CLOSED_BREAKER))), 'fp', NOW);
    expect(reviveBreaker(JSON.parse(JSON.stringify(b)))).toEqual(b);
    expect(reviveBreaker({ state: 'weird' })).toEqual(CLOSED_BREAKER);
    expect(reviveBreaker(null)).toEqual(CLOSED_BREAKER);
  });
});

describe('last_error text', () => {
  it('is "<status> <reason>: <snippet>" with whitespace collapsed, as the Rust client writes it', () => {
    expect(formatHttpError(401, '{"error":\n  "session_revoked"}', [])).toBe(
      '401 Unauthorized: {"error": "session_revoked"}',
    );
    expect(formatHttpError(503, '', [])).toBe('503 Service Unavailable');
    expect(formatHttpError(499, 'x', [])).toBe('499 499: x');
  });

  it('cuts the body snippet to 200 characters', () => {
    const text = formatHttpError(500, 'y'.repeat(1000), []);
    expect(text).toBe(`500 Internal Server Error: ${'y'.repeat(200)}`);
  });

  it('never contains the token, whatever the server echoes', () => {
    const echoed = formatHttpError(400, `bad token ${TOKEN} in header Authorization: Bearer ${TOKEN}`, [TOKEN]);
    expect(echoed).not.toContain(TOKEN);
    expect(echoed).toContain(REDACTED);
    expect(redact('Authorization: Bearer some-other-secret', [])).toBe(`Authorization: Bearer ${REDACTED}`);
  });

  it('redacts any secret anywhere and is capped at 2048 characters', () => {
    fc.assert(
      // Secrets of scrubbable length (8 or more characters; shorter ones are left alone, see secrets.ts).
      fc.property(fc.string(), fc.string({ minLength: 8 }), fc.string(), (before, secret, after) => {
        // A "secret" inside the marker itself would reappear through the marker: no real token is one.
        fc.pre(isScrubbable(secret) && !REDACTED.includes(secret) && !/bearer/i.test(secret));
        const text = formatLastError(`${before}${secret}${after}`.repeat(3), [secret]);
        return !text.includes(secret) && Array.from(text).length <= LAST_ERROR_MAX_CHARS;
      }),
    );
    const long = formatLastError('é'.repeat(5000), []);
    expect(Array.from(long)).toHaveLength(LAST_ERROR_MAX_CHARS);
  });
});
