/**
 * The demo's live progress: a bar redrawn in place on a terminal, plain lines (at most one a
 * second) anywhere else, so logs and CI output stay readable. Colour only on a TTY without NO_COLOR.
 */
import { formatDuration } from '../text.js';

export interface ProgressFigures {
  /** Deliverable rows the outbox no longer holds (the cloud acknowledged them). */
  readonly acknowledged: number;
  readonly total: number;
  /** Rows that have needed more than one try so far. */
  readonly retried: number;
  readonly elapsedMs: number;
  /** Rows acknowledged a second, over the last second; null until there is a second to measure. */
  readonly rate: number | null;
}

/** A stream the demo writes to (stdout or stderr), with what a terminal tells about itself. */
export type Out = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

const BAR_WIDTH = 28;

export class ProgressView {
  readonly #out: Out;
  readonly #tty: boolean;
  readonly #colour: boolean;
  #drawn = false;
  #lastPlainAt = Number.NEGATIVE_INFINITY;
  #last: ProgressFigures | null = null;
  /** The figures of the last plain line, so `end` does not repeat it. */
  #lastPlain: ProgressFigures | null = null;

  constructor(out: Out, options: { tty: boolean; colour: boolean }) {
    this.#out = out;
    this.#tty = options.tty;
    this.#colour = options.colour && options.tty;
  }

  /** New figures: redraw the bar, or print a line if a second has passed since the last one. */
  update(figures: ProgressFigures): void {
    this.#last = figures;
    if (this.#tty) {
      this.#draw();
    } else if (figures.elapsedMs - this.#lastPlainAt >= 1000) {
      this.#lastPlainAt = figures.elapsedMs;
      this.#lastPlain = figures;
      this.#out.write(`  ${this.#text(figures)}\n`);
    }
  }

  /** A line of news above the bar (the bar is redrawn under it). */
  note(text: string): void {
    if (this.#tty && this.#drawn) this.#out.write('\r\x1b[2K');
    this.#out.write(`  ${text}\n`);
    if (this.#tty && this.#drawn) this.#draw();
  }

  /** Leaves the last figures on screen (and on a pipe, prints them once more). */
  end(): void {
    if (this.#last === null) return;
    if (this.#tty) {
      this.#draw();
      this.#out.write('\n');
    } else if (this.#lastPlain !== this.#last) {
      this.#lastPlain = this.#last;
      this.#out.write(`  ${this.#text(this.#last)}\n`);
    }
    this.#drawn = false;
    this.#last = null;
  }

  #text(f: ProgressFigures): string {
    const rate = f.rate === null ? '… rows/s' : `${Math.round(f.rate)} rows/s`;
    return `${f.acknowledged}/${f.total} acknowledged · ${rate} · ${f.retried} retried · ${formatDuration(f.elapsedMs)}`;
  }

  #draw(): void {
    const f = this.#last;
    if (f === null) return;
    const share = f.total === 0 ? 1 : Math.min(1, f.acknowledged / f.total);
    const filled = Math.round(share * BAR_WIDTH);
    let bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`;
    if (this.#colour) bar = `\x1b[32m${bar}\x1b[0m`;
    let line = `  ${bar} ${this.#text(f)}`;
    const columns = this.#out.columns ?? 0;
    // Never wrap: a wrapped line cannot be redrawn in place.
    if (columns > 0 && !this.#colour && line.length >= columns) line = line.slice(0, columns - 1);
    this.#out.write(`\r\x1b[2K${line}`);
    this.#drawn = true;
  }
}
