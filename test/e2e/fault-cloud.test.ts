/**
 * Fault suite, cloud faults: a running daemon meets a reference cloud that, for a window, answers
 * 5xx (a burst of 500 then 503), 429 with Retry-After, too slowly (latency above the client's
 * timeout), by cutting connections after storing, or 2xx with a garbage body. Rows keep arriving
 * during the window. Then the fault ends. Each scenario checks:
 * - nothing is lost: the cloud ends with every row exactly once (resends only in its dedupe
 *   counter), and the outbox ends empty (nothing abandoned);
 * - the request rate during an outage is bounded: at most RATE_BOUND(window) requests, derived from
 *   the delivery policy (breaker threshold, requests in flight, one probe per cool-down), against
 *   hundreds of rows that would each be retried without a breaker;
 * - full drain after the outage, without anyone poking the daemon.
 * The scenarios run concurrently (one cloud, home and daemon each): the breaker's 30 s cool-down
 * and the client's 20 s timeout are the product's defaults and dominate the wall time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CloudFaults } from '../../src/reference-cloud/server.js';
import { DEFAULT_MAX_IN_FLIGHT } from '../../src/adapters/delivery/drain-pass.js';
import { DEFAULT_POLICY } from '../../src/machines/delivery-policy.js';
import {
  compareReceived,
  countByKind,
  disposeLab,
  labFor,
  pause,
  sized,
  type WorkRow,
  waitForDelivery,
  workRow,
  workRows,
} from './fault-harness.js';

afterEach(async ({ task }) => {
  await disposeLab(task.id);
});

const HEALTHY: Partial<CloudFaults> = {
  failRate: 0,
  status: null,
  latencyMs: 0,
  retryAfter: null,
  dropRate: 0,
  garbage2xxRate: 0,
};

/** The client's request timeout (cloud-client.ts DEFAULT_TIMEOUT_MS); the daemon has no option for it. */
const CLIENT_TIMEOUT_MS = 20_000;

/**
 * Most requests a daemon may send while every request fails retryably for `windowMs`:
 * the failures that open the breaker (threshold), whatever was already in flight then (at most
 * maxInFlight, doubled for the halves of a split batch), and then one probe per cool-down (the
 * first cool-down may be a short Retry-After, hence the extra probes). Doubled again so that it
 * bounds behaviour, not speed.
 */
function rateBound(windowMs: number): number {
  const p = DEFAULT_POLICY;
  const probes = 2 + Math.floor(windowMs / p.breakerOpenMs);
  return 2 * (p.breakerThreshold + 2 * DEFAULT_MAX_IN_FLIGHT + probes);
}

interface Scenario {
  readonly name: string;
  /** The fault for the whole window, or one per phase (equal parts of the window). */
  readonly phases: readonly Partial<CloudFaults>[];
  readonly windowMs: number;
  /** An outage: every request fails retryably, so the rate bound applies. */
  readonly outage: boolean;
  /** What in /__stats shows that the fault really hit. */
  readonly hit: (stats: { byStatus: Record<string, number>; deduped: number }) => boolean;
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: '5xx burst (500, then 503)',
    phases: [{ status: 500 }, { status: 503 }],
    windowMs: sized(8_000, 45_000),
    outage: true,
    hit: (s) => (s.byStatus['500'] ?? 0) > 0,
  },
  {
    name: '429 with Retry-After: 2',
    phases: [{ status: 429, retryAfter: '2' }],
    windowMs: sized(8_000, 45_000),
    outage: true,
    hit: (s) => (s.byStatus['429'] ?? 0) > 0,
  },
  {
    name: `timeouts (latency ${CLIENT_TIMEOUT_MS + 5_000} ms, above the client timeout)`,
    phases: [{ latencyMs: CLIENT_TIMEOUT_MS + 5_000 }],
    // Long enough for the first requests to time out and the breaker to open inside the window.
    windowMs: sized(CLIENT_TIMEOUT_MS + 4_000, 60_000),
    outage: true,
    // The cloud stored the slow requests after the client gave up: their resends are duplicates.
    hit: (s) => s.deduped > 0,
  },
  {
    name: 'dropped connections (after storing)',
    phases: [{ dropRate: 1 }],
    windowMs: sized(8_000, 45_000),
    outage: true,
    hit: (s) => (s.byStatus.dropped ?? 0) > 0 && s.deduped > 0,
  },
  {
    name: '2xx with a garbage body',
    phases: [{ garbage2xxRate: 1 }],
    // Short: an accepted edit answered with garbage is retried with backoff and spends a try each
    // time; eight garbage answers in a row would abandon it (see the note at the end of the file).
    windowMs: 3_000,
    outage: false,
    hit: (s) => s.deduped > 0,
  },
];

