/**
 * One drain pass: what the daemon's `draining` state invokes and `difflore outbox drain` runs once.
 * Owns the order of work (spill replay → expired leases → claim and deliver while rows are due),
 * concurrency (several claims overlapping), cancellation and the pass's summary. Each claim goes
 * through the pipeline: classify its rows (drain-classify.ts) → plan the requests (drain-plan.ts) →
 * send them, splitting failed batches (drain-send.ts, with the pass's token in drain-auth.ts) →
 * settle every outcome in one transaction (drain-settle.ts, OutboxStore.settle). The pass's shared
 * bookkeeping is drain-ledger.ts; every decision comes from src/machines/delivery-policy.ts.
 */
import {
  type BreakerState,
  CLOSED_BREAKER,
  DEFAULT_POLICY,
  type PolicyConfig,
  breakerBeginProbe,
  passNextDueAt,
  probeRowLimit,
} from '../../machines/delivery-policy.js';
import type { DeliveryObservation } from '../../machines/delivery-summary.js';
import { type CloudClient, createCloudClient } from './cloud-client.js';
import { type TokenResult, type TokenSource, resolveCloudToken } from './cloud-config.js';
import { resolveCloudUrl } from './cloud-url.js';
import { OBSERVATION_BATCH_MAX, routeFor } from './cloud-routes.js';
import { PassAuth, authWait } from './drain-auth.js';
import { type ClassifyContext, type Sendable, classifyRow, isSendable } from './drain-classify.js';
import { PassLedger } from './drain-ledger.js';
import { planRequests } from './drain-plan.js';
import { RequestSender } from './drain-send.js';
import { type Outcome, settlePlan } from './drain-settle.js';
import { writeDrainState } from './drain-state.js';
import { DEFAULT_BATCH_SIZE } from '../../machines/defaults.js';
import { databaseError } from '../outbox/db.js';
import type { HomePaths } from '../home/home.js';
import type { Claim, ClaimedRow, Lease, OutboxStore } from '../outbox/outbox-store.js';
import { type ReplayReport, replaySpill } from '../outbox/spill.js';

export const DEFAULT_MAX_IN_FLIGHT = 8;
/** Claims delivered at the same time: overlapping them hides each batch's slowest request. */
const CLAIM_WORKERS = 4;

export type DrainProgress =
  /**
   * The pass is about to send. `waiting`: sendable rows queued (due now or later), the total for a
   * progress bar; counted only with `countWaiting` (a scan of the queue), null otherwise.
   */
  | { readonly type: 'start'; readonly waiting: number | null }
  | { readonly type: 'spill'; readonly report: ReplayReport }
  /** After each settled batch: running totals. */
  | {
      readonly type: 'progress';
      readonly attempted: number;
      readonly confirmed: number;
      readonly retried: number;
      readonly abandoned: number;
    }
  | { readonly type: 'waiting_for_auth'; readonly reason: string }
  | { readonly type: 'breaker'; readonly breaker: BreakerState };

export interface DrainPassOptions {
  store: OutboxStore;
  paths: HomePaths;
  env?: NodeJS.ProcessEnv;
  /** Abort → in-flight HTTP aborted, claimed rows released without spending a try. */
  signal?: AbortSignal;
  /** Max rows attempted in this pass (undefined = until nothing is due). */
  limit?: number;
  /** Rows claimed per batch (default 64). */
  batchSize?: number;
  onProgress?: (event: DrainProgress) => void;
  /** Carried across passes by the daemon; returned updated in the summary. */
  breaker?: BreakerState;
  now?: () => number;
  // Beyond the daemon's contract: tuning and injection, mostly for tests and benchmarks.
  /** Requests in flight at once (default 8). */
  maxInFlight?: number;
  /** Total time allowed for one request (default 20 s). */
  timeoutMs?: number;
  policy?: Partial<PolicyConfig>;
  /** [0, 1) source for backoff jitter (default Math.random). */
  random?: () => number;
  /** A client to use instead of the shared one for this URL and token. */
  client?: CloudClient;
  /** Spill files replayed per pass (default 256). */
  spillLimit?: number;
  /** Claimed batches in delivery at once (default 4). */
  claimConcurrency?: number;
  /** Count the queue for the `start` event (costs a scan of the pending rows). */
  countWaiting?: boolean;
}

