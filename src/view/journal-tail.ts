/**
 * Follows `daemon-journal.jsonl` by polling, whoever writes it: a daemon started without `--inspect`,
 * one that restarts, a `daemon stop`. The journal is the one record every process appends to, so the
 * view needs no cooperation from the daemon.
 *
 * Rotation (the recorder renames the file to `.1` at 1 MiB and starts a new one) is seen as a change
 * of inode: the rest of the old file is read from `.1` if it is still the same file, then the new one
 * from its start. A file that shrank was replaced; it is read from its start. Files are opened under
 * the home's one rule (never through a link, never blocking); a half-written last line waits.
 */
import { closeSync, constants, fstatSync, readSync } from 'node:fs';
import { asTransitions } from '../adapters/lifecycle/recorder.js';
import type { TransitionRecord } from '../machines/types.js';
import { openHomeFile } from '../adapters/home/home-files.js';

/** More than this per poll waits for the next poll: a burst is delivered in slices, never lost. */
const MAX_READ_BYTES = 4 * 1024 * 1024;

interface Opened {
  readonly fd: number;
  readonly ino: number;
  readonly size: number;
}

/** The file under the home's one opening rule (home-files.ts); null when missing or unsafe to read. */
function openRegular(path: string): Opened | null {
  let fd: number | undefined;
  try {
    fd = openHomeFile(path, constants.O_RDONLY);
  } catch {
    // A link, a FIFO or a stranger's file where the journal belongs: nothing to follow; `daemon log` says why.
    return null;
  }
  if (fd === undefined) return null;
  const stat = fstatSync(fd);
  return { fd, ino: stat.ino, size: stat.size };
}

export function parseJournalLines(text: string): TransitionRecord[] {
  const out: TransitionRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(...asTransitions([JSON.parse(line) as unknown]));
    } catch {
      // A line that does not parse is `daemon log`'s to report; the view shows what it can.
    }
  }
  return out;
}

export class JournalTail {
  private ino: number | null = null;
  private offset = 0;
  private partial: Buffer = Buffer.alloc(0);

  constructor(private readonly path: string) {}

  /** Starts at the current end: what came before is history, read separately. */
  skipToEnd(): void {
    const file = openRegular(this.path);
    if (file === null) return;
    closeSync(file.fd);
    this.ino = file.ino;
    this.offset = file.size;
  }

  /** The records appended since the last poll, oldest first. */
  poll(): TransitionRecord[] {
    const current = openRegular(this.path);
    if (current === null) return [];
    try {
      const records: TransitionRecord[] = [];
      if (this.ino !== null && current.ino !== this.ino) {
        records.push(...this.finishRotated());
        this.restart(current.ino);
      } else if (current.size < this.offset) {
        this.restart(current.ino);
      }
      this.ino = current.ino;
      records.push(...this.readFrom(current));
      return records;
    } finally {
      closeSync(current.fd);
    }
  }

  private restart(ino: number): void {
    this.ino = ino;
    this.offset = 0;
    this.partial = Buffer.alloc(0);
  }

  private finishRotated(): TransitionRecord[] {
    const old = openRegular(`${this.path}.1`);
    if (old === null) return [];
    try {
      return old.ino === this.ino ? this.readFrom(old) : [];
    } finally {
      closeSync(old.fd);
    }
  }

  private readFrom(file: Opened): TransitionRecord[] {
    const length = Math.min(file.size - this.offset, MAX_READ_BYTES);
    if (length <= 0) return [];
    const buffer = Buffer.alloc(length);
    let read = 0;
    while (read < length) {
      const n = readSync(file.fd, buffer, read, length - read, this.offset + read);
      if (n === 0) break;
      read += n;
    }
    this.offset += read;
    // Split on bytes, not characters: a read may end inside a multi-byte character.
    const bytes = Buffer.concat([this.partial, buffer.subarray(0, read)]);
    const cut = bytes.lastIndexOf(0x0a);
    this.partial = Buffer.from(bytes.subarray(cut + 1));
    return parseJournalLines(bytes.subarray(0, cut + 1).toString('utf8'));
  }
}
