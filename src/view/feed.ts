/**
 * The view's data, read from the data home only — never from the daemon process, so it works for a
 * daemon started without `--inspect`, across daemon restarts, and with no daemon at all:
 * - transitions: the journal, its history at start and then followed (journal-tail.ts);
 * - the daemon's status, token and last stop run: the `daemon status` report (daemon-status.ts),
 *   plus delivery sections of `daemon-state.json` read defensively (other versions add fields there);
 * - the backlog by kind: data.db opened read-only, sampled every few seconds, an hour kept in memory.
 * Reads only: it creates no file, takes no lock a daemon waits on, and signals nothing.
 */
import { existsSync } from 'node:fs';
import { type Database, openDatabase } from '../adapters/outbox/db.js';
import { describeTokenSource, readCloudToken, type TokenResult } from '../adapters/delivery/cloud-config.js';
import type { HomePaths } from '../adapters/home/home.js';
import { readHomeFile } from '../adapters/home/home-files.js';
import { readJournal } from '../adapters/lifecycle/recorder.js';
import type { TransitionRecord } from '../machines/types.js';
import { type DaemonStatusReport, daemonStatus } from '../cli/daemon-status.js';
import { printable, stateLabel } from '../cli/daemon-text.js';
import { describeError, describeErrorLine } from '../errors.js';
import { JournalTail } from './journal-tail.js';
import type {
  BacklogSample,
  DeliveryView,
  FeedEvent,
  PassView,
  StopRunView,
  TransitionView,
  ViewSnapshot,
} from './model.js';

export interface FeedOptions {
  readonly env: NodeJS.ProcessEnv;
  /** How often the journal is polled for new records. */
  readonly journalPollMs?: number;
  readonly statusPollMs?: number;
  readonly backlogSampleMs?: number;
  readonly now?: () => number;
}

const TRANSITIONS_KEPT = 80;
const PASSES_KEPT = 12;
const BACKLOG_WINDOW_MS = 60 * 60 * 1000;
const MAX_STATE_BYTES = 16 * 1024 * 1024;
/** How long the view trusts its own reading of the token sources (with no daemon to ask). */
const TOKEN_RECHECK_MS = 30_000;
const DEFAULTS = { journalPollMs: 150, statusPollMs: 1000, backlogSampleMs: 5000 } as const;

