/**
 * The live half of the Recorder contract (see journal-replay.ts): what is kept of each event
 * (`sanitizeEvent`) and the `inspect` callback that turns a root actor's snapshots into transition
 * records (`transitionRecorder`). Apart from journal-replay.ts so that recording a run does not load
 * the machines' definitions for replay (`daemon stop` imports only the stop machine).
 */
import type { AnyMachineSnapshot, InspectionEvent } from 'xstate';
import {
  type RecordedEvent,
  type RecordedObject,
  type RecordedScalar,
  type MachineName,
  type StateValue,
  stateName,
  type TransitionRecord,
} from './types.js';

const INPUT_FIELDS = [
  'tickMs',
  'idleMs',
  'batchSize',
  'minSleepMs',
  'abortGraceMs',
  'graceMs',
  'killTimeoutMs',
  'force',
  'pollStartMs',
  'pollMaxMs',
] as const;

const OUTPUT_FIELDS = [
  'kind',
  'pid',
  'verified',
  'reason',
  'alive',
  'at',
  'attempted',
  'confirmed',
  'retried',
  'abandoned',
  'waitingForAuth',
  'cancelled',
  'nextDueAt',
  'startedAt',
  'finishedAt',
  'outcome',
  'errorCode',
  'rowsWaiting',
  'authSource',
] as const;

const IDENTITY_FIELDS = ['pid', 'bootId', 'startTime'] as const;

/** What replay needs of the breaker a pass returns; never the refused token's fingerprint. */
const BREAKER_FIELDS = ['state', 'consecutiveFailures', 'openUntil', 'opens'] as const;

const IDENTIFIER = /^[A-Za-z0-9_.:-]{1,64}$/;

function safeScalar(value: unknown): RecordedScalar | undefined {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string') return IDENTIFIER.test(value) ? value : undefined;
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function pick(source: unknown, fields: readonly string[]): Record<string, RecordedScalar> {
  const kept: Record<string, RecordedScalar> = {};
  if (!isObject(source)) return kept;
  for (const field of fields) {
    const value = safeScalar(source[field]);
    if (value !== undefined) kept[field] = value;
  }
  return kept;
}

/**
 * The part of an event the journal keeps: its type plus exactly the fields replay needs (see the
 * module header). Never a token, a payload body or free text.
 */
export function sanitizeEvent(event: unknown): RecordedEvent {
  if (!isObject(event)) return { type: 'unknown' };
  const raw = event;
  const type = typeof raw.type === 'string' ? raw.type : 'unknown';
  if (type === 'xstate.init') {
    return isObject(raw.input) ? { type, input: pick(raw.input, INPUT_FIELDS) } : { type };
  }
  if (type.startsWith('xstate.done.actor.')) {
    if (!isObject(raw.output)) return { type };
    const output: Record<string, RecordedScalar | RecordedObject> = pick(raw.output, OUTPUT_FIELDS);
    if (isObject(raw.output.identity)) output.identity = pick(raw.output.identity, IDENTITY_FIELDS);
    if (isObject(raw.output.breaker)) output.breaker = pick(raw.output.breaker, BREAKER_FIELDS);
    return { type, output };
  }
  if (type.startsWith('xstate.error.actor.')) {
    const error = pick(raw.error, ['code']);
    return Object.keys(error).length > 0 ? { type, error } : { type };
  }
  if (type === 'STOP') return { type, ...pick(raw, ['signal']) };
  return { type };
}

/** The snapshots a recorded transition went between, for a sink that asks `hasTag` of them. */
export interface RecordedStep {
  /** Undefined for the start record. */
  readonly previous: AnyMachineSnapshot | undefined;
  readonly current: AnyMachineSnapshot;
}

/**
 * The Recorder contract as code: an `inspect` callback for `createActor(machine, { inspect })` that
 * turns the root actor's snapshots into transition records (start included, context-only changes
 * included, events sanitized) and hands each to `sink`, which does the I/O. `now` and `pid` come from
 * the caller because machines never read the clock or the process.
 */
export function transitionRecorder(
  machine: MachineName,
  options: {
    readonly pid: number;
    readonly now: () => number;
    readonly firstSeq?: number;
    /**
     * The delivery summary's journaled form from a snapshot's context (the daemon's); recorded on the
     * start record and whenever it changes, so replay can check it.
     */
    readonly delivery?: (context: unknown) => RecordedObject | null;
  },
  sink: (transition: TransitionRecord, step: RecordedStep) => void,
): (inspection: InspectionEvent) => void {
  let previous: AnyMachineSnapshot | undefined;
  let seq = (options.firstSeq ?? 1) - 1;
  let lastDelivery: string | null = null;
  const deliveryOf = (snapshot: { readonly context?: unknown }): RecordedObject | null => {
    const projected = options.delivery?.(snapshot.context) ?? null;
    if (projected === null) return null;
    const text = JSON.stringify(projected);
    if (text === lastDelivery) return null;
    lastDelivery = text;
    return pick(projected, Object.keys(projected)) as RecordedObject;
  };
  return (inspection) => {
    if (inspection.type !== '@xstate.snapshot') return;
    // Children (invoked effects) have their own snapshots; only the machine's are journaled.
    if (inspection.rootId !== inspection.actorRef.sessionId) return;
    const snapshot = inspection.snapshot as AnyMachineSnapshot;
    // The same object means the event changed nothing, not even context.
    if (snapshot === previous || snapshot.value === undefined) return;
    const step = { previous, current: snapshot };
    const from = previous === undefined ? null : stateName(previous.value as StateValue);
    previous = snapshot;
    seq += 1;
    const delivery = deliveryOf(snapshot);
    sink(
      {
        machine,
        seq,
        atMs: options.now(),
        pid: options.pid,
        from,
        event: sanitizeEvent(inspection.event),
        to: stateName(snapshot.value as StateValue),
        ...(delivery === null ? {} : { delivery }),
      },
      step,
    );
  };
}
