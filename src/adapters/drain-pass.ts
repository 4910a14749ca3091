/**
 * One drain pass: what the daemon's `draining` state invokes and `difflore outbox drain` runs once.
 * Owns the order of work (spill replay → expired leases → claim/deliver/settle while rows are due),
 * concurrency (bounded requests in flight, several claims overlapping), cancellation, and applying
 * the policy's verdicts to the store. Every decision comes from src/machines/delivery-policy.ts.
 */
import type { PolicyConfig, Verdict } from '../machines/delivery-policy.js';
import {
  type AttemptResult,
  type BreakerState,
  CLOSED_BREAKER,
  DEFAULT_POLICY,
  breakerAfterAttempt,
  breakerBeginProbe,
  breakerGate,
  judgeAttempt,
  passNextDueAt,
  probeRowLimit,
  retryAt,
  splitFailedBatch,
  tokenMayBeTried,
} from '../machines/delivery-policy.js';
import { type CloudClient, type TransportResult, createCloudClient } from './cloud-client.js';
import { readCloudToken, resolveCloudUrl } from './cloud-config.js';
import { OBSERVATION_BATCH_MAX, type Route, batchIdempotencyKey, idempotencyKey, routeFor } from './cloud-routes.js';
import { databaseError } from './db.js';
import { previousDrainAt, writeDrainState } from './drain-state.js';
import type { HomePaths } from './home.js';
import type { ClaimedRow, Lease, OutboxStore } from './outbox-store.js';
import { type ReplayReport, replaySpill } from './spill.js';

export const DEFAULT_BATCH_SIZE = 64;
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

export interface DrainSummary {
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
}

interface Work {
  readonly row: ClaimedRow;
  /** The row's Idempotency-Key; for batch rows computed only if the row ends up sent alone. */
  key: string | null;
  readonly payload: unknown;
  readonly body: unknown;
}

type Settlement =
  | { readonly kind: 'confirm'; readonly row: ClaimedRow }
  | { readonly kind: 'retry'; readonly row: ClaimedRow; readonly error: string; readonly at: number }
  | { readonly kind: 'abandon'; readonly row: ClaimedRow; readonly error: string }
  | { readonly kind: 'release'; readonly row: ClaimedRow; readonly note?: string };

