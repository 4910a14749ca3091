/**
 * Event sourcing, the pure half: what the Recorder keeps of each event (`sanitizeEvent`) and the replay
 * that `difflore daemon log --verify` runs (`replayJournal`): feed the recorded events through the real
 * machine, with inert effects and a clock that never advances, and check every recorded state.
 *
 * Recorder contract (the adapter that writes daemon-journal.jsonl); `transitionRecorder` implements it:
 * - Create the actor with `inspect` and record every `@xstate.snapshot` of the root actor
 *   (`event.rootId === event.actorRef.sessionId`) whose snapshot object differs from the previous one,
 *   including those whose state did not change: a WAKE or RELOAD during a pass and a STOP during a claim
 *   change only context, yet replay needs them to take the same later transitions.
 * - The first record of a run is the start: `{ from: null, event: sanitizeEvent(xstate.init event), to }`;
 *   its `input` decides guards (the stop machine's `force`) and deadlines.
 * - `from`/`to` are `stateName(snapshot.value)`; `event` is `sanitizeEvent(event)`.
 *
 * What `sanitizeEvent` keeps, and why (everything else is dropped: tokens, payloads, error messages):
 * - `xstate.init`: `input` — tickMs, batchSize, minSleepMs, abortGraceMs, graceMs, killTimeoutMs, force,
 *   pollStartMs, pollMaxMs.
 * - `xstate.done.actor.*`: `output` — kind, pid, verified, reason (claim/reclaimStale/probe/signal
 *   guards), identity {pid, bootId, startTime}, alive and at (checkAlive guards, deadlines), the pass
 *   counters, nextDueAt, startedAt, finishedAt (tick deadline), the delivery facts outcome, errorCode and
 *   rowsWaiting, and the breaker {state, consecutiveFailures, openUntil, opens} (never the refused token's
 *   fingerprint). Not `lastError` (free text).
 * - A daemon record also carries `delivery` (`deliveryRecord` of the context) on the start record and
 *   whenever the transition changed it; replay checks it, so the delivery summary is event-sourced too.
 * - `xstate.error.actor.*`: `error.code` when it is an identifier (e.g. `db_unavailable`), not the message.
 * - `xstate.after.*`, WAKE, RELOAD: the type only. STOP: `signal` (SIGTERM…). RESUME: `at`.
 * Strings survive only when they look like identifiers (letters, digits, `_ . : -`, ≤ 64 chars).
 */
import { type AnyStateMachine, createActor, fromCallback, fromPromise, SimulatedClock } from 'xstate';
import {
  type ClaimResult,
  machine as daemonMachine,
  type DrainPassInput,
  type DrainSummary,
  type ReclaimInput,
  type ReleaseInput,
} from './daemon.js';
import {
  type AliveCheck,
  type PidInput,
  type ProbeResult,
  type SignalInput,
  type SignalResult,
  machine as stopMachine,
} from './stop.js';
import { deliveryRecord } from './delivery-summary.js';
import { type MachineName, type StateValue, stateName } from './types.js';

export { sanitizeEvent, transitionRecorder } from './transition-record.js';

export type ReplayResult =
  | {
      readonly ok: true;
      /** The state the last replayed run ended in; null when there was nothing to replay. */
      readonly finalState: string | null;
      readonly runs: number;
      readonly replayed: number;
      /** Runs whose start was rotated out of the journal: without their input they cannot be replayed. */
      readonly skippedRuns: number;
    }
  | {
      readonly ok: false;
      readonly seq: number;
      /** The recorded state (`to`, or `from` when the run had already diverged before this record). */
      readonly expected: string;
      readonly actual: string;
      readonly reason: string;
    };

/** A promise actor that never settles: replay delivers its recorded done/error event instead. */
function unsettled<TOutput, TInput>() {
  return fromPromise<TOutput, TInput>(() => new Promise<TOutput>(() => {}));
}

/**
 * The machine with every effect made inert: invoked actors never settle (their recorded done/error
 * events are replayed instead) and actions do nothing.
 */
function inertMachine(name: MachineName): AnyStateMachine {
  if (name === 'daemon') {
    return daemonMachine.provide({
      actors: {
        claim: unsettled<ClaimResult, void>(),
        reclaimStale: unsettled<ClaimResult, ReclaimInput>(),
        wakeWatcher: fromCallback<{ readonly type: 'WAKE' }, void>(() => () => {}),
        drainPass: unsettled<DrainSummary, DrainPassInput>(),
        awaitAbortedPass: unsettled<void, void>(),
        release: unsettled<void, ReleaseInput>(),
      },
    });
  }
  return stopMachine.provide({
    actors: {
      probe: unsettled<ProbeResult, void>(),
      cleanStale: unsettled<void, PidInput>(),
      signal: unsettled<SignalResult, SignalInput>(),
      checkAlive: unsettled<AliveCheck, { readonly pid: number }>(),
    },
  });
}

