/**
 * The fleet simulation (sim/): tiny fleets with answers worked out by hand, determinism for a seed,
 * and the comparison the simulation exists for, at a size that runs in a moment.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY } from '../../src/machines/delivery-policy.js';
import {
  FLEET_DEFAULTS,
  type FleetOptions,
  type PolicyName,
  scriptedArrivals,
  simulateFleet,
  simulatePolicy,
} from '../../sim/fleet.js';

const SECOND = 1000;
/** Cool-downs exactly nominal, so the schedule is known to the second. */
const NO_JITTER = { ...DEFAULT_POLICY, breakerJitter: 0, breakerSpreadMs: 0 };

function tiny(policy: PolicyName, times: number[][], overrides: Partial<FleetOptions>, config = DEFAULT_POLICY) {
  const options = { ...FLEET_DEFAULTS, daemons: times.length, ...overrides };
  return simulatePolicy({ policy, options, capacityRps: 1_000, arrivals: scriptedArrivals(times), config });
}

describe('a tiny fleet with a known answer', () => {
  const times = [[1_000, 2_500, 40_000], [7_000], [3_000, 3_001, 3_002, 90_000]];
  const noOutage = { outageStartS: 100, outageS: 0, durationS: 200 };

  it('no outage, ours: every row goes at once, in a request of its own (wake on enqueue)', () => {
    const r = tiny('ours', times, noOutage);
    expect(r).toMatchObject({ enqueued: 8, delivered: 8, abandoned: 0, requests: 8, refusedDown: 0 });
    expect(r.p99DelayS).toBe(0.1); // the first 100 ms bin: no wait at all
    expect(r.backlog.at(-1)).toBe(0);
  });

  it('no outage, Rust: every row goes on the next 5 s tick, one request per row', () => {
    const r = tiny('rust', times, noOutage);
    expect(r).toMatchObject({ enqueued: 8, delivered: 8, abandoned: 0, requests: 8 });
    expect(r.p99DelayS).toBeLessThanOrEqual(5);
  });

  // One row at 1 s; the cloud refuses connections from 0 s for 600 s.
  const outage = { outageStartS: 0, outageS: 600, durationS: 2_000 };

  it('Rust: 3 tries in the first tick, then one per 60 s breaker window; the 8th abandons the row', () => {
    const r = tiny('rust', [[SECOND]], outage);
    expect(r).toMatchObject({ requests: 8, refusedDown: 8, delivered: 0, abandoned: 1 });
  });

  it('ours without jitter: 3 tries, probes after 30, 60, 120 and 240 s, then the one at +480 s delivers', () => {
    const r = tiny('ours', [[SECOND]], outage, NO_JITTER);
    expect(r).toMatchObject({ requests: 8, refusedDown: 7, delivered: 1, abandoned: 0 });
    // Tripped within the first seconds (backoff of at most 1 + 2 s), so delivered 930–934 s after enqueue.
    expect(r.p99DelayS).toBeGreaterThanOrEqual(930);
    expect(r.p99DelayS).toBeLessThanOrEqual(934.1);
  });

  it('ours: rows that arrive while the breaker is open go with the probe that finds the cloud back, in one request', () => {
    const rows = [SECOND, 100 * SECOND, 200 * SECOND, 300 * SECOND, 400 * SECOND, 500 * SECOND];
    const r = tiny('ours', [rows], outage, NO_JITTER);
    expect(r).toMatchObject({ delivered: 6, abandoned: 0, requests: 8 });
  });
});

describe('determinism', () => {
  const small = { daemons: 2_000, durationS: 900, outageStartS: 60, outageS: 300 };

  it('the same seed gives the same run, figure for figure', () => {
    const { wallS: _a, ...first } = simulateFleet({ ...small, seed: 7 });
    const { wallS: _b, ...second } = simulateFleet({ ...small, seed: 7 });
    expect(second).toEqual(first);
  });

  it('another seed gives another run', () => {
    const a = simulateFleet({ ...small, seed: 7 });
    const b = simulateFleet({ ...small, seed: 8 });
    expect(b.ours.rps).not.toEqual(a.ours.rps);
    expect(b.ours.enqueued).not.toBe(a.ours.enqueued);
  });

  it('both policies see exactly the same rows', () => {
    const r = simulateFleet({ ...small, seed: 3 });
    expect(r.rust.enqueued).toBe(r.ours.enqueued);
  });
});

describe('what the simulation is for (5,000 daemons, 10-minute outage)', () => {
  const r = simulateFleet({ daemons: 5_000, seed: 11 });

  it('ours abandons nothing and comes back gently; the Rust policy abandons rows and stampedes', () => {
    expect(r.ours.abandoned).toBe(0);
    expect(r.ours.delivered).toBe(r.ours.enqueued);
    expect(r.rust.abandoned).toBeGreaterThan(0);
    expect(r.ours.peakRatio).toBeLessThan(r.rust.peakRatio);
    expect(r.ours.drainS).not.toBeNull();
    expect(r.ours.drainS).toBeLessThanOrEqual(2 * r.options.outageS);
  });

  it('every row is accounted for: delivered, abandoned, or still waiting at the end', () => {
    for (const p of [r.ours, r.rust]) expect(p.delivered + p.abandoned + (p.backlog.at(-1) ?? 0)).toBe(p.enqueued);
  });
});