/** Runs one pass. Throws only when it cannot run: a bad URL (`config`) or an unusable database. */
export async function runDrainPass(options: DrainPassOptions): Promise<DrainSummary> {
  const { store, paths, signal, onProgress } = options;
  const env = options.env ?? process.env;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const config: PolicyConfig = { ...DEFAULT_POLICY, ...options.policy };
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? DEFAULT_BATCH_SIZE));
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const cloudUrl = resolveCloudUrl(env);

  let breaker = options.breaker ?? CLOSED_BREAKER;
  const totals = { attempted: 0, confirmed: 0, retried: 0, abandoned: 0 };
  let releasedTotal = 0;
  let lastError: string | null = null;
  let authProblem: string | null = null;
  /** Set when the pass must stop sending (auth refused, cancelled); claimed rows are then released. */
  let stop: StopReason | null = null;
  /** Set when the row limit is used up: no more claims, but claimed rows are still delivered. */
  let limitReached = false;
  let reachedCloud = false;

  const spill = runSpillReplay(options, env);
  if (spill && onProgress && spill.attempted > 0) onProgress({ type: 'spill', report: spill });
  dbCall(store, () => store.returnExpiredLeases());

  const token = readCloudToken(paths, env);
  if (token.kind !== 'token') {
    authProblem =
      token.kind === 'none'
        ? `no cloud token: set DIFFLORE_CLOUD_TOKEN or write it to ${paths.tokenFile} (mode 600); rows wait until then`
        : token.message;
  } else if (!tokenMayBeTried(breaker, token.fingerprint, now())) {
    authProblem = 'the cloud refused this token (401/403); delivery waits until the token changes';
  }
  if (authProblem !== null) {
    lastError = authProblem;
    onProgress?.({ type: 'waiting_for_auth', reason: authProblem });
    return finish('auth');
  }
  if (token.kind !== 'token') return finish('auth'); // narrowed above; keeps the type checker honest

  if (onProgress) {
    const waiting = options.countWaiting
      ? Math.min(
          limit,
          dbCall(store, () => store.pendingByKind().reduce((n, k) => n + k.count, 0)),
        )
      : null;
    onProgress({ type: 'start', waiting });
  }

  const client = options.client ?? sharedClient(cloudUrl, token.token, options.timeoutMs);
  const secrets = [token.token];
  const slots = new Semaphore(options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
  let claimedTotal = 0;

  const setBreaker = (next: BreakerState): void => {
    if (next === breaker) return;
    const changed = next.state !== breaker.state;
    breaker = next;
    if (changed) onProgress?.({ type: 'breaker', breaker });
  };
  const stopped = (): boolean => stop !== null || signal?.aborted === true;
  const remaining = (): number => limit - claimedTotal;

  const claim = (n: number, kind?: string) => {
    const c = dbCall(store, () => store.claim(n, kind === undefined ? {} : { kind }));
    claimedTotal += c.rows.length;
    return c;
  };

  /**
   * The half-open probe is one request: the oldest due row, and when its kind is batched, as many due
   * rows of that kind as the request carries (the policy's probeRowLimit). A fleet coming back from
   * an outage then costs the cloud one request per daemon, not a probe and then a batch.
   */
  const claimProbe = () => {
    const head = claim(1);
    const first = head.rows[0];
    if (first === undefined || routeFor(first.kind)?.mode !== 'batch') return head;
    const limit = Math.min(probeRowLimit(OBSERVATION_BATCH_MAX), remaining() + 1);
    if (limit <= 1) return head;
    dbCall(store, () => store.release([first.id], head));
    claimedTotal -= 1;
    return claim(limit, first.kind);
  };

  /** Sends one request for `items` (one row, or a batch) and settles them, splitting a failed batch. */
  const send = async (route: Route, items: readonly Work[], out: Settlement[]): Promise<void> => {
    const release = (note?: string): void => {
      for (const w of items)
        out.push(note === undefined ? { kind: 'release', row: w.row } : { kind: 'release', row: w.row, note });
    };
    await slots.acquire();
    let result: TransportResult;
    try {
      if (stopped() || breakerGate(breaker, now()).pass === 'none') {
        release();
        return;
      }
      const batched = route.mode === 'batch';
      const first = items[0] as Work;
      const path = batched ? route.path : (first.body as { path: string }).path;
      const body = batched
        ? JSON.stringify(items.map((w) => w.body))
        : JSON.stringify((first.body as { body: unknown }).body);
      if (items.length === 1 && first.key === null) {
        first.key = idempotencyKey(route.kind, first.row.payloadJson, first.payload);
      }
      const key =
        items.length === 1 && first.key !== null
          ? first.key
          : batchIdempotencyKey(
              route.kind,
              items.map((w) => w.row.payloadJson),
            );
      result = await client.post({ path, body, idempotencyKey: key }, signal);
    } finally {
      slots.release();
    }
    if (result.type === 'aborted') {
      release();
      return;
    }
    reachedCloud = true;
    const attempt: AttemptResult =
      result.type === 'response' && result.status >= 200 && result.status < 300
        ? { ...result, success: route.judge(result.body) }
        : result;
    const at = now();
    const verdict = judgeAttempt(attempt, { label: route.label, secrets, now: at, config });
    setBreaker(
      breakerAfterAttempt(breaker, attempt, verdict, { now: at, tokenFingerprint: token.fingerprint, config, random }),
    );

    if (verdict.action === 'confirm') {
      for (const w of items) out.push({ kind: 'confirm', row: w.row });
      return;
    }
    lastError = verdict.error;
    if (verdict.action === 'auth') {
      stop = 'auth';
      authProblem = `the cloud refused the token: ${verdict.error}; delivery waits until the token changes`;
      onProgress?.({ type: 'waiting_for_auth', reason: authProblem });
      release(verdict.error);
      return;
    }
    // A failed batch may hold one bad row among good ones: split it and resend the halves (no try
    // spent) until the bad row stands alone, so it alone takes the retry or the abandonment. An
    // open breaker ends the search: in an outage every half fails too.
    const middle = stopped() ? null : splitFailedBatch(items.length, breaker, now());
    if (middle !== null) {
      await Promise.all([send(route, items.slice(0, middle), out), send(route, items.slice(middle), out)]);
      return;
    }
    for (const w of items) out.push(settleFailure(verdict, w.row, at));
  };

  const settleFailure = (verdict: Verdict, row: ClaimedRow, at: number): Settlement => {
    if (verdict.action === 'retry') {
      return {
        kind: 'retry',
        row,
        error: verdict.error,
        at: retryAt(at, row.retryCount + 1, verdict.retryAfterMs, random, config),
      };
    }
    if (verdict.action === 'abandon') return { kind: 'abandon', row, error: verdict.error };
    return { kind: 'confirm', row };
  };

  /** Delivers one claimed batch and applies every outcome in one transaction. */
  const deliver = async (lease: Lease, rows: readonly ClaimedRow[]): Promise<void> => {
    const out: Settlement[] = [];
    const batches = new Map<Route, Work[]>();
    const singles: [Route, Work][] = [];
    for (const row of rows) {
      const route = routeFor(row.kind);
      const at = now();
      if (route === undefined) {
        out.push(
          settleFailure(
            judgeAttempt({ type: 'unknown_kind', kind: row.kind }, { label: row.kind, secrets, now: at, config }),
            row,
            at,
          ),
        );
        continue;
      }
      if (route.mode === 'skip') {
        out.push({ kind: 'confirm', row });
        continue;
      }
      let payload: unknown;
      try {
        payload = JSON.parse(row.payloadJson);
      } catch (error) {
        const verdict = judgeAttempt(
          { type: 'invalid', reason: `${row.kind}: not JSON (${(error as Error).message})` },
          { label: route.label, secrets, now: at, config },
        );
        out.push(settleFailure(verdict, row, at));
        continue;
      }
      const shaped = route.shape(payload);
      if (!shaped.ok) {
        out.push(
          settleFailure(
            judgeAttempt({ type: 'invalid', reason: shaped.reason }, { label: route.label, secrets, now: at, config }),
            row,
            at,
          ),
        );
        continue;
      }
      if (route.mode === 'batch') {
        const list = batches.get(route) ?? [];
        list.push({ row, key: null, payload, body: shaped.body });
        batches.set(route, list);
      } else {
        const key = idempotencyKey(row.kind, row.payloadJson, payload);
        singles.push([route, { row, key, payload, body: { path: shaped.path, body: shaped.body } }]);
      }
    }
    const requests: Promise<void>[] = [];
    for (const [route, list] of batches) {
      for (let i = 0; i < list.length; i += OBSERVATION_BATCH_MAX) {
        requests.push(send(route, list.slice(i, i + OBSERVATION_BATCH_MAX), out));
      }
    }
    for (const [route, work] of singles) requests.push(send(route, [work], out));
    await Promise.all(requests);
    applySettlements(lease, out);
  };

  const applySettlements = (lease: Lease, out: readonly Settlement[]): void => {
    const released: number[] = [];
    let note: string | undefined;
    dbCall(store, () =>
      store.db.transaction(() => {
        for (const s of out) {
          switch (s.kind) {
            case 'confirm':
              if (store.confirm(s.row.id, lease)) totals.confirmed++;
              break;
            case 'retry': {
              const outcome = store.fail(s.row.id, lease, s.error, s.at);
              if (outcome.kind === 'abandoned') totals.abandoned++;
              else if (outcome.kind === 'retrying') totals.retried++;
              break;
            }
            case 'abandon':
              if (store.abandon(s.row.id, lease, s.error)) totals.abandoned++;
              break;
            case 'release':
              released.push(s.row.id);
              note ??= s.note;
              break;
          }
        }
        if (released.length > 0) store.release(released, lease, note === undefined ? {} : { note });
      })(),
    );
    // A released row was claimed but not tried: it does not count as attempted.
    totals.attempted -= released.length;
    releasedTotal += released.length;
    onProgress?.({ type: 'progress', ...totals });
  };

  /** One claimer: claim a batch, deliver it, repeat while the breaker is closed and rows are due. */
  const worker = async (): Promise<void> => {
    while (!stopped() && breakerGate(breaker, now()).pass === 'all') {
      const n = Math.min(batchSize, remaining());
      if (n <= 0) {
        limitReached = true;
        return;
      }
      const claimed = claim(n);
      if (claimed.rows.length === 0) return;
      totals.attempted += claimed.rows.length;
      await deliver(claimed, claimed.rows);
    }
  };

  while (stop === null) {
    if (signal?.aborted) {
      stop = 'cancelled';
      break;
    }
    const gate = breakerGate(breaker, now());
    if (gate.pass === 'none') {
      stop = 'breaker';
      break;
    }
    if (limitReached || remaining() <= 0) {
      stop = 'limit';
      break;
    }
    if (gate.pass === 'probe') {
      setBreaker(breakerBeginProbe(breaker, now()));
      const probe = claimProbe();
      if (probe.rows.length === 0) {
        stop = 'idle';
        break;
      }
      totals.attempted += probe.rows.length;
      await deliver(probe, probe.rows);
      continue;
    }
    await Promise.all(Array.from({ length: Math.max(1, options.claimConcurrency ?? CLAIM_WORKERS) }, worker));
    if (stop !== null || signal?.aborted) continue;
    if (breakerGate(breaker, now()).pass !== 'all') continue;
    // Rows retried during the pass may already be due again (jitter can be near zero).
    const next = dbCall(store, () => store.nextDueAt());
    if (next === null || next > now()) stop = 'idle';
  }
  if (signal?.aborted) stop = 'cancelled';
  return finish(stop);

  function finish(reason: StopReason): DrainSummary {
    const nextDueAt = passNextDueAt(
      dbCall(store, () => store.nextDueAt()),
      breaker,
      authProblem !== null,
      config,
    );
    const at = now();
    const summary: DrainSummary = {
      ...totals,
      released: releasedTotal,
      waitingForAuth: authProblem !== null,
      cancelled: reason === 'cancelled',
      nextDueAt,
      breaker,
      lastError,
      stoppedBecause: reason,
      authProblem,
      spill,
      cloudUrl,
    };
    writeDrainState(paths, {
      version: 1,
      updatedAtMs: at,
      lastDrainAtMs: reachedCloud ? at : previousDrainAt(paths),
      attempted: totals.attempted,
      confirmed: totals.confirmed,
      lastError,
      retried: totals.retried,
      abandoned: totals.abandoned,
      waitingForAuth: summary.waitingForAuth,
      cancelled: summary.cancelled,
      nextDueAt,
      breaker,
      writer: 'difflore-daemon-ts',
    });
    return summary;
  }
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
    throw databaseError(store.db.name, error);
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
