/**
 * The fleet simulation: N daemons, one cloud, one outage, on a simulated clock (no timers, no
 * sockets). Rows arrive at each daemon as a Poisson process; each policy (ours, the Rust daemon's)
 * runs the same arrivals against its own copy of the cloud, and the run reports what the cloud saw.
 */
import { DEFAULT_POLICY, type PolicyConfig } from '../src/machines/delivery-policy.js';
import { Cloud, type CloudModel } from './cloud.js';
import { DaemonClock } from './heap.js';
import { OurFleet } from './ours.js';
import { exponential, seededRandom } from './random.js';
import { RustFleet } from './rust.js';

/** A fleet of daemons under one policy: the engine calls these, the fleet keeps `wakeAt` current. */
export interface FleetPolicy {
  /** When each daemon next wants to run a pass on its own (ms), or +Infinity. */
  readonly wakeAt: Float64Array;
  arrive(daemon: number, at: number): void;
  wake(daemon: number, at: number): void;
}

export interface FleetOptions {
  readonly daemons: number;
  readonly durationS: number;
  readonly outageStartS: number;
  readonly outageS: number;
  /** Rows each daemon enqueues per hour, on average (Poisson). */
  readonly rowsPerHour: number;
  /** Cloud capacity (requests/s); null: twice the fleet's mean arrival rate. */
  readonly capacityRps: number | null;
  readonly retryAfterS: number;
  readonly outageAnswer: CloudModel['outageAnswer'];
  readonly seed: number;
}

export const FLEET_DEFAULTS: FleetOptions = {
  daemons: 100_000,
  durationS: 1_800,
  outageStartS: 120,
  outageS: 600,
  // An edit every 3 minutes on average over working hours: one `observation` row per Edit/Write.
  rowsPerHour: 20,
  capacityRps: null,
  retryAfterS: 30,
  outageAnswer: 'refused',
  seed: 1,
};

/** Requests/s are read over windows this long (a one-second count is mostly Poisson noise). */
export const WINDOW_S = 10;
/** The peak is looked for in this long after the cloud comes back. */
export const PEAK_WINDOW_S = 600;

export interface PolicyReport {
  readonly steadyRps: number;
  readonly peakRps: number;
  readonly peakRatio: number;
  /** Seconds after recovery until every row enqueued before it is delivered or abandoned; null: not within the run. */
  readonly drainS: number | null;
  readonly requests: number;
  /** Requests refused: during the outage, and for overload (503 + Retry-After) after it. */
  readonly refusedDown: number;
  readonly refusedOverload: number;
  readonly enqueued: number;
  readonly delivered: number;
  readonly abandoned: number;
  readonly p99DelayS: number;
  /** Per WINDOW_S: mean requests/s and the backlog (rows waiting) at the window's end. */
  readonly rps: readonly number[];
  readonly backlog: readonly number[];
}

export interface FleetReport {
  readonly options: FleetOptions;
  readonly capacityRps: number;
  readonly ours: PolicyReport;
  readonly rust: PolicyReport;
  readonly wallS: number;
}

/** Where each daemon's rows come from: its first arrival, and each next one after the last. */
export interface Arrivals {
  first(daemon: number): number;
  next(daemon: number, lastAt: number): number;
}

/** Poisson arrivals at `rowsPerHour` per daemon, drawn from their own seeded stream. */
export function poissonArrivals(rowsPerHour: number, seed: number): Arrivals {
  const random = seededRandom(seed);
  const meanGapMs = 3_600_000 / rowsPerHour;
  return { first: () => exponential(random, meanGapMs), next: (_, lastAt) => lastAt + exponential(random, meanGapMs) };
}

/** Rows at given times (ms), per daemon: for tests with a known answer. */
export function scriptedArrivals(times: readonly (readonly number[])[]): Arrivals {
  const at = (daemon: number, i: number): number => times[daemon]?.[i] ?? Number.POSITIVE_INFINITY;
  const index = times.map(() => 0);
  return {
    first: (daemon) => at(daemon, 0),
    next: (daemon) => {
      index[daemon] = (index[daemon] ?? 0) + 1;
      return at(daemon, index[daemon] as number);
    },
  };
}

export type PolicyName = 'ours' | 'rust';

export interface PolicyRun {
  readonly policy: PolicyName;
  readonly options: FleetOptions;
  readonly capacityRps: number;
  readonly arrivals: Arrivals;
  /** Our policy's tunables (default DEFAULT_POLICY); the Rust one has none. */
  readonly config?: PolicyConfig;
}

