/**
 * The options the daemon commands share (`daemon run|start|stop|restart`), each written once with its
 * default and its parser. Light: the fast router loads it for `daemon stop|start|run`.
 */
import { DiffloreError } from '../errors.js';
import { DEFAULT_BATCH_SIZE } from '../machines/defaults.js';
import { flag, value } from './command-spec.js';
import { parseDuration, TIMEOUT_UNITS } from './durations.js';

/** Longest tick accepted: a daemon that sleeps for an hour between ticks is a misconfiguration. */
const MAX_TICK_MS = 3_600_000;
/** The fallback tick where no wake watch runs (without --tick). */
const DEFAULT_TICK = '5s';
/** Without --tick, the idle daemon's heartbeat while commits wake it (DESIGN §9: idle ≤ 0.02 % CPU). */
const DEFAULT_IDLE_MS = 60_000;
const DEFAULT_BATCH = String(DEFAULT_BATCH_SIZE);
const DEFAULT_START_TIMEOUT = '10s';
/** Where `daemon run --inspect` streams without a URL: the port `createInspectorServer` listens on. */
export const DEFAULT_INSPECT_URL = 'ws://127.0.0.1:8080';
const DEFAULT_GRACE = '10s';
const DEFAULT_KILL_TIMEOUT = '5s';

const TICK_HELP =
  'Drain at least this often when idle (e.g. 5s, 500ms) (default: a 60 s heartbeat, since commits wake the daemon; 5 s where they cannot)';

export const tickOption = value('--tick', TICK_HELP);
export const batchOption = value('--batch', 'Rows claimed per batch (1-1000)', DEFAULT_BATCH);
export const timeoutOption = value('--timeout', 'How long to wait for the daemon to be serving', DEFAULT_START_TIMEOUT);
export const graceOption = value('--grace', 'Time allowed after SIGTERM (e.g. 10s, 500ms)', DEFAULT_GRACE);
export const killTimeoutOption = value(
  '--kill-timeout',
  'Time allowed for the process to vanish after SIGKILL',
  DEFAULT_KILL_TIMEOUT,
);
export const forceOption = flag('--force', 'Signal a live process even if its identity is unverified');
export const jsonOption = flag('--json', 'Print the result as one JSON object');

/** Parses --tick (10ms to 60m). */
export function parseTick(text: string): number {
  const ms = parseDuration('--tick', text, TIMEOUT_UNITS);
  if (ms < 10 || ms > MAX_TICK_MS) throw new DiffloreError('usage', `--tick '${text}' must be between 10ms and 60m`);
  return ms;
}

/**
 * The idle bounds for `daemon run`: without --tick, the fallback tick is DEFAULT_TICK (used only where
 * no wake watch runs) and the idle sleep is DEFAULT_IDLE_MS; an explicit --tick is both, as asked.
 */
export function idleBounds(tick: string | undefined): { readonly tickMs: number; readonly idleMs: number } {
  if (tick === undefined) return { tickMs: parseTick(DEFAULT_TICK), idleMs: DEFAULT_IDLE_MS };
  const tickMs = parseTick(tick);
  return { tickMs, idleMs: tickMs };
}

/** Parses --batch (1 to 1000). */
export function parseBatch(text: string): number {
  const n = /^\d{1,4}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 1 && n <= 1000))
    throw new DiffloreError('usage', `--batch '${text}' must be a whole number from 1 to 1000`);
  return n;
}

/** Parses --timeout for `daemon start|restart`. */
function parseStartTimeout(text: string): number {
  return parseDuration('--timeout', text, TIMEOUT_UNITS);
}

export function parseStopDurations(grace: string, killTimeout: string): { graceMs: number; killTimeoutMs: number } {
  return {
    graceMs: parseDuration('--grace', grace, TIMEOUT_UNITS),
    killTimeoutMs: parseDuration('--kill-timeout', killTimeout, TIMEOUT_UNITS),
  };
}

/** What `daemon start|restart` hands the daemon it spawns, checked before anything starts. */
export interface LaunchArgs {
  /** --tick for the daemon; undefined: its defaults (the long idle heartbeat while commits wake it). */
  readonly tick: string | undefined;
  readonly batch: number;
  readonly timeoutMs: number;
}

export function parseLaunchArgs(raw: {
  readonly tick: string | undefined;
  readonly batch: string;
  readonly timeout: string;
}): LaunchArgs {
  if (raw.tick !== undefined) parseTick(raw.tick);
  return { tick: raw.tick, batch: parseBatch(raw.batch), timeoutMs: parseStartTimeout(raw.timeout) };
}
