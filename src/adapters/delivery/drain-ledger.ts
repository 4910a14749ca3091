/**
 * A drain pass's bookkeeping, shared by its steps: the breaker as answers come back, the running
 * totals, what the pass learnt of delivery, its last error, and why it stopped sending. Requests of
 * one pass are in flight at once, so they meet here; every decision on these values is the policy's
 * (src/machines/delivery-policy.ts), the ledger only records them and reports changes as progress.
 */
import {
  type AttemptResult,
  type BreakerState,
  type Gate,
  type PolicyConfig,
  type Verdict,
  breakerAfterAttempt,
  breakerGate,
} from '../../machines/delivery-policy.js';
import { type DeliveryObservation, observeAttempt } from '../../machines/delivery-summary.js';
import type { SettleCounts } from '../outbox/outbox-store.js';
import type { DrainProgress, StopReason } from './drain-pass.js';

/** What the breaker's update after an answer needs besides the answer. */
export interface JudgedContext {
  readonly now: number;
  /** The token the request went out with (a refused one is remembered by fingerprint). */
  readonly tokenFingerprint: string;
  readonly config: PolicyConfig;
  readonly random: () => number;
}

export class PassLedger {
  #breaker: BreakerState;
  /** Running totals; `attempted` goes up at each claim and down by the rows handed back untried. */
  readonly totals = { attempted: 0, confirmed: 0, retried: 0, abandoned: 0 };
  /** Rows claimed and handed back without spending a try. */
  released = 0;
  lastError: string | null = null;
  /** Why delivery waits for a token, in words for the user; null when it does not. */
  authProblem: string | null = null;
  observed: DeliveryObservation | null = null;
  /** Set when the pass must stop sending (token refused, cancelled, …); claimed rows are then released. */
  stop: StopReason | null = null;
  readonly #onProgress: ((event: DrainProgress) => void) | undefined;
  readonly #signal: AbortSignal | undefined;

  constructor(breaker: BreakerState, onProgress?: (event: DrainProgress) => void, signal?: AbortSignal) {
    this.#breaker = breaker;
    this.#onProgress = onProgress;
    this.#signal = signal;
  }

  get breaker(): BreakerState {
    return this.#breaker;
  }

  /** Replaces the breaker; a change of state (closed, open, half-open) is reported. */
  setBreaker(next: BreakerState): void {
    if (next === this.#breaker) return;
    const changed = next.state !== this.#breaker.state;
    this.#breaker = next;
    if (changed) this.#onProgress?.({ type: 'breaker', breaker: next });
  }

  /** What the breaker lets through at `now`: everything, one probe, or nothing. */
  gate(now: number): Gate['pass'] {
    return breakerGate(this.#breaker, now).pass;
  }

  /** The breaker lets nothing through at `now`. */
  shut(now: number): boolean {
    return this.gate(now) === 'none';
  }

  /** The pass stopped sending, or was cancelled. */
  stopped(): boolean {
    return this.stop !== null || this.#signal?.aborted === true;
  }

  /** Records one judged answer: the breaker moves, the observation and the last error follow. */
  judged(attempt: AttemptResult, verdict: Verdict, context: JudgedContext): void {
    this.setBreaker(breakerAfterAttempt(this.#breaker, attempt, verdict, context));
    this.observed = observeAttempt(attempt, verdict) ?? this.observed;
    if (verdict.action !== 'confirm') this.lastError = verdict.error;
  }

  /** Delivery waits for a token: the pass's last error is what the user must do. */
  waitForAuth(problem: string): void {
    this.authProblem = problem;
    this.lastError = problem;
    this.#onProgress?.({ type: 'waiting_for_auth', reason: problem });
  }

  /** The token was refused mid-pass: nothing more is sent. */
  refused(problem: string): void {
    this.stop = 'auth';
    this.waitForAuth(problem);
  }

  /** Rows claimed for delivery count as attempted until they are handed back untried. */
  claimed(rows: number): void {
    this.totals.attempted += rows;
  }

  /** A claim's outcomes were applied; `released` rows were claimed but not tried, so not attempted. */
  settled(counts: SettleCounts, released: number): void {
    this.totals.confirmed += counts.confirmed;
    this.totals.retried += counts.retried;
    this.totals.abandoned += counts.abandoned;
    this.totals.attempted -= released;
    this.released += released;
    this.#onProgress?.({ type: 'progress', ...this.totals });
  }
}
