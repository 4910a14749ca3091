/**
 * The daemon's lifecycle as a statechart (DESIGN §3.1, §4). This module owns the policy — when to claim,
 * when to drain, how long to sleep, what a STOP does mid-pass, which exit code a run ends with — and
 * names every effect; it performs none. The composition root gives the real effects with `.provide()`
 * (or `provideDaemon(ports)`), tests give fakes the same way.
 *
 *   claiming ──stale──▶ reclaimingStale ──claimed──▶ serving { draining ⇄ running } ──STOP──▶ stopping ──▶ stopped
 *
 * States
 * - `claiming`         run `claim`. A STOP here waits for the claim to settle (it is short and holds the
 *                      claim lock), so cleanup never races a half-done claim.
 * - `reclaimingStale`  run `reclaimStale` on the pid file `claim` found stale; retried at most
 *                      MAX_RECLAIMS times if it keeps finding stale files (a third party keeps writing them).
 * - `serving`          we own the home: `wakeWatcher` runs for the whole stay; `daemon start` waits for this.
 *   - `draining`       one `drainPass`. WAKE / RELOAD during a pass are remembered and cause another pass
 *                      right after it (no lost wake-ups). STOP aborts the pass (its AbortSignal fires).
 *   - `running`        idle until the tick (`untilTick`, deadline kept in context), a WAKE or a RELOAD.
 * - `stopping`
 *   - `abortingPass`   only after a STOP mid-pass: wait (at most `abortGraceMs`) for the aborted pass to
 *                      hand its leases back, so the DB is not closed under it.
 *   - `releasing`      `release`: close the DB, release the lifetime lock, remove `daemon.pid` if it still
 *                      holds our pid. Also runs after a failed claim, which may have acquired some of these.
 * - `stopped`          final; output `{ exitCode, reason, detail, conflictPid }` (DAEMON_EXIT_CODES).
 *
 * Events: STOP (SIGTERM/SIGINT), WAKE (a row was committed), WATCHING (the wake watcher runs), RELOAD
 * (SIGHUP). RELOAD means "configuration changed, try now": the token and URL are re-read on every pass
 * anyway, so RELOAD starts a pass at once with `resetBreaker: true`, letting a fixed token or network be
 * tried without waiting out an open breaker. A persisted snapshot (the state file's `snapshot`) is for
 * reading, never restored: a daemon that died is followed by a new run that claims the home afresh.
 *
 * Tags (`DaemonTag`) name what code outside the machine may ask of a snapshot (`hasTag('serving')`).
 *
 * Effects the composition root provides (names are the contract; placeholders reject or do nothing):
 *   actors
 *   - claim:            fromPromise<ClaimResult, void>. Under the claim lock (flock daemon.pid.lock, held only
 *                       for the claim): O_EXCL-create daemon.pid with our pid, flock daemon.lock for life, open
 *                       the DB, record our identity. conflict/stale results must leave nothing acquired;
 *                       rejections (fatal) may leave partial acquisitions — `release` cleans them.
 *   - reclaimStale:     fromPromise<ClaimResult, ReclaimInput>. Under the claim lock, remove daemon.pid only if
 *                       it still names `input.pid` (null: still unparseable) and is still stale, then claim.
 *   - wakeWatcher:      fromCallback, input void; calls sendBack({ type: 'WAKE' }) when any process commits a
 *                       row; returns its cleanup. Runs for the whole of `serving`.
 *   - drainPass:        fromPromise<DrainSummary, DrainPassInput>. One pass (DESIGN §5); keeps going while
 *                       rows are eligible. When `signal` aborts (STOP): stop HTTP, return claimed rows to
 *                       pending without spending a try, then settle. Times in the summary come from the clock.
 *   - awaitAbortedPass: fromPromise<void, void>. Resolves once the aborted pass has settled (the composition
 *                       root tracks the in-flight pass promise). Bounded by `abortGrace`.
 *   - release:          fromPromise<void, ReleaseInput>. Idempotent cleanup, see `releasing`.
 *   actions (effects only; context updates are internal assigns)
 *   - heartbeat:        on every tick; the adapter stamps the time (state file `heartbeatAtMs`).
 *   - recordPass:       params { summary: DrainSummary | null, error: string | null } after every pass.
 *   - reportDelivery:   params { previous, current, authSource } (delivery summaries, where the token
 *                       came from) after every finished pass; both are context (`delivery`, `authSource`),
 *                       so they are journaled and replayed.
 *   - log:              params { level, message } for what an operator should see in logs/daemon.log.
 *   delays
 *   - untilTick:        from context (tickDeadlineAt − clockMs); provide only to change the policy.
 *   - abortGrace:       context.abortGraceMs.
 *
 * The machine never reads the clock: adapters stamp times (DrainSummary.startedAt/finishedAt)
 * and the machine keeps the latest one as `clockMs`. The delivery breaker, the delivery summary
 * (delivery-summary.ts) and the token source are context too: a pass gets the breaker as input and
 * returns it with the source of its token, and the summary follows from each pass's output, so all
 * three are journaled and replayed with the transitions.
 * Sleep = min(idle bound, nextDueAt − now), never below `minSleepMs`; after a failed pass, a full idle
 * bound. The idle bound is `tickMs` until the wake watcher says WATCHING, then `idleMs` (the heartbeat):
 * with commits waking us and `nextDueAt` naming the next retry or lease expiry, an idle daemon has
 * nothing to look at in between.
 */
