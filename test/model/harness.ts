/**
 * Model-based testing of the machines (issue 4, deliverable 4), shared by the vitest suites and by
 * `coverage-report.ts` so the coverage printed is the coverage of the paths the tests drive.
 *
 * 1. Paths: `getShortestPaths` from xstate/graph walks the real machine with explicit events,
 *    including `xstate.done.actor.*`, `xstate.error.actor.*` and `xstate.after.*`. States are keyed by
 *    (state, abstract context, the edge that led there), so the shortest path to every key takes every
 *    transition, not only reaches every state.
 * 2. Driving: each path runs against the real machine with fake effects given through `provideDaemon`
 *    / `provideStop`: invoked effects wait until the path says how they settle, `after` timers fire
 *    from a manual clock, WAKE comes from the fake wake watcher. After each step the actor must be in
 *    the state the path predicts, and contract invariants on the fake adapters' calls must hold.
 * 3. Recording: a fake Recorder keeps `{ machine, seq, atMs, pid, from, event, to }` per transition
 *    (events through `sanitizeEvent`), and `replayJournal` must reproduce the run from it.
 * 4. Coverage: taken transitions (from `@xstate.microstep` inspection events) and visited states,
 *    against every state node and edge of `toDirectedGraph`.
 */
import assert from 'node:assert/strict';
import {
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyStateNode,
  type AnyTransitionDefinition,
  createActor,
  type EventObject,
  type InspectionEvent,
} from 'xstate';
import { type DirectedGraphNode, getShortestPaths, toDirectedGraph } from 'xstate/graph';
import {
  type ClaimResult,
  DAEMON_EXIT_CODES,
  type DaemonContext,
  type DaemonOutput,
  type DrainPassInput,
  type DrainSummary,
  machine as daemonMachine,
  provideDaemon,
  type ReclaimInput,
  type ReleaseInput,
  sleepMs,
} from '../../src/machines/daemon.js';
import { CLOSED_BREAKER } from '../../src/machines/delivery-policy.js';
import { type DeliverySummary, deliveryRecord } from '../../src/machines/delivery-summary.js';
import { replayJournal, transitionRecorder } from '../../src/machines/journal-replay.js';
import {
  type AliveCheck,
  type ExitHint,
  nextPollDelay,
  type PidInput,
  type ProbeResult,
  provideStop,
  type SignalInput,
  type SignalResult,
  STOP_EXIT_CODES,
  type StopContext,
  type StopOutput,
  machine as stopMachine,
} from '../../src/machines/stop.js';
import { type MachineName, type StateValue, stateName, type TransitionRecord } from '../../src/machines/types.js';

// ── clock ─────────────────────────────────────────────────────────────────────────────────────────

/** XState's scheduler clock, advanced only when a test says so. */
export class ManualClock {
  now = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; delay: number; fn: () => void }>();

  setTimeout(fn: () => void, delay: number): number {
    const id = this.nextId++;
    this.timers.set(id, { at: this.now + delay, delay, fn });
    return id;
  }

  clearTimeout(id: number): void {
    this.timers.delete(id);
  }

  /** Delays of the timers armed now, in arming order. */
  armed(): number[] {
    return [...this.timers.values()].map((t) => t.delay);
  }

  /** Fires the one armed timer, advancing `now` to its deadline; returns the delay it was armed with. */
  fireOnly(): number {
    assert.equal(this.timers.size, 1, `expected exactly one armed timer, found ${this.timers.size}`);
    const [id, timer] = [...this.timers.entries()][0] ?? [];
    assert.ok(id !== undefined && timer !== undefined);
    this.timers.delete(id);
    this.now = Math.max(this.now, timer.at);
    timer.fn();
    return timer.delay;
  }
}

export const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ── deferred effects ──────────────────────────────────────────────────────────────────────────────

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Invoked effects waiting for the script to settle them, by invoke id. */
class Pending {
  private readonly waiting = new Map<string, Deferred<unknown>>();

  wait<T>(id: string): Promise<T> {
    const d = deferred<unknown>();
    this.waiting.set(id, d);
    return d.promise as Promise<T>;
  }

