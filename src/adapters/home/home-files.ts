/**
 * The one rule for opening anything in the data home (DESIGN §6): never through a symbolic link,
 * never blocking, and only what belongs there — a regular file (or a directory where one belongs)
 * owned by the user we run as. Anything else is a typed `unsafe_file` error that names the file,
 * what it is, and what to do about it.
 *
 * Why every caller goes through here: a link planted in the home could make us write, rename or
 * delete something outside it, or upload its content; a FIFO makes open(2) wait for a writer that
 * never comes (deaf to SIGTERM, since the wait is in the kernel); a socket or device is never ours.
 * `O_NOFOLLOW | O_NONBLOCK` then `fstat` answers all three on the descriptor itself, so there is no
 * window between the check and the use. Where a path must be handed to someone else (SQLite opens
 * `data.db` itself; rename(2) takes names), `checkHomeEntry` applies the same rule with lstat.
 *
 * Light on purpose: the hook path imports it.
 */
import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  type Stats,
  statSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { DiffloreError, describeErrorLine, errnoCode } from '../../errors.js';

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;
const O_DIRECTORY = constants.O_DIRECTORY ?? 0;

export type HomeEntryKind = 'file' | 'directory';

/** An error and its fix on one line, for places that keep a single line (`last_error`, status). */
export const oneLineError = describeErrorLine;

/** The uid we run as, or undefined where the platform has none (Windows). */
function ourUid(): number | undefined {
  return typeof process.getuid === 'function' ? process.getuid() : undefined;
}

/** What a stat describes, in words for a message. */
export function describeStat(stat: Stats): string {
  if (stat.isSymbolicLink()) return 'a symbolic link';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFile()) return 'a regular file';
  return 'not a regular file';
}

/** The error for an entry that breaks the rule: what it is and how to get out of it. */
export function unsafeHomeEntry(path: string, what: string, want: HomeEntryKind, cause?: unknown): DiffloreError {
  const fix =
    what === 'a directory' || want === 'directory'
      ? `move it aside (mv ${path} ${path}.aside); difflore recreates it`
      : `remove it (rm ${path}); difflore recreates it`;
  return new DiffloreError(
    'unsafe_file',
    `${path} is ${what}, not ${want === 'file' ? 'a regular file' : 'a directory'}; refusing to use it.`,
    { hint: fix, cause },
  );
}

function notOurs(path: string, uid: number, ours: number): DiffloreError {
  return new DiffloreError(
    'unsafe_file',
    `${path} belongs to another user (uid ${uid}, we are uid ${ours}); refusing to use it.`,
    {
      hint: `give it back (chown ${ours} ${path}) or remove it; a data home and its files must be yours alone`,
    },
  );
}

/** Throws unless `stat` is a `want` owned by us. */
export function judgeHomeStat(path: string, stat: Stats, want: HomeEntryKind): void {
  const right = want === 'file' ? stat.isFile() : stat.isDirectory();
  if (!right) throw unsafeHomeEntry(path, describeStat(stat), want);
  const uid = ourUid();
  if (uid !== undefined && stat.uid !== uid) throw notOurs(path, stat.uid, uid);
}

/** Turns an open(2) failure into the rule's words; `undefined` for ENOENT when `missingOk`. */
function openFailure(path: string, error: unknown, want: HomeEntryKind): DiffloreError {
  const code = errnoCode(error);
  // ELOOP: a link at the last component (FreeBSD says EMLINK). ENXIO: a FIFO with no reader (write
  // side); EISDIR: a directory opened for writing; ENOTDIR: a file where a directory belongs.
  if (code === 'ELOOP' || code === 'EMLINK') return unsafeHomeEntry(path, 'a symbolic link', want, error);
  if (code === 'ENXIO') return unsafeHomeEntry(path, 'a FIFO, socket or device', want, error);
  if (code === 'EISDIR') return unsafeHomeEntry(path, 'a directory', want, error);
  if (code === 'ENOTDIR' && want === 'directory') return unsafeHomeEntry(path, 'not a directory', want, error);
  return new DiffloreError('io', `cannot open ${path}: ${(error as Error).message}`, { cause: error });
}