import { assign, fromCallback, fromPromise, setup } from 'xstate';
import { DEFAULT_BATCH_SIZE } from './defaults.js';
import { type BreakerState, CLOSED_BREAKER } from './delivery-policy.js';
import { type DeliveryOutcome, type DeliverySummary, INITIAL_DELIVERY, nextDelivery } from './delivery-summary.js';
import { errorMessage, type LogParams, type ProcessIdentity } from './types.js';

export type { LogParams } from './types.js';

/** How often `reclaimStale` may find yet another stale pid file before the daemon gives up. */
export const MAX_RECLAIMS = 3;

export interface DaemonInput {
  /** Longest idle sleep between passes where no wake watch runs (the fallback tick). */
  readonly tickMs?: number;
  /**
   * Longest idle sleep while the wake watcher runs (after WATCHING): commits wake the daemon, due
   * retries and lease expiries come from the pass (`nextDueAt`), so this is only the heartbeat.
   * Default: tickMs (no change from the tick).
   */
  readonly idleMs?: number;
  /** Rows claimed per batch. */
  readonly batchSize?: number;
  /** Shortest sleep between passes, so a clock or a drainer that misreports nextDueAt cannot spin. */
  readonly minSleepMs?: number;
  /** How long a STOP waits for an aborted pass to return its leases before cleaning up anyway. */
  readonly abortGraceMs?: number;
}

export const DAEMON_DEFAULTS: Required<Omit<DaemonInput, 'idleMs'>> = {
  tickMs: 5_000,
  batchSize: DEFAULT_BATCH_SIZE,
  minSleepMs: 10,
  abortGraceMs: 5_000,
};

/**
 * Why `claim` judged the pid file stale (DESIGN §4). `invalidPid`: empty, unparseable or pid ≤ 1;
 * `dead`: no such process; `zombie`: exited but not reaped; `identityMismatch`: the pid now belongs to
 * another process than the recorded identity (or to us), or the machine rebooted since.
 */
export type StaleReason = 'dead' | 'zombie' | 'identityMismatch' | 'invalidPid';

export type ClaimResult =
  | { readonly kind: 'claimed'; readonly identity: ProcessIdentity }
  /**
   * A live owner holds the home. `pid` is null when a daemon holds the lifetime lock but no pid file
   * or identity names it; `verified`: its identity matches the recorded one (false for a Rust daemon
   * or any owner without identity).
   */
  | { readonly kind: 'conflict'; readonly pid: number | null; readonly verified: boolean }
  /** `pid` is null when the pid file is garbage (unparseable). */
  | { readonly kind: 'stale'; readonly pid: number | null; readonly reason: StaleReason };

export interface ReclaimInput {
  /** The stale pid `claim` saw; remove daemon.pid only if it still names it (null: still unparseable). */
  readonly pid: number | null;
}

/** Why a pass started; `reload` passes reset the delivery breaker first. */
export type PassTrigger = 'start' | 'tick' | 'wake' | 'reload';