  settle(id: string, outcome: { ok: true; value: unknown } | { ok: false; error: unknown }): void {
    const d = this.waiting.get(id);
    assert.ok(d, `the machine did not invoke '${id}', so it cannot settle`);
    this.waiting.delete(id);
    if (outcome.ok) d.resolve(outcome.value);
    else d.reject(outcome.error);
  }
}

// ── paths ─────────────────────────────────────────────────────────────────────────────────────────

export interface ModelEvent extends EventObject {
  readonly [field: string]: unknown;
}

export interface ModelPath {
  readonly machine: MachineName;
  readonly input: object;
  readonly description: string;
  /** Events after `xstate.init`. */
  readonly events: readonly ModelEvent[];
  /** The state after init, then after each event. */
  readonly states: readonly string[];
}

export interface MachineSpec {
  readonly name: MachineName;
  readonly machine: AnyStateMachine;
  readonly inputs: readonly object[];
  /** Every event worth trying in this snapshot (filtered by `snapshot.can`). */
  events(snapshot: AnyMachineSnapshot): ModelEvent[];
  /** The part of context that changes what can happen next (finite). */
  abstractContext(snapshot: AnyMachineSnapshot): unknown;
}

export function stateOf(snapshot: AnyMachineSnapshot): string {
  return stateName(snapshot.value as StateValue);
}

/** What distinguishes events of one type: the result kind, or a check's alive/timing. */
export function eventSignature(event: ModelEvent): string {
  const output = event.output;
  if (typeof output === 'object' && output !== null) {
    const o = output as Record<string, unknown>;
    if (typeof o.kind === 'string') return `${event.type}(${o.kind})`;
    if (typeof o.alive === 'boolean') return `${event.type}(${o.alive ? 'alive' : 'gone'})`;
  }
  return event.type;
}

function shortEvent(event: ModelEvent): string {
  return eventSignature(event)
    .replace(/^xstate\.done\.actor\.(\w+)/, '$1 done')
    .replace(/^xstate\.error\.actor\.(\w+)/, '$1 error')
    .replace(/^xstate\.after\.(\w+)\..*/, 'after $1');
}

export function generate(spec: MachineSpec): ModelPath[] {
  const paths: ModelPath[] = [];
  for (const input of spec.inputs) {
    const found = getShortestPaths(spec.machine, {
      input,
      events: (snapshot: AnyMachineSnapshot) => spec.events(snapshot).filter((e) => snapshot.can(e)),
      serializeState: (snapshot: AnyMachineSnapshot, event: ModelEvent | undefined, prev?: AnyMachineSnapshot) =>
        JSON.stringify({
          state: stateOf(snapshot),
          context: spec.abstractContext(snapshot),
          via: prev && event ? [stateOf(prev), eventSignature(event)] : null,
        }),
    });
    for (const path of found) {
      // Each step is (event, state after it); the first is xstate.init.
      const [init, ...rest] = path.steps;
      assert.equal(init?.event.type, 'xstate.init');
      const events = rest.map((s) => s.event as ModelEvent);
      const states = path.steps.map((s) => stateOf(s.state as AnyMachineSnapshot));
      paths.push({
        machine: spec.name,
        input,
        events,
        states,
        description: `${JSON.stringify(input)} ${['init', ...events.map(shortEvent)].join(' → ')} ⇒ ${states.at(-1)}`,
      });
    }
  }
  // A path that is a prefix of another adds nothing the longer one does not check.
  const steps = (p: ModelPath) => [JSON.stringify(p.input), ...p.events.map((e) => JSON.stringify(e))];
  const isPrefix = (short: string[], long: string[]) =>
    short.length < long.length && short.every((step, i) => step === long[i]);
  const all = paths.map(steps);
  return paths.filter((_, i) => !all.some((other) => isPrefix(all[i] ?? [], other)));
}

// ── coverage ──────────────────────────────────────────────────────────────────────────────────────

function transitionIndex(t: AnyTransitionDefinition): number {
  return (t.source.transitions.get(t.eventType) ?? []).indexOf(t);
}

function edgeKey(source: AnyStateNode, t: AnyTransitionDefinition, target: AnyStateNode): string {
  return `${source.id} --${t.eventType}#${transitionIndex(t)}--> ${target.id}`;
}

