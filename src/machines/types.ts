/**
 * Types shared by the machines, the journal replay and the adapters that feed them: process identity,
 * the transition record the Recorder writes (DESIGN §3.3) and the shape of a sanitized event.
 * Pure declarations plus one pure helper; adapters import these types, never the other way round.
 */

/** Names of the machines whose transitions are journaled. */
export type MachineName = 'daemon' | 'stop';

/**
 * Who a process is (DESIGN §4): `(bootId, pid, startTime)`, so a reused pid is never taken for the
 * daemon that once had it. `bootId` and `startTime` are null when they cannot be read (a platform
 * without them, or a record written by the Rust binary, which stores a bare pid); then the identity
 * can never be verified, only the pid compared. Read and compared by adapters/lifecycle/process-identity.ts.
 */
export interface ProcessIdentity {
  readonly pid: number;
  /** Changes on every boot. */
  readonly bootId: string | null;
  /** Opaque start time: field 22 of /proc/<pid>/stat (clock ticks since boot), or `ps` lstart text on macOS. */
  readonly startTime: string | null;
}

/** A value a recorded event may keep: only scalars that cannot carry a token or a payload body. */
export type RecordedScalar = string | number | boolean | null;

/** A nested object of a recorded event (`output`, `input`, `error`), scalars all the way down. */
export interface RecordedObject {
  readonly [field: string]: RecordedScalar | RecordedObject;
}

/** An event as the journal stores it: its type plus the fields `sanitizeEvent` keeps. */
export interface RecordedEvent {
  readonly type: string;
  readonly [field: string]: RecordedScalar | RecordedObject;
}

/**
 * One journal line. `from` is null only for the record of the machine's start (`event.type ===
 * 'xstate.init'`, whose `input` field replay needs). States are dotted paths (`serving.running`),
 * see `stateName`.
 */
export interface TransitionRecord {
  readonly machine: MachineName;
  readonly seq: number;
  readonly atMs: number;
  readonly pid: number;
  readonly from: string | null;
  readonly event: RecordedEvent;
  readonly to: string;
  /**
   * The daemon's delivery summary as replay reproduces it (delivery-summary.ts `deliveryRecord`), on the
   * start record and on every record whose transition changed it; absent otherwise.
   */
  readonly delivery?: RecordedObject;
}

/** A machine's state value as XState reports it (these machines have no parallel states). */
export type StateValue = string | { readonly [key: string]: StateValue };

/**
 * The dotted name of the one active leaf state: `{ serving: 'running' }` → `serving.running`.
 * The journal, the state file and `daemon status` all print states this way.
 */
export function stateName(value: StateValue): string {
  return storedStateName(value) ?? '';
}

/**
 * `stateName` of a value read back from a file (the journal, the state file), which may be anything:
 * null when it is no state value.
 */
export function storedStateName(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const [key, child] = Object.entries(value)[0] ?? [];
  if (key === undefined) return null;
  const rest = storedStateName(child);
  return rest === null || rest === '' ? key : `${key}.${rest}`;
}

/** The levels of logs/daemon.log (adapters/lifecycle/daemon-log.ts) and of every machine's `log` action. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Params of every machine's `log` action: what an operator should see in logs/daemon.log. */
export interface LogParams {
  readonly level: LogLevel;
  readonly message: string;
}

/** A message for anything an effect rejected with, without a stack. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  return 'unknown error';
}