export interface DrainPassInput {
  readonly batchSize: number;
  readonly trigger: PassTrigger;
  readonly resetBreaker: boolean;
  /** The breaker as the last pass left it (closed again after a RELOAD); the pass returns it updated. */
  readonly breaker: BreakerState;
}

export interface DrainSummary {
  readonly attempted: number;
  readonly confirmed: number;
  readonly retried: number;
  readonly abandoned: number;
  readonly waitingForAuth: number;
  /** Rows handed back because the pass was aborted. */
  readonly cancelled: number;
  /** Epoch ms when the earliest waiting row becomes eligible; null when nothing waits. */
  readonly nextDueAt: number | null;
  /** Already redacted and bounded by the drainer; null when the pass had no error. */
  readonly lastError: string | null;
  readonly startedAt: number;
  readonly finishedAt: number;
  /** The breaker after the pass, carried into the next one through the context. */
  readonly breaker: BreakerState;
  /** The last settled request's verdict on delivery, or why none went out; null: nothing was sent. */
  readonly outcome: DeliveryOutcome | null;
  /** An identifier for the cause (`ENOTFOUND`, `http_503`, `no_token`), null when fine. */
  readonly errorCode: string | null;
  /** Sendable rows were pending when the pass ended (due now or backing off). */
  readonly rowsWaiting: boolean;
  /** The API base the pass used (not journaled: replay leaves it as it was). */
  readonly cloudUrl?: string | null;
  /**
   * Where the pass found its cloud token (`env`, `file`, `rust-login:…`), never the token; null or absent:
   * none. Not called `tokenSource`: the recorder redacts every field whose name says token.
   */
  readonly authSource?: string | null;
}

/**
 * What code outside the machine may ask of a daemon snapshot (`snapshot.hasTag(…)`), rather than
 * comparing state names: `claiming` (claiming or reclaimingStale), `serving` (the home is ours and the
 * daemon serves it), `idle` (serving, between passes), `draining` (serving, a pass runs), `stopping`.
 */
export type DaemonTag = 'claiming' | 'serving' | 'idle' | 'draining' | 'stopping';

export type DaemonExitReason = 'stopped' | 'conflict' | 'fatal';

/**
 * Exit codes of `daemon run`: non-zero only when the daemon failed. A conflict is not a failure — a
 * daemon already serves this home, so this one has nothing to do (as `daemon start` says "already
 * running" and exits 0, DESIGN §8). Exiting 1 there would have a service manager that restarts on
 * failure (systemd `Restart=on-failure`, launchd `SuccessfulExit=false`) restart it into the same
 * conflict over and over while, say, a hook-started daemon serves the home.
 */
export const DAEMON_EXIT_CODES: Readonly<Record<DaemonExitReason, number>> = {
  stopped: 0,
  conflict: 0,
  fatal: 1,
};

export interface DaemonOutput {
  readonly exitCode: number;
  readonly reason: DaemonExitReason;
  /** What went wrong, for the log and `daemon status`; null for a clean stop. */
  readonly detail: string | null;
  /** The owner we yielded to (conflict only). */
  readonly conflictPid: number | null;
}

export interface ReleaseInput {
  readonly reason: DaemonExitReason;
}

export type DaemonEvent =
  | { readonly type: 'STOP'; readonly signal?: string }
  | { readonly type: 'WAKE' }
  /** The wake watcher runs: commits wake us, so the idle sleep may be the long heartbeat (idleMs). */
  | { readonly type: 'WATCHING' }
  | { readonly type: 'RELOAD' };