/** Every state node id and every edge key of the machine's directed graph. */
export function graphOf(machine: AnyStateMachine): { states: Set<string>; edges: Set<string> } {
  const states = new Set<string>();
  const edges = new Set<string>();
  const walk = (node: DirectedGraphNode) => {
    for (const child of node.children) {
      states.add(child.stateNode.id);
      for (const edge of child.edges) edges.add(edgeKey(edge.source, edge.transition, edge.target));
      walk(child);
    }
  };
  walk(toDirectedGraph(machine));
  return { states, edges };
}

export interface Coverage {
  readonly machine: MachineName;
  readonly states: { covered: number; total: number; missing: string[] };
  readonly transitions: { covered: number; total: number; missing: string[] };
}

export function coverageOf(
  name: MachineName,
  machine: AnyStateMachine,
  runs: readonly { visited: ReadonlySet<string>; taken: ReadonlySet<string> }[],
): Coverage {
  const graph = graphOf(machine);
  const visited = new Set(runs.flatMap((r) => [...r.visited]));
  const taken = new Set(runs.flatMap((r) => [...r.taken]));
  const missingStates = [...graph.states].filter((s) => !visited.has(s));
  const missingEdges = [...graph.edges].filter((e) => !taken.has(e));
  return {
    machine: name,
    states: { covered: graph.states.size - missingStates.length, total: graph.states.size, missing: missingStates },
    transitions: { covered: graph.edges.size - missingEdges.length, total: graph.edges.size, missing: missingEdges },
  };
}

export function coverageLine(c: Coverage): string {
  return JSON.stringify({
    machine: c.machine,
    states: `${c.states.covered}/${c.states.total}`,
    transitions: `${c.transitions.covered}/${c.transitions.total}`,
  });
}

// ── driving ───────────────────────────────────────────────────────────────────────────────────────

export interface RunResult {
  readonly records: TransitionRecord[];
  readonly visited: Set<string>;
  readonly taken: Set<string>;
  readonly output: unknown;
}

const FAKE_PID = 4242;

/** Creates the actor with the Recorder's inspect callback (into memory) and a coverage probe. */
function instrument(name: MachineName, machine: AnyStateMachine, input: object, clock: ManualClock) {
  const records: TransitionRecord[] = [];
  const visited = new Set<string>();
  const taken = new Set<string>();
  // The daemon's records carry its delivery summary, as the live recorder's do, so replay checks it.
  const delivery = (context: unknown) => deliveryRecord((context as { delivery: DeliverySummary }).delivery);
  const options = { pid: FAKE_PID, now: () => clock.now, ...(name === 'daemon' ? { delivery } : {}) };
  const record = transitionRecorder(name, options, (t) => {
    records.push(t);
    const parts = t.to.split('.');
    for (let i = 1; i <= parts.length; i += 1) visited.add(`${name}.${parts.slice(0, i).join('.')}`);
  });
  const inspect = (ev: InspectionEvent) => {
    record(ev);
    if (ev.type === '@xstate.microstep' && ev.rootId === ev.actorRef.sessionId) {
      for (const t of ev._transitions) {
        for (const target of t.target ?? [t.source]) taken.add(edgeKey(t.source, t, target));
      }
    }
  };
  const actor = createActor(machine, { input, clock, inspect });
  return { actor, records, visited, taken };
}

function afterEventOf(event: ModelEvent): boolean {
  return event.type.startsWith('xstate.after.');
}

function invokeIdOf(event: ModelEvent): { id: string; ok: boolean } | null {
  const m = /^xstate\.(done|error)\.actor\.(.+)$/.exec(event.type);
  return m ? { id: m[2] ?? '', ok: m[1] === 'done' } : null;
}

async function step(
  event: ModelEvent,
  env: { actor: { send(e: EventObject): void }; pending: Pending; clock: ManualClock; wake?: () => void },
): Promise<number | null> {
  let firedDelay: number | null = null;
  const invoke = invokeIdOf(event);
  if (invoke) {
    env.pending.settle(invoke.id, invoke.ok ? { ok: true, value: event.output } : { ok: false, error: event.error });
  } else if (afterEventOf(event)) {
    firedDelay = env.clock.fireOnly();
  } else if (event.type === 'WAKE' && env.wake) {
    env.wake();
  } else {
    env.actor.send(event);
  }
  await flush();
  return firedDelay;
}

