/**
 * The generated paths, made runnable against real processes (see real-stop.ts, real-daemon.ts):
 *
 * 1. Completion: a generated path ends where its key was first reached, often mid-run (a process
 *    still polling, a daemon still serving); a real process runs on to a final state. Each path is
 *    extended by the shortest way to each final state reachable from its end.
 * 2. Selection: every completed path gets a plan or the reason it has none; the paths run for real
 *    are a greedy cover of the planned ones (each adds a transition no earlier one took), so the
 *    real coverage is the planned coverage at a fraction of the run time. `DIFFLORE_MODEL_REAL=all`
 *    runs every planned path.
 * 3. Coverage: a real run whose journal equals the fake run's records (from, event and result, to)
 *    took the fake run's edges of `toDirectedGraph` (the keys of the fake coverage); the suites write
 *    the edges their passing real runs took where coverage-report.ts reads them.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AnyMachineSnapshot, getInitialSnapshot, getNextSnapshot } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import type { MachineName, TransitionRecord } from '../../src/machines/types.js';
import { eventSignature, generate, type MachineSpec, type ModelEvent, type ModelPath, stateOf } from './harness.js';

/** Events a real run can receive: everything but RESUME (nothing restores a snapshot in a real run). */
function real(event: ModelEvent): boolean {
  return event.type !== 'RESUME';
}

function leafOf(spec: MachineSpec, path: ModelPath): AnyMachineSnapshot {
  let snapshot = getInitialSnapshot(spec.machine, path.input) as AnyMachineSnapshot;
  for (const event of path.events) snapshot = getNextSnapshot(spec.machine, snapshot, event) as AnyMachineSnapshot;
  return snapshot;
}

/** `path` extended by the shortest way into each final state (by each edge, with each context) reachable from its end. */
function completions(spec: MachineSpec, path: ModelPath): ModelPath[] {
  const leaf = leafOf(spec, path);
  if (leaf.status === 'done') return [path];
  const tailsIn = (order: (events: ModelEvent[]) => ModelEvent[]) =>
    getShortestPaths(spec.machine, {
      fromState: leaf,
      events: (snapshot: AnyMachineSnapshot) => order(spec.events(snapshot).filter((e) => real(e) && snapshot.can(e))),
      // Keyed by the edge that led there too (as `generate` keys paths): one tail per way into a final state.
      serializeState: (snapshot: AnyMachineSnapshot, event: ModelEvent | undefined, prev?: AnyMachineSnapshot) =>
        JSON.stringify({
          state: stateOf(snapshot),
          context: spec.abstractContext(snapshot),
          via: prev && event ? [stateOf(prev), eventSignature(event)] : null,
        }),
      toState: (snapshot: AnyMachineSnapshot) => snapshot.status === 'done',
    });
  // Both orders, as for the heads (completedPaths): where tails tie, each order keeps the other one.
  return [...tailsIn((e) => e), ...tailsIn((e) => e.reverse())].map((tail) => {
    // The first step of a tail is its start state, reached by the path's own last event.
    const steps = tail.steps.slice(1);
    const events = [...path.events, ...steps.map((s) => s.event as ModelEvent)];
    const states = [...path.states, ...steps.map((s) => stateOf(s.state as AnyMachineSnapshot))];
    const completion = steps.map((s) => eventSignature(s.event as ModelEvent)).join(' → ');
    return { ...path, events, states, description: `${path.description} ⟶ ${completion}` };
  });
}

/**
 * Every generated path of `spec`, completed to a final state. Events that only a restored snapshot
 * receives (RESUME) are left out of the generation: nothing restores a snapshot in a real run, and
 * with them the shortest paths would all go through one.
 */
export function completedPaths(spec: MachineSpec): ModelPath[] {
  const realSpec = { ...spec, events: (s: AnyMachineSnapshot) => spec.events(s).filter(real) };
  // Where shortest paths tie, the generator keeps the first event tried: trying the events in the
  // reverse order too gives the other choice (an unverified probe rather than a verified one, a lock
  // let go rather than a poll), which a real world may be able to give when the first is not.
  const reversed = { ...realSpec, events: (s: AnyMachineSnapshot) => realSpec.events(s).reverse() };
  const seen = new Set<string>();
  const paths: ModelPath[] = [];
  for (const path of [...generate(realSpec), ...generate(reversed)].flatMap((p) => completions(realSpec, p))) {
    const key = JSON.stringify([path.input, path.events]);
    if (seen.has(key)) continue;
    seen.add(key);
    paths.push(path);
  }
  return paths;
}