export interface DaemonContext {
  readonly tickMs: number;
  readonly idleMs: number;
  /** The wake watcher confirmed it runs (WATCHING); until then the tick bounds every sleep. */
  watching: boolean;
  readonly batchSize: number;
  readonly minSleepMs: number;
  readonly abortGraceMs: number;
  identity: ProcessIdentity | null;
  /** The stale pid `claim` or the last `reclaimStale` reported. */
  stalePid: number | null;
  reclaims: number;
  /** A STOP arrived while claiming; honoured once the claim settles. */
  stopRequested: boolean;
  /** A WAKE arrived during a pass: run another one right after it. */
  wakePending: boolean;
  /** A RELOAD arrived during a pass: run another one right after it, resetting the breaker. */
  reloadPending: boolean;
  trigger: PassTrigger;
  resetBreaker: boolean;
  /** The latest wall-clock reading an adapter or event handed us (epoch ms); null before the first. */
  clockMs: number | null;
  /** When the idle tick fires (epoch ms). */
  tickDeadlineAt: number | null;
  passes: number;
  lastPass: DrainSummary | null;
  lastError: string | null;
  outcome: DaemonOutput | null;
  /** The delivery breaker, carried from pass to pass (DESIGN §5.2); closed at start and on RELOAD. */
  breaker: BreakerState;
  /** Is data getting out, and if not why (delivery-summary.ts); updated after every pass. */
  delivery: DeliverySummary;
  /** Where the last pass that had a token found it; null until one had. */
  authSource: string | null;
}

export interface RecordPassParams {
  readonly summary: DrainSummary | null;
  readonly error: string | null;
}

/**
 * Params of `reportDelivery`: the summary and the token source before and after a pass, for the
 * adapter to log a change.
 */
export interface DeliveryChange {
  readonly previous: DeliverySummary;
  readonly current: DeliverySummary;
  readonly authSource: { readonly previous: string | null; readonly current: string | null };
}

/** The token source after a pass: a pass that found no token leaves the last one known. */
function authSourceAfter(context: Pick<DaemonContext, 'authSource'>, summary: DrainSummary): string | null {
  return summary.authSource ?? context.authSource;
}

/** The longest idle sleep: the heartbeat while commits wake us, the tick where nothing watches. */
export function idleBoundMs(context: Pick<DaemonContext, 'tickMs' | 'idleMs' | 'watching'>): number {
  return context.watching ? context.idleMs : context.tickMs;
}

/** When the next idle tick is due after a pass that finished at `finishedAt` (pure policy). */
export function nextTickDeadline(
  finishedAt: number,
  nextDueAt: number | null,
  config: { readonly tickMs: number; readonly minSleepMs: number },
): number {
  // `tickMs` here is the idle bound in force (idleBoundMs).
  const byTick = finishedAt + config.tickMs;
  const wanted = nextDueAt === null ? byTick : Math.min(byTick, nextDueAt);
  return Math.max(finishedAt + config.minSleepMs, wanted);
}

/** How long to sleep from the machine's latest clock reading until the tick deadline. */
export function sleepMs(context: Pick<DaemonContext, 'tickMs' | 'clockMs' | 'tickDeadlineAt'>): number {
  if (context.tickDeadlineAt === null || context.clockMs === null) return context.tickMs;
  return Math.max(0, context.tickDeadlineAt - context.clockMs);
}

export function initialDaemonContext(input: DaemonInput | undefined): DaemonContext {
  const config = { ...DAEMON_DEFAULTS, ...input };
  return {
    tickMs: config.tickMs,
    idleMs: input?.idleMs ?? config.tickMs,
    watching: false,
    batchSize: config.batchSize,
    minSleepMs: config.minSleepMs,
    abortGraceMs: config.abortGraceMs,
    identity: null,
    stalePid: null,
    reclaims: 0,
    stopRequested: false,
    wakePending: false,
    reloadPending: false,
    trigger: 'start',
    resetBreaker: false,
    clockMs: null,
    tickDeadlineAt: null,
    passes: 0,
    lastPass: null,
    lastError: null,
    outcome: null,
    breaker: CLOSED_BREAKER,
    delivery: INITIAL_DELIVERY,
    authSource: null,
  };
}

function outcomeOf(reason: DaemonExitReason, detail: string | null, conflictPid: number | null = null): DaemonOutput {
  return { exitCode: DAEMON_EXIT_CODES[reason], reason, detail, conflictPid };
}

function notProvided(name: string): () => Promise<never> {
  return () => Promise.reject(new Error(`daemon effect '${name}' was not provided`));
}

/** Guard params shared by every claim-result guard. */
const claimResult = ({ event }: { event: { output: ClaimResult } }) => ({ result: event.output });
type ClaimParams = { readonly result: ClaimResult };
const passSummary = ({ event }: { event: { output: DrainSummary } }) => ({ summary: event.output });
const failure = ({ event }: { event: { error: unknown } }) => ({ error: event.error });