function checkReplay(name: MachineName, records: TransitionRecord[], finalState: string): void {
  const replay = replayJournal(name, records);
  assert.deepEqual(replay, { ok: true, finalState, runs: 1, replayed: records.length, skippedRuns: 0 });
}

// ── the daemon ────────────────────────────────────────────────────────────────────────────────────

const IDENTITY = { pid: FAKE_PID, bootId: 'boot-1', startTime: '777' };
const CLAIM_RESULTS: Record<ClaimResult['kind'], ClaimResult> = {
  claimed: { kind: 'claimed', identity: IDENTITY },
  conflict: { kind: 'conflict', pid: 99, verified: true },
  stale: { kind: 'stale', pid: 98, reason: 'dead' },
};

export function summaryAt(finishedAt: number, extra: Partial<DrainSummary> = {}): DrainSummary {
  return {
    attempted: 3,
    confirmed: 2,
    retried: 1,
    abandoned: 0,
    waitingForAuth: 0,
    cancelled: 0,
    nextDueAt: null,
    lastError: null,
    startedAt: finishedAt - 5,
    finishedAt,
    breaker: CLOSED_BREAKER,
    outcome: 'ok',
    errorCode: null,
    rowsWaiting: false,
    ...extra,
  };
}

export const daemonSpec: MachineSpec = {
  name: 'daemon',
  machine: daemonMachine,
  inputs: [{ tickMs: 5_000, batchSize: 16, minSleepMs: 10, abortGraceMs: 2_000 }],
  events: (snapshot) => {
    const context = snapshot.context as DaemonContext;
    const now = (context.clockMs ?? 1_000) + 10;
    const failure = new Error('simulated failure');
    const claims = (id: string) => [
      ...Object.values(CLAIM_RESULTS).map((output) => ({ type: `xstate.done.actor.${id}`, output })),
      { type: `xstate.error.actor.${id}`, error: failure },
    ];
    return [
      { type: 'STOP', signal: 'SIGTERM' },
      { type: 'WAKE' },
      { type: 'RELOAD' },
      ...claims('claim'),
      ...claims('reclaimStale'),
      { type: 'xstate.done.actor.drainPass', output: summaryAt(now) },
      // A pass that could not reach the cloud: it opens the breaker, which the next pass must get.
      {
        type: 'xstate.done.actor.drainPass',
        output: summaryAt(now, {
          outcome: 'unreachable',
          errorCode: 'ECONNREFUSED',
          rowsWaiting: true,
          nextDueAt: now + 30_000,
          breaker: { ...CLOSED_BREAKER, state: 'open', consecutiveFailures: 3, openUntil: now + 30_000, opens: 1 },
        }),
      },
      { type: 'xstate.error.actor.drainPass', error: failure },
      { type: 'xstate.done.actor.awaitAbortedPass', output: undefined },
      { type: 'xstate.error.actor.awaitAbortedPass', error: failure },
      { type: 'xstate.done.actor.release', output: undefined },
      { type: 'xstate.error.actor.release', error: failure },
      { type: 'xstate.after.untilTick.daemon.serving.running' },
      { type: 'xstate.after.abortGrace.daemon.stopping.abortingPass' },
    ];
  },
  abstractContext: (snapshot) => {
    const c = snapshot.context as DaemonContext;
    // The breaker's state too, so that paths carry an open breaker into later passes and RELOADs.
    return [c.stopRequested, c.wakePending, c.reloadPending, c.reclaims, c.outcome?.reason ?? null, c.breaker.state];
  },
};

export function daemonPaths(): ModelPath[] {
  return generate(daemonSpec);
}

export interface DaemonCall {
  readonly effect: string;
  readonly input?: unknown;
}

