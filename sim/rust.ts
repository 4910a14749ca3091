/**
 * The Rust daemon in the fleet simulation, as reference/rust-wire.md §0.4–0.6 and §4 describe it:
 * a tick every 5 s (no wake on enqueue); each tick claims the oldest pending row again and again, up
 * to 64, one row per request; any failure spends one of 8 tries at once (no backoff, Retry-After
 * ignored); 3 consecutive failures shut the queue for 60 s, and since the counter is not reset when
 * the breaker expires, the next single failure shuts it again. A success resets the counter.
 */
import type { Cloud } from './cloud.js';
import type { FleetPolicy } from './fleet.js';

const TICK_MS = 5_000;
const ROWS_PER_TICK = 64;
const MAX_TRIES = 8;
const BREAKER_FAILURES = 3;
const BREAKER_OPEN_MS = 60_000;

interface Row {
  readonly createdAt: number;
  tries: number;
}

export class RustFleet implements FleetPolicy {
  readonly wakeAt: Float64Array;
  /** Each daemon's tick phase: it started at some moment of its own. */
  readonly #phase: Float64Array;
  readonly #rows: Row[][];
  readonly #failures: Int32Array;
  readonly #openUntil: Float64Array;
  readonly #cloud: Cloud;

  constructor(daemons: number, cloud: Cloud, random: () => number) {
    this.wakeAt = new Float64Array(daemons).fill(Number.POSITIVE_INFINITY);
    this.#phase = Float64Array.from({ length: daemons }, () => random() * TICK_MS);
    this.#rows = Array.from({ length: daemons }, () => []);
    this.#failures = new Int32Array(daemons);
    this.#openUntil = new Float64Array(daemons);
    this.#cloud = cloud;
  }

  /** A row is inserted; the daemon sees it on its next tick. */
  arrive(daemon: number, at: number): void {
    this.#rows[daemon]?.push({ createdAt: at, tries: 0 });
    this.#cloud.enqueued(at);
    if (this.wakeAt[daemon] === Number.POSITIVE_INFINITY) {
      this.wakeAt[daemon] = this.#tickAtOrAfter(daemon, Math.max(at, this.#openUntil[daemon] as number));
    }
  }

  /** One tick with rows pending: `drain_outbox_report(queue, client, 64)`. */
  wake(daemon: number, at: number): void {
    const rows = this.#rows[daemon] as Row[];
    const cloud = this.#cloud;
    for (let i = 0; i < ROWS_PER_TICK && rows.length > 0; i++) {
      if (at < (this.#openUntil[daemon] as number)) break;
      const row = rows[0] as Row; // claim_next: created_at ASC; a failed row is pending again at once
      if (cloud.request(at) === 'ok') {
        rows.shift();
        this.#failures[daemon] = 0;
        cloud.delivered(row.createdAt, at);
        continue;
      }
      row.tries++;
      if (row.tries >= MAX_TRIES) {
        rows.shift();
        cloud.abandoned(row.createdAt, at);
      }
      const failures = (this.#failures[daemon] as number) + 1;
      this.#failures[daemon] = failures;
      if (failures >= BREAKER_FAILURES) this.#openUntil[daemon] = at + BREAKER_OPEN_MS;
    }
    this.wakeAt[daemon] =
      rows.length === 0
        ? Number.POSITIVE_INFINITY
        : this.#tickAtOrAfter(daemon, Math.max(at + 1, this.#openUntil[daemon] as number));
  }

  #tickAtOrAfter(daemon: number, at: number): number {
    const phase = this.#phase[daemon] as number;
    return phase + Math.ceil((at - phase) / TICK_MS) * TICK_MS;
  }
}
