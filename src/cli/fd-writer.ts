/**
 * Writing to stdout and stderr without creating `process.stdout`/`process.stderr` (their streams
 * cost a few milliseconds to set up): used by the commands whose start-up time is their cost
 * (`enqueue`, `daemon stop`).
 */
import { writeSync } from 'node:fs';
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