export type StopReason = 'idle' | 'limit' | 'auth' | 'breaker' | 'cancelled';

/**
 * What one pass reports, richer than the daemon machine's `DrainSummary` (machines/daemon.ts), which
 * the composition root derives from it: `outbox drain` prints this one whole.
 */
export interface DrainPassReport {
  attempted: number;
  confirmed: number;
  retried: number;
  abandoned: number;
  /** No token, or 401/403 with the current token. */
  waitingForAuth: boolean;
  cancelled: boolean;
  /**
   * When the next pending row falls due (unix ms), the breaker's reopening included. While waiting
   * for a token: null (no token), or when a refused token may be probed again.
   */
  nextDueAt: number | null;
  breaker: BreakerState;
  lastError: string | null;
  // Ours:
  /** Rows claimed and handed back without spending a try (cancel, token refused, breaker opened). */
  released: number;
  stoppedBecause: StopReason;
  /** Why delivery waits for a token, in words for the user; null when it does not. */
  authProblem: string | null;
  spill: ReplayReport | null;
  /** The API base the pass used. */
  cloudUrl: string;
  /**
   * What the pass learnt of delivery: the verdict on its last settled request (unreachable, failing,
   * auth-rejected, ok), or why it sent nothing (waiting for a token); null when it sent nothing.
   */
  observed: DeliveryObservation | null;
  /** Sendable rows were pending when the pass ended (due now or backing off). */
  rowsWaiting: boolean;
  /** Where the token came from (never the token); null when there was none. */
  tokenSource: TokenSource | null;
  /** The Rust login was refreshed during the pass: by this process (`server`) or another one (`shared`). */
  tokenRefreshed: 'server' | 'shared' | null;
}

/** Runs one pass. Throws only when it cannot run: a bad URL (`config`) or an unusable database. */
export async function runDrainPass(options: DrainPassOptions): Promise<DrainPassReport> {
  const { store, paths, onProgress } = options;
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;
  const config: PolicyConfig = { ...DEFAULT_POLICY, ...options.policy };
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const cloudUrl = resolveCloudUrl(env);
  const ledger = new PassLedger(options.breaker ?? CLOSED_BREAKER, onProgress, options.signal);

  const spill = runSpillReplay(options, env);
  if (spill && onProgress && spill.attempted > 0) onProgress({ type: 'spill', report: spill });
  dbCall(store, () => store.returnExpiredLeases());

  const token = await resolveCloudToken(paths, env);
  const ending: PassEnding = { options, ledger, config, now, spill, cloudUrl, token };
  const wait = authWait(paths, token, ledger.breaker, now());
  if (wait !== null) {
    ledger.observed = wait.observed;
    ledger.waitForAuth(wait.problem);
    return finishPass(ending, 'auth', null);
  }
  if (token.kind !== 'token') return finishPass(ending, 'auth', null); // narrowed above; keeps the type checker honest

  if (onProgress) {
    const waiting = options.countWaiting
      ? Math.min(
          limit,
          dbCall(store, () => store.pendingByKind().reduce((n, k) => n + k.count, 0)),
        )
      : null;
    onProgress({ type: 'start', waiting });
  }

  const auth = new PassAuth(paths, cloudUrl, token.token, token.login);
  const random = options.random ?? Math.random;
  const sender = new RequestSender({
    client: options.client ?? sharedClient(cloudUrl, token.token, options.timeoutMs),
    auth,
    ledger,
    signal: options.signal,
    maxInFlight: options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
    config,
    random,
    now,
  });
  const classify: ClassifyContext = { secrets: auth.secrets, now, config, random };
  return finishPass(ending, await new ClaimLoop(options, ledger, sender, classify, limit).run(), auth);
}

/**
 * Claims and delivers until nothing is due, the row limit is used up, the breaker shuts, the token
 * is refused or the pass is cancelled. While the breaker is closed several claimers overlap; a
 * half-open breaker gets its one probe request.
 */