/**
 * How `claiming` and `reclaimingStale` take a settled claim, up to a stale result (each handles that its
 * own way): claimed → serve, or release at once if a STOP came meanwhile; a live owner → stop and yield;
 * stale with a STOP pending → stop (nothing was acquired, so no cleanup). `said` names what to log.
 */
function onClaimSettled(said: { readonly claimed: string; readonly conflicted: string }) {
  return [
    {
      guard: { type: 'claimedButStopRequested', params: claimResult },
      target: 'stopping',
      actions: [
        { type: 'rememberIdentity', params: claimResult },
        { type: 'conclude', params: { reason: 'stopped', detail: null } },
      ],
    },
    {
      guard: { type: 'claimed', params: claimResult },
      target: 'serving',
      actions: [
        { type: 'rememberIdentity', params: claimResult },
        { type: 'beginPass', params: { trigger: 'start' } },
        { type: 'log', params: { level: 'info', message: said.claimed } },
      ],
    },
    {
      guard: { type: 'conflicted', params: claimResult },
      target: 'stopped',
      actions: [
        { type: 'concludeConflict', params: claimResult },
        { type: 'log', params: { level: 'warn', message: said.conflicted } },
      ],
    },
    {
      guard: { type: 'staleButStopRequested', params: claimResult },
      target: 'stopped',
      actions: { type: 'conclude', params: { reason: 'stopped', detail: null } },
    },
  ] as const;
}

/** A claim or reclaim that rejects may have acquired something: conclude fatal and release what is ours. */
function onClaimFailed(message: string) {
  return {
    target: 'stopping',
    actions: [
      { type: 'concludeFatal', params: failure },
      { type: 'log', params: { level: 'error', message } },
    ],
  } as const;
}

/** After every pass, failed or not: update the context, then let the adapter record it. */
const notePassDone = [
  {
    type: 'reportDelivery',
    params: ({ context, event }: { context: DaemonContext; event: { output: DrainSummary } }) => ({
      previous: context.delivery,
      current: nextDelivery(context.delivery, event.output),
      authSource: { previous: context.authSource, current: authSourceAfter(context, event.output) },
    }),
  },
  { type: 'notePass', params: passSummary },
  {
    type: 'recordPass',
    params: ({ event }: { event: { output: DrainSummary } }) => ({ summary: event.output, error: null }),
  },
] as const;
const notePassFailed = [
  { type: 'notePassFailure', params: failure },
  {
    type: 'recordPass',
    params: ({ event }: { event: { error: unknown } }) => ({ summary: null, error: errorMessage(event.error) }),
  },
] as const;

