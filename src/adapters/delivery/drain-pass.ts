/**
 * One drain pass: what the daemon's `draining` state invokes and `difflore outbox drain` runs once.
 * Owns the order of work (spill replay → expired leases → claim/deliver/settle while rows are due),
 * concurrency (bounded requests in flight, several claims overlapping), cancellation, and applying
 * the policy's verdicts to the store. Every decision comes from src/machines/delivery-policy.ts.
 */
import type { PolicyConfig, Verdict } from '../../machines/delivery-policy.js';
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
} from '../../machines/delivery-policy.js';
import { type DeliveryObservation, observeAttempt } from '../../machines/delivery-summary.js';
import { type CloudClient, type TransportResult, createCloudClient } from './cloud-client.js';
import { refreshFailureFor, rememberRefreshFailure } from '../auth/login-memory.js';
import { refreshLogin } from '../auth/login-refresh.js';
import {
  noTokenAdvice,
  type OpenRustLogin,
  resolveCloudToken,
  resolveCloudUrl,
  type TokenSource,
  tokenFingerprint,
} from './cloud-config.js';
import { stringifyJson } from '../../machines/contracts/index.js';
import {
  OBSERVATION_BATCH_MAX,
  type Route,
  batchIdempotencyKey,
  idempotencyKey,
  routeFor,
  shapeRow,
} from './cloud-routes.js';
import { databaseError } from '../outbox/db.js';
import { writeDrainState } from './drain-state.js';
import { DEFAULT_BATCH_SIZE } from '../../machines/defaults.js';
import type { HomePaths } from '../home/home.js';
import type { ClaimedRow, Lease, OutboxStore } from '../outbox/outbox-store.js';
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

interface Work {
  readonly row: ClaimedRow;
  /** The row's Idempotency-Key; for batch rows computed only if the row ends up sent alone. */
  key: string | null;
  /** The request path (a batch uses its route's). */
  readonly path: string;
  /** The body as sent, exactly as Rust would (one element of the array, for a batch row). */
  readonly text: string;
}

type Settlement =
  | { readonly kind: 'confirm'; readonly row: ClaimedRow }
  | { readonly kind: 'retry'; readonly row: ClaimedRow; readonly error: string; readonly at: number }
  | { readonly kind: 'abandon'; readonly row: ClaimedRow; readonly error: string }
  | { readonly kind: 'release'; readonly row: ClaimedRow; readonly note?: string };