/** Runs one daemon path against fake adapters, checking state and contract after every step. */
export async function runDaemonPath(path: ModelPath): Promise<RunResult & { calls: DaemonCall[] }> {
  const clock = new ManualClock();
  const pending = new Pending();
  const calls: DaemonCall[] = [];
  const signals: AbortSignal[] = [];
  let wake: (() => void) | undefined;
  let watching = 0;
  const machine = provideDaemon({
    claim: () => {
      calls.push({ effect: 'claim' });
      return pending.wait<ClaimResult>('claim');
    },
    reclaimStale: (input: ReclaimInput) => {
      calls.push({ effect: 'reclaimStale', input });
      return pending.wait<ClaimResult>('reclaimStale');
    },
    drainPass: (input: DrainPassInput, signal: AbortSignal) => {
      calls.push({ effect: 'drainPass', input });
      signals.push(signal);
      return pending.wait<DrainSummary>('drainPass');
    },
    awaitAbortedPass: () => {
      calls.push({ effect: 'awaitAbortedPass' });
      return pending.wait<void>('awaitAbortedPass');
    },
    release: (input: ReleaseInput) => {
      calls.push({ effect: 'release', input });
      return pending.wait<void>('release');
    },
    reportDelivery: () => {},
    watchWakes: (w) => {
      calls.push({ effect: 'watchWakes' });
      watching += 1;
      wake = w;
      return () => {
        calls.push({ effect: 'unwatchWakes' });
        watching -= 1;
        wake = undefined;
      };
    },
    heartbeat: () => calls.push({ effect: 'heartbeat' }),
    recordPass: (params) => calls.push({ effect: 'recordPass', input: params }),
    log: (params) => calls.push({ effect: 'log', input: params }),
  });
  const { actor, records, visited, taken } = instrument('daemon', machine, path.input, clock);
  const input = path.input as { batchSize: number };
  actor.start();
  await flush();
  assert.equal(stateOf(actor.getSnapshot()), path.states[0], 'initial state');

  /** The breaker the last finished pass returned: the next pass starts from it (closed after a RELOAD). */
  let lastBreaker = CLOSED_BREAKER;
  for (const [i, event] of path.events.entries()) {
    const before = actor.getSnapshot().context as DaemonContext;
    const beforeState = stateOf(actor.getSnapshot());
    const passesBefore = calls.filter((c) => c.effect === 'drainPass').length;
    const fired = await step(event, { actor, pending, clock, wake });
    if (event.type === 'xstate.done.actor.drainPass' && 'output' in event) {
      lastBreaker = (event.output as DrainSummary).breaker;
    }
    const snapshot = actor.getSnapshot();
    const state = stateOf(snapshot);
    assert.equal(state, path.states[i + 1], `after ${event.type}`);

    // Contract: the tick sleeps as long as the deadline in context says, and heartbeats.
    if (event.type.startsWith('xstate.after.untilTick')) {
      assert.equal(fired, sleepMs(before));
      assert.equal(calls.filter((c) => c.effect === 'heartbeat').length > 0, true);
    }
    if (event.type.startsWith('xstate.after.abortGrace')) assert.equal(fired, before.abortGraceMs);
    // Contract: a STOP mid-pass aborts that pass's signal.
    if (event.type === 'STOP' && beforeState === 'serving.draining') {
      assert.equal(signals.at(-1)?.aborted, true, 'STOP during a pass aborts its signal');
    }
    // Contract: every pass starts with the configured batch size and says why it runs.
    const passes = calls.filter((c) => c.effect === 'drainPass');
    if (passes.length > passesBefore) {
      const pass = passes.at(-1)?.input as DrainPassInput;
      assert.equal(pass.batchSize, input.batchSize);
      assert.equal(pass.resetBreaker, pass.trigger === 'reload');
      const expected =
        event.type === 'WAKE' && beforeState === 'serving.running'
          ? 'wake'
          : event.type === 'RELOAD'
            ? 'reload'
            : event.type.startsWith('xstate.after.untilTick')
              ? 'tick'
              : event.type.startsWith('xstate.done.actor.claim') || event.type.startsWith('xstate.done.actor.reclaim')
                ? 'start'
                : before.reloadPending
                  ? 'reload'
                  : 'wake';
      assert.equal(pass.trigger, expected, `trigger of the pass started by ${event.type}`);
      // Contract: the breaker is carried from pass to pass in context, and a RELOAD closes it.
      if (pass.trigger === 'reload') lastBreaker = CLOSED_BREAKER;
      assert.deepEqual(pass.breaker, lastBreaker, `breaker carried into the pass started by ${event.type}`);
    }
    // Contract: the wake watcher runs exactly while serving.
    assert.equal(watching, state.startsWith('serving') ? 1 : 0, 'wake watcher runs only while serving');
  }

  // Contract: cleanup runs once iff the run reached `releasing`, after any aborted pass settled.
  const releases = calls.filter((c) => c.effect === 'release').length;
  assert.equal(releases, path.states.includes('stopping.releasing') ? 1 : 0);
  const awaitIndex = calls.findIndex((c) => c.effect === 'awaitAbortedPass');
  if (awaitIndex >= 0 && releases > 0) {
    assert.ok(awaitIndex < calls.findIndex((c) => c.effect === 'release'), 'leases are returned before the DB closes');
  }
  assert.equal(calls.filter((c) => c.effect === 'heartbeat').length, path.events.filter(isTick).length);

  const final = actor.getSnapshot();
  let output: unknown;
  if (final.status === 'done') {
    const out = final.output as DaemonOutput;
    assert.equal(out.exitCode, DAEMON_EXIT_CODES[out.reason]);
    // Only a failure is non-zero: yielding to a daemon that serves the home is not one (a service
    // manager restarting on failure would otherwise loop into the same conflict).
    assert.equal(out.exitCode, out.reason === 'fatal' ? 1 : 0, `exit code of a ${out.reason} run`);
    output = out;
  }
  actor.stop();
  checkReplay('daemon', records, path.states.at(-1) ?? '');
  return { records, visited, taken, output, calls };
}

