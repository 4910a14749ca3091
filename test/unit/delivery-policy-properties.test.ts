/**
 * Property tests pinning the delivery policy's promises (fast-check): backoff stays within its
 * bounds, a server's Retry-After is never cut short, jitter only stretches a cool-down, and an
 * outage shorter than the try budget abandons no row — the last checked by running small fleets of
 * the real policy through the simulation (sim/), against a cloud that refuses every connection.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AttemptResult,
  type BreakerState,
  CLOSED_BREAKER,
  DEFAULT_POLICY,
  MAX_TRIES,
  type PolicyConfig,
  backoffDelayMs,
  breakerBeginProbe,
  breakerCoolDownMs,
  breakerGate,
  breakerAfterAttempt,
  breakerOnRetryable,
  breakerStretchMs,
  judgeAttempt,
  passNextDueAt,
  parseRetryAfter,
  retryAt,
  splitFailedBatch,
  tryBudgetMs,
} from '../../src/machines/delivery-policy.js';
import { FLEET_DEFAULTS, scriptedArrivals, simulatePolicy } from '../../sim/fleet.js';

const NOW = 1_760_000_000_000;
const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

const policyArb: fc.Arbitrary<PolicyConfig> = fc.record({
  backoffBaseMs: fc.integer({ min: 1, max: 10_000 }),
  backoffCapMs: fc.integer({ min: 1, max: 600_000 }),
  retryAfterCapMs: fc.integer({ min: 1_000, max: 3_600_000 }),
  breakerThreshold: fc.integer({ min: 1, max: MAX_TRIES - 1 }),
  breakerOpenMs: fc.integer({ min: 1_000, max: 120_000 }),
  breakerOpenCapMs: fc.integer({ min: 1_000, max: 900_000 }),
  breakerJitter: fc.double({ min: 0, max: 1, noNaN: true }),
  breakerSpreadMs: fc.integer({ min: 0, max: 600_000 }),
  authReprobeMs: fc.constant(DEFAULT_POLICY.authReprobeMs),
});

/** A breaker in any state a daemon can be in when a request fails. */
const breakerArb: fc.Arbitrary<BreakerState> = fc.oneof(
  fc.constant(CLOSED_BREAKER),
  fc.record({
    state: fc.constantFrom('closed' as const, 'half_open' as const),
    consecutiveFailures: fc.integer({ min: 0, max: 20 }),
    openUntil: fc.constant(null),
    opens: fc.integer({ min: 0, max: 30 }),
    authRejected: fc.constant(null),
  }),
  fc.record({
    state: fc.constant('open' as const),
    consecutiveFailures: fc.integer({ min: 0, max: 20 }),
    openUntil: fc.integer({ min: NOW - 600_000, max: NOW + 600_000 }),
    opens: fc.integer({ min: 1, max: 30 }),
    authRejected: fc.constant(null),
  }),
);

describe('backoff', () => {
  it('is full jitter within [0, min(cap, base·2^(tries−1))], whatever the draw', () => {
    fc.assert(
      fc.property(policyArb, fc.integer({ min: 1, max: 100 }), unit, (config, tries, r) => {
        const delay = backoffDelayMs(tries, () => r, config);
        const ceiling = Math.min(config.backoffCapMs, config.backoffBaseMs * 2 ** Math.min(tries - 1, 30));
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(ceiling);
        expect(Number.isInteger(delay)).toBe(true);
      }),
    );
  });

  it('never waits longer for fewer tries at the same draw', () => {
    fc.assert(
      fc.property(policyArb, fc.integer({ min: 1, max: 40 }), unit, (config, tries, r) => {
        expect(backoffDelayMs(tries, () => r, config)).toBeLessThanOrEqual(backoffDelayMs(tries + 1, () => r, config));
      }),
    );
  });
});

describe('Retry-After', () => {
  it('delta-seconds are read as asked, up to the cap', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 1, max: 3_600_000 }), (s, cap) => {
        expect(parseRetryAfter(String(s), NOW, cap)).toBe(Math.min(s * 1000, cap));
      }),
    );
  });

  it('the row waits exactly as long as asked, whatever its tries and the draw', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3_600_000 }), fc.integer({ min: 1, max: 8 }), unit, (ms, tries, r) => {
        expect(retryAt(NOW, tries, ms, () => r)).toBe(NOW + ms);
      }),
    );
  });

  it('the breaker lets nothing through before it, and stretches it by at most the jitter', () => {
    fc.assert(
      fc.property(
        policyArb,
        breakerArb,
        fc.integer({ min: 0, max: 3_600_000 }),
        unit,
        (config, breaker, retryAfterMs, r) => {
          const next = breakerOnRetryable(breaker, NOW, retryAfterMs, config, () => r);
          const until = next.openUntil ?? Number.NEGATIVE_INFINITY;
          expect(until).toBeGreaterThanOrEqual(NOW + retryAfterMs);
          if (retryAfterMs > 0) expect(breakerGate(next, NOW + retryAfterMs - 1).pass).toBe('none');
          const coolDown = breakerCoolDownMs(next.opens, config) + breakerStretchMs(next.opens, config);
          const latest = NOW + Math.max((1 + config.breakerJitter) * retryAfterMs, coolDown);
          // 1 ms of slack: these are epoch milliseconds, where a double rounds to about 0.0002 ms.
          expect(until).toBeLessThanOrEqual(Math.max(breaker.openUntil ?? 0, latest) + 1);
        },
      ),
    );
  });
});