// ── records and edges ─────────────────────────────────────────────────────────────────────────────

/** One journal record as compared: where from, which event (with its result kind), where to. */
export function step(record: Pick<TransitionRecord, 'from' | 'event' | 'to'>): string {
  return `${record.from ?? '∅'} --${eventSignature(record.event as ModelEvent)}--> ${record.to}`;
}

export interface Planned<P> {
  readonly path: ModelPath;
  readonly plan: P | null;
  /** Why no real world takes this path (plan null). */
  readonly reason: string | null;
}

/**
 * The paths to run for real: every planned path with `DIFFLORE_MODEL_REAL=all`, otherwise a greedy
 * cover — longest first, each kept only if it takes an edge no kept path took.
 */
export function selectForRealRuns<P>(planned: readonly Planned<P>[], edgesOf: (path: ModelPath) => Set<string>) {
  const runnable = planned.filter((p) => p.plan !== null);
  if (process.env.DIFFLORE_MODEL_REAL === 'all') return runnable;
  const byGain = [...runnable].sort((a, b) => edgesOf(b.path).size - edgesOf(a.path).size);
  const taken = new Set<string>();
  const kept: Planned<P>[] = [];
  for (const candidate of byGain) {
    const edges = [...edgesOf(candidate.path)].filter((e) => !taken.has(e));
    if (edges.length === 0) continue;
    for (const e of edges) taken.add(e);
    kept.push(candidate);
  }
  return kept;
}

// ── the real coverage, handed to coverage-report.ts ───────────────────────────────────────────────

export interface RealCoverage {
  readonly machine: MachineName;
  /** Edge keys (harness.ts `graphOf`) taken by real runs. */
  readonly taken: string[];
  /** Edge key → why no real run takes it. */
  readonly leftToFakes: Record<string, string>;
}

function coverageFile(machine: MachineName): string {
  const dir = join(tmpdir(), 'difflore-model-real', Buffer.from(process.cwd()).toString('hex').slice(-40));
  mkdirSync(dir, { recursive: true });
  return join(dir, `${machine}.json`);
}

/**
 * Why no real run takes `edge`, where the reason is the composition's, not one path's: events nothing
 * real sends, effects whose real implementation cannot reject. `fallback`: the planner's reason.
 */
export function edgeReason(edge: string, fallback: string): string {
  const known: [RegExp, string][] = [
    [/--RESUME#/, 'nothing sends RESUME in a real run: no snapshot is ever restored'],
    [
      /^stop\.\S+ --xstate\.error\.actor\.signal#/,
      "runStop's signal never rejects: it signals only the valid pid the probe found, and ESRCH/EPERM are results",
    ],
    [
      /^stop\.\S+ --xstate\.error\.actor\.checkAlive#/,
      "runStop's checkAlive never rejects: every answer of kill(pid, 0) and /proc is alive or gone",
    ],
    [
      /--xstate\.error\.actor\.drainPass#/,
      'a pass rejects only when the outbox itself (SQLite) fails, and an open database cannot be made to fail from outside on cue (root ignores permissions)',
    ],
    [
      /--xstate\.error\.actor\.awaitAbortedPass#/,
      "the runtime's awaitAbortedPass is the pass in flight with its rejection caught: it never rejects",
    ],
    [
      /--xstate\.after\.abortGrace\./,
      'an aborted pass settles at once (its HTTP request is aborted with the signal); nothing in a pass ignores the signal for the grace',
    ],
    [
      /^stop\.polling --xstate\.done\.actor\.awaitExit#1/,
      'the lock let go during a liveness check: a check settles within one macrotask, so no exit can be seen during it',
    ],
  ];
  return known.find(([pattern]) => pattern.test(edge))?.[1] ?? fallback;
}

export function writeRealCoverage(coverage: RealCoverage): void {
  writeFileSync(coverageFile(coverage.machine), `${JSON.stringify(coverage, null, 1)}\n`);
}

/** The real coverage the last passing run wrote, removed as it is read. */
export function takeRealCoverage(machine: MachineName): RealCoverage | null {
  const file = coverageFile(machine);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RealCoverage;
  } catch {
    return null;
  } finally {
    rmSync(file, { force: true });
  }
}
