/**
 * What the `outbox …` commands share: opening the store in the data home, checking the options
 * they have in common, and formatting ages and sizes for people.
 */
import { existsSync } from 'node:fs';
import { openDatabase } from '../adapters/outbox/db.js';
import { type HomePaths, homePaths, resolveHome } from '../adapters/home/home.js';
import {
  type BulkFilter,
  type BulkResult,
  type KindCount,
  type OutboxStatus,
  OutboxStore,
} from '../adapters/outbox/outbox-store.js';
import { KIND_NAME } from '../machines/contracts/kinds.js';
import { usageError } from './exit-codes.js';
import { AGE_UNITS, parseDuration } from './durations.js';
import { printable } from './text.js';

export { formatBytes, formatDuration, plural } from './text.js';

export const STATUSES: readonly OutboxStatus[] = ['pending', 'processing', 'abandoned'];

/**
 * Runs `fn` with a store on the home's `data.db`, closing it afterwards. When there is no database
 * yet, runs `fn` with null rather than creating one: looking must not create files.
 */
export function withStore<T>(
  env: NodeJS.ProcessEnv,
  fn: (store: OutboxStore | null, paths: HomePaths) => T,
  options: { createIfMissing?: boolean } = {},
): T {
  const paths = homePaths(resolveHome(env));
  if (!options.createIfMissing && !existsSync(paths.db)) return fn(null, paths);
  const db = openDatabase(paths.db);
  try {
    return fn(new OutboxStore(db), paths);
  } finally {
    db.close();
  }
}

export function checkStatus(value: string | undefined): OutboxStatus | undefined {
  if (value === undefined) return undefined;
  if (!(STATUSES as readonly string[]).includes(value)) {
    usageError(`--status '${value}' is not a status; use one of ${STATUSES.join(', ')}`);
  }
  return value as OutboxStatus;
}

export function checkKind(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!KIND_NAME.test(value)) {
    usageError(`--kind '${value}' is not a kind; a kind is lowercase letters, digits and _, e.g. observation`);
  }
  return value;
}

/** `--older-than <n>d|h|m` as the cutoff in unix ms (rows before it match), or undefined. */
export function cutoffFor(
  olderThan: string | undefined,
  now: number,
): { olderThanMs: number; cutoffMs: number } | undefined {
  if (olderThan === undefined) return undefined;
  const olderThanMs = parseDuration('--older-than', olderThan, AGE_UNITS);
  return { olderThanMs, cutoffMs: now - olderThanMs };
}

/** What `outbox retry` and `outbox purge` print: the result, its --json form and the filter in words. */
export interface AbandonedRun {
  readonly result: BulkResult;
  readonly json: object;
  /** "kind observation, abandoned over 30d ago"; empty without --kind and --older-than. */
  readonly scope: string;
}

/**
 * Checks `--kind` and `--older-than`, then runs `op` (retry or purge) on the matching abandoned rows,
 * honouring `--dry-run`. Without a database nothing matches and nothing is created.
 */
export function onAbandonedRows(
  env: NodeJS.ProcessEnv,
  options: { readonly kind: string | undefined; readonly olderThan: string | undefined; readonly dryRun: boolean },
  op: (store: OutboxStore, filter: BulkFilter) => BulkResult,
): AbandonedRun {
  const kind = checkKind(options.kind);
  const cutoff = cutoffFor(options.olderThan, Date.now());
  const filter: BulkFilter = {
    dryRun: options.dryRun,
    ...(kind ? { kind } : {}),
    ...(cutoff ? { before: cutoff.cutoffMs } : {}),
  };
  const result = withStore(env, (store) =>
    store === null ? { total: 0, byKind: [], dryRun: options.dryRun } : op(store, filter),
  );
  return {
    result,
    json: {
      dryRun: result.dryRun,
      total: result.total,
      byKind: result.byKind,
      olderThanMs: cutoff?.olderThanMs ?? null,
      cutoffMs: cutoff?.cutoffMs ?? null,
    },
    scope: [kind ? `kind ${kind}` : '', options.olderThan ? `abandoned over ${options.olderThan} ago` : '']
      .filter(Boolean)
      .join(', '),
  };
}

export function checkLimit(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) usageError(`--limit '${value}' must be a whole number of at least 1`);
  return n;
}

/** "observation 2, trajectory 1" */
export function formatByKind(byKind: readonly KindCount[]): string {
  return byKind.map((k) => `${k.kind} ${k.count}`).join(', ');
}

/**
 * A payload or error squeezed onto one line of at most `width` characters, with control characters
 * escaped: rows and spill files may hold anything, and must not drive the terminal.
 */
export function oneLine(text: string, width: number): string {
  const flat = printable(text.replace(/\s+/g, ' ').trim());
  return flat.length <= width ? flat : `${flat.slice(0, width - 1)}…`;
}
