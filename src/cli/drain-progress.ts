/**
 * Progress of a drain pass for people: a bar redrawn in place on a TTY, plain lines otherwise.
 * Kept apart from the command so it can be tested without Clipanion.
 */
import type { DrainProgress } from '../adapters/delivery/drain-pass.js';

/** A progress bar on a TTY; otherwise a plain line at most once a second and at the end. */
export class ProgressReporter {
  readonly #out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly #tty: boolean;
  #total = 0;
  #last = { attempted: 0, confirmed: 0, retried: 0, abandoned: 0 };
  #lastPlainAt = 0;
  #drawn = false;

  constructor(out: NodeJS.WritableStream) {
    this.#out = out;
    this.#tty = (out as { isTTY?: boolean }).isTTY === true;
  }

  on(event: DrainProgress): void {
    switch (event.type) {
      case 'start':
        this.#total = event.waiting ?? 0;
        if (!this.#tty && event.waiting !== null) this.#out.write(`draining: ${event.waiting} rows waiting\n`);
        break;
      case 'spill':
        this.#line(`spill: replayed ${event.report.replayed}, quarantined ${event.report.quarantined}`);
        break;
      case 'waiting_for_auth':
        break; // the summary says it
      case 'breaker':
        if (event.breaker.state === 'open') this.#line('the cloud keeps failing: pausing delivery');
        break;
      case 'progress': {
        const { type: _type, ...counts } = event;
        this.#last = counts;
        if (this.#tty) this.#draw();
        else if (Date.now() - this.#lastPlainAt >= 1000) {
          this.#lastPlainAt = Date.now();
          this.#out.write(`${this.#counts()}\n`);
        }
        break;
      }
    }
  }

  end(): void {
    if (this.#tty && this.#drawn) this.#out.write('\n');
  }

  #counts(): string {
    const c = this.#last;
    return `${c.attempted}/${Math.max(this.#total, c.attempted)} attempted, ${c.confirmed} confirmed, ${c.retried} retried, ${c.abandoned} abandoned`;
  }

  #draw(): void {
    const total = Math.max(this.#total, this.#last.attempted, 1);
    const width = 24;
    const filled = Math.min(width, Math.round((this.#last.attempted / total) * width));
    this.#out.write(`\r\x1b[2K[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${this.#counts()}`);
    this.#drawn = true;
  }

  #line(text: string): void {
    if (this.#tty && this.#drawn) this.#out.write('\r\x1b[2K');
    this.#out.write(`${text}\n`);
    if (this.#tty && this.#drawn) this.#draw();
  }
}