/**
 * A journal line as replay reads it: `TransitionRecord`, or anything shaped like it (a recorder may
 * keep more event fields, and state values as objects rather than dotted names).
 */
export interface JournalEntry {
  readonly machine: string;
  readonly seq: number;
  readonly pid: number;
  readonly from: unknown;
  readonly event: { readonly type: string };
  readonly to: unknown;
  readonly delivery?: unknown;
}

/** The replayed daemon's delivery summary in its journaled form, as JSON with sorted keys. */
function replayedDelivery(actor: { getSnapshot(): { context: unknown } }): string {
  const context = actor.getSnapshot().context as { delivery?: Parameters<typeof deliveryRecord>[0] };
  return context.delivery === undefined ? 'null' : canonical(deliveryRecord(context.delivery));
}

function canonical(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value ?? null);
  const record = value as Record<string, unknown>;
  return JSON.stringify(
    Object.fromEntries(
      Object.keys(record)
        .sort()
        .map((k) => [k, record[k]]),
    ),
  );
}

/** Null when the record carries no delivery summary or the replayed one matches it; else the mismatch. */
function deliveryMismatch(
  record: JournalEntry,
  actor: { getSnapshot(): { context: unknown } },
): { expected: string; actual: string } | null {
  if (typeof record.delivery !== 'object' || record.delivery === null) return null;
  const expected = canonical(record.delivery);
  const actual = replayedDelivery(actor);
  return expected === actual ? null : { expected, actual };
}

/** A recorded state as a dotted name, whether it was stored as a name or as a state value. */
function recordedState(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) return stateName(value as StateValue);
  return null;
}

/** Splits one machine's records into runs: a run starts at each `xstate.init` or a change of pid. */
function splitRuns(records: readonly JournalEntry[]): JournalEntry[][] {
  const runs: JournalEntry[][] = [];
  let current: JournalEntry[] | undefined;
  for (const record of records) {
    const startsRun = record.event.type === 'xstate.init' || current === undefined || current[0]?.pid !== record.pid;
    if (startsRun) {
      current = [];
      runs.push(current);
    }
    current?.push(record);
  }
  return runs;
}

function currentState(actor: { getSnapshot(): { value: unknown } }): string {
  return stateName(actor.getSnapshot().value as StateValue);
}

/**
 * Replays the journal of one machine and reports the first record the machine does not reproduce.
 * Records of other machines are ignored; each run (one process's life) is replayed from a fresh actor.
 */
export function replayJournal(machineName: MachineName, transitions: readonly JournalEntry[]): ReplayResult {
  const runs = splitRuns(transitions.filter((t) => t.machine === machineName));
  let replayed = 0;
  let skippedRuns = 0;
  let finalState: string | null = null;

  for (const run of runs) {
    const [start, ...rest] = run;
    if (start === undefined || start.event.type !== 'xstate.init') {
      skippedRuns += 1;
      continue;
    }
    const input = 'input' in start.event ? start.event.input : undefined;
    // A clock that is never advanced: delayed events happen only when the journal says they did.
    const actor = createActor(inertMachine(machineName), { input, clock: new SimulatedClock() });
    actor.start();
    replayed += 1;
    const mismatch = (seq: number, expected: string | null, reason: string): ReplayResult => {
      const actual = currentState(actor);
      actor.stop();
      return { ok: false, seq, expected: expected ?? '(unreadable)', actual, reason };
    };
    const startState = recordedState(start.to);
    if (startState !== currentState(actor)) return mismatch(start.seq, startState, 'initial state differs');
    const deliveryDiffers = (record: JournalEntry): ReplayResult | null => {
      const differs = deliveryMismatch(record, actor);
      if (differs === null) return null;
      actor.stop();
      const reason = `the delivery summary differs: recorded ${differs.expected}, replayed ${differs.actual}`;
      return { ok: false, seq: record.seq, expected: differs.expected, actual: differs.actual, reason };
    };
    const startDiffers = deliveryDiffers(start);
    if (startDiffers !== null) return startDiffers;
    for (const record of rest) {
      const from = recordedState(record.from);
      if (from !== null && from !== currentState(actor)) {
        return mismatch(record.seq, from, 'the recorded from-state differs: a transition is missing before it');
      }
      actor.send(record.event);
      replayed += 1;
      const to = recordedState(record.to);
      if (to !== currentState(actor)) return mismatch(record.seq, to, `${record.event.type} led elsewhere`);
      const differs = deliveryDiffers(record);
      if (differs !== null) return differs;
    }
    finalState = currentState(actor);
    actor.stop();
  }
  return { ok: true, finalState, runs: runs.length, replayed, skippedRuns };
}
