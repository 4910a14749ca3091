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
 *
 * Every directory and file goes through the home-files rule: a spill directory that is a link (or
 * not ours) is left alone entirely — nothing in it is read, renamed or deleted — and a spill file
 * that is a link, a FIFO, a socket, a device or a directory is never opened: its own entry (not what
 * it points to) is renamed `.bad`, and the report says why.
 */
import { lstatSync, mkdirSync, readdirSync, renameSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type WriteFileAtomic from 'write-file-atomic';
import { DiffloreError, errnoCode } from '../../errors.js';
import { KIND_NAME } from '../../machines/contracts/kinds.js';
import type { HomePaths } from '../home/home.js';
import { checkHomeEntry, ensureHomeDir, readHomeFile } from '../home/home-files.js';
import type { OutboxStore } from './outbox-store.js';
import { fsyncDirectoryBestEffort } from '../home/fsync-dir.js';

export const SPILL_RECORD_VERSION = 1;
/** A spill file holds one row (payloads are capped at 1 MiB) and its JSON escaping. */
const MAX_SPILL_FILE_BYTES = 8 * 1024 * 1024;
/** As Rust truncates `lastError` (Unicode scalar values, not UTF-16 units). */
const MAX_REASON_CHARS = 2048;
/** A claim older than this was left by a process that died or hung mid-replay; replaying one file takes µs. */
const STALE_CLAIM_MS = 10 * 60_000;
const CLAIM_MARK = '.replaying-';
const SPILL_NAME = /^(\d+)-(\d+)-(\d+)\.json$/;

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
  /**
   * Entries the home-files rule refused: a spill directory that is a link or not ours (skipped
   * whole), or a file that is not a regular file of ours (renamed `.bad`, counted as quarantined).
   */
  readonly refused: readonly { path: string; error: string }[];
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
    mkdirSync(paths.home, { recursive: true, mode: 0o700 });
    // The Rust binary creates them with the umask's mode; spilled payloads are the user's code.
    ensureHomeDir(paths.spillDir);
    ensureHomeDir(dir);
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
  const require = createRequire(import.meta.filename);
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

/** The row of `claimed` is in the outbox: remove the claim so nothing replays it again. */
function retireClaim(claimed: string, original: string): void {
  try {
    unlinkSync(claimed);
  } catch {
    // A claim left behind would be recovered and inserted twice, so move it to a name that nothing
    // replays.
    try {
      renameSync(claimed, `${original}.replayed`);
    } catch {
      // Nothing more to try; recovery would duplicate this one row (at-least-once, as in Rust).
    }
  }
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
  const refused: { path: string; error: string }[] = [];
  const done = (): ReplayReport => ({ ...report, unreadable, refused });
  if (limit <= 0) return done();

  const dirs = safeSpillDirs(paths, refused);
  recoverStaleClaims(dirs);
  const files = listSpillFiles(dirs);
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
      const bytes = readHomeFile(claimed, MAX_SPILL_FILE_BYTES);
      // Gone between rename and open: someone else's business now.
      if (bytes === undefined) continue;
      text = bytes.length > MAX_SPILL_FILE_BYTES ? '' : bytes.toString('utf8');
    } catch (error) {
      if (error instanceof DiffloreError && error.code === 'unsafe_file') {
        // Not a regular file of ours: never opened, only its entry moved aside.
        quarantine(claimed, file.path);
        report.quarantined++;
        refused.push({ path: file.path, error: error.message });
        continue;
      }
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
    retireClaim(claimed, file.path);
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
  for (const dir of safeSpillDirs(paths, [])) {
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
        const text = readHomeFile(path, MAX_SPILL_FILE_BYTES);
        if (text === undefined) continue;
        bytes += text.length;
        record = parseRecord(text.toString('utf8'));
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
  if (typeof r.kind !== 'string' || !KIND_NAME.test(r.kind)) return null;
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

/**
 * The spill directories that may be used: each must be missing or a directory of ours, and so must
 * `hook-spill` above them. A link there could point anywhere (another user's files, a repository):
 * what is refused is reported and left alone.
 */
function safeSpillDirs(paths: HomePaths, refused: { path: string; error: string }[]): string[] {
  const usable = (dir: string): boolean => {
    try {
      return checkHomeEntry(dir, 'directory') === 'ok';
    } catch (error) {
      refused.push({ path: dir, error: (error as Error).message });
      return false;
    }
  };
  if (!usable(paths.spillDir)) return [];
  return [paths.observationSpillDir, paths.otherSpillDir].filter(usable);
}

/** Every `*.json` in the usable directories, oldest first by the ms-pid-seq in the name. */
function listSpillFiles(dirs: readonly string[]): SpillFile[] {
  const files: SpillFile[] = [];
  for (const dir of dirs) {
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
function recoverStaleClaims(dirs: readonly string[]): void {
  const now = Date.now();
  for (const dir of dirs) {
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
          stale = now - lstatSync(path).ctimeMs > STALE_CLAIM_MS;
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

function truncate(text: string): string {
  const chars = Array.from(text);
  return chars.length <= MAX_REASON_CHARS ? text : chars.slice(0, MAX_REASON_CHARS).join('');
}