/** Runs one pass. Throws only when it cannot run: a bad URL (`config`) or an unusable database. */
export async function runDrainPass(options: DrainPassOptions): Promise<DrainPassReport> {
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
  let observed: DeliveryObservation | null = null;
  /** Set when the pass must stop sending (auth refused, cancelled); claimed rows are then released. */
  let stop: StopReason | null = null;
  /** Set when the row limit is used up: no more claims, but claimed rows are still delivered. */
  let limitReached = false;
  let tokenRefreshed: DrainPassReport['tokenRefreshed'] = null;
  const refreshFailedProblem = (refusal: string, failure: string): string =>
    `the cloud refused the token (${refusal}) and refreshing the Rust login failed (${failure}); rows wait without spending tries: ${noTokenAdvice(paths)}`;

  const spill = runSpillReplay(options, env);
  if (spill && onProgress && spill.attempted > 0) onProgress({ type: 'spill', report: spill });
  dbCall(store, () => store.returnExpiredLeases());

  const token = await resolveCloudToken(paths, env);
  const tokenSource = token.kind === 'token' ? token.source : null;
  if (token.kind !== 'token') {
    authProblem =
      token.kind === 'none' ? `no cloud token: ${noTokenAdvice(paths)}; rows wait until then` : token.message;
    observed = { outcome: 'waiting-for-token', errorCode: token.kind === 'none' ? 'no_token' : 'token_unusable' };
  } else if (!tokenMayBeTried(breaker, token.fingerprint, now())) {
    const failed = refreshFailureFor(token.fingerprint);
    authProblem =
      failed === null
        ? `the cloud refused this token (401/403); delivery waits until the token changes: ${noTokenAdvice(paths)}`
        : refreshFailedProblem('401 Unauthorized', failed);
    observed = { outcome: 'auth-rejected', errorCode: 'token_refused' };
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
  const secrets = [token.token, ...(token.login?.refreshToken ? [token.login.refreshToken] : [])];
  /** The token requests go out with: the Rust login's, replaced when a 401 makes us refresh it. */
  const auth: { token: string; login: OpenRustLogin | undefined; refreshFailure: string | null } = {
    token: token.token,
    login: token.login,
    refreshFailure: null,
  };

  /** A token to resend with after `used` got a 401: a refreshed Rust login, or null (no login, refresh failed). */
  const replacementFor = async (used: string): Promise<string | null> => {
    if (auth.token !== used) return auth.token; // another request of this pass already refreshed
    if (auth.login === undefined || auth.refreshFailure !== null) return null;
    const outcome = await refreshLogin(paths.home, cloudUrl, { ...auth.login, token: used });
    if (outcome.kind === 'failed') {
      auth.refreshFailure = outcome.reason;
      rememberRefreshFailure(tokenFingerprint(used), outcome.reason);
      return null;
    }
    secrets.push(outcome.token, ...(outcome.refreshToken === null ? [] : [outcome.refreshToken]));
    if (auth.token === used) {
      auth.token = outcome.token;
      auth.login = { ...auth.login, token: outcome.token, refreshToken: outcome.refreshToken };
      tokenRefreshed = outcome.by;
    }
    return auth.token;
  };

  /** Sends with the pass's token; a 401 to a Rust login refreshes it (one refresh for all) and resends once. */
  const postAuthorized = async (
    post: (bearer: string) => Promise<TransportResult>,
  ): Promise<{ result: TransportResult; bearer: string }> => {
    const used = auth.token;
    const first = await post(used);
    if (first.type !== 'response' || first.status !== 401) return { result: first, bearer: used };
    const next = await replacementFor(used);
    if (next === null || signal?.aborted) return { result: first, bearer: used };
    return { result: await post(next), bearer: next };
  };
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
    let bearer = auth.token;
    try {
      if (stopped() || breakerGate(breaker, now()).pass === 'none') {
        release();
        return;
      }
      const batched = route.mode === 'batch';
      const first = items[0] as Work;
      const path = batched ? route.route : first.path;
      // Serialised per row in `prepare`, where a failure settles that row alone.
      const body = batched ? `[${items.map((w) => w.text).join(',')}]` : first.text;
      if (items.length === 1 && first.key === null) {
        first.key = idempotencyKey(route.kind, first.row.payloadJson);
      }
      const key =
        items.length === 1 && first.key !== null
          ? first.key
          : batchIdempotencyKey(
              route.kind,
              items.map((w) => w.row.payloadJson),
            );
      ({ result, bearer } = await postAuthorized((t) =>
        client.post({ path, body, idempotencyKey: key, token: t }, signal),
      ));
    } finally {
      slots.release();
    }
    if (result.type === 'aborted') {
      release();
      return;
    }
    const attempt: AttemptResult =
      result.type === 'response' && result.status >= 200 && result.status < 300
        ? { ...result, success: route.judge(result.body) }
        : result;
    const at = now();
    const verdict = judgeAttempt(attempt, { label: route.label, secrets, now: at, config });
    setBreaker(
      breakerAfterAttempt(breaker, attempt, verdict, {
        now: at,
        tokenFingerprint: tokenFingerprint(bearer),
        config,
        random,
      }),
    );
    observed = observeAttempt(attempt, verdict) ?? observed;

    if (verdict.action === 'confirm') {
      for (const w of items) out.push({ kind: 'confirm', row: w.row });
      return;
    }
    lastError = verdict.error;
    if (verdict.action === 'auth') {
      stop = 'auth';
      authProblem =
        auth.refreshFailure === null
          ? `the cloud refused the token: ${verdict.error}; delivery waits until the token changes: ${noTokenAdvice(paths)}`
          : refreshFailedProblem(verdict.error, auth.refreshFailure);
      // The pass's last error is what the user must do, as when a pass starts already waiting for auth.
      lastError = authProblem;
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

  /** What a claimed row becomes before sending: a request to make, or already settled. */
  type Prepared = Settlement | { readonly route: Route; readonly work: Work };

  /**
   * Reads one row by its kind's payload contract and serialises the body Rust would send; may
   * throw, and the caller settles the row alone then.
   */
  const prepare = (row: ClaimedRow): Prepared => {
    const route = routeFor(row.kind);
    // A kind a newer version knows (claims leave such rows alone; this covers a race): hand it back
    // untouched, neither sent nor abandoned.
    if (route === undefined) return { kind: 'release', row };
    if (route.mode === 'skip') return { kind: 'confirm', row };
    // A row Rust could never parse is abandoned at once with the reason (Rust spends 8 tries on it).
    const shaped = shapeRow(route, row.payloadJson);
    if (!shaped.ok) {
      const at = now();
      return settleFailure(
        judgeAttempt({ type: 'invalid', reason: shaped.reason }, { label: route.label, secrets, now: at, config }),
        row,
        at,
      );
    }
    const text = stringifyJson(shaped.body);
    const key = route.mode === 'batch' ? null : idempotencyKey(row.kind, row.payloadJson);
    return { route, work: { row, key, path: shaped.path, text } };
  };

  /** Delivers one claimed batch and applies every outcome in one transaction. */
  const deliver = async (lease: Lease, rows: readonly ClaimedRow[]): Promise<void> => {
    const out: Settlement[] = [];
    const batches = new Map<Route, Work[]>();
    const singles: [Route, Work][] = [];
    for (const row of rows) {
      // One row's failure to parse, shape, serialise or hash (a payload nested deeper than the stack,
      // say) settles that row alone, with the reason; the rest of the batch and the pass go on.
      let prepared: Prepared;
      try {
        prepared = prepare(row);
      } catch (error) {
        const at = now();
        const reason = `${row.kind}: cannot prepare the request (${(error as Error).message ?? String(error)})`;
        prepared = settleFailure(
          judgeAttempt({ type: 'invalid', reason }, { label: row.kind, secrets, now: at, config }),
          row,
          at,
        );
      }
      if ('kind' in prepared) out.push(prepared);
      else if (prepared.route.mode === 'batch') {
        const list = batches.get(prepared.route) ?? [];
        list.push(prepared.work);
        batches.set(prepared.route, list);
      } else singles.push([prepared.route, prepared.work]);
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

  function finish(reason: StopReason): DrainPassReport {
    const dueAt = dbCall(store, () => store.nextDueAt());
    const rowsWaiting = dueAt !== null;
    const nextDueAt = passNextDueAt(dueAt, breaker, authProblem !== null, config);
    const at = now();
    const summary: DrainPassReport = {
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
      observed,
      rowsWaiting,
      tokenSource,
      tokenRefreshed,
    };
    // As in Rust: a pass without a token writes no drain state; a pass with one always does, with
    // `lastDrainAtMs` an integer (Rust's doctor reads the file as unreadable otherwise).
    // A token we cannot use (too short, a file others can read, a login we cannot decrypt) is still
    // a login as far as Rust is concerned, so only "no token at all" skips the file.
    if (token.kind === 'none') return summary;
    writeDrainState(paths, {
      version: 1,
      updatedAtMs: at,
      lastDrainAtMs: at,
      attempted: Math.max(0, totals.attempted),
      confirmed: Math.max(0, totals.confirmed),
      lastError,
      retried: totals.retried,
      abandoned: totals.abandoned,
      waitingForAuth: summary.waitingForAuth,
      cancelled: summary.cancelled,
      nextDueAt,
      breaker,
      tokenSource,
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
