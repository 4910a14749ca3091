/**
 * Event sourcing, the pure half: what the Recorder keeps of each event (`sanitizeEvent`) and the replay
 * that `difflore daemon log --verify` runs (`replayJournal`): feed the recorded events through the real
 * machine with XState's pure `transition()` (no effect runs, no timer is armed) and check every recorded
 * state.
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
 *   rowsWaiting, the pass's authSource (where the token came from, never the token), and the breaker
 *   {state, consecutiveFailures, openUntil, opens} (never the refused token's fingerprint). Not
 *   `lastError` (free text).
 * - A daemon record also carries `delivery` (`deliveryRecord` of the context) on the start record and
 *   whenever the transition changed it; replay checks it, so the delivery summary is event-sourced too.
 * - `xstate.error.actor.*`: `error.code` when it is an identifier (e.g. `db_unavailable`), not the message.
 * - `xstate.after.*`, WAKE, RELOAD: the type only. STOP: `signal` (SIGTERM…).
 * Strings survive only when they look like identifiers (letters, digits, `_ . : -`, ≤ 64 chars).
 */
import { type AnyMachineSnapshot, type AnyStateMachine, type EventObject, initialTransition, transition } from 'xstate';
import { machine as daemonMachine } from './daemon.js';
import { machine as stopMachine } from './stop.js';
import { deliveryRecord } from './delivery-summary.js';
import { type MachineName, type StateValue, stateName, storedStateName } from './types.js';

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

/**
 * Replay uses XState's pure `transition()`: no actor runs, so no effect is invoked and no timer is
 * armed. The machines' effects are never executed (they are only returned, and dropped), invoked
 * actors' done/error events come from the journal, and delayed events happen only when the journal
 * says they did.
 */
const MACHINES: Readonly<Record<MachineName, AnyStateMachine>> = { daemon: daemonMachine, stop: stopMachine };

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
function replayedDelivery(snapshot: AnyMachineSnapshot): string {
  const context = snapshot.context as { delivery?: Parameters<typeof deliveryRecord>[0] };
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

function currentState(snapshot: AnyMachineSnapshot): string {
  return stateName(snapshot.value as StateValue);
}

type Mismatch = Extract<ReplayResult, { readonly ok: false }>;

function mismatch(seq: number, expected: string | null, snapshot: AnyMachineSnapshot, reason: string): Mismatch {
  return { ok: false, seq, expected: expected ?? '(unreadable)', actual: currentState(snapshot), reason };
}

/** Null when the record carries no delivery summary or the replayed one matches it; else the mismatch. */
function deliveryMismatch(record: JournalEntry, snapshot: AnyMachineSnapshot): Mismatch | null {
  if (typeof record.delivery !== 'object' || record.delivery === null) return null;
  const expected = canonical(record.delivery);
  const actual = replayedDelivery(snapshot);
  if (expected === actual) return null;
  const reason = `the delivery summary differs: recorded ${expected}, replayed ${actual}`;
  return { ok: false, seq: record.seq, expected, actual, reason };
}

/** One recorded transition from `snapshot`: the next snapshot, or why the record is not reproduced. */
function replayRecord(
  machine: AnyStateMachine,
  snapshot: AnyMachineSnapshot,
  record: JournalEntry,
): { readonly snapshot: AnyMachineSnapshot } | Mismatch {
  const from = storedStateName(record.from);
  if (from !== null && from !== currentState(snapshot)) {
    return mismatch(record.seq, from, snapshot, 'the recorded from-state differs: a transition is missing before it');
  }
  const [next] = transition(machine, snapshot, record.event as EventObject);
  const to = storedStateName(record.to);
  if (to !== currentState(next)) return mismatch(record.seq, to, next, `${record.event.type} led elsewhere`);
  return deliveryMismatch(record, next) ?? { snapshot: next };
}

/** Replays one run from its start record; its final state, or the first record it does not reproduce. */
function replayRun(machine: AnyStateMachine, start: JournalEntry, rest: readonly JournalEntry[]): string | Mismatch {
  const input = 'input' in start.event ? start.event.input : undefined;
  let [snapshot] = initialTransition(machine, input);
  const startState = storedStateName(start.to);
  if (startState !== currentState(snapshot)) return mismatch(start.seq, startState, snapshot, 'initial state differs');
  const startDiffers = deliveryMismatch(start, snapshot);
  if (startDiffers !== null) return startDiffers;
  for (const record of rest) {
    const step = replayRecord(machine, snapshot, record);
    if ('ok' in step) return step;
    snapshot = step.snapshot;
  }
  return currentState(snapshot);
}

/**
 * Replays the journal of one machine and reports the first record the machine does not reproduce.
 * Records of other machines are ignored; each run (one process's life) is replayed from the machine's
 * initial state with the run's recorded input.
 */
export function replayJournal(machineName: MachineName, transitions: readonly JournalEntry[]): ReplayResult {
  const runs = splitRuns(transitions.filter((t) => t.machine === machineName));
  const machine = MACHINES[machineName];
  let replayed = 0;
  let skippedRuns = 0;
  let finalState: string | null = null;
  for (const [start, ...rest] of runs) {
    if (start === undefined || start.event.type !== 'xstate.init') {
      skippedRuns += 1;
      continue;
    }
    const ended = replayRun(machine, start, rest);
    if (typeof ended !== 'string') return ended;
    replayed += 1 + rest.length;
    finalState = ended;
  }
  return { ok: true, finalState, runs: runs.length, replayed, skippedRuns };
}
