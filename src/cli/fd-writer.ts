/**
 * Reading stdin and writing stdout/stderr without creating `process.stdin`/`stdout`/`stderr` (their
 * streams cost a few milliseconds to set up): used by the commands whose start-up time is their cost
 * (`enqueue`, `hook claude-code`, `daemon stop`).
 */
import { readSync, writeSync } from 'node:fs';
import { errnoCode } from '../errors.js';

/** A writer on a file descriptor that needs no stream; EAGAIN on a full non-blocking pipe is retried. */
export function fdWriter(fd: number): { write(text: string): void } {
  return {
    write(text: string): void {
      let buffer = Buffer.from(text);
      while (buffer.length > 0) {
        try {
          buffer = buffer.subarray(writeSync(fd, buffer));
        } catch (error) {
          if (errnoCode(error) !== 'EAGAIN') return; // a closed stdout must not fail the enqueue
        }
      }
    },
  };
}

export type FdReadResult =
  /** Everything up to end of file. */
  | { readonly kind: 'done'; readonly data: Buffer }
  /** More than `maxBytes` arrived; reading stopped there. */
  | { readonly kind: 'tooLarge' }
  /** The descriptor is non-blocking and has no data yet: `data` so far, the rest must come from a stream. */
  | { readonly kind: 'wouldBlock'; readonly data: Buffer };

/**
 * Reads `fd` to its end with synchronous reads, refusing more than `maxBytes`. Read errors other
 * than end of file and EAGAIN are thrown; callers word them their own way.
 */
export function readFdSync(fd: number, maxBytes: number): FdReadResult {
  const chunks: Buffer[] = [];
  let size = 0;
  const buffer = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buffer, 0, buffer.length, null);
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'EOF') break;
      if (code === 'EAGAIN') return { kind: 'wouldBlock', data: Buffer.concat(chunks) };
      throw error;
    }
    if (n === 0) break;
    size += n;
    if (size > maxBytes) return { kind: 'tooLarge' };
    chunks.push(Buffer.from(buffer.subarray(0, n)));
  }
  return { kind: 'done', data: Buffer.concat(chunks) };
}