export const machine = setup({
  types: {} as {
    context: DaemonContext;
    events: DaemonEvent;
    input: DaemonInput | undefined;
    output: DaemonOutput;
    tags: DaemonTag;
  },
  actors: {
    claim: fromPromise<ClaimResult, void>(notProvided('claim')),
    reclaimStale: fromPromise<ClaimResult, ReclaimInput>(notProvided('reclaimStale')),
    // Without a watcher the daemon still drains on every tick.
    wakeWatcher: fromCallback<{ readonly type: 'WAKE' }, void>(() => () => {}),
    drainPass: fromPromise<DrainSummary, DrainPassInput>(notProvided('drainPass')),
    awaitAbortedPass: fromPromise<void, void>(() => Promise.resolve()),
    release: fromPromise<void, ReleaseInput>(notProvided('release')),
  },
  actions: {
    heartbeat: () => {},
    recordPass: (_, _params: RecordPassParams) => {},
    reportDelivery: (_, _params: DeliveryChange) => {},
    log: (_, _params: LogParams) => {},

    rememberStopRequest: assign({ stopRequested: true }),
    rememberIdentity: assign((_, { result }: ClaimParams) => ({
      identity: result.kind === 'claimed' ? result.identity : null,
    })),
    rememberStale: assign(({ context }, { result }: ClaimParams) => ({
      stalePid: result.kind === 'stale' ? result.pid : context.stalePid,
      reclaims: context.reclaims + 1,
    })),
    /** The first conclusion wins: a failed cleanup after a conflict is still a conflict. */
    conclude: assign(({ context }, params: { reason: DaemonExitReason; detail: string | null }) => ({
      outcome: context.outcome ?? outcomeOf(params.reason, params.detail),
    })),
    concludeConflict: assign((_, { result }: ClaimParams) => {
      const pid = result.kind === 'conflict' ? result.pid : null;
      const verified = result.kind === 'conflict' && result.verified;
      const who = pid === null ? 'another process' : `pid ${pid}`;
      return {
        outcome: outcomeOf(
          'conflict',
          `another daemon is already running (${who}${verified ? '' : ', identity unverified'})`,
          pid,
        ),
      };
    }),
    concludeFatal: assign(({ context }, params: { error: unknown }) => ({
      outcome: context.outcome ?? outcomeOf('fatal', errorMessage(params.error)),
    })),
    /** A clean stop whose cleanup failed is a failure; any earlier conclusion stands. */
    noteCleanupFailure: assign(({ context }, params: { error: unknown }) => ({
      outcome:
        context.outcome === null || context.outcome.reason === 'stopped'
          ? outcomeOf('fatal', `cleanup failed: ${errorMessage(params.error)}`)
          : context.outcome,
    })),

    /** A pass about to start covers every wake-up and reload seen so far. */
    beginPass: assign(({ context }, params: { trigger: PassTrigger }) => ({
      trigger: params.trigger,
      resetBreaker: params.trigger === 'reload',
      breaker: params.trigger === 'reload' ? CLOSED_BREAKER : context.breaker,
      wakePending: false,
      reloadPending: false,
    })),
    beginRequestedPass: assign(({ context }) => ({
      trigger: context.reloadPending ? ('reload' as const) : ('wake' as const),
      resetBreaker: context.reloadPending,
      breaker: context.reloadPending ? CLOSED_BREAKER : context.breaker,
      wakePending: false,
      reloadPending: false,
    })),
    rememberWake: assign({ wakePending: true }),
    noteWatching: assign({ watching: true }),
    rememberReload: assign({ reloadPending: true }),
    notePass: assign(({ context }, { summary }: { summary: DrainSummary }) => ({
      passes: context.passes + 1,
      lastPass: summary,
      lastError: summary.lastError,
      clockMs: summary.finishedAt,
      tickDeadlineAt: nextTickDeadline(summary.finishedAt, summary.nextDueAt, {
        tickMs: idleBoundMs(context),
        minSleepMs: context.minSleepMs,
      }),
      breaker: summary.breaker,
      delivery: nextDelivery(context.delivery, summary),
      authSource: authSourceAfter(context, summary),
    })),
    /** A failed pass carries no time; sleep a full tick from the last reading we have. */
    notePassFailure: assign(({ context }, params: { error: unknown }) => ({
      passes: context.passes + 1,
      lastError: errorMessage(params.error),
      tickDeadlineAt: context.clockMs === null ? null : context.clockMs + idleBoundMs(context),
    })),
  },
  guards: {
    claimed: (_, { result }: ClaimParams) => result.kind === 'claimed',
    claimedButStopRequested: ({ context }, { result }: ClaimParams) =>
      result.kind === 'claimed' && context.stopRequested,
    conflicted: (_, { result }: ClaimParams) => result.kind === 'conflict',
    stale: (_, { result }: ClaimParams) => result.kind === 'stale',
    staleButStopRequested: ({ context }, { result }: ClaimParams) => result.kind === 'stale' && context.stopRequested,
    staleWithRetriesLeft: ({ context }, { result }: ClaimParams) =>
      result.kind === 'stale' && context.reclaims < MAX_RECLAIMS,
    anotherPassRequested: ({ context }) => context.wakePending || context.reloadPending,
  },
  delays: {
    untilTick: ({ context }) => sleepMs(context),
    abortGrace: ({ context }) => context.abortGraceMs,
  },
}).createMachine({
  id: 'daemon',
  description: 'Lifecycle of the difflore daemon: claim the data home, drain the outbox, stop cleanly.',
  context: ({ input }) => initialDaemonContext(input),
  initial: 'claiming',
  output: ({ context }) => context.outcome ?? outcomeOf('stopped', null),
  states: {
    claiming: {
      description: 'Create daemon.pid under the claim lock, take the lifetime lock, open the DB.',
      tags: 'claiming',
      invoke: {
        id: 'claim',
        src: 'claim',
        onDone: [
          ...onClaimSettled({
            claimed: 'daemon claimed the data home',
            conflicted: 'another daemon owns the data home',
          }),
          {
            guard: { type: 'stale', params: claimResult },
            target: 'reclaimingStale',
            actions: [
              { type: 'rememberStale', params: claimResult },
              { type: 'log', params: { level: 'info', message: 'reclaiming a stale pid file' } },
            ],
          },
        ],
        // A claim can fail after creating daemon.pid or taking the lock: clean up what is ours.
        onError: onClaimFailed('claim failed'),
      },
      on: { STOP: { actions: 'rememberStopRequest' } },
    },

    reclaimingStale: {
      description: 'Remove the stale daemon.pid under the claim lock and claim again; two racers, one winner.',
      tags: 'claiming',
      invoke: {
        id: 'reclaimStale',
        src: 'reclaimStale',
        input: ({ context }) => ({ pid: context.stalePid }),
        onDone: [
          // A conflict here means another claimer won the race for the stale file.
          ...onClaimSettled({
            claimed: 'daemon reclaimed the data home',
            conflicted: 'another daemon claimed the data home first',
          }),
          {
            guard: { type: 'staleWithRetriesLeft', params: claimResult },
            target: 'reclaimingStale',
            reenter: true,
            actions: { type: 'rememberStale', params: claimResult },
          },
          // Stale again and again: something keeps writing pid files; do not fight it forever.
          {
            guard: { type: 'stale', params: claimResult },
            target: 'stopped',
            actions: [
              {
                type: 'concludeFatal',
                params: { error: `daemon.pid kept turning stale after ${MAX_RECLAIMS} reclaims` },
              },
              { type: 'log', params: { level: 'error', message: 'gave up reclaiming a stale pid file' } },
            ],
          },
        ],
        onError: onClaimFailed('reclaim failed'),
      },
      on: { STOP: { actions: 'rememberStopRequest' } },
    },

    serving: {
      description: 'We own the data home. Rows committed by anyone wake us; the tick is the fallback.',
      tags: 'serving',
      invoke: { id: 'wakeWatcher', src: 'wakeWatcher' },
      initial: 'draining',
      on: {
        WATCHING: { actions: 'noteWatching' },
        STOP: {
          target: 'stopping',
          actions: [
            { type: 'conclude', params: { reason: 'stopped', detail: null } },
            { type: 'log', params: { level: 'info', message: 'stopping' } },
          ],
        },
      },
      states: {
        running: {
          description: 'Idle until the tick, a WAKE or a RELOAD.',
          tags: 'idle',
          after: {
            untilTick: {
              target: 'draining',
              actions: ['heartbeat', { type: 'beginPass', params: { trigger: 'tick' } }],
            },
          },
          on: {
            WAKE: { target: 'draining', actions: { type: 'beginPass', params: { trigger: 'wake' } } },
            RELOAD: {
              target: 'draining',
              actions: [
                { type: 'beginPass', params: { trigger: 'reload' } },
                { type: 'log', params: { level: 'info', message: 'reload: draining now with the breaker reset' } },
              ],
            },
          },
        },
        draining: {
          description: 'One drain pass; it keeps going while rows are eligible.',
          tags: 'draining',
          invoke: {
            id: 'drainPass',
            src: 'drainPass',
            input: ({ context }) => ({
              batchSize: context.batchSize,
              trigger: context.trigger,
              resetBreaker: context.resetBreaker,
              breaker: context.breaker,
            }),
            onDone: [
              {
                guard: 'anotherPassRequested',
                target: 'draining',
                reenter: true,
                actions: [...notePassDone, 'beginRequestedPass'],
              },
              {
                target: 'running',
                actions: notePassDone,
              },
            ],
            onError: [
              {
                guard: 'anotherPassRequested',
                target: 'draining',
                reenter: true,
                actions: [...notePassFailed, 'beginRequestedPass'],
              },
              {
                target: 'running',
                actions: [...notePassFailed, { type: 'log', params: { level: 'error', message: 'drain pass failed' } }],
              },
            ],
          },
          on: {
            WAKE: { actions: 'rememberWake' },
            RELOAD: { actions: 'rememberReload' },
            // Leaving `draining` stops the pass actor, which aborts its signal.
            STOP: {
              target: '#daemon.stopping.abortingPass',
              actions: [
                { type: 'conclude', params: { reason: 'stopped', detail: null } },
                { type: 'log', params: { level: 'info', message: 'stopping: aborting the pass in flight' } },
              ],
            },
          },
        },
      },
    },

    stopping: {
      description: 'Give leases back, then close the DB, release the lifetime lock and our pid file.',
      tags: 'stopping',
      initial: 'releasing',
      states: {
        abortingPass: {
          description: 'Wait for the aborted pass to return its leases; the DB must stay open until then.',
          invoke: { id: 'awaitAbortedPass', src: 'awaitAbortedPass', onDone: 'releasing', onError: 'releasing' },
          after: { abortGrace: 'releasing' },
        },
        releasing: {
          invoke: {
            id: 'release',
            src: 'release',
            input: ({ context }) => ({ reason: context.outcome?.reason ?? 'stopped' }),
            onDone: '#daemon.stopped',
            onError: {
              target: '#daemon.stopped',
              actions: [
                { type: 'noteCleanupFailure', params: failure },
                { type: 'log', params: { level: 'error', message: 'cleanup failed' } },
              ],
            },
          },
        },
      },
    },

    stopped: {
      description: 'Final. Output: exit code and reason.',
      type: 'final',
    },
  },
});

