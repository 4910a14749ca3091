/**
 * Replacing a home file atomically: the new content goes to a private temp file next to it (created
 * O_EXCL through the home-files rule, so never through a link), is synced if asked, and is renamed
 * over the old name, so a reader sees the old file or the new one, never half of either.
 *
 * Why not write-file-atomic here: loading it (with node:crypto and signal-exit under it) costs a
 * stopper ~6 ms of CPU on the path between the daemon's death and its own exit, for nothing a
 * synchronous write needs — no event-loop turn happens between the create and the rename, so there is
 * no moment where its exit handler could clean up, and a SIGKILL leaves a temp file with either.
 * The caller syncs the directory if the new name must survive a power cut (fsync-dir.ts).
 */
import { closeSync, constants, fdatasyncSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { openHomeFile } from './home-files.js';

/**
 * A temp name beside `path`, unique to this process and write; the O_EXCL create refuses anything
 * already there. No node:crypto: the name needs no secrecy (the home is 0700), and loading it costs a
 * process ~2 ms on the paths timed against `node -e 0` and pm2 (daemon start and stop).
 */
export function tempNameFor(path: string): string {
  const nonce = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  return join(dirname(path), `.${basename(path)}.${process.pid}.${nonce}.tmp`);
}

/** Writes `text` to `path` by temp file and rename, mode 0600; with `sync`, the data is on disk first. */
export function replaceHomeFile(path: string, text: string, sync: boolean): void {
  const temp = tempNameFor(path);
  const fd = openHomeFile(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, { mode: 0o600 });
  if (fd === undefined) throw new Error(`cannot create ${temp}`);
  let renamed = false;
  try {
    try {
      const bytes = Buffer.from(text, 'utf8');
      for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written);
      // fdatasync suffices: a new file's size is part of what it flushes, and nothing else is read back.
      if (sync) fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    renamed = true;
  } finally {
    if (!renamed) {
      try {
        unlinkSync(temp);
      } catch {
        // Already gone; the failure that brought us here is the one to report.
      }
    }
  }
}
