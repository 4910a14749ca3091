/**
 * The read side of the daemon, shared by `daemon status`, `daemon start` ("already running") and any
 * doctor-like command: one report built from the liveness probe (pid file, lifetime lock, identity),
 * the state file, the outbox (read-only) and the spill directory. Reads only; never creates a file,
 * never signals. Loads neither xstate nor the HTTP client.
 */
import { existsSync } from 'node:fs';
import type { StaleReason } from '../machines/daemon.js';
import {
  describeTokenSource,
  noTokenAdvice,
  readCloudToken,
  type TokenResult,
  type TokenSource,
} from '../adapters/delivery/cloud-config.js';
import { type Database, openDatabase } from '../adapters/outbox/db.js';
import { readDrainState } from '../adapters/delivery/drain-state.js';
import { type HomePaths, homePaths } from '../adapters/home/home.js';
import { type LivenessResult, probeLiveness } from '../adapters/lifecycle/liveness.js';
import { DUE_AT, SENDABLE_SQL } from '../adapters/outbox/outbox-store.js';
import { type DaemonStateFile, readState, type StateRead } from '../adapters/lifecycle/recorder.js';
import { spillStats } from '../adapters/outbox/spill.js';
import type { DeliverySummary } from '../machines/delivery-summary.js';
import { describeErrorLine } from '../errors.js';
import { printable, stateLabel } from './daemon-text.js';
import { deliveryLine, type QueueFacts } from './delivery-text.js';
import { formatDuration, plural } from './text.js';

export { stateLabel };

export type DaemonStatusKind = 'running' | 'stale' | 'notRunning' | 'unverified' | 'unknown';

/** `daemon status` exit codes, LSB init-script style (DESIGN §8). */
export const STATUS_EXIT_CODES: Readonly<Record<DaemonStatusKind, number>> = {
  running: 0,
  stale: 1,
  notRunning: 3,
  unverified: 4,
  unknown: 4,
};

export interface Backlog {
  readonly pending: number;
  readonly processing: number;
  readonly abandoned: number;
  /** Sendable rows by readiness, and the oldest; null when the outbox cannot tell (a Rust-only schema). */
  readonly queue: QueueFacts | null;
}

/**
 * `delivery` of `daemon status --json`: the running daemon's delivery summary (daemon-state.json), the
 * queue as data.db tells it, and the same in plain words.
 */
export interface DeliveryReport extends DeliverySummary {
  readonly rowsWaiting: number | null;
  readonly dueNow: number | null;
  readonly backingOff: number | null;
  readonly oldestPendingAgeMs: number | null;
  /** "cannot reach the cloud at https://…: DNS lookup failed (ENOTFOUND) since 10:41; next try in 37s; …" */
  readonly summary: string;
}

export interface LastPass {
  readonly atMs: number | null;
  readonly attempted: number;
  readonly confirmed: number;
  readonly lastError: string | null;
}

export interface DaemonStatusReport {
  readonly status: DaemonStatusKind;
  readonly exitCode: number;
  /** One line for people: what runs and what to do about it. */
  readonly summary: string;
  readonly home: string;
  readonly pid: number | null;
  readonly staleReason: StaleReason | null;
  /** The lifetime lock is held: some daemon of ours lives. */
  readonly lockHeld: boolean | null;
  readonly startedAtMs: number | null;
  readonly uptimeMs: number | null;
  readonly heartbeatAtMs: number | null;
  readonly heartbeatAgeMs: number | null;
  /** The daemon machine's state (dotted), when the state file belongs to the daemon reported. */
  readonly machineState: string | null;
  readonly lastPass: LastPass | null;
  /** Counts from data.db; null with `backlogError` when it cannot be read, or no database yet. */
  readonly backlog: Backlog | null;
  readonly backlogError: string | null;
  readonly spillFiles: number | null;
  /** True when the daemon's last pass found no usable token (rows wait); null when unknown. */
  readonly waitingForToken: boolean | null;
  readonly tokenProblem: string | null;
  /**
   * Where the token comes from (never the token): what the running daemon's last pass used, or, with
   * no daemon, what one started from this environment would use. `env`, `file`, or
   * `rust-login:keyring|keyseed|master-key-env`; null when there is none or it is unknown.
   */
  readonly tokenSource: TokenSource | null;
  /** `ok`, `missing`, `rust` (written by the Rust binary), or `garbage` with `stateFileError`. */
  readonly stateFile: 'ok' | 'missing' | 'rust' | 'garbage' | 'unreadable';
  readonly stateFileError: string | null;
  /** The last `daemon stop` run recorded in the state file. */
  readonly lastStop: { readonly state: string | null; readonly atMs: number } | null;
  /** Is data getting out, and if not why: the running daemon's view; null when no daemon of ours runs. */
  readonly delivery: DeliveryReport | null;
}

