/**
 * The shared cloud of the fleet simulation, and what it saw. A capacity in requests per second
 * (counted per whole second of simulated time): past it, 503 with Retry-After. During the outage it
 * is down: connections are refused (or, if told so, every request gets a 503 without Retry-After).
 * It also keeps the run's figures: requests per second, the backlog, delivery delays, abandoned rows.
 */

export type CloudAnswer = 'ok' | 'overloaded' | 'down';

export interface CloudModel {
  /** Requests per second it serves; more in the same second are refused with 503 + Retry-After. */
  readonly capacityRps: number;
  readonly retryAfterS: number;
  readonly outageStartMs: number;
  readonly outageEndMs: number;
  /** How the outage looks to a client: connections refused, or 503 with no Retry-After. */
  readonly outageAnswer: 'refused' | '503';
}

/** Delivery delays are counted in bins of this width. */
const DELAY_BIN_MS = 100;

export class Cloud {
  readonly model: CloudModel;
  /** Requests that reached the cloud (served or not), per second of the run. */
  readonly requests: Int32Array;
  /** Requests refused for overload (503 + Retry-After), per second. */
  readonly overloaded: Int32Array;
  /** Requests that met the outage, per second. */
  readonly down: Int32Array;
  /** Rows enqueued minus rows delivered or abandoned, as a change per second. */
  readonly backlogDelta: Int32Array;
  readonly delays: Float64Array;
  rowsEnqueued = 0;
  rowsDelivered = 0;
  rowsAbandoned = 0;
  /** Rows enqueued before the cloud came back that are not yet delivered or abandoned. */
  oldRowsLeft = 0;
  /** When the last of those was settled (ms), or null while some are left. */
  drainedAtMs: number | null = null;
  readonly #served: Int32Array;
  readonly #seconds: number;

  constructor(model: CloudModel, durationMs: number) {
    this.model = model;
    this.#seconds = Math.ceil(durationMs / 1000);
    this.requests = new Int32Array(this.#seconds);
    this.overloaded = new Int32Array(this.#seconds);
    this.down = new Int32Array(this.#seconds);
    this.backlogDelta = new Int32Array(this.#seconds);
    this.#served = new Int32Array(this.#seconds);
    this.delays = new Float64Array(Math.ceil(durationMs / DELAY_BIN_MS) + 1);
  }

  /** One request at `atMs`: what the cloud answers. */
  request(atMs: number): CloudAnswer {
    const s = this.#second(atMs);
    this.requests[s] = (this.requests[s] as number) + 1;
    if (atMs >= this.model.outageStartMs && atMs < this.model.outageEndMs) {
      this.down[s] = (this.down[s] as number) + 1;
      return 'down';
    }
    if ((this.#served[s] as number) >= this.model.capacityRps) {
      this.overloaded[s] = (this.overloaded[s] as number) + 1;
      return 'overloaded';
    }
    this.#served[s] = (this.#served[s] as number) + 1;
    return 'ok';
  }

  enqueued(atMs: number): void {
    this.rowsEnqueued++;
    if (atMs < this.model.outageEndMs) this.oldRowsLeft++;
    this.#backlog(atMs, 1);
  }

  delivered(createdAtMs: number, atMs: number): void {
    this.rowsDelivered++;
    const bin = Math.min(this.delays.length - 1, Math.floor((atMs - createdAtMs) / DELAY_BIN_MS));
    this.delays[bin] = (this.delays[bin] as number) + 1;
    this.#settled(createdAtMs, atMs);
  }

  abandoned(createdAtMs: number, atMs: number): void {
    this.rowsAbandoned++;
    this.#settled(createdAtMs, atMs);
  }

  /** The delay (s) under which `fraction` of the delivered rows arrived, to the bin's upper edge. */
  delayQuantileS(fraction: number): number {
    const wanted = fraction * this.rowsDelivered;
    let seen = 0;
    for (let i = 0; i < this.delays.length; i++) {
      seen += this.delays[i] as number;
      if (seen >= wanted) return ((i + 1) * DELAY_BIN_MS) / 1000;
    }
    return (this.delays.length * DELAY_BIN_MS) / 1000;
  }

  #settled(createdAtMs: number, atMs: number): void {
    this.#backlog(atMs, -1);
    if (createdAtMs < this.model.outageEndMs) {
      this.oldRowsLeft--;
      if (this.oldRowsLeft === 0 && atMs >= this.model.outageEndMs) this.drainedAtMs = atMs;
    }
  }

  #backlog(atMs: number, delta: number): void {
    const s = this.#second(atMs);
    this.backlogDelta[s] = (this.backlogDelta[s] as number) + delta;
  }

  #second(atMs: number): number {
    return Math.min(this.#seconds - 1, Math.max(0, Math.floor(atMs / 1000)));
  }
}