/** One policy's fleet through the run; returns what its cloud saw. */
export function simulatePolicy(run: PolicyRun): PolicyReport {
  const { options } = run;
  const model: CloudModel = {
    capacityRps: run.capacityRps,
    retryAfterS: options.retryAfterS,
    outageStartMs: options.outageStartS * 1000,
    outageEndMs: (options.outageStartS + options.outageS) * 1000,
    outageAnswer: options.outageAnswer,
  };
  const durationMs = options.durationS * 1000;
  const cloud = new Cloud(model, durationMs);
  const random = seededRandom(options.seed ^ 0x5bd1e995);
  const fleet =
    run.policy === 'ours'
      ? new OurFleet(options.daemons, cloud, random, run.config ?? DEFAULT_POLICY)
      : new RustFleet(options.daemons, cloud, random);
  runEngine(fleet, options.daemons, run.arrivals, durationMs);
  return reportOf(cloud, options);
}

/** Both policies through the same rows (the same seed draws the same Poisson arrivals for each). */
export function simulateFleet(overrides: Partial<FleetOptions> = {}): FleetReport {
  const options = { ...FLEET_DEFAULTS, ...overrides };
  const started = performance.now();
  const capacityRps = options.capacityRps ?? Math.round((2 * options.daemons * options.rowsPerHour) / 3600);
  const run = (policy: PolicyName): PolicyReport =>
    simulatePolicy({ policy, options, capacityRps, arrivals: poissonArrivals(options.rowsPerHour, options.seed) });
  const ours = run('ours');
  const rust = run('rust');
  return { options, capacityRps, ours, rust, wallS: (performance.now() - started) / 1000 };
}

/** Runs events in time order until the end: each step is one daemon's next arrival or wake. */
function runEngine(fleet: FleetPolicy, daemons: number, arrivals: Arrivals, durationMs: number): void {
  const nextArrival = Float64Array.from({ length: daemons }, (_, d) => arrivals.first(d));
  const clock = new DaemonClock(Float64Array.from(nextArrival));
  const { wakeAt } = fleet;
  for (;;) {
    const daemon = clock.top();
    const at = clock.topKey();
    if (at >= durationMs) break;
    const arrival = nextArrival[daemon] as number;
    if (arrival <= (wakeAt[daemon] as number)) {
      nextArrival[daemon] = arrivals.next(daemon, arrival);
      fleet.arrive(daemon, arrival);
    } else {
      fleet.wake(daemon, at);
    }
    clock.set(daemon, Math.min(nextArrival[daemon] as number, wakeAt[daemon] as number));
  }
}

function reportOf(cloud: Cloud, options: FleetOptions): PolicyReport {
  const windows = Math.floor(options.durationS / WINDOW_S);
  const rps: number[] = [];
  const backlog: number[] = [];
  let level = 0;
  for (let w = 0; w < windows; w++) {
    let sent = 0;
    for (let s = w * WINDOW_S; s < (w + 1) * WINDOW_S; s++) {
      sent += cloud.requests[s] as number;
      level += cloud.backlogDelta[s] as number;
    }
    rps.push(sent / WINDOW_S);
    backlog.push(level);
  }
  // Steady load: the windows before the outage, less the first (a Rust daemon's first tick is up to 5 s late).
  const steady = rps.slice(1, Math.max(2, Math.floor(options.outageStartS / WINDOW_S)));
  const steadyRps = steady.reduce((a, b) => a + b, 0) / steady.length;
  const recovery = options.outageStartS + options.outageS;
  const after = rps.slice(Math.floor(recovery / WINDOW_S), Math.ceil((recovery + PEAK_WINDOW_S) / WINDOW_S));
  const peakRps = after.length === 0 ? 0 : Math.max(...after);
  const drainS = cloud.oldRowsLeft > 0 ? null : cloud.drainedAtMs === null ? 0 : cloud.drainedAtMs / 1000 - recovery;
  return {
    steadyRps,
    peakRps,
    peakRatio: steadyRps > 0 ? peakRps / steadyRps : 0,
    drainS,
    requests: sum(cloud.requests),
    refusedDown: sum(cloud.down),
    refusedOverload: sum(cloud.overloaded),
    enqueued: cloud.rowsEnqueued,
    delivered: cloud.rowsDelivered,
    abandoned: cloud.rowsAbandoned,
    p99DelayS: cloud.delayQuantileS(0.99),
    rps,
    backlog,
  };
}

function sum(values: Int32Array): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}
