/**
 * Our daemons in the fleet simulation. Every decision is the real code's: the gate, the probe, the
 * verdict on each answer, the breaker, the retry time and the try budget from
 * src/machines/delivery-policy.ts, the pass's sleep from the daemon machine's `nextTickDeadline`.
 * What is modelled here is only the mechanics the drain pass performs with them: claim due rows
 * oldest due first (src/adapters/delivery/drain-pass.ts), send and split a failed batch
 * (drain-send.ts), settle (drain-settle.ts), loop while work is due.
 *
 * Simplifications: answers come back at once (a pass takes no simulated time), every row is an
 * `observation` (the hook's kind, batched up to OBSERVATION_BATCH_MAX per POST), the token is good.
 * Idle ticks that cannot send (nothing due, or the breaker shut) are skipped: they change nothing.
 */
import { OBSERVATION_BATCH_MAX } from '../src/adapters/delivery/cloud-routes.js';
import { DAEMON_DEFAULTS, nextTickDeadline } from '../src/machines/daemon.js';
import {
  type AttemptResult,
  type BreakerState,
  CLOSED_BREAKER,
  DEFAULT_POLICY,
  MAX_TRIES,
  type PolicyConfig,
  breakerAfterAttempt,
  breakerBeginProbe,
  breakerGate,
  judgeAttempt,
  passNextDueAt,
  probeRowLimit,
  retryAt,
  splitFailedBatch,
} from '../src/machines/delivery-policy.js';
import type { Cloud, CloudAnswer } from './cloud.js';
import type { FleetPolicy } from './fleet.js';

interface Row {
  readonly createdAt: number;
  tries: number;
  dueAt: number;
}

const LABEL = 'post_observations';

/** What the cloud's answer looks like to the daemon's client. */
export function attemptFor(answer: CloudAnswer, cloud: Cloud, rows: number): AttemptResult {
  switch (answer) {
    case 'ok':
      return {
        type: 'response',
        status: 200,
        body: `{"received":${rows},"deduped":0}`,
        retryAfter: null,
        success: { kind: 'accepted' },
      };
    case 'overloaded':
      return { type: 'response', status: 503, body: '', retryAfter: String(cloud.model.retryAfterS) };
    case 'down':
      return cloud.model.outageAnswer === 'refused'
        ? { type: 'network', message: 'connect ECONNREFUSED' }
        : { type: 'response', status: 503, body: '', retryAfter: null };
  }
}

export class OurFleet implements FleetPolicy {
  readonly wakeAt: Float64Array;
  readonly #rows: Row[][];
  readonly #breakers: BreakerState[];
  readonly #cloud: Cloud;
  readonly #random: () => number;
  readonly #config: PolicyConfig;

  constructor(daemons: number, cloud: Cloud, random: () => number, config: PolicyConfig = DEFAULT_POLICY) {
    this.wakeAt = new Float64Array(daemons).fill(Number.POSITIVE_INFINITY);
    this.#rows = Array.from({ length: daemons }, () => []);
    this.#breakers = new Array<BreakerState>(daemons).fill(CLOSED_BREAKER);
    this.#cloud = cloud;
    this.#random = random;
    this.#config = config;
  }

  /** A row committed: the wake watcher starts a pass at once. */
  arrive(daemon: number, at: number): void {
    this.#rows[daemon]?.push({ createdAt: at, tries: 0, dueAt: at });
    this.#cloud.enqueued(at);
    this.wake(daemon, at);
  }

  /** One drain pass, then the machine's sleep until the first pass that can send. */
  wake(daemon: number, at: number): void {
    const rows = this.#rows[daemon] as Row[];
    let breaker = this.#breakers[daemon] as BreakerState;
    for (;;) {
      const gate = breakerGate(breaker, at);
      if (gate.pass === 'none') break;
      if (gate.pass === 'probe') {
        breaker = breakerBeginProbe(breaker, at);
        const probe = takeDue(rows, at, probeRowLimit(OBSERVATION_BATCH_MAX));
        if (probe.length === 0) break;
        breaker = this.#send(rows, probe, at, breaker);
        continue;
      }
      while (breakerGate(breaker, at).pass === 'all') {
        const batch = takeDue(rows, at, Math.min(DAEMON_DEFAULTS.batchSize, OBSERVATION_BATCH_MAX));
        if (batch.length === 0) break;
        breaker = this.#send(rows, batch, at, breaker);
      }
      if (breakerGate(breaker, at).pass !== 'all') continue;
      if (!rows.some((r) => r.dueAt <= at)) break;
    }
    this.#breakers[daemon] = breaker;
    const next = passNextDueAt(earliestDue(rows), breaker, false, this.#config);
    this.wakeAt[daemon] = next === null ? Number.POSITIVE_INFINITY : firstPassAt(at, next);
  }

  /** One request for `batch`; a failed batch is split while the breaker allows, as the drain pass does. */
  #send(rows: Row[], batch: Row[], at: number, breaker: BreakerState): BreakerState {
    if (breakerGate(breaker, at).pass === 'none') {
      rows.push(...batch); // claimed but not sent: released without spending a try
      return breaker;
    }
    const attempt = attemptFor(this.#cloud.request(at), this.#cloud, batch.length);
    const verdict = judgeAttempt(attempt, { label: LABEL, secrets: [], now: at, config: this.#config });
    let next = breakerAfterAttempt(breaker, attempt, verdict, {
      now: at,
      tokenFingerprint: 'fleet',
      config: this.#config,
      random: this.#random,
    });
    if (verdict.action === 'confirm') {
      for (const row of batch) this.#cloud.delivered(row.createdAt, at);
      return next;
    }
    const middle = splitFailedBatch(batch.length, next, at);
    if (middle !== null) {
      next = this.#send(rows, batch.slice(0, middle), at, next);
      return this.#send(rows, batch.slice(middle), at, next);
    }
    for (const row of batch) {
      if (verdict.action === 'auth') {
        rows.push(row); // no try spent: the rows wait for a token
        continue;
      }
      row.tries++;
      if (verdict.action === 'abandon' || row.tries >= MAX_TRIES) {
        this.#cloud.abandoned(row.createdAt, at);
        continue;
      }
      row.dueAt = retryAt(at, row.tries, verdict.retryAfterMs, this.#random, this.#config);
      rows.push(row);
    }
    return next;
  }
}

/** Claims up to `limit` due rows, oldest due first (the store's ORDER BY due, id). */
function takeDue(rows: Row[], at: number, limit: number): Row[] {
  rows.sort((a, b) => a.dueAt - b.dueAt || a.createdAt - b.createdAt);
  let n = 0;
  while (n < rows.length && n < limit && (rows[n] as Row).dueAt <= at) n++;
  return rows.splice(0, n);
}

function earliestDue(rows: readonly Row[]): number | null {
  let due = Number.POSITIVE_INFINITY;
  for (const row of rows) if (row.dueAt < due) due = row.dueAt;
  return rows.length === 0 ? null : due;
}

/**
 * The first tick at which a pass can send: the daemon re-arms its tick after every pass with
 * `nextTickDeadline`, and idle passes in between change nothing, so follow the chain to `dueAt`.
 */
export function firstPassAt(finishedAt: number, dueAt: number): number {
  let at = finishedAt;
  for (;;) {
    const deadline = nextTickDeadline(at, dueAt, DAEMON_DEFAULTS);
    if (deadline >= dueAt) return deadline;
    at = deadline;
  }
}