describe('breaker cool-down', () => {
  it('a trip opens it for the nominal cool-down stretched by at most the jitter (or the spread), never less', () => {
    fc.assert(
      fc.property(policyArb, fc.integer({ min: 0, max: 30 }), unit, (config, opens, r) => {
        const probing: BreakerState = { ...CLOSED_BREAKER, state: 'half_open', consecutiveFailures: 5, opens };
        const next = breakerOnRetryable(probing, NOW, null, config, () => r);
        const nominal = breakerCoolDownMs(opens + 1, config);
        expect(next).toMatchObject({ state: 'open', opens: opens + 1 });
        expect(next.openUntil).toBeGreaterThanOrEqual(NOW + nominal);
        const stretch = breakerStretchMs(opens + 1, config);
        expect(next.openUntil).toBeLessThanOrEqual(NOW + nominal + stretch + 1);
        // The first cool-down of an outage is never spread wider than its relative jitter.
        if (opens === 0) expect(stretch).toBeCloseTo(nominal * config.breakerJitter);
        else expect(stretch).toBeGreaterThanOrEqual(config.breakerSpreadMs);
        expect(breakerGate(breakerBeginProbe(next, next.openUntil ?? NOW), next.openUntil ?? NOW).pass).toBe('probe');
      }),
    );
  });
});

describe('the try budget', () => {
  it('is 930 s by default: 3 quick tries, then probes after 30, 60, 120, 240 and 480 s', () => {
    expect(tryBudgetMs()).toBe(930_000);
  });

  it('an outage shorter than the budget abandons no row, and every row arrives once it is over', () => {
    const daemonRows = fc.array(fc.integer({ min: 0, max: 60_000 }), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(
        // Short backoffs are the worst case: the row is due again the moment each cool-down ends.
        fc.oneof(
          policyArb,
          policyArb.map((p) => ({ ...p, backoffBaseMs: Math.min(p.backoffBaseMs, 100) })),
          fc.double({ min: 0, max: 1, noNaN: true }).map((j) => ({ ...DEFAULT_POLICY, breakerJitter: j })),
          fc.constant(DEFAULT_POLICY),
        ),
        fc.array(daemonRows, { minLength: 1, maxLength: 3 }),
        // Outages just short of the budget are where a row could be lost.
        fc.oneof(fc.double({ min: 0, max: 0.999, noNaN: true }), fc.double({ min: 0.95, max: 0.999, noNaN: true })),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (config, rows, fraction, seed) => {
          const outageS = (fraction * tryBudgetMs(config)) / 1000;
          // Long enough after the outage for the longest (stretched) cool-down and backoff to pass, twice.
          const longestCoolDown = (1 + config.breakerJitter) * config.breakerOpenCapMs + config.breakerSpreadMs;
          const durationS = Math.ceil(400 + outageS + (2 * (longestCoolDown + config.backoffCapMs)) / 1000);
          const times = rows.map((list) => [...list].sort((a, b) => a - b));
          const options = { ...FLEET_DEFAULTS, daemons: times.length, outageStartS: 0, outageS, durationS, seed };
          const r = simulatePolicy({
            policy: 'ours',
            options,
            capacityRps: 1_000_000,
            arrivals: scriptedArrivals(times),
            config,
          });
          expect(r.abandoned).toBe(0);
          expect(r.delivered).toBe(r.enqueued);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('applying verdicts (shared by the drain pass and the simulation)', () => {
  const context = { now: NOW, tokenFingerprint: 'fp', random: () => 0.5 };
  const judged = (breaker: BreakerState, attempt: AttemptResult) =>
    breakerAfterAttempt(breaker, attempt, judgeAttempt(attempt, { label: 'l', secrets: [], now: NOW }), context);

  it('only failures that say the cloud is unwell count against the breaker', () => {
    const failing: BreakerState = { ...CLOSED_BREAKER, consecutiveFailures: 2 };
    expect(judged(failing, { type: 'network', message: 'ECONNREFUSED' }).state).toBe('open');
    expect(judged(failing, { type: 'response', status: 503, body: '', retryAfter: null }).state).toBe('open');
    // A 2xx whose body could not be read is retried, but the server is plainly up.
    const garbled = { kind: 'undecodable' as const, reason: 'not JSON' };
    expect(judged(failing, { type: 'response', status: 200, body: 'x', retryAfter: null, success: garbled })).toEqual(
      CLOSED_BREAKER,
    );
    expect(judged(failing, { type: 'response', status: 400, body: '', retryAfter: null })).toEqual(CLOSED_BREAKER);
    // A payload we could not shape says nothing about the cloud.
    expect(judged(failing, { type: 'invalid', reason: 'bad' })).toBe(failing);
    expect(judged(failing, { type: 'response', status: 401, body: '', retryAfter: null }).authRejected).toEqual({
      fingerprint: 'fp',
      at: NOW,
    });
  });

  it('a failed batch is split in halves only while the breaker lets everything through', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), breakerArb, (rows, breaker) => {
        const middle = splitFailedBatch(rows, breaker, NOW);
        if (rows === 1 || breakerGate(breaker, NOW).pass !== 'all') expect(middle).toBeNull();
        else expect(middle).toBe(Math.ceil(rows / 2));
      }),
    );
  });

  it('the next pass is never before a due row, nor before an open breaker lets a probe through', () => {
    fc.assert(
      fc.property(fc.option(fc.integer({ min: NOW - 600_000, max: NOW + 600_000 })), breakerArb, (due, breaker) => {
        const next = passNextDueAt(due, breaker, false);
        if (due === null) {
          expect(next).toBeNull();
        } else {
          expect(next).toBeGreaterThanOrEqual(due);
          if (breaker.state === 'open') expect(next).toBeGreaterThanOrEqual(breaker.openUntil ?? due);
        }
        // Waiting for a token with none refused yet: nothing is due until the token changes.
        expect(passNextDueAt(due, breaker, true)).toBeNull();
      }),
    );
  });
});
