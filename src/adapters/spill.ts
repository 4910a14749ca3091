/**
 * The hook spill: rows that could not be written to `data.db` wait on disk as one file each, and a
 * healthy process replays them into the outbox later.
 *
 * Owns `hook-spill/observations/` (the Rust format and place, reference/difflore-behaviour.md §2.13,
 * so either binary can replay the other's files) and `hook-spill/outbox/` (every other kind; the Rust
 * binary would quarantine those, so they live where it never looks).
 *
 * Differences from Rust, on purpose (§6.19): replay keeps the record's `createdAtMs` so queue order
 * survives a spill; an unreadable file is reported and skipped without using up the replay limit; the
 * payload must parse as JSON or the file is quarantined; and a file is claimed by renaming it before it
 * is inserted, so two TS processes replaying at once never insert the same file twice.
 */
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type WriteFileAtomic from 'write-file-atomic';
import { DiffloreError, errnoCode } from '../errors.js';
import type { HomePaths } from './home.js';
import type { OutboxStore } from './outbox-store.js';
import { fsyncDirectoryBestEffort } from './fsync-dir.js';

export const SPILL_RECORD_VERSION = 1;
/** As Rust truncates `lastError` (Unicode scalar values, not UTF-16 units). */
const MAX_REASON_CHARS = 2048;
/** A claim older than this was left by a process that died or hung mid-replay; replaying one file takes µs. */
const STALE_CLAIM_MS = 10 * 60_000;
const CLAIM_MARK = '.replaying-';
const SPILL_NAME = /^(\d+)-(\d+)-(\d+)\.json$/;
const KIND = /^[a-z][a-z0-9_]*$/;

export interface SpillRecord {
  readonly version: number;
  readonly kind: string;
  readonly payloadJson: string;
  readonly createdAtMs: number;
  readonly lastError: string | null;
}

export interface ReplayReport {
  /** Files this call claimed and looked at (unreadable ones included). */
  readonly attempted: number;
  /** Files turned into outbox rows and removed. */
  readonly replayed: number;
  /** Files that were not a valid spill record, renamed to `.bad`. */
  readonly quarantined: number;
  /** Files that could not be read; left in place for a later replay. */
  readonly unreadable: readonly { path: string; error: string }[];
  /** Files left alone because `DIFFLORE_CAPTURE=false`. */
  readonly keptBecauseCaptureDisabled: number;
}

export interface SpillStats {
  readonly count: number;
  readonly bytes: number;
  /** `lastError` of the newest record that parses. */
  readonly newestError: string | null;
  readonly oldestCreatedAtMs: number | null;
  readonly newestCreatedAtMs: number | null;
  /** Quarantined `.bad` files, which nothing replays. */
  readonly bad: number;
  /** The spill root (`hook-spill`), holding both directories. */
  readonly path: string;
}

let sequence = 0;

/** Capture is off only for the exact lowercase value `false`, as in Rust (§2.12). */
export function captureDisabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.DIFFLORE_CAPTURE === 'false';
}

export function spillDirFor(paths: HomePaths, kind: string): string {
  return kind === 'observation' ? paths.observationSpillDir : paths.otherSpillDir;
}

/**
 * Writes one row to the spill directory atomically (mode 0600, fsync of the file and of the
 * directory) and returns the file's path. Throws only when the file cannot be written, in which case
 * the row is lost and the caller must say so.
 */