describe('fault suite: cloud faults', () => {
  for (const scenario of SCENARIOS) {
    it.concurrent(
      `${scenario.name}: nothing lost, rate bounded during the outage, full drain after`,
      async ({ task }) => {
        const lab = labFor(task.id);
        const cloud = await lab.cloud();
        const h = lab.home();
        const env = h.env(cloud.url);
        const rows: WorkRow[] = [];
        const add = (n: number): void => {
          const more = workRows('cloud', rows.length, n);
          rows.push(...more);
          h.seed(more);
        };

        const started = await lab.daemonStart(h, env, ['--tick', '1s']);
        expect(started.code, started.stdout + started.stderr).toBe(0);
        // Healthy first: the daemon delivers.
        add(40);
        await waitForDelivery({ cloud, home: h, expected: countByKind(rows), timeoutMs: 30_000, what: 'warm-up' });

        const before = await cloud.stats();
        const phaseMs = scenario.windowMs / scenario.phases.length;
        for (const [i, phase] of scenario.phases.entries()) {
          await cloud.setFaults({ ...HEALTHY, ...phase });
          // Rows arrive during the fault: a burst at once, more later, one through the CLI.
          add(i === 0 ? 160 : 60);
          if (i === 0) {
            const row = workRow('cloud', rows.length);
            rows.push(row);
            const queued = await lab.cli(['enqueue', row.kind, row.payloadJson], env);
            expect(queued.code, queued.stderr).toBe(0);
          }
          await pause(phaseMs / 2);
          add(40);
          await pause(phaseMs / 2);
        }
        const atEnd = await cloud.stats();
        await cloud.setFaults(HEALTHY);
        const during = atEnd.requests - before.requests;

        const stats = await waitForDelivery({
          cloud,
          home: h,
          expected: countByKind(rows),
          // The breaker's cool-down (doubled once per failed probe, and spread by up to breakerSpreadMs
          // after a failed probe) and a request's timeout, plus room.
          timeoutMs: 4 * DEFAULT_POLICY.breakerOpenMs + DEFAULT_POLICY.breakerSpreadMs + CLIENT_TIMEOUT_MS + 60_000,
          what: `${rows.length} rows delivered after the fault`,
        });
        const compared = await compareReceived(cloud, rows);
        expect(compared).toEqual({ missing: [], duplicated: [], unexpected: [] });
        expect(h.outbox()).toEqual({ pending: 0, processing: 0, abandoned: 0 });
        expect(scenario.hit(stats), `the fault did not show in ${JSON.stringify(stats)}`).toBe(true);
        if (scenario.outage) {
          expect(during, `requests during a ${scenario.windowMs} ms outage`).toBeLessThanOrEqual(
            rateBound(scenario.windowMs),
          );
        }
        // The daemon that lived through it is still the one serving.
        const status = await lab.cli(['daemon', 'status', '--json'], env);
        expect(status.code, status.stdout).toBe(0);
        expect(JSON.parse(status.stdout)).toMatchObject({ status: 'running', pid: started.pid });
        console.log(
          `fault-cloud ${JSON.stringify({
            scenario: scenario.name,
            windowMs: scenario.windowMs,
            rows: rows.length,
            requestsDuringFault: during,
            bound: scenario.outage ? rateBound(scenario.windowMs) : null,
            deduped: stats.deduped,
            byStatus: stats.byStatus,
          })}`,
        );
      },
      sized(240_000, 600_000),
    );
  }
});

// Note on the garbage-2xx window: a garbage body on a 2xx counts as a healthy server for the breaker
// (it answered), so an accepted edit whose answer cannot be read is retried at backoff speed (1 s,
// 2 s, 4 s … with full jitter) and spends one of its 8 tries each time. A long garbage window would
// abandon rows the cloud already stored; 3 s keeps that out of reach (probability ≈ 1e-7 per row).