export type DaemonMachine = typeof machine;

/**
 * The daemon's effects as plain functions, for a composition root (or a test) that would rather not
 * write XState actor logic. `provideDaemon(ports)` wires them in with `.provide()`; the composition
 * root (runtime/daemon-runtime.ts `DaemonRuntime`) implements them.
 */
export interface DaemonPorts {
  claim(): Promise<ClaimResult>;
  reclaimStale(input: ReclaimInput): Promise<ClaimResult>;
  /** Must honour `signal`: abort HTTP, return leases without spending a try, then settle. */
  drainPass(input: DrainPassInput, signal: AbortSignal): Promise<DrainSummary>;
  /** Resolves when the pass aborted by a STOP has settled. */
  awaitAbortedPass(): Promise<void>;
  release(input: ReleaseInput): Promise<void>;
  /** Calls `wake` whenever a row is committed; returns the cleanup, or null when nothing can be watched. */
  watchWakes(wake: () => void): (() => void) | null;
  heartbeat(context: DaemonContext): void;
  recordPass(params: RecordPassParams, context: DaemonContext): void;
  /** After every pass that finished: the delivery summary before and after it (log a change of state). */
  reportDelivery(change: DeliveryChange, context: DaemonContext): void;
  log(params: LogParams, context: DaemonContext): void;
}