export function spillRow(
  paths: HomePaths,
  kind: string,
  payloadJson: string,
  reason: string | null,
  now: number = Date.now(),
): string {
  const dir = spillDirFor(paths, kind);
  try {
    ensurePrivateDir(paths.spillDir);
    ensurePrivateDir(dir);
  } catch (error) {
    if (error instanceof DiffloreError) throw error;
    throw new DiffloreError('io', `cannot create the spill directory ${dir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const record: SpillRecord = {
    version: SPILL_RECORD_VERSION,
    kind,
    payloadJson,
    createdAtMs: now,
    lastError: reason === null ? null : truncate(reason),
  };
  const path = join(dir, `${now}-${process.pid}-${sequence++}.json`);
  // Loaded here, not at the top: the hook path only pays for it when the database has failed.
  const require = createRequire(import.meta.url);
  const writeFileAtomic = require('write-file-atomic') as typeof WriteFileAtomic;
  try {
    writeFileAtomic.sync(path, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600, fsync: true });
    fsyncDirectoryBestEffort(dir);
  } catch (error) {
    throw new DiffloreError('io', `cannot write the spill file ${path}: ${(error as Error).message}`, {
      hint: 'the data home is not writable; set DIFFLORE_HOME to a writable directory',
      cause: error,
    });
  }
  return path;
}

/**
 * Moves spill files into the outbox, oldest first across both directories. `limit` bounds the
 * files replayed or quarantined; unreadable files do not count against it, so one bad file cannot
 * starve the rest. A database error puts the current file back and is rethrown.
 */
export function replaySpill(
  paths: HomePaths,
  store: OutboxStore,
  options: { limit?: number; env?: NodeJS.ProcessEnv } = {},
): ReplayReport {
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const report = { attempted: 0, replayed: 0, quarantined: 0, keptBecauseCaptureDisabled: 0 };
  const unreadable: { path: string; error: string }[] = [];
  const done = (): ReplayReport => ({ ...report, unreadable });
  if (limit <= 0) return done();

  recoverStaleClaims(paths);
  const files = listSpillFiles(paths);
  if (captureDisabled(options.env)) {
    report.keptBecauseCaptureDisabled = files.length;
    return done();
  }

  for (const file of files) {
    if (report.replayed + report.quarantined >= limit) break;
    const claimed = `${file.path}${CLAIM_MARK}${process.pid}`;
    try {
      renameSync(file.path, claimed);
    } catch (error) {
      // ENOENT: another replayer claimed it first. Anything else means we cannot even move it.
      if (errnoCode(error) !== 'ENOENT') {
        report.attempted++;
        unreadable.push({ path: file.path, error: (error as Error).message });
      }
      continue;
    }
    report.attempted++;

    let text: string;
    try {
      text = readFileSync(claimed, 'utf8');
    } catch (error) {
      unclaim(claimed, file.path);
      unreadable.push({ path: file.path, error: (error as Error).message });
      continue;
    }

    const record = parseRecord(text);
    if (record === null) {
      quarantine(claimed, file.path);
      report.quarantined++;
      continue;
    }

    try {
      store.enqueue(record.kind, record.payloadJson, record.createdAtMs);
    } catch (error) {
      unclaim(claimed, file.path);
      throw error;
    }
    try {
      unlinkSync(claimed);
    } catch {
      // The row is in. A claim left behind would be recovered and inserted twice, so move it to a
      // name that nothing replays.
      try {
        renameSync(claimed, `${file.path}.replayed`);
      } catch {
        // Nothing more to try; recovery would duplicate this one row (at-least-once, as in Rust).
      }
    }
    report.replayed++;
  }
  return done();
}

/** Counts and describes the waiting spill files (both directories). Never throws for a missing dir. */
export function spillStats(paths: HomePaths): SpillStats {
  let count = 0;
  let bytes = 0;
  let bad = 0;
  let oldest: number | null = null;
  let newest: number | null = null;
  let newestError: string | null = null;
  for (const dir of [paths.observationSpillDir, paths.otherSpillDir]) {
    for (const name of safeReaddir(dir)) {
      if (name.endsWith('.bad')) {
        bad++;
        continue;
      }
      if (!name.endsWith('.json')) continue;
      count++;
      const path = join(dir, name);
      let record: SpillRecord | null = null;
      try {
        const stat = statSync(path);
        if (!stat.isFile()) continue;
        bytes += stat.size;
        record = parseRecord(readFileSync(path, 'utf8'));
      } catch {
        continue; // unreadable: counted, but it has no dates to report
      }
      if (record === null) continue;
      if (oldest === null || record.createdAtMs < oldest) oldest = record.createdAtMs;
      if (newest === null || record.createdAtMs >= newest) {
        newest = record.createdAtMs;
        newestError = record.lastError;
      }
    }
  }
  return {
    count,
    bytes,
    newestError,
    oldestCreatedAtMs: oldest,
    newestCreatedAtMs: newest,
    bad,
    path: paths.spillDir,
  };
}

/** A spill record if `text` is one we can replay faithfully, otherwise null. */
export function parseRecord(text: string): SpillRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const r = value as Record<string, unknown>;
  if (r.version !== SPILL_RECORD_VERSION) return null;
  if (typeof r.kind !== 'string' || !KIND.test(r.kind)) return null;
  if (typeof r.payloadJson !== 'string' || r.payloadJson.trim() === '') return null;
  if (typeof r.createdAtMs !== 'number' || !Number.isSafeInteger(r.createdAtMs) || r.createdAtMs < 0) return null;
  if (r.lastError !== undefined && r.lastError !== null && typeof r.lastError !== 'string') return null;
  try {
    JSON.parse(r.payloadJson);
  } catch {
    return null; // garbage would only burn 8 tries and trip the breaker (§6.19)
  }
  return {
    version: r.version,
    kind: r.kind,
    payloadJson: r.payloadJson,
    createdAtMs: r.createdAtMs,
    lastError: typeof r.lastError === 'string' ? r.lastError : null,
  };
}

interface SpillFile {
  readonly path: string;
  readonly name: string;
  readonly ms: number;
  readonly pid: number;
  readonly seq: number;
}

/** Every `*.json` in both directories, oldest first by the ms-pid-seq in the name. */
function listSpillFiles(paths: HomePaths): SpillFile[] {
  const files: SpillFile[] = [];
  for (const dir of [paths.observationSpillDir, paths.otherSpillDir]) {
    for (const name of safeReaddir(dir)) {
      if (!name.endsWith('.json')) continue;
      const match = SPILL_NAME.exec(name);
      // A .json without our naming (copied in by hand?) is still replayed, after the named ones.
      const [ms, pid, seq] = match
        ? [Number(match[1]), Number(match[2]), Number(match[3])]
        : [Number.MAX_SAFE_INTEGER, 0, 0];
      files.push({ path: join(dir, name), name, ms, pid, seq });
    }
  }
  return files.sort((a, b) => a.ms - b.ms || a.pid - b.pid || a.seq - b.seq || (a.name < b.name ? -1 : 1));
}

/**
 * Puts back files whose claimer died (or hung) before finishing, so they are replayed again. Our
 * own pid counts as dead: replaySpill is synchronous, so a claim of ours outlives a call only when
 * putting it back failed.
 */
function recoverStaleClaims(paths: HomePaths): void {
  const now = Date.now();
  for (const dir of [paths.observationSpillDir, paths.otherSpillDir]) {
    for (const name of safeReaddir(dir)) {
      const at = name.lastIndexOf(CLAIM_MARK);
      if (at < 0) continue;
      const original = name.slice(0, at);
      const pid = Number(name.slice(at + CLAIM_MARK.length));
      if (!original.endsWith('.json') || !Number.isSafeInteger(pid)) continue;
      const path = join(dir, name);
      let stale = pid === process.pid || !processAlive(pid);
      if (!stale) {
        try {
          // rename() updates ctime, so ctime is when the claim was taken.
          stale = now - statSync(path).ctimeMs > STALE_CLAIM_MS;
        } catch {
          continue;
        }
      }
      if (stale) unclaim(path, join(dir, original));
    }
  }
}

function processAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === 'EPERM'; // alive, owned by someone else
  }
}

function unclaim(claimed: string, original: string): void {
  try {
    renameSync(claimed, original);
  } catch {
    // Left as a claim: recoverStaleClaims puts it back on a later replay.
  }
}

function quarantine(claimed: string, original: string): void {
  try {
    renameSync(claimed, `${original.slice(0, -'.json'.length)}.bad`);
  } catch {
    // Best effort, as in Rust; a leftover claim is recovered and quarantined again later.
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  if (stat.isSymbolicLink()) {
    throw new DiffloreError('unsafe_file', `${dir} is a symbolic link; refusing to spill through it.`, {
      hint: `remove the link (rm ${dir}); difflore recreates the directory itself`,
    });
  }
  // The Rust binary creates it with the umask's mode; spilled payloads are the user's code.
  if ((stat.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
}

function truncate(text: string): string {
  const chars = Array.from(text);
  return chars.length <= MAX_REASON_CHARS ? text : chars.slice(0, MAX_REASON_CHARS).join('');
}
