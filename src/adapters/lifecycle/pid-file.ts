/**
 * `daemon.pid`: the bare decimal pid, no newline, exactly as the Rust binary writes and reads it.
 * Owns: reading it without following links, creating it exclusively (never overwriting), and
 * removing it only while it still names a given pid. Whether a pid is alive is not decided here.
 */
import { closeSync, constants, fsyncSync, linkSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { DiffloreError, errnoCode } from '../../errors.js';
import { fsyncDirectory } from '../home/fsync-dir.js';
import { openHomeFile } from '../home/home-files.js';
import { tempNameFor } from '../home/replace-file.js';

export type PidFileRead =
  | { readonly kind: 'missing' }
  | { readonly kind: 'pid'; readonly pid: number }
  /** Anything that is not a pid > 1: empty (a crash between create and write), text, 0, 1, -1, huge. */
  | { readonly kind: 'garbage'; readonly text: string };

export type PidFileCreate = { readonly kind: 'created' } | { readonly kind: 'exists' };

export type PidFileRemove =
  | { readonly kind: 'removed' }
  | { readonly kind: 'missing' }
  /** The file names someone else (or is garbage): left alone. */
  | { readonly kind: 'notOurs'; readonly found: PidFileRead };

/** Largest pid any supported kernel hands out (Linux pid_max ≤ 2^22; i32 as in Rust). */
const MAX_PID = 2 ** 31 - 1;
/** A pid file longer than this is not a pid; read no further. */
const MAX_PID_FILE_BYTES = 64;

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const _O_NONBLOCK = constants.O_NONBLOCK ?? 0;

/**
 * The pid in `text`, or `undefined`. Like Rust it trims whitespace; unlike Rust it rejects signs and
 * pid ≤ 1: `kill(0, …)` hits our own process group, `kill(-1, …)` every process we may signal, and
 * pid 1 is init — none of them can be a daemon we started.
 */
export function parsePid(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^[0-9]{1,10}$/.test(trimmed)) return undefined;
  const pid = Number(trimmed);
  return pid > 1 && pid <= MAX_PID ? pid : undefined;
}

function _unsafe(path: string, what: string, cause?: unknown): DiffloreError {
  return new DiffloreError('unsafe_file', `${path} ${what}; refusing to use it.`, {
    hint: `remove it (rm ${path}); the daemon recreates it when it starts`,
    cause,
  });
}

/** Reads the pid file. Throws `unsafe_file` for a symlink or a non-regular file, `io` for other failures. */
export function readPidFile(path: string): PidFileRead {
  let fd: number | undefined;
  try {
    // The home-files rule: a link, FIFO (it would hang us) or someone else's file is refused.
    fd = openHomeFile(path, constants.O_RDONLY);
  } catch (error) {
    if (error instanceof DiffloreError) throw error;
    throw new DiffloreError('io', `cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (fd === undefined) return { kind: 'missing' };
  try {
    const buffer = Buffer.alloc(MAX_PID_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length === buffer.length) break;
    }
    const text = buffer.subarray(0, length).toString('utf8');
    const pid = length > MAX_PID_FILE_BYTES ? undefined : parsePid(text);
    return pid === undefined ? { kind: 'garbage', text: text.slice(0, MAX_PID_FILE_BYTES) } : { kind: 'pid', pid };
  } catch (error) {
    if (error instanceof DiffloreError) throw error;
    throw new DiffloreError('io', `cannot read ${path}: ${(error as Error).message}`, { cause: error });
  } finally {
    closeSync(fd);
  }
}

/** Creates `path` with O_EXCL|O_NOFOLLOW 0600, writes `text`, fsyncs. `false` if it exists. */
function createExclusive(path: string, text: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o600);
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(path);
    throw error;
  }
  closeSync(fd);
  return true;
}

/**
 * Creates the pid file holding `pid` — only if no file (or link) is at `path`; never overwrites.
 *
 * The content is written and fsynced in a private temp file first and then hard-linked into place:
 * link(2) fails with EEXIST just like O_EXCL, but the pid file never exists empty, so a reader that
 * does not hold the claim lock (status, a Rust binary) cannot mistake a claim in progress for a
 * garbage file. Where hard links are unsupported it falls back to O_EXCL create + write + fsync.
 * Then the directory is fsynced so the new name survives a power cut.
 */
export function createPidFile(path: string, pid: number): PidFileCreate {
  if (!Number.isInteger(pid) || pid <= 1 || pid > MAX_PID) {
    throw new DiffloreError('internal', `refusing to write pid ${pid} to ${path}`);
  }
  const dir = dirname(path);
  const temp = tempNameFor(path);
  try {
    createExclusive(temp, String(pid));
    let created: boolean;
    try {
      linkSync(temp, path);
      created = true;
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'EEXIST') created = false;
      else if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
        created = createExclusive(path, String(pid));
      } else throw error;
    } finally {
      try {
        unlinkSync(temp);
      } catch {
        // Already gone: nothing to clean.
      }
    }
    if (created) fsyncDirectory(dir);
    return created ? { kind: 'created' } : { kind: 'exists' };
  } catch (error) {
    if (error instanceof DiffloreError) throw error;
    throw new DiffloreError('io', `cannot create ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Removes the pid file if, and only if, it names `pid`. The caller must hold the claim lock
 * (`daemon.pid.lock`), so no claimer can create a new file between the read and the unlink.
 */
export function removePidFileIfHolds(path: string, pid: number): PidFileRemove {
  const found = readPidFile(path);
  if (found.kind === 'missing') return found;
  if (found.kind !== 'pid' || found.pid !== pid) return { kind: 'notOurs', found };
  return unlinkPidFile(path);
}

/**
 * Removes the pid file if it is garbage (empty, unparseable, pid ≤ 1). There is no pid to compare,
 * so the caller must hold the claim lock: then nobody else writes the file between read and unlink.
 */
export function removeGarbagePidFile(path: string): PidFileRemove {
  const found = readPidFile(path);
  if (found.kind === 'missing') return found;
  if (found.kind !== 'garbage') return { kind: 'notOurs', found };
  return unlinkPidFile(path);
}

function unlinkPidFile(path: string): PidFileRemove {
  try {
    unlinkSync(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { kind: 'missing' };
    throw new DiffloreError('io', `cannot remove ${path}: ${(error as Error).message}`, { cause: error });
  }
  fsyncDirectory(dirname(path));
  return { kind: 'removed' };
}

/** The error for a claim lock that nobody lets go of (a hung or stopped claimer). */
export function claimLockBusy(path: string): DiffloreError {
  return new DiffloreError('conflict', `${path} stayed locked; another process is claiming the daemon.`, {
    hint: `find the holder with: fuser ${path} (a stopped process still holds it)`,
  });
}
