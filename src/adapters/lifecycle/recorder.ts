/**
 * The recorder (DESIGN §3.3): every machine transition becomes one line of `daemon-journal.jsonl`
 * (rotated to `.1` at 1 MiB) and a rewrite of `daemon-state.json`.
 * Owns: the state file's layout, its atomic durable rewrite (temp file + rename, mode 0600, fdatasync,
 * then fsync of the directory; home/replace-file.ts), the read-modify-write lock that lets the daemon and a stopper both
 * write (flock on `daemon-state.json.lock`), event sanitizing, and reading both files back.
 *
 * Layout: the Rust binary's fields stay at the top level with their Rust types (`version, pid,
 * startedAtMs, heartbeatAtMs, lastDrainAtMs, lastAttempted, lastConfirmed, lastError`), so its
 * serde reader keeps working; our sections sit beside them and serde ignores them.
 */
import { closeSync, constants, fstatSync, fsyncSync, readSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { type DeliverySummary, reviveDelivery } from '../../machines/delivery-summary.js';
import { DiffloreError } from '../../errors.js';
import { scrubValue, usableSecrets } from './daemon-log.js';
import { lockSync, unlock } from './flock.js';
import { checkHomeEntry, openHomeFile, readHomeFile } from '../home/home-files.js';
import type { ProcessIdentity, RecordedEvent, RecordedObject, TransitionRecord } from '../../machines/types.js';
import { asProcessIdentity } from './process-identity.js';
import { fsyncDirectory } from '../home/fsync-dir.js';
import { replaceHomeFile } from '../home/replace-file.js';

export const STATE_VERSION = 1;
/** Marks a state file written by this implementation (the Rust binary writes none). */
export const STATE_FORMAT = 'difflore-ts/1';
export const DEFAULT_JOURNAL_MAX_BYTES = 1024 * 1024;
export const DEFAULT_TRANSITIONS_KEPT = 50;

/** The fields the Rust binary writes and reads, with its types. */
export interface RustStateFields {
  readonly version: number;
  readonly pid: number;
  readonly startedAtMs: number;
  readonly heartbeatAtMs: number;
  readonly lastDrainAtMs: number | null;
  readonly lastAttempted: number;
  readonly lastConfirmed: number;
  readonly lastError: string | null;
}

export type RustFieldsPatch = Partial<Omit<RustStateFields, 'version'>>;

/** The last run of the stop protocol (`daemon stop`), written by the stopper. */
export interface StopRunRecord {
  readonly pid: number;
  readonly startedAtMs: number;
  readonly updatedAtMs: number;
  readonly value: unknown;
  readonly seq: number;
  readonly transitions: readonly TransitionRecord[];
}

export interface DaemonStateFile extends RustStateFields {
  readonly format: string;
  readonly updatedAtMs: number;
  /** The daemon machine's state value after its last transition. */
  readonly value: unknown;
  /**
   * The daemon machine's tags after its last transition (machines/daemon.ts `DaemonTag`): another
   * process asks `tags.includes('serving')`, never what a state is called.
   */
  readonly tags: readonly string[];
  readonly seq: number | null;
  /** `actor.getPersistedSnapshot()` after the last transition, secrets scrubbed. */
  readonly snapshot: unknown;
  /** The daemon's last transitions, oldest first. */
  readonly transitions: readonly TransitionRecord[];
  /** The identity of the daemon that claimed the pid file (DESIGN §4). */
  readonly identity: ProcessIdentity | null;
  readonly lastStop: StopRunRecord | null;
  /** Is data getting out (the daemon machine's `delivery` context, issue 16); null before the first pass. */
  readonly delivery: DeliverySummary | null;
}

export type StateRead =
  | { readonly kind: 'missing' }
  /** `writtenBy: 'other'`: no format marker (the Rust binary wrote it); our sections are defaulted. */
  | { readonly kind: 'ok'; readonly state: DaemonStateFile; readonly writtenBy: 'difflore-ts' | 'other' }
  | { readonly kind: 'garbage'; readonly error: string };

export type RecordOutcome = {
  readonly kind: 'recorded';
  /** The state file held garbage (or was not a state object) and was replaced. */
  readonly replacedGarbage: boolean;
  /** Present (true) when the state file named another pid than `onlyIfPid`: only the journal line was written. */
  readonly journalOnly?: true;
};

export interface StateWriteOptions {
  /** How long to wait for the state lock before throwing. Default 5 s; writers hold it for a few ms. */
  readonly lockTimeoutMs?: number;
  /** fsync file, journal and directory. Default true; tests of logic may turn it off. */
  readonly fsync?: boolean;
}

export interface RecorderOptions extends StateWriteOptions {
  /** 'daemon' writes the daemon sections and Rust fields; 'stop' writes only `lastStop`. */
  readonly role: 'daemon' | 'stop';
  readonly journalMaxBytes?: number;
  readonly transitionsKept?: number;
  /** Current secrets (the token); scrubbed from events and snapshots. */
  readonly secrets?: () => readonly (string | null | undefined)[];
  readonly now?: () => number;
}

export interface Recorder {
  readonly statePath: string;
  readonly journalPath: string;
  /**
   * Appends the journal line and rewrites the state file, under the state lock. With `onlyIfPid`
   * (daemon role), a state file that names another pid (another daemon's run, started by its
   * `recordClaim`) is left alone and only the journal line is written; a missing or garbage file is
   * (re)written. A claimer that lost, or a daemon whose last record comes after a successor claimed,
   * then cannot overwrite the live daemon's state. `identity` (daemon role) is written into the
   * identity section with the record: the owner re-asserts it, so a file someone replaced (garbage,
   * or restarted from scratch) proves who owns the home again after one transition.
   */
  record(
    transition: TransitionRecord,
    extra?: {
      snapshot?: unknown;
      fields?: RustFieldsPatch;
      onlyIfPid?: number;
      identity?: ProcessIdentity;
      /** The delivery summary after the transition (daemon role): the state file's `delivery` section. */
      delivery?: DeliverySummary;
      /** The machine's tags after the transition (daemon role). */
      tags?: readonly string[];
    },
  ): RecordOutcome;
  /** Updates Rust fields (heartbeat, last pass) without a transition. Daemon role only. */
  update(fields: RustFieldsPatch): RecordOutcome;
  /**
   * Records several transitions at once, oldest first (stop role): what `record` would leave for each
   * in turn — one journal line each, `lastStop` as after the last — in one journal append and one
   * state-file rewrite under one lock, so a stopper's run costs one durable write, not one per poll.
   */
  recordAll(transitions: readonly TransitionRecord[]): RecordOutcome;
}

const MAX_STATE_BYTES = 16 * 1024 * 1024;

export function stateLockPath(stateFile: string): string {
  return `${stateFile}.lock`;
}

/** Reads a whole home file under the home-files rule; `undefined` if missing. */
function readNoFollow(path: string, maxBytes: number): Buffer | undefined {
  try {
    return readHomeFile(path, maxBytes);
  } catch (error) {
    if (error instanceof DiffloreError) throw error;
    throw new DiffloreError('io', `cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

function num(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function numOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

export function asTransitions(value: unknown): TransitionRecord[] {
  if (!Array.isArray(value)) return [];
  return value.filter(
    (t): t is TransitionRecord =>
      typeof t === 'object' &&
      t !== null &&
      typeof (t as { machine?: unknown }).machine === 'string' &&
      typeof (t as { seq?: unknown }).seq === 'number' &&
      typeof (t as { event?: { type?: unknown } }).event?.type === 'string',
  );
}

function asStopRun(value: unknown): StopRunRecord | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.pid !== 'number' || typeof v.seq !== 'number') return null;
  return {
    pid: v.pid,
    startedAtMs: num(v.startedAtMs, 0),
    updatedAtMs: num(v.updatedAtMs, 0),
    value: v.value ?? null,
    seq: v.seq,
    transitions: asTransitions(v.transitions),
  };
}

/** A state file with the Rust fields zeroed and our sections empty. */
export function emptyState(nowMs: number): DaemonStateFile {
  return {
    version: STATE_VERSION,
    pid: 0,
    startedAtMs: 0,
    heartbeatAtMs: 0,
    lastDrainAtMs: null,
    lastAttempted: 0,
    lastConfirmed: 0,
    lastError: null,
    format: STATE_FORMAT,
    updatedAtMs: nowMs,
    value: null,
    tags: [],
    seq: null,
    snapshot: null,
    transitions: [],
    identity: null,
    lastStop: null,
    delivery: null,
  };
}

/** Parses state-file text. Never throws: anything unusable is `garbage` with the reason. */
export function parseState(text: string): StateRead {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { kind: 'garbage', error: `not JSON: ${(error as Error).message}` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { kind: 'garbage', error: 'not a JSON object' };
  }
  const v = parsed as Record<string, unknown>;
  if (typeof v.version !== 'number' || typeof v.pid !== 'number') {
    return { kind: 'garbage', error: 'no numeric "version" and "pid": not a daemon state file' };
  }
  const state: DaemonStateFile = {
    version: v.version,
    pid: v.pid,
    startedAtMs: num(v.startedAtMs, 0),
    heartbeatAtMs: num(v.heartbeatAtMs, 0),
    lastDrainAtMs: numOrNull(v.lastDrainAtMs),
    lastAttempted: num(v.lastAttempted, 0),
    lastConfirmed: num(v.lastConfirmed, 0),
    lastError: typeof v.lastError === 'string' ? v.lastError : null,
    format: typeof v.format === 'string' ? v.format : '',
    updatedAtMs: num(v.updatedAtMs, 0),
    value: v.value ?? null,
    tags: Array.isArray(v.tags) ? v.tags.filter((tag): tag is string => typeof tag === 'string') : [],
    seq: numOrNull(v.seq),
    snapshot: v.snapshot ?? null,
    transitions: asTransitions(v.transitions),
    identity: asProcessIdentity(v.identity) ?? null,
    lastStop: asStopRun(v.lastStop),
    delivery: reviveDelivery(v.delivery),
  };
  return { kind: 'ok', state, writtenBy: v.format === STATE_FORMAT ? 'difflore-ts' : 'other' };
}

/**
 * Reads `daemon-state.json`. A missing file is `missing`; unparseable content is `garbage` (never a
 * crash). Throws `unsafe_file` for a symlink or a non-regular file, `io` if it cannot be read.
 */
export function readState(stateFile: string): StateRead {
  const bytes = readNoFollow(stateFile, MAX_STATE_BYTES);
  if (bytes === undefined) return { kind: 'missing' };
  if (bytes.length > MAX_STATE_BYTES) return { kind: 'garbage', error: 'larger than 16 MiB' };
  return parseState(bytes.toString('utf8'));
}

/** The daemon identity recorded in the state file, if any (garbage or Rust-written → `null`). */
export function readRecordedIdentity(stateFile: string): ProcessIdentity | null {
  const read = readState(stateFile);
  return read.kind === 'ok' ? read.state.identity : null;
}

const I32_MAX = 2 ** 31 - 1;
const integerOr = (value: unknown, fallback: number, min: number, max: number): number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max ? value : fallback;

/**
 * The Rust fields with exactly Rust's types (rust-wire §5.2: version u32 = 1, pid i32, times i64,
 * `lastDrainAtMs` i64 or null, counts usize, `lastError` string or null), whatever a caller or an
 * older file put there: one float or negative count would make the Rust reader call the file
 * unreadable.
 */
export function withRustTypes<T extends RustStateFields>(state: T): T {
  const time = (v: unknown): number => integerOr(v, 0, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const lastDrain = state.lastDrainAtMs;
  return {
    ...state,
    version: STATE_VERSION,
    pid: integerOr(state.pid, 0, -I32_MAX - 1, I32_MAX),
    startedAtMs: time(state.startedAtMs),
    heartbeatAtMs: time(state.heartbeatAtMs),
    lastDrainAtMs:
      lastDrain === null ? null : integerOr(lastDrain, 0, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
    lastAttempted: integerOr(state.lastAttempted, 0, 0, Number.MAX_SAFE_INTEGER),
    lastConfirmed: integerOr(state.lastConfirmed, 0, 0, Number.MAX_SAFE_INTEGER),
    lastError: typeof state.lastError === 'string' ? state.lastError : null,
  };
}

function writeStateFile(stateFile: string, state: DaemonStateFile, fsync: boolean): void {
  // rename(2) replaces a link rather than following it, but a planted one is refused all the same.
  checkHomeEntry(stateFile);
  try {
    replaceHomeFile(stateFile, JSON.stringify(withRustTypes(state), null, 2), fsync);
  } catch (error) {
    throw new DiffloreError('io', `cannot write ${stateFile}: ${(error as Error).message}`, { cause: error });
  }
  if (fsync) fsyncDirectory(dirname(stateFile));
}

function withStateLock<T>(stateFile: string, options: StateWriteOptions, body: () => T): T {
  const lockPath = stateLockPath(stateFile);
  const taken = lockSync(lockPath, { timeoutMs: options.lockTimeoutMs ?? 5000 });
  if (taken.kind === 'busy') {
    throw new DiffloreError('io', `${lockPath} stayed locked; another process is writing the daemon state.`, {
      hint: `find the holder with: fuser ${lockPath}`,
    });
  }
  try {
    return body();
  } finally {
    unlock(taken.handle);
  }
}

/**
 * Read-modify-write of the state file under the state lock. `mutate` gets the current state (an
 * empty one if the file is missing, garbage or written by someone else) and returns the new one.
 */
export function updateState(
  stateFile: string,
  mutate: (current: DaemonStateFile, read: StateRead) => DaemonStateFile,
  options: StateWriteOptions & { now?: () => number } = {},
): RecordOutcome {
  return withStateLock(stateFile, options, () => updateStateLocked(stateFile, mutate, options));
}

/** `read`: the state file as the caller just read it under the same lock, if it did. */
function updateStateLocked(
  stateFile: string,
  mutate: (current: DaemonStateFile, read: StateRead) => DaemonStateFile,
  options: StateWriteOptions & { now?: () => number },
  read: StateRead = readState(stateFile),
): RecordOutcome {
  const now = (options.now ?? Date.now)();
  const current = read.kind === 'ok' ? read.state : emptyState(now);
  const next = mutate(current, read);
  writeStateFile(stateFile, { ...next, format: STATE_FORMAT, updatedAtMs: now }, options.fsync ?? true);
  return { kind: 'recorded', replacedGarbage: read.kind === 'garbage' };
}

/**
 * Records a new daemon run right after the claim: resets the Rust fields to this run (pid, start,
 * heartbeat, counters) and our daemon sections, keeps `lastStop`. Called by `claim` while it still
 * holds the claim lock, so the identity is on disk before anyone can see the new pid file unverified.
 */
export function recordClaim(
  stateFile: string,
  identity: ProcessIdentity,
  options: StateWriteOptions & { now?: () => number } = {},
): RecordOutcome {
  const now = (options.now ?? Date.now)();
  return updateState(
    stateFile,
    (current) => ({
      ...emptyState(now),
      pid: identity.pid,
      startedAtMs: now,
      heartbeatAtMs: now,
      identity,
      lastStop: current.lastStop,
    }),
    options,
  );
}

/**
 * A recorded event with every current secret scrubbed, payload bodies dropped and sizes bounded: the
 * recorder's second line of defence behind the machines' `sanitizeEvent` (transition-record.ts), which
 * chose the fields but cannot know the token. `type` is always kept.
 */
export function scrubEvent(event: unknown, secrets: readonly string[] = []): RecordedEvent {
  const clean = scrubValue(event, secrets, { dropBodies: true, maxStringChars: 500, maxDepth: 4 });
  if (typeof clean === 'object' && clean !== null && !Array.isArray(clean)) {
    const obj = clean as RecordedObject;
    return { ...obj, type: typeof obj.type === 'string' ? obj.type : 'unknown' };
  }
  return { type: 'unknown' };
}

function appendJournal(journal: string, line: string, maxBytes: number, fsync: boolean): void {
  // Read-write so the last byte can be checked; never undefined with O_CREAT; a link, FIFO or
  // directory at the journal throws `unsafe_file`.
  const flags = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT;
  const open = (): number => openHomeFile(journal, flags) as number;
  let fd = open();
  try {
    let size = fstatSync(fd).size;
    if (size > 0 && size + Buffer.byteLength(line) > maxBytes) {
      closeSync(fd);
      fd = -1;
      // rename(2) replaces a link at `.1` rather than following it.
      renameSync(journal, `${journal}.1`);
      fd = open();
      size = fstatSync(fd).size;
    }
    // A write torn by a crash or a full disk leaves a line without its newline; appending to it
    // would glue the next record onto the torn one and lose both. End the torn line first.
    writeSync(fd, size > 0 && !endsWithNewline(fd, size) ? `\n${line}` : line);
    if (fsync) fsyncSync(fd);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

function endsWithNewline(fd: number, size: number): boolean {
  const last = Buffer.alloc(1);
  return readSync(fd, last, 0, 1, size - 1) === 1 && last[0] === 0x0a;
}

/** What `record` writes beside the transition (see `Recorder.record`). */
type RecordExtra = NonNullable<Parameters<Recorder['record']>[1]>;

/** The recorder of one process's machine: the journal and the state file under the state lock. */
class FileRecorder implements Recorder {
  readonly statePath: string;
  readonly journalPath: string;
  readonly #options: RecorderOptions;
  readonly #now: () => number;
  /** How many transitions the state file keeps. */
  readonly #kept: number;
  readonly #journalMaxBytes: number;
  readonly #fsync: boolean;
  readonly #writeOptions: StateWriteOptions & { now: () => number };

  constructor(paths: { readonly stateFile: string; readonly journal: string }, options: RecorderOptions) {
    this.statePath = paths.stateFile;
    this.journalPath = paths.journal;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#kept = Math.max(1, options.transitionsKept ?? DEFAULT_TRANSITIONS_KEPT);
    this.#journalMaxBytes = Math.max(1024, options.journalMaxBytes ?? DEFAULT_JOURNAL_MAX_BYTES);
    this.#fsync = options.fsync ?? true;
    this.#writeOptions = { lockTimeoutMs: options.lockTimeoutMs, fsync: this.#fsync, now: this.#now };
  }

  record(transition: TransitionRecord, extra: RecordExtra = {}): RecordOutcome {
    const known = this.#secrets();
    const entry = scrubRecord(transition, known);
    return withStateLock(this.statePath, this.#writeOptions, () => {
      // Journal first: a state file that is ahead of its journal could not be replayed.
      appendJournal(this.journalPath, `${JSON.stringify(entry)}\n`, this.#journalMaxBytes, this.#fsync);
      const read = readState(this.statePath);
      if (extra.onlyIfPid !== undefined && this.#options.role === 'daemon') {
        if (read.kind === 'ok' && read.state.pid !== extra.onlyIfPid) {
          return { kind: 'recorded', replacedGarbage: false, journalOnly: true };
        }
      }
      return updateStateLocked(
        this.statePath,
        (current) =>
          this.#options.role === 'stop'
            ? { ...current, lastStop: this.#withStopEntry(current.lastStop, entry) }
            : this.#daemonState(current, entry, extra, known),
        this.#writeOptions,
        read,
      );
    });
  }

  update(fields: RustFieldsPatch): RecordOutcome {
    if (this.#options.role !== 'daemon') {
      throw new DiffloreError('internal', 'only the daemon recorder updates the daemon fields');
    }
    return updateState(this.statePath, (current) => ({ ...current, ...fields }), this.#writeOptions);
  }

  recordAll(transitions: readonly TransitionRecord[]): RecordOutcome {
    if (this.#options.role !== 'stop') {
      throw new DiffloreError('internal', 'only the stop recorder records transitions in batches');
    }
    if (transitions.length === 0) return { kind: 'recorded', replacedGarbage: false };
    const known = this.#secrets();
    const entries = transitions.map((transition) => scrubRecord(transition, known));
    return withStateLock(this.statePath, this.#writeOptions, () => {
      // Journal first, as in `record`: a state file ahead of its journal could not be replayed.
      const lines = entries.map((entry) => `${JSON.stringify(entry)}\n`).join('');
      appendJournal(this.journalPath, lines, this.#journalMaxBytes, this.#fsync);
      return updateStateLocked(
        this.statePath,
        (current) => ({
          ...current,
          lastStop: entries.reduce((run, e) => this.#withStopEntry(run, e), current.lastStop),
        }),
        this.#writeOptions,
      );
    });
  }

  #secrets(): string[] {
    return usableSecrets(this.#options.secrets?.() ?? []);
  }

  /** The daemon's sections after `entry` (daemon role): Rust fields, identity, delivery, snapshot, transitions. */
  #daemonState(
    current: DaemonStateFile,
    entry: TransitionRecord,
    extra: RecordExtra,
    known: readonly string[],
  ): DaemonStateFile {
    const snapshot =
      extra.snapshot === undefined
        ? current.snapshot
        : scrubValue(extra.snapshot, known, {
            dropBodies: false,
            maxDepth: 64,
            maxStringChars: 100_000,
            maxArrayItems: 10_000,
          });
    return {
      ...current,
      ...(extra.fields ?? {}),
      ...(extra.identity === undefined ? {} : { identity: extra.identity }),
      ...(extra.delivery === undefined
        ? {}
        : { delivery: reviveDelivery(scrubValue(extra.delivery, known, { dropBodies: false })) }),
      value: entry.to,
      tags: extra.tags ?? current.tags,
      seq: entry.seq,
      snapshot: snapshot ?? null,
      transitions: [...current.transitions, entry].slice(-this.#kept),
    };
  }

  /** `lastStop` after `entry` (stop role): the run `entry` belongs to, with `entry` appended. */
  #withStopEntry(previous: StopRunRecord | null, entry: TransitionRecord): StopRunRecord {
    const sameRun = previous !== null && previous.pid === entry.pid && entry.seq > previous.seq;
    const transitions = sameRun ? [...previous.transitions, entry] : [entry];
    return {
      pid: entry.pid,
      startedAtMs: sameRun ? previous.startedAtMs : entry.atMs,
      updatedAtMs: this.#now(),
      value: entry.to,
      seq: entry.seq,
      transitions: transitions.slice(-this.#kept),
    };
  }
}

/** A transition record with every current secret scrubbed from its states, event and delivery summary. */
function scrubRecord(transition: TransitionRecord, known: readonly string[]): TransitionRecord {
  const scrub = (value: unknown): unknown => scrubValue(value, known, { dropBodies: false });
  const delivery = scrub(transition.delivery ?? null);
  return {
    machine: transition.machine,
    seq: transition.seq,
    atMs: transition.atMs,
    pid: transition.pid,
    from: (scrub(transition.from ?? null) as string | null) ?? null,
    event: scrubEvent(transition.event, known),
    to: scrub(transition.to) as string,
    ...(typeof delivery === 'object' && delivery !== null && !Array.isArray(delivery)
      ? { delivery: delivery as RecordedObject }
      : {}),
  };
}

/** Creates the recorder for one process's machine (the daemon or a stopper). */
export function createRecorder(
  paths: { readonly stateFile: string; readonly journal: string },
  options: RecorderOptions,
): Recorder {
  return new FileRecorder(paths, options);
}

export interface JournalRead {
  /** Oldest first: the rotated `.1` file, then the current one. */
  readonly entries: readonly TransitionRecord[];
  readonly bad: readonly { readonly file: string; readonly line: number; readonly error: string }[];
}

/** Reads the journal (and its rotated predecessor) back. Lines that do not parse are reported, not thrown. */
export function readJournal(journal: string): JournalRead {
  const entries: TransitionRecord[] = [];
  const bad: { file: string; line: number; error: string }[] = [];
  for (const file of [`${journal}.1`, journal]) {
    const bytes = readNoFollow(file, 64 * 1024 * 1024);
    if (bytes === undefined) continue;
    const lines = bytes.toString('utf8').split('\n');
    lines.forEach((text, index) => {
      if (text.trim() === '') return;
      try {
        const parsed = JSON.parse(text) as unknown;
        const [entry] = asTransitions([parsed]);
        if (entry) entries.push(entry);
        else bad.push({ file, line: index + 1, error: 'not a transition record' });
      } catch (error) {
        bad.push({ file, line: index + 1, error: (error as Error).message });
      }
    });
  }
  return { entries, bad };
}