function isTick(event: ModelEvent): boolean {
  return event.type.startsWith('xstate.after.untilTick');
}

// ── the stop protocol ─────────────────────────────────────────────────────────────────────────────

const TARGET_PID = 777;
const SIGNAL_AT = { SIGTERM: 10_000, SIGKILL: 20_000 } as const;

export const stopSpec: MachineSpec = {
  name: 'stop',
  machine: stopMachine,
  inputs: [
    { graceMs: 1_000, killTimeoutMs: 500, force: false },
    { graceMs: 1_000, killTimeoutMs: 500, force: true },
  ],
  events: (snapshot) => {
    const context = snapshot.context as StopContext;
    const killing = snapshot.matches('killing');
    const deadline = context.deadlineAt ?? 0;
    const failure = new Error('simulated failure');
    const probes: ProbeResult[] = [
      { kind: 'notRunning' },
      { kind: 'stale', pid: TARGET_PID },
      { kind: 'running', pid: TARGET_PID, verified: true },
      { kind: 'unverified', pid: TARGET_PID },
    ];
    const signals: SignalResult[] = [
      { kind: 'ok', at: killing ? SIGNAL_AT.SIGKILL : SIGNAL_AT.SIGTERM },
      { kind: 'esrch' },
      { kind: 'eperm' },
    ];
    const checks: AliveCheck[] = [
      { alive: false, at: deadline - 1 },
      { alive: true, at: deadline - 1 },
      { alive: true, at: deadline },
    ];
    return [
      ...probes.map((output) => ({ type: 'xstate.done.actor.probe', output })),
      { type: 'xstate.error.actor.probe', error: failure },
      { type: 'xstate.done.actor.cleanStale', output: undefined },
      { type: 'xstate.error.actor.cleanStale', error: failure },
      ...signals.map((output) => ({ type: 'xstate.done.actor.signal', output })),
      { type: 'xstate.error.actor.signal', error: failure },
      ...checks.map((output) => ({ type: 'xstate.done.actor.checkAlive', output })),
      { type: 'xstate.error.actor.checkAlive', error: failure },
      // Before the exit hints: where paths tie, a poll that fired reaches a check with the wait for the
      // exit still running (an exit hint first would have ended that wait).
      { type: 'xstate.after.nextPoll.stop.polling.waiting' },
      { type: 'xstate.after.nextPoll.stop.killing.waiting' },
      { type: 'xstate.done.actor.awaitExit', output: { kind: 'released' } },
      { type: 'xstate.done.actor.awaitExit', output: { kind: 'unwatchable' } },
    ];
  },
  abstractContext: (snapshot) => {
    const c = snapshot.context as StopContext;
    return [c.force, c.outcome, c.refusal];
  },
};

export function stopPaths(): ModelPath[] {
  return generate(stopSpec);
}

export interface StopCall {
  readonly effect: 'probe' | 'cleanStale' | 'signal' | 'checkAlive' | 'awaitExit' | 'log';
  readonly input?: unknown;
}