const STALE_WORDS: Readonly<Record<StaleReason, string>> = {
  dead: 'no longer exists',
  zombie: 'has exited (zombie)',
  identityMismatch: 'is now another process (the pid was reused)',
  invalidPid: 'is not a valid pid',
};

function asRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

function finite(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** The machine context kept in the state file's persisted snapshot, read defensively. */
function snapshotContext(state: DaemonStateFile): Record<string, unknown> | null {
  return asRecord(asRecord(state.snapshot)?.context);
}

function probe(paths: HomePaths): { result: LivenessResult } | { error: string } {
  try {
    return { result: probeLiveness(paths) };
  } catch (error) {
    return { error: describeErrorLine(error) };
  }
}

function readStateSafely(paths: HomePaths): StateRead | { kind: 'unreadable'; error: string } {
  try {
    return readState(paths.stateFile);
  } catch (error) {
    return { kind: 'unreadable', error: describeErrorLine(error) };
  }
}

export type BacklogRead =
  | { readonly backlog: Backlog | null; readonly spillFiles: number | null }
  | { readonly error: string; readonly spillFiles: number | null };

export type BacklogReader = (paths: HomePaths, now?: number) => BacklogRead;

/** Sendable pending rows due now, backing off, and the oldest; null when the schema has no backoff column. */
function readQueue(db: Database, counts: { processing: number }, now: number): QueueFacts | null {
  try {
    const row = db
      .prepare(
        `SELECT COALESCE(SUM(${DUE_AT} <= @now), 0) AS due, COALESCE(SUM(${DUE_AT} > @now), 0) AS later,
                MIN(created_at) AS oldest
           FROM cloud_outbox WHERE status = 'pending' AND ${SENDABLE_SQL}`,
      )
      .get({ now }) as { due: number; later: number; oldest: number | null };
    return {
      waiting: row.due + row.later + counts.processing,
      dueNow: row.due,
      backingOff: row.later,
      oldestPendingAtMs: row.oldest,
    };
  } catch {
    // A database only the Rust binary wrote has no next_attempt_at yet (added on our first write).
    return null;
  }
}

/**
 * Counts rows by status from data.db opened read-only (never created: `backlog` is null when there is
 * no database yet) and the spill files waiting to be queued.
 */
export const readBacklog: BacklogReader = (paths, now = Date.now()) => {
  let spillFiles: number | null = null;
  try {
    spillFiles = spillStats(paths).count;
  } catch {
    spillFiles = null;
  }
  if (!existsSync(paths.db)) return { backlog: null, spillFiles };
  let db: Database | undefined;
  try {
    db = openDatabase(paths.db, { readonly: true, busyTimeoutMs: 1000 });
    const counts = { pending: 0, processing: 0, abandoned: 0 };
    const rows = db.prepare('SELECT status, COUNT(*) AS n FROM cloud_outbox GROUP BY status').all() as {
      status: string;
      n: number;
    }[];
    for (const row of rows) {
      if (row.status === 'pending' || row.status === 'processing' || row.status === 'abandoned') {
        counts[row.status] = row.n;
      }
    }
    return { backlog: { ...counts, queue: readQueue(db, counts, now) }, spillFiles };
  } catch (error) {
    return { error: describeErrorLine(error), spillFiles };
  } finally {
    db?.close();
  }
};

/** Who holds the home, from the liveness probe: the report's status, pid and one-line summary. */
interface Liveness {
  readonly status: DaemonStatusKind;
  readonly pid: number | null;
  readonly staleReason: StaleReason | null;
  readonly lockHeld: boolean | null;
  readonly summary: string;
}

function livenessOf(probed: ReturnType<typeof probe>): Liveness {
  if ('error' in probed) {
    const summary = `cannot tell whether the daemon runs: ${probed.error}`;
    return { status: 'unknown', pid: null, staleReason: null, lockHeld: null, summary };
  }
  const r = probed.result;
  const base = { lockHeld: r.lockHeld, staleReason: null };
  switch (r.kind) {
    case 'running':
      return { ...base, status: 'running', pid: r.pid, summary: `running (pid ${r.pid})` };
    case 'notRunning':
      return { ...base, status: 'notRunning', pid: null, summary: 'not running' };
    case 'stale': {
      const who = r.pid === null ? `'${(r.text ?? '').trim().slice(0, 20)}'` : `pid ${r.pid}`;
      const summary =
        `not running; stale pid file: daemon.pid names ${who}, which ${STALE_WORDS[r.reason]}. ` +
        '`difflore daemon start` reclaims it, `difflore daemon stop` removes it';
      return { ...base, status: 'stale', pid: r.pid, staleReason: r.reason, summary };
    }
    case 'unverified':
      return {
        ...base,
        status: 'unverified',
        pid: r.pid,
        summary:
          r.pid === null
            ? 'a daemon holds daemon.lock, but no pid file or state file says which process it is'
            : `running-unverified: pid ${r.pid} owns the data home, but difflore cannot prove it is its daemon ` +
              '(a Rust daemon, or a process that reused the pid). `difflore daemon stop --force` signals it',
      };
  }
}

type TokenView = Pick<DaemonStatusReport, 'waitingForToken' | 'tokenProblem' | 'tokenSource'>;

/**
 * Whether delivery waits for a token, and where the token comes from: what the running daemon's last
 * pass found (its drain-state file, if this daemon wrote it), or with no daemon to ask, what a daemon
 * started from this environment would find.
 */
function tokenViewOf(
  paths: HomePaths,
  options: { readonly env: NodeJS.ProcessEnv; readonly token?: TokenResult },
  daemon: { readonly lastPass: Record<string, unknown> | null; readonly startedAtMs: number | null },
  state: DaemonStateFile | null,
  live: boolean,
): TokenView {
  const { lastPass, startedAtMs } = daemon;
  if (lastPass !== null) {
    // The drainer's own file says whether its last pass waited for a token, even with no rows queued
    // (the machine counts waiting rows, which is 0 then); trust it if this daemon wrote it.
    const drained = readDrainState(paths);
    const fresh =
      drained !== null && !('error' in drained) && startedAtMs !== null && (drained.updatedAtMs ?? 0) >= startedAtMs;
    const waitingForToken =
      fresh && typeof drained.waitingForAuth === 'boolean'
        ? drained.waitingForAuth
        : (finite(lastPass.waitingForAuth) ?? 0) > 0;
    const tokenSource = fresh && typeof drained.tokenSource === 'string' ? drained.tokenSource : null;
    if (!waitingForToken) return { waitingForToken, tokenProblem: null, tokenSource };
    const said = fresh && typeof drained.lastError === 'string' ? drained.lastError : state?.lastError;
    return { waitingForToken, tokenProblem: said ?? 'the cloud token is missing or was refused', tokenSource };
  }
  if (live) return { waitingForToken: null, tokenProblem: null, tokenSource: null };
  // No daemon to ask: say what a daemon started from this environment would find.
  try {
    const token = options.token ?? readCloudToken(paths, options.env);
    if (token.kind === 'none') {
      return { waitingForToken: null, tokenProblem: `no cloud token: ${noTokenAdvice(paths)}`, tokenSource: null };
    }
    if (token.kind === 'refused') return { waitingForToken: null, tokenProblem: token.message, tokenSource: null };
    return { waitingForToken: null, tokenProblem: null, tokenSource: token.source };
  } catch (error) {
    return { waitingForToken: null, tokenProblem: describeErrorLine(error), tokenSource: null };
  }
}

function backlogOf(
  reader: BacklogReader | undefined,
  paths: HomePaths,
  now: number,
): Pick<DaemonStatusReport, 'backlog' | 'backlogError' | 'spillFiles'> {
  if (reader === undefined) return { backlog: null, backlogError: null, spillFiles: null };
  const counted = reader(paths, now);
  if ('error' in counted) return { backlog: null, backlogError: counted.error, spillFiles: counted.spillFiles };
  return { backlog: counted.backlog, backlogError: null, spillFiles: counted.spillFiles };
}

function stateFileOf(
  read: StateRead | { kind: 'unreadable'; error: string },
): Pick<DaemonStatusReport, 'stateFile' | 'stateFileError'> {
  if (read.kind === 'ok') return { stateFile: read.writtenBy === 'difflore-ts' ? 'ok' : 'rust', stateFileError: null };
  if (read.kind === 'missing') return { stateFile: 'missing', stateFileError: null };
  return { stateFile: read.kind, stateFileError: read.error };
}

/** Builds the report. `backlog` reads the outbox (injected so the light paths can skip SQLite). */
export function daemonStatus(
  paths: HomePaths,
  options: {
    env: NodeJS.ProcessEnv;
    now?: number;
    backlog?: BacklogReader;
    /** The token lookup done beforehand (it may ask the OS keyring); without it the keyring is not asked. */
    token?: TokenResult;
  },
): DaemonStatusReport {
  const now = options.now ?? Date.now();
  const liveness = livenessOf(probe(paths));
  const { status, pid } = liveness;
  const read = readStateSafely(paths);
  const state = read.kind === 'ok' ? read.state : null;
  const live = status === 'running' || status === 'unverified';

  // The state file describes the reported daemon only if it names the same pid.
  const ours = state !== null && pid !== null && state.pid === pid && live ? state : null;
  const lastPassContext = asRecord((ours === null ? null : snapshotContext(ours))?.lastPass);
  const startedAtMs = ours !== null && ours.startedAtMs > 0 ? ours.startedAtMs : null;
  const heartbeatAtMs = ours !== null && ours.heartbeatAtMs > 0 ? ours.heartbeatAtMs : null;
  const lastPass: LastPass | null =
    ours !== null && (ours.lastDrainAtMs !== null || lastPassContext !== null)
      ? {
          atMs: ours.lastDrainAtMs ?? finite(lastPassContext?.finishedAt),
          attempted: ours.lastAttempted,
          confirmed: ours.lastConfirmed,
          lastError: ours.lastError,
        }
      : null;

  let token = tokenViewOf(paths, options, { lastPass: lastPassContext, startedAtMs }, state, live);
  const counted = backlogOf(options.backlog, paths, now);
  const delivery = ours?.delivery ? deliveryReport(ours.delivery, counted.backlog?.queue ?? null, now) : null;
  if (delivery !== null) {
    // The daemon's own verdict is newer than the drain-state file's: trust it.
    const waitingForToken = delivery.state === 'waiting-for-token' || delivery.state === 'auth-rejected';
    token = {
      ...token,
      waitingForToken,
      tokenProblem: waitingForToken ? (delivery.lastError ?? token.tokenProblem) : null,
    };
  }

  return {
    status,
    exitCode: STATUS_EXIT_CODES[status],
    summary: liveness.summary,
    home: paths.home,
    pid,
    staleReason: liveness.staleReason,
    lockHeld: liveness.lockHeld,
    startedAtMs,
    uptimeMs: startedAtMs === null ? null : Math.max(0, now - startedAtMs),
    heartbeatAtMs,
    heartbeatAgeMs: heartbeatAtMs === null ? null : Math.max(0, now - heartbeatAtMs),
    machineState: ours === null ? null : stateLabel(ours.value),
    lastPass,
    ...counted,
    ...token,
    ...stateFileOf(read),
    lastStop:
      state?.lastStop != null ? { state: stateLabel(state.lastStop.value), atMs: state.lastStop.updatedAtMs } : null,
    delivery,
  };
}

function deliveryReport(summary: DeliverySummary, queue: QueueFacts | null, now: number): DeliveryReport {
  return {
    ...summary,
    rowsWaiting: queue?.waiting ?? null,
    dueNow: queue?.dueNow ?? null,
    backingOff: queue?.backingOff ?? null,
    oldestPendingAgeMs: queue?.oldestPendingAtMs == null ? null : Math.max(0, now - queue.oldestPendingAtMs),
    summary: deliveryLine(summary, now, queue),
  };
}

function ago(ms: number | null, now: number): string {
  return ms === null ? 'never' : `${formatDuration(Math.max(0, now - ms))} ago`;
}

/** The report as lines for people. */
export function formatStatus(report: DaemonStatusReport, now: number = Date.now()): string[] {
  const lines = [`difflore daemon: ${report.summary}`];
  if (report.uptimeMs !== null) lines.push(`  up           ${formatDuration(report.uptimeMs)}`);
  if (report.heartbeatAtMs !== null) lines.push(`  heartbeat    ${ago(report.heartbeatAtMs, now)}`);
  if (report.machineState !== null) lines.push(`  state        ${report.machineState}`);
  if (report.lastPass !== null) {
    const p = report.lastPass;
    const counts = `${p.attempted} attempted, ${p.confirmed} confirmed`;
    lines.push(`  last pass    ${p.atMs === null ? 'time unknown' : ago(p.atMs, now)}: ${counts}`);
    if (p.lastError !== null && report.waitingForToken !== true && report.delivery === null) {
      lines.push(`  last error   ${p.lastError}`);
    }
  } else if (report.status === 'running') {
    lines.push('  last pass    none yet');
  }
  if (report.backlog !== null) {
    const b = report.backlog;
    lines.push(`  backlog      ${b.pending} pending, ${b.processing} processing, ${b.abandoned} abandoned`);
  } else if (report.backlogError !== null) {
    lines.push(`  backlog      unknown: cannot read the outbox database (${report.backlogError})`);
  } else {
    lines.push('  backlog      empty (no outbox database yet)');
  }
  if (report.spillFiles !== null && report.spillFiles > 0) {
    lines.push(`  spill        ${plural(report.spillFiles, 'file')} waiting to be queued`);
  }
  if (report.delivery !== null) {
    // Said by the daemon from what the cloud answered: never "accepted" unless it accepted something.
    lines.push(`  delivery     ${report.delivery.summary}`);
    if (report.delivery.lastError !== null) lines.push(`  last error   ${report.delivery.lastError}`);
    if (report.delivery.oldestPendingAgeMs !== null) {
      lines.push(`  oldest row   queued ${formatDuration(report.delivery.oldestPendingAgeMs)} ago`);
    }
  } else if (report.waitingForToken === true) {
    lines.push(`  delivery     waiting for a token: ${report.tokenProblem ?? 'no usable token'}`);
  } else if (report.tokenProblem !== null) {
    lines.push(`  token        ${report.tokenProblem}`);
  }
  if (report.tokenSource !== null) {
    lines.push(`  token from   ${describeTokenSource(report.tokenSource, homePaths(report.home))}`);
  }
  if (report.stateFile === 'garbage' || report.stateFile === 'unreadable') {
    lines.push(`  state file   unusable (${report.stateFileError}); the daemon rewrites it when it starts`);
  } else if (report.stateFile === 'rust') {
    lines.push('  state file   written by the Rust daemon (no identity, no machine state)');
  }
  // Files and errors may hold anything: nothing read from them may drive the terminal.
  return lines.map(printable);
}