export function transitionView(record: TransitionRecord): TransitionView {
  return {
    machine: record.machine,
    seq: record.seq,
    atMs: record.atMs,
    pid: record.pid,
    from: stateLabel(record.from),
    to: stateLabel(record.to) ?? '',
    event: record.event.type,
  };
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** A drain pass, if this record is one ending. */
export function passOf(record: TransitionRecord): PassView | null {
  if (record.machine !== 'daemon') return null;
  const failed = record.event.type === 'xstate.error.actor.drainPass';
  if (!failed && record.event.type !== 'xstate.done.actor.drainPass') return null;
  const output = record.event.output;
  const o = typeof output === 'object' && output !== null ? (output as Record<string, unknown>) : {};
  return {
    pid: record.pid,
    atMs: count(o.finishedAt) || record.atMs,
    failed,
    attempted: count(o.attempted),
    confirmed: count(o.confirmed),
    retried: count(o.retried),
    abandoned: count(o.abandoned),
    waitingForAuth: count(o.waitingForAuth),
  };
}

/** The state file as raw JSON (unknown sections included); null if missing or unusable. */
function readRawState(path: string): Record<string, unknown> | null {
  try {
    const bytes = readHomeFile(path, MAX_STATE_BYTES);
    if (bytes === undefined || bytes.length > MAX_STATE_BYTES) return null;
    const parsed = JSON.parse(bytes.toString('utf8')) as unknown;
    return record(parsed);
  } catch {
    return null;
  }
}

function record(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

function isoTime(ms: unknown): string | null {
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : null;
}

/**
 * A short printable text for a field another version may shape as a word, a number or an object:
 * `{ state: 'open', openUntil }`, `{ open: true, until }`, `'half_open'`…
 */
function describeField(value: unknown): string | null {
  if (typeof value === 'string') return printable(value).slice(0, 160);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const r = record(value);
  if (r === null) return null;
  const word =
    r.state ??
    r.status ??
    r.kind ??
    r.source ??
    r.name ??
    (typeof r.open === 'boolean' ? (r.open ? 'open' : 'closed') : undefined);
  if (typeof word !== 'string') return null;
  const until = isoTime(r.until ?? r.untilMs ?? r.openUntil ?? r.openUntilMs);
  return printable(until === null || word === 'closed' ? word : `${word} until ${until}`).slice(0, 160);
}

const DETAIL_WORDS: Readonly<Record<string, string>> = {
  state: 'delivery',
  lastError: 'last error',
  errorCode: 'error code',
  lastSuccessAtMs: 'last success',
  nextAttemptAtMs: 'next attempt',
  cloudUrl: 'cloud',
};

/** A field name for people: the known ones in words, others with their camel case split. */
function detailLabel(key: string): string {
  const known = DETAIL_WORDS[key];
  if (known !== undefined) return known;
  const words = key
    .replace(/AtMs$|Ms$/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase();
  return printable(words).slice(0, 40);
}

/** A delivery detail for people: epoch-ms fields (`…AtMs`, `since`) as times. */
function detailText(key: string, value: unknown): string | null {
  if (/AtMs$|^since$|^until$/.test(key)) return value === null ? null : isoTime(value);
  return typeof value === 'object' ? null : describeField(value);
}

function deliveryView(raw: Record<string, unknown> | null, report: DaemonStatusReport, paths: HomePaths): DeliveryView {
  const delivery = record(raw?.delivery);
  const context = record(record(raw?.snapshot)?.context);
  const breaker = describeField(delivery?.breaker ?? raw?.breaker ?? context?.breaker);
  const tokenSource =
    report.tokenSource !== null
      ? describeTokenSource(report.tokenSource, paths)
      : describeField(delivery?.tokenSource ?? raw?.tokenSource ?? record(raw?.token)?.source);
  const details: [string, string][] = [];
  for (const [key, value] of Object.entries(delivery ?? {})) {
    if (key === 'breaker' || key === 'tokenSource' || (/token|secret|auth/i.test(key) && key !== 'waitingForAuth'))
      continue;
    const text = detailText(key, value);
    if (text !== null && details.length < 10) details.push([detailLabel(key), text]);
  }
  let token: string | null = null;
  if (report.waitingForToken === true) token = `waiting for a token: ${report.tokenProblem ?? 'no usable token'}`;
  else if (report.waitingForToken === false) token = 'token accepted';
  else if (report.tokenProblem !== null) token = report.tokenProblem;
  return { token: token === null ? null : printable(token), tokenSource, breaker, details };
}

function stopRunView(raw: Record<string, unknown> | null, report: DaemonStatusReport): StopRunView | null {
  const lastStop = record(raw?.lastStop);
  if (lastStop === null || report.lastStop === null) return null;
  const transitions = Array.isArray(lastStop.transitions) ? lastStop.transitions : [];
  return {
    pid: count(lastStop.pid),
    state: report.lastStop.state,
    atMs: report.lastStop.atMs,
    transitions: transitions
      .filter((t): t is TransitionRecord => typeof record(record(t)?.event)?.type === 'string')
      .map(transitionView),
  };
}

/** Rows waiting by kind, read-only; null when there is no database yet. */
export function sampleBacklog(paths: HomePaths, atMs: number): BacklogSample | null {
  if (!existsSync(paths.db)) return null;
  let db: Database | undefined;
  try {
    db = openDatabase(paths.db, { readonly: true, busyTimeoutMs: 1000 });
    const rows = db
      .prepare<[], { kind: string; status: string; n: number }>(
        'SELECT kind, status, COUNT(*) AS n FROM cloud_outbox GROUP BY kind, status',
      )
      .all();
    const byKind: Record<string, number> = {};
    let abandoned = 0;
    for (const row of rows) {
      if (row.status === 'abandoned') abandoned += row.n;
      else {
        const kind = printable(row.kind).slice(0, 64);
        byKind[kind] = (byKind[kind] ?? 0) + row.n;
      }
    }
    return { atMs, byKind, abandoned };
  } finally {
    db?.close();
  }
}

type Listener = (event: FeedEvent) => void;

/** Polls the home and tells listeners what changed; `snapshot()` is everything a new page needs. */
export class ViewFeed {
  private readonly tail: JournalTail;
  private readonly transitions: TransitionView[] = [];
  private readonly passes: PassView[] = [];
  private readonly samples: BacklogSample[] = [];
  private backlogError: string | null = null;
  private status: Pick<ViewSnapshot, 'atMs' | 'daemon' | 'delivery' | 'lastStop'>;
  private readonly listeners = new Set<Listener>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly now: () => number;
  private token: { readonly result: TokenResult; readonly atMs: number } | null = null;

  constructor(
    private readonly paths: HomePaths,
    private readonly options: FeedOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.tail = new JournalTail(paths.journal);
    this.tail.skipToEnd();
    for (const entry of readJournal(paths.journal).entries) this.remember(entry);
    this.status = this.readStatus();
    this.sample();
  }

  start(): void {
    const every = (ms: number, run: () => void) => {
      const timer = setInterval(run, ms);
      this.timers.push(timer);
    };
    every(this.options.journalPollMs ?? DEFAULTS.journalPollMs, () => this.pollJournal());
    every(this.options.statusPollMs ?? DEFAULTS.statusPollMs, () => {
      this.status = this.readStatus();
      this.emit({ type: 'status', data: this.status });
    });
    every(this.options.backlogSampleMs ?? DEFAULTS.backlogSampleMs, () => this.sample(true));
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.length = 0;
    this.listeners.clear();
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): ViewSnapshot {
    return {
      home: this.paths.home,
      ...this.status,
      passes: [...this.passes],
      backlog: [...this.samples],
      backlogError: this.backlogError,
      transitions: [...this.transitions],
    };
  }

  private emit(event: FeedEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private remember(entry: TransitionRecord): { view: TransitionView; pass: PassView | null } {
    const view = transitionView(entry);
    this.transitions.push(view);
    if (this.transitions.length > TRANSITIONS_KEPT)
      this.transitions.splice(0, this.transitions.length - TRANSITIONS_KEPT);
    const pass = passOf(entry);
    if (pass !== null) {
      this.passes.push(pass);
      if (this.passes.length > PASSES_KEPT) this.passes.splice(0, this.passes.length - PASSES_KEPT);
    }
    return { view, pass };
  }

  private pollJournal(): void {
    let fresh: TransitionRecord[];
    try {
      fresh = this.tail.poll();
    } catch {
      return; // An unreadable journal now may be readable at the next poll.
    }
    for (const entry of fresh) {
      const { view, pass } = this.remember(entry);
      this.emit({ type: 'transition', data: view });
      if (pass !== null) this.emit({ type: 'pass', data: pass });
    }
    // A transition changes what status shows (state, last stop): refresh it with the animation.
    if (fresh.length > 0) {
      this.status = this.readStatus();
      this.emit({ type: 'status', data: this.status });
    }
  }

  private lastKnownDaemonState(): string | null {
    for (let i = this.transitions.length - 1; i >= 0; i -= 1) {
      const t = this.transitions[i];
      if (t?.machine === 'daemon') return t.to;
    }
    return null;
  }

  /**
   * What a daemon started now would find for a token, read at most every 30 s rather than every
   * status poll (the Rust login means a database and maybe the keyring). It stays in this process.
   */
  private tokenAt(atMs: number): TokenResult {
    if (this.token === null || atMs - this.token.atMs >= TOKEN_RECHECK_MS) {
      let result: TokenResult;
      try {
        result = readCloudToken(this.paths, this.options.env);
      } catch (error) {
        result = { kind: 'refused', message: describeError(error) };
      }
      this.token = { result, atMs };
    }
    return this.token.result;
  }

  private readStatus(): Pick<ViewSnapshot, 'atMs' | 'daemon' | 'delivery' | 'lastStop'> {
    const atMs = this.now();
    const report = daemonStatus(this.paths, { env: this.options.env, now: atMs, token: this.tokenAt(atMs) });
    const raw = readRawState(this.paths.stateFile);
    return {
      atMs,
      daemon: {
        status: report.status,
        summary: printable(report.summary),
        pid: report.pid,
        state: report.machineState,
        lastKnownState: this.lastKnownDaemonState(),
        uptimeMs: report.uptimeMs,
        heartbeatAgeMs: report.heartbeatAgeMs,
      },
      delivery: deliveryView(raw, report, this.paths),
      lastStop: stopRunView(raw, report),
    };
  }

  private sample(announce = false): void {
    const atMs = this.now();
    try {
      const sample = sampleBacklog(this.paths, atMs);
      this.backlogError = null;
      if (sample === null) return;
      this.samples.push(sample);
      while ((this.samples[0]?.atMs ?? atMs) < atMs - BACKLOG_WINDOW_MS) this.samples.shift();
      if (announce) this.emit({ type: 'backlog', data: sample });
    } catch (error) {
      this.backlogError = printable(describeErrorLine(error));
      if (announce) this.emit({ type: 'backlog', data: { error: this.backlogError } });
    }
  }
}