class ClaimLoop {
  readonly #store: OutboxStore;
  readonly #ledger: PassLedger;
  readonly #sender: RequestSender;
  readonly #classify: ClassifyContext;
  readonly #limit: number;
  readonly #batchSize: number;
  readonly #claimers: number;
  readonly #signal: AbortSignal | undefined;
  readonly #now: () => number;
  /** Rows claimed so far (a probe's first row handed back again is not counted). */
  #claimed = 0;
  /** The row limit is used up: no more claims, but claimed rows are still delivered. */
  #limitReached = false;

  constructor(
    options: DrainPassOptions,
    ledger: PassLedger,
    sender: RequestSender,
    classify: ClassifyContext,
    limit: number,
  ) {
    this.#store = options.store;
    this.#ledger = ledger;
    this.#sender = sender;
    this.#classify = classify;
    this.#limit = limit;
    this.#batchSize = Math.max(1, Math.floor(options.batchSize ?? DEFAULT_BATCH_SIZE));
    this.#claimers = Math.max(1, options.claimConcurrency ?? CLAIM_WORKERS);
    this.#signal = options.signal;
    this.#now = options.now ?? Date.now;
  }

  async run(): Promise<StopReason> {
    const ledger = this.#ledger;
    while (ledger.stop === null) ledger.stop = await this.#round();
    return this.#signal?.aborted ? 'cancelled' : ledger.stop;
  }

