/**
 * Sending, the third step of the drain pipeline (classify → plan → send → settle): one planned
 * request on the wire with a bounded number in flight, its answer judged by the policy, and an
 * outcome for each of its rows. A failed batch is split and both halves resent (no try spent) until
 * the bad row stands alone; a 401 to a Rust login refreshes the token once and resends (PassAuth); a
 * refused token, a cancelled pass or a shut breaker hands the rows back unsent.
 */
import {
  type AttemptResult,
  type PolicyConfig,
  type Verdict,
  judgeAttempt,
  splitFailedBatch,
} from '../../machines/delivery-policy.js';
import type { CloudClient } from './cloud-client.js';
import { tokenFingerprint } from './cloud-config.js';
import type { PassAuth } from './drain-auth.js';
import type { PassLedger } from './drain-ledger.js';
import { type PlannedRequest, splitRequest, wireRequest } from './drain-plan.js';
import { type Outcome, outcomeOfFailure } from './drain-settle.js';

export interface SenderOptions {
  readonly client: CloudClient;
  readonly auth: PassAuth;
  readonly ledger: PassLedger;
  /** Abort → the request in flight is aborted and its rows handed back. */
  readonly signal?: AbortSignal | undefined;
  /** Requests in flight at once. */
  readonly maxInFlight: number;
  readonly config: PolicyConfig;
  readonly random: () => number;
  readonly now: () => number;
}

/** The policy's verdict on a request that was sent, when its answer came, and where to split it. */
interface Judged {
  readonly verdict: Verdict;
  readonly at: number;
  /** Where to split the failed request to resend its halves; null to settle its rows with the verdict. */
  readonly middle: number | null;
}

export class RequestSender {
  readonly #options: SenderOptions;
  readonly #slots: Semaphore;

  constructor(options: SenderOptions) {
    this.#options = options;
    this.#slots = new Semaphore(options.maxInFlight);
  }

  /** Sends `request` and appends an outcome for each of its rows to `out`, splitting a failed batch. */
  async send(request: PlannedRequest, out: Outcome[]): Promise<void> {
    const judged = await this.#attempt(request);
    if (judged === null) return release(request, out);
    const { verdict, at, middle } = judged;
    if (verdict.action === 'confirm') {
      for (const w of request.items) out.push({ kind: 'confirm', row: w.row });
      return;
    }
    if (verdict.action === 'auth') return release(request, out, verdict.error);
    if (middle !== null) {
      await Promise.all(splitRequest(request, middle).map((half) => this.send(half, out)));
      return;
    }
    for (const w of request.items) out.push(outcomeOfFailure(verdict, w.row, at, this.#options));
  }

  /**
   * Puts the request on the wire, unless the pass stopped or the breaker shut, and records the
   * verdict on its answer (a refused token stops the pass); null when it was not sent (or cancelled in
   * flight). The verdict reaches the ledger, and the split is decided, in the same tick the slot is
   * freed: a request waiting for the slot sees the breaker and the stop this answer left.
   */
  async #attempt(request: PlannedRequest): Promise<Judged | null> {
    const { ledger, auth, client, signal, now, config } = this.#options;
    await this.#slots.acquire();
    let sent: Awaited<ReturnType<PassAuth['post']>>;
    try {
      if (ledger.stopped() || ledger.shut(now())) return null;
      const wire = wireRequest(request);
      sent = await auth.post((token) => client.post({ ...wire, token }, signal), signal);
    } finally {
      this.#slots.release();
    }
    const { result, bearer } = sent;
    if (result.type === 'aborted') return null;
    const attempt: AttemptResult =
      result.type === 'response' && result.status >= 200 && result.status < 300
        ? { ...result, success: request.route.judge(result.body) }
        : result;
    const at = now();
    const verdict = judgeAttempt(attempt, { label: request.route.label, secrets: auth.secrets, now: at, config });
    ledger.judged(attempt, verdict, {
      now: at,
      tokenFingerprint: tokenFingerprint(bearer),
      config,
      random: this.#options.random,
    });
    if (verdict.action === 'auth') ledger.refused(auth.refusedProblem(verdict.error));
    if (verdict.action === 'confirm' || verdict.action === 'auth' || ledger.stopped()) {
      return { verdict, at, middle: null };
    }
    // A failed batch may hold one bad row among good ones: split it and resend the halves (no try
    // spent) until the bad row stands alone, so it alone takes the retry or the abandonment. An
    // open breaker ends the search: in an outage every half fails too.
    return { verdict, at, middle: splitFailedBatch(request.items.length, ledger.breaker, now()) };
  }
}

/** Hands the request's rows back unsent (no try spent); `note` becomes their last error. */
function release(request: PlannedRequest, out: Outcome[], note?: string): void {
  for (const w of request.items) {
    out.push(note === undefined ? { kind: 'release', row: w.row } : { kind: 'release', row: w.row, note });
  }
}

/** A counting semaphore: at most `size` holders at once, waiters served in order. */
class Semaphore {
  #free: number;
  readonly #waiters: (() => void)[] = [];
  constructor(size: number) {
    this.#free = Math.max(1, Math.floor(size));
  }
  acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#free++;
  }
}