/**
 * Opens `path` in the home with `flags` plus `O_NOFOLLOW | O_NONBLOCK` and checks the descriptor:
 * a regular file (or directory, `want`) owned by us, else the fd is closed and `unsafe_file` thrown.
 * Returns `undefined` if the file does not exist and `flags` do not create it.
 */
export function openHomeFile(
  path: string,
  flags: number,
  options: { mode?: number; want?: HomeEntryKind } = {},
): number | undefined {
  const want = options.want ?? 'file';
  let fd: number;
  try {
    fd = openSync(
      path,
      flags | O_NOFOLLOW | O_NONBLOCK | (want === 'directory' ? O_DIRECTORY : 0),
      options.mode ?? 0o600,
    );
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' && (flags & constants.O_CREAT) === 0) return undefined;
    throw openFailure(path, error, want);
  }
  try {
    judgeHomeStat(path, fstatSync(fd), want);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return fd;
}

/**
 * Reads a whole home file under the rule; `undefined` if it does not exist. At most `maxBytes + 1`
 * bytes are read, so a caller can tell "too large" from "exactly the limit".
 */
export function readHomeFile(path: string, maxBytes: number): Buffer | undefined {
  const fd = openHomeFile(path, constants.O_RDONLY);
  if (fd === undefined) return undefined;
  try {
    const size = Math.min(fstatSync(fd).size, maxBytes) + 1;
    const buffer = Buffer.alloc(size);
    let length = 0;
    while (length < size) {
      const n = readSync(fd, buffer, length, size - length, null);
      if (n === 0) break;
      length += n;
    }
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

/**
 * The rule by lstat, for a path we must hand on by name (SQLite's open, rename, unlink): 'missing',
 * or 'ok' for a `want` owned by us; anything else throws `unsafe_file`.
 */
export function checkHomeEntry(path: string, want: HomeEntryKind = 'file'): 'missing' | 'ok' {
  let stat: Stats;
  try {
    stat = lstatSync(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return 'missing';
    throw new DiffloreError('io', `cannot inspect ${path}: ${(error as Error).message}`, { cause: error });
  }
  judgeHomeStat(path, stat, want);
  return 'ok';
}

/**
 * Makes sure `dir` (inside the home, its parent already checked) is a directory of ours, mode 0700:
 * created if missing; a link, a file or someone else's directory there is refused.
 */
export function ensureHomeDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') {
      throw new DiffloreError(
        'io',
        `cannot create ${dir}: ${whyNotWritable(dirname(dir)) ?? (error as Error).message}`,
        {
          hint: 'the data home is not writable; set DIFFLORE_HOME to a writable directory',
          cause: error,
        },
      );
    }
  }
  const stat = lstatSync(dir);
  judgeHomeStat(dir, stat, 'directory');
  if ((stat.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
}

/** Why `dir` cannot be written (a read-only mount: EROFS; no permission: EACCES), or null. */
function whyNotWritable(dir: string): string | null {
  try {
    accessSync(dir, constants.W_OK);
    return null;
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'EROFS') return `${dir} is on a read-only file system (EROFS)`;
    if (code === 'EACCES' || code === 'EPERM') return `${dir} is not writable by us (${code})`;
    return null;
  }
}

/**
 * Opens a log in the home for appending (created 0600): its directory must be a directory of ours
 * (created 0700 if missing) and the log a regular file of ours. Throws `unsafe_file` otherwise.
 */
export function openHomeAppend(path: string): number {
  ensureHomeDir(dirname(path));
  // Never undefined with O_CREAT.
  return openHomeFile(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT) as number;
}

/**
 * Refuses a home owned by another user. The home itself may be a link (dotfiles repositories do
 * that, and it is the user's own choice), so its target is what must be ours and a directory.
 */
export function checkHomeOwner(home: string): void {
  let stat: Stats;
  try {
    stat = statSync(home);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    throw new DiffloreError('io', `cannot inspect the data home ${home}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (!stat.isDirectory()) throw unsafeHomeEntry(home, describeStat(stat), 'directory');
  const uid = ourUid();
  if (uid !== undefined && stat.uid !== uid) {
    throw new DiffloreError(
      'unsafe_file',
      `the data home ${home} belongs to another user (uid ${stat.uid}, we are uid ${uid}); refusing to use it.`,
      { hint: `use your own home (set DIFFLORE_HOME), or give it back with chown -R ${uid} ${home}` },
    );
  }
}