/** Runs one stop-protocol path against fake adapters, checking state and contract after every step. */
export async function runStopPath(path: ModelPath): Promise<RunResult & { calls: StopCall[]; delays: number[] }> {
  const clock = new ManualClock();
  const pending = new Pending();
  const calls: StopCall[] = [];
  const delays: number[] = [];
  const machine = provideStop({
    probe: () => {
      calls.push({ effect: 'probe' });
      return pending.wait<ProbeResult>('probe');
    },
    cleanStale: (input: PidInput) => {
      calls.push({ effect: 'cleanStale', input });
      return pending.wait<void>('cleanStale');
    },
    signal: (input: SignalInput) => {
      calls.push({ effect: 'signal', input });
      return pending.wait<SignalResult>('signal');
    },
    checkAlive: (input: { readonly pid: number }) => {
      calls.push({ effect: 'checkAlive', input });
      return pending.wait<AliveCheck>('checkAlive');
    },
    awaitExit: (input: { readonly pid: number }) => {
      calls.push({ effect: 'awaitExit', input });
      return pending.wait<ExitHint>('awaitExit');
    },
    log: (params) => calls.push({ effect: 'log', input: params }),
  });
  const { actor, records, visited, taken } = instrument('stop', machine, path.input, clock);
  const input = path.input as { force: boolean; graceMs: number; killTimeoutMs: number };
  actor.start();
  await flush();
  assert.equal(stateOf(actor.getSnapshot()), path.states[0], 'initial state');
  let probe: ProbeResult | undefined;

  for (const [i, event] of path.events.entries()) {
    const before = actor.getSnapshot().context as StopContext;
    if (event.type === 'xstate.done.actor.probe') probe = event.output as ProbeResult;
    const fired = await step(event, { actor, pending, clock });
    assert.equal(stateOf(actor.getSnapshot()), path.states[i + 1], `after ${event.type}`);
    if (fired !== null) {
      // Contract: polls back off and never sleep past the deadline.
      assert.equal(fired, nextPollDelay(before));
      assert.ok(fired <= 100);
      delays.push(fired);
    }
  }

  // Contract: never signal a stranger, and KILL only after TERM, always the probed pid.
  const signals = calls.filter((c) => c.effect === 'signal').map((c) => c.input as SignalInput);
  if (signals.length > 0) {
    assert.ok(probe && (probe.kind === 'running' || (probe.kind === 'unverified' && input.force)));
    assert.equal(signals[0]?.signal, 'SIGTERM');
    assert.ok(signals.every((s) => s.pid === TARGET_PID));
    assert.ok(signals.length <= 2);
  }
  // Contract: the death is awaited only for the process a signal went to.
  for (const wait of calls.filter((c) => c.effect === 'awaitExit')) {
    assert.ok(signals.length > 0, 'awaitExit before any signal');
    assert.deepEqual(wait.input, { pid: TARGET_PID });
  }
  for (const clean of calls.filter((c) => c.effect === 'cleanStale')) {
    assert.deepEqual(clean.input, { pid: TARGET_PID });
  }

  const final = actor.getSnapshot();
  let output: unknown;
  if (final.status === 'done') {
    const out = final.output as StopOutput;
    assert.equal(out.outcome, stateOf(final));
    assert.equal(out.exitCode, STOP_EXIT_CODES[out.outcome]);
    if (out.outcome === 'notRunning' || out.outcome === 'staleCleaned' || out.outcome === 'refused') {
      assert.equal(
        signals.some((s) => s.signal === 'SIGKILL'),
        false,
      );
    }
    output = out;
  }
  actor.stop();
  checkReplay('stop', records, path.states.at(-1) ?? '');
  return { records, visited, taken, output, calls, delays };
}

// ── everything ────────────────────────────────────────────────────────────────────────────────────

export const MACHINES = { daemon: daemonMachine, stop: stopMachine } as const;

/** Generates and drives every path of both machines; what coverage-report.ts prints. */
export async function runAll(): Promise<Coverage[]> {
  const daemonRuns = [];
  for (const path of daemonPaths()) daemonRuns.push(await runDaemonPath(path));
  const stopRuns = [];
  for (const path of stopPaths()) stopRuns.push(await runStopPath(path));
  return [coverageOf('daemon', daemonMachine, daemonRuns), coverageOf('stop', stopMachine, stopRuns)];
}
