/**
 * Making a rename or a create durable: fsync the directory that holds the entry. write-file-atomic
 * and O_EXCL creates sync the file, not its directory entry, so a power loss could lose the name.
 */
import { closeSync, constants, fsyncSync, openSync } from 'node:fs';
import { errnoCode } from '../../errors.js';

/** Fsyncs `dir`. File systems that cannot fsync a directory are tolerated; other failures throw. */
export function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY);
    fsyncSync(fd);
  } catch (error) {
    const code = errnoCode(error);
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'ENOTSUP') throw error;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** As fsyncDirectory, for writes whose file is already synced and whose caller must not fail late. */
export function fsyncDirectoryBestEffort(dir: string): void {
  try {
    fsyncDirectory(dir);
  } catch {
    // The file itself is synced and renamed; only the durability of its name is at stake.
  }
}