export function provideDaemon(ports: DaemonPorts): DaemonMachine {
  return machine.provide({
    actors: {
      claim: fromPromise<ClaimResult, void>(() => ports.claim()),
      reclaimStale: fromPromise<ClaimResult, ReclaimInput>(({ input }) => ports.reclaimStale(input)),
      wakeWatcher: fromCallback<{ readonly type: 'WAKE' }, void>(({ sendBack }) => {
        const stop = ports.watchWakes(() => sendBack({ type: 'WAKE' }));
        if (stop === null) return undefined;
        // Set up: commits wake us from here on.
        sendBack({ type: 'WATCHING' });
        return stop;
      }),
      drainPass: fromPromise<DrainSummary, DrainPassInput>(({ input, signal }) => ports.drainPass(input, signal)),
      awaitAbortedPass: fromPromise<void, void>(() => ports.awaitAbortedPass()),
      release: fromPromise<void, ReleaseInput>(({ input }) => ports.release(input)),
    },
    actions: {
      heartbeat: ({ context }) => ports.heartbeat(context),
      recordPass: ({ context }, params) => ports.recordPass(params, context),
      reportDelivery: ({ context }, params) => ports.reportDelivery(params, context),
      log: ({ context }, params) => ports.log(params, context),
    },
  });
}