  /** One round: a probe, or claimers until the breaker trips or nothing is due; a reason to stop, or null. */
  async #round(): Promise<StopReason | null> {
    const ledger = this.#ledger;
    if (this.#signal?.aborted) return 'cancelled';
    const gate = ledger.gate(this.#now());
    if (gate === 'none') return 'breaker';
    if (this.#limitReached || this.#remaining() <= 0) return 'limit';
    if (gate === 'probe') {
      ledger.setBreaker(breakerBeginProbe(ledger.breaker, this.#now()));
      const probe = this.#claimProbe();
      if (probe.rows.length === 0) return 'idle';
      await this.#deliver(probe);
      return ledger.stop;
    }
    await Promise.all(Array.from({ length: this.#claimers }, () => this.#claimer()));
    if (ledger.stop !== null || this.#signal?.aborted) return ledger.stop;
    if (ledger.gate(this.#now()) !== 'all') return null;
    // Rows retried during the pass may already be due again (jitter can be near zero).
    const next = dbCall(this.#store, () => this.#store.nextDueAt());
    return next === null || next > this.#now() ? 'idle' : null;
  }

  /** One claimer: claim a batch, deliver it, repeat while the breaker is closed and rows are due. */
  async #claimer(): Promise<void> {
    while (!this.#ledger.stopped() && this.#ledger.gate(this.#now()) === 'all') {
      const n = Math.min(this.#batchSize, this.#remaining());
      if (n <= 0) {
        this.#limitReached = true;
        return;
      }
      const claim = this.#claim(n);
      if (claim.rows.length === 0) return;
      await this.#deliver(claim);
    }
  }

  #remaining(): number {
    return this.#limit - this.#claimed;
  }

  #claim(n: number, kind?: string): Claim {
    const store = this.#store;
    const claim = dbCall(store, () => store.claim(n, kind === undefined ? {} : { kind }));
    this.#claimed += claim.rows.length;
    return claim;
  }

  /**
   * The half-open probe is one request: the oldest due row, and when its kind is batched, as many due
   * rows of that kind as the request carries (the policy's probeRowLimit). A fleet coming back from
   * an outage then costs the cloud one request per daemon, not a probe and then a batch.
   */
  #claimProbe(): Claim {
    const head = this.#claim(1);
    const first = head.rows[0];
    if (first === undefined || routeFor(first.kind)?.mode !== 'batch') return head;
    const limit = Math.min(probeRowLimit(OBSERVATION_BATCH_MAX), this.#remaining() + 1);
    if (limit <= 1) return head;
    dbCall(this.#store, () => this.#store.release([first.id], head));
    this.#claimed -= 1;
    return this.#claim(limit, first.kind);
  }

  /** One claim through the pipeline: classify → plan → send → settle in one transaction. */
  async #deliver(claim: Claim): Promise<void> {
    this.#ledger.claimed(claim.rows.length);
    const out: Outcome[] = [];
    const sendable = this.#classifyRows(claim.rows, out);
    await Promise.all(planRequests(sendable).map((request) => this.#sender.send(request, out)));
    this.#settle(claim, out);
  }

  #classifyRows(rows: readonly ClaimedRow[], out: Outcome[]): Sendable[] {
    const sendable: Sendable[] = [];
    for (const row of rows) {
      const classified = classifyRow(row, this.#classify);
      if (isSendable(classified)) sendable.push(classified);
      else out.push(classified);
    }
    return sendable;
  }

  #settle(lease: Lease, out: readonly Outcome[]): void {
    const plan = settlePlan(out);
    const counts = dbCall(this.#store, () => this.#store.settle(lease, plan));
    this.#ledger.settled(counts, plan.release.length);
  }
}

/** What ends a pass: its summary and, with a token, the drain state file. */
interface PassEnding {
  readonly options: DrainPassOptions;
  readonly ledger: PassLedger;
  readonly config: PolicyConfig;
  readonly now: () => number;
  readonly spill: ReplayReport | null;
  readonly cloudUrl: string;
  readonly token: TokenResult;
}

/** The pass's summary; `auth` is null when the pass never had a token to send with. */
function finishPass(ending: PassEnding, reason: StopReason, auth: PassAuth | null): DrainPassReport {
  const { options, ledger, token } = ending;
  const dueAt = dbCall(options.store, () => options.store.nextDueAt());
  const waitingForAuth = ledger.authProblem !== null;
  const nextDueAt = passNextDueAt(dueAt, ledger.breaker, waitingForAuth, ending.config);
  const at = ending.now();
  const tokenSource = token.kind === 'token' ? token.source : null;
  const summary: DrainPassReport = {
    ...ledger.totals,
    released: ledger.released,
    waitingForAuth,
    cancelled: reason === 'cancelled',
    nextDueAt,
    breaker: ledger.breaker,
    lastError: ledger.lastError,
    stoppedBecause: reason,
    authProblem: ledger.authProblem,
    spill: ending.spill,
    cloudUrl: ending.cloudUrl,
    observed: ledger.observed,
    rowsWaiting: dueAt !== null,
    tokenSource,
    tokenRefreshed: auth?.refreshed ?? null,
  };
  // As in Rust: a pass without a token writes no drain state; a pass with one always does, with
  // `lastDrainAtMs` an integer (Rust's doctor reads the file as unreadable otherwise).
  // A token we cannot use (too short, a file others can read, a login we cannot decrypt) is still
  // a login as far as Rust is concerned, so only "no token at all" skips the file.
  if (token.kind === 'none') return summary;
  writeDrainState(options.paths, {
    version: 1,
    updatedAtMs: at,
    lastDrainAtMs: at,
    attempted: Math.max(0, summary.attempted),
    confirmed: Math.max(0, summary.confirmed),
    lastError: summary.lastError,
    retried: summary.retried,
    abandoned: summary.abandoned,
    waitingForAuth,
    cancelled: summary.cancelled,
    nextDueAt,
    breaker: summary.breaker,
    tokenSource,
    writer: 'difflore-daemon-ts',
  });
  return summary;
}

function runSpillReplay(options: DrainPassOptions, env: NodeJS.ProcessEnv): ReplayReport | null {
  try {
    return replaySpill(options.paths, options.store, { limit: options.spillLimit ?? 256, env });
  } catch (error) {
    throw databaseError(options.paths.db, error);
  }
}

/** Store calls throw SQLite errors; the pass reports them as the database being unavailable. */
function dbCall<T>(store: OutboxStore, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw databaseError(store.file, error);
  }
}

// Clients are kept per URL and token so keep-alive connections survive from one pass to the next.
let shared: { key: string; client: CloudClient } | null = null;

function sharedClient(baseUrl: string, token: string, timeoutMs: number | undefined): CloudClient {
  const key = `${baseUrl}\n${token}\n${timeoutMs ?? ''}`;
  if (shared?.key !== key) {
    shared?.client.close();
    shared = {
      key,
      client: createCloudClient(timeoutMs === undefined ? { baseUrl, token } : { baseUrl, token, timeoutMs }),
    };
  }
  return shared.client;
}

/** Closes the shared client's idle connections (at daemon shutdown; optional, they do not hold the process). */
export function closeSharedCloudClient(): void {
  shared?.client.close();
  shared = null;
}
