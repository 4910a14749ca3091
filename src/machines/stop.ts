/**
 * The stop protocol run by `daemon stop`, as a statechart (DESIGN §3.2, §4, §8). This module owns the
 * decisions — whom we may signal, how fast we poll, when TERM escalates to KILL, which outcome and exit
 * code a run ends with — and names every effect; it performs none.
 *
 *   probing ─▶ notRunning | cleaningStale ─▶ staleCleaned | refused
 *      └─▶ terming ─▶ polling { waiting ⇄ checking } ─exited─▶ terminated
 *                        └─grace over─▶ killing { signalling ─▶ waiting ⇄ checking ─▶ cleaningUp } ─▶ killed | wouldNotDie
 *
 * Never signal a stranger: a stale pid file is cleaned without any signal; a live process we cannot
 * prove is a daemon we started (`unverified`, e.g. a Rust daemon) is refused unless `force`; a signal
 * we are not permitted to send (EPERM) is a refusal, not a retry.
 *
 * Polling starts fast and backs off (pollStartMs doubling to pollMaxMs), never sleeping past the
 * deadline; it is the fallback. Where the lifetime lock can be waited on (`awaitExit`), the daemon's
 * death itself ends the wait: a check follows at once, and if the process is still on its way out
 * the polls restart from HINT_POLL_MS. Deadlines are kept in context. The machine takes no outside
 * events: it runs on its effects' results alone.
 *
 * Effects the composition root provides (names are the contract):
 *   actors
 *   - probe:      fromPromise<ProbeResult, void>. From daemon.pid, the lifetime lock and the identity check.
 *   - cleanStale: fromPromise<void, { pid }>. Remove daemon.pid only if it still names `pid` (null: still
 *                 unparseable). Never signals. Also run after a confirmed SIGKILL, since the victim could not.
 *   - signal:     fromPromise<SignalResult, { pid, signal }>. kill(2); `ok` carries the clock time it was sent.
 *   - checkAlive: fromPromise<AliveCheck, { pid }>. Whether that process (same identity) still lives;
 *                 zombies count as dead. Carries the clock time of the check.
 *   - awaitExit:  fromPromise<ExitHint, { pid }>. Runs while polling and while killing: resolves
 *                 `released` the moment the daemon's lifetime lock is let go (the kernel drops it when
 *                 the daemon dies), so the next check happens then rather than at the next poll; or
 *                 `unwatchable` when no such wait is possible here (the polls alone decide). Only a hint:
 *                 `checkAlive` stays the judge. Default: unwatchable.
 *   actions
 *   - log:        params { level, message }.
 *   delays
 *   - nextPoll:   from context (pollDelayMs clamped to the deadline); provide only to change the policy.
 */
import { and, assign, fromPromise, setup, stateIn } from 'xstate';
import { errorMessage, type LogParams } from './types.js';

export interface StopInput {
  /** How long the daemon may take to exit after SIGTERM. */
  readonly graceMs: number;
  /** How long to wait for the process to vanish after SIGKILL. */
  readonly killTimeoutMs: number;
  /** Signal a running daemon even when its identity cannot be verified. */
  readonly force: boolean;
  readonly pollStartMs?: number;
  readonly pollMaxMs?: number;
}

/**
 * The most polls one wait (the grace period, the kill timeout) should take: the backoff cap grows
 * with the budget so that a long grace costs a bounded number of checks — and journal lines — rather
 * than one every pollMaxMs (a 10 s grace at 100 ms was ~100 polls, ~200 records).
 */
export const POLLS_PER_WAIT = 20;

export const STOP_DEFAULTS = {
  graceMs: 10_000,
  killTimeoutMs: 5_000,
  force: false,
  pollStartMs: 5,
  pollMaxMs: 100,
} as const;

export type ProbeResult =
  | { readonly kind: 'notRunning' }
  /** daemon.pid names a dead, reused, zombie or unparseable pid (null). */
  | { readonly kind: 'stale'; readonly pid: number | null }
  /** The lifetime lock is held and the identity matches the pid file. */
  | { readonly kind: 'running'; readonly pid: number; readonly verified: true }
  /**
   * Something lives that nothing proves is our daemon (no identity recorded, e.g. the Rust binary).
   * `pid` is null when a daemon holds the lifetime lock but no pid file names it: nothing to signal.
   */
  | { readonly kind: 'unverified'; readonly pid: number | null };

export type SignalName = 'SIGTERM' | 'SIGKILL';

export interface SignalInput {
  readonly pid: number;
  readonly signal: SignalName;
}

/** kill(2)'s answer: sent (at clock time `at`), no such process, or not permitted. */
export type SignalResult =
  | { readonly kind: 'ok'; readonly at: number }
  | { readonly kind: 'esrch' }
  | { readonly kind: 'eperm' };

export interface PidInput {
  readonly pid: number | null;
}

export interface AliveCheck {
  readonly alive: boolean;
  /** Clock time of the check (epoch ms). */
  readonly at: number;
}

/** What `awaitExit` saw: the lifetime lock let go, or no way to wait for it here. */
export type ExitHint = { readonly kind: 'released' } | { readonly kind: 'unwatchable' };

const UNWATCHABLE: ExitHint = { kind: 'unwatchable' };

/** The first poll after the lock was let go: the process is at most a few milliseconds from gone. */
export const HINT_POLL_MS = 1;

export type StopOutcome =
  | 'notRunning'
  | 'staleCleaned'
  | 'terminated'
  | 'killed'
  | 'wouldNotDie'
  | 'refused'
  | 'failed';

/** `daemon stop` exit codes (DESIGN §8): 0 when nothing runs at the end, 2 would not die, 3 refused or failed. */
export const STOP_EXIT_CODES: Readonly<Record<StopOutcome, number>> = {
  notRunning: 0,
  staleCleaned: 0,
  terminated: 0,
  killed: 0,
  wouldNotDie: 2,
  refused: 3,
  failed: 3,
};

/** Why a stop was refused; the CLI phrases it. */
export type Refusal = 'unverified' | 'notPermitted';

export interface StopOutput {
  readonly outcome: StopOutcome;
  readonly exitCode: number;
  readonly pid: number | null;
  readonly refusal: Refusal | null;
  /** What failed (outcome `failed`), or a note such as a failed cleanup after a kill. */
  readonly detail: string | null;
}

export interface StopContext {
  readonly graceMs: number;
  readonly killTimeoutMs: number;
  readonly force: boolean;
  readonly pollStartMs: number;
  readonly pollMaxMs: number;
  pid: number | null;
  /** The latest clock reading an effect handed us (epoch ms). */
  clockMs: number | null;
  /** End of the grace period while polling, end of the kill timeout while killing. */
  deadlineAt: number | null;
  pollDelayMs: number;
  polls: number;
  refusal: Refusal | null;
  detail: string | null;
  outcome: StopOutcome | null;
}

export function initialStopContext(input: StopInput | undefined): StopContext {
  const config = { ...STOP_DEFAULTS, ...input };
  return {
    graceMs: config.graceMs,
    killTimeoutMs: config.killTimeoutMs,
    force: config.force,
    pollStartMs: config.pollStartMs,
    pollMaxMs: config.pollMaxMs,
    pid: null,
    clockMs: null,
    deadlineAt: null,
    pollDelayMs: config.pollStartMs,
    polls: 0,
    refusal: null,
    detail: null,
    outcome: null,
  };
}

/** The next wait: the current backoff step, but never past the deadline (pure policy). */
export function nextPollDelay(context: Pick<StopContext, 'pollDelayMs' | 'deadlineAt' | 'clockMs'>): number {
  if (context.deadlineAt === null || context.clockMs === null) return context.pollDelayMs;
  return Math.min(context.pollDelayMs, Math.max(0, context.deadlineAt - context.clockMs));
}

function notProvided(name: string): () => Promise<never> {
  return () => Promise.reject(new Error(`stop effect '${name}' was not provided`));
}

/**
 * The pid to signal. A pid is always remembered before any signal; NaN (never 0 or -1, which address
 * process groups) makes kill(2) throw if that ever stops being true.
 */
function targetPid(context: StopContext): number {
  return context.pid ?? Number.NaN;
}

const probeResult = ({ event }: { event: { output: ProbeResult } }) => ({ result: event.output });
const signalResult = ({ event }: { event: { output: SignalResult } }) => ({ result: event.output });
const aliveCheck = ({ event }: { event: { output: AliveCheck } }) => ({ check: event.output });
const failure = ({ event }: { event: { error: unknown } }) => ({ error: event.error });
type ProbeParams = { readonly result: ProbeResult };
type SignalParams = { readonly result: SignalResult };
type CheckParams = { readonly check: AliveCheck };

const stopSetup = setup({
  types: {} as {
    context: StopContext;
    input: StopInput | undefined;
    output: StopOutput;
  },
  actors: {
    probe: fromPromise<ProbeResult, void>(notProvided('probe')),
    cleanStale: fromPromise<void, PidInput>(notProvided('cleanStale')),
    signal: fromPromise<SignalResult, SignalInput>(notProvided('signal')),
    checkAlive: fromPromise<AliveCheck, { readonly pid: number }>(notProvided('checkAlive')),
    awaitExit: fromPromise<ExitHint, { readonly pid: number }>(() => Promise.resolve(UNWATCHABLE)),
  },
  actions: {
    log: (_, _params: LogParams) => {},

    rememberTarget: assign((_, { result }: ProbeParams) => ({
      pid: result.kind === 'notRunning' ? null : result.pid,
    })),
    refuse: assign((_, params: { refusal: Refusal }) => ({ refusal: params.refusal })),
    noteFailure: assign((_, params: { error: unknown }) => ({ detail: errorMessage(params.error) })),
    /** Start a deadline (grace or kill timeout) from the moment the signal was sent. */
    startDeadline: assign(({ context }, params: { result: SignalResult; budget: 'grace' | 'kill' }) => {
      const at = params.result.kind === 'ok' ? params.result.at : (context.clockMs ?? 0);
      return {
        clockMs: at,
        deadlineAt: at + (params.budget === 'grace' ? context.graceMs : context.killTimeoutMs),
        pollDelayMs: context.pollStartMs,
      };
    }),
    backOff: assign(({ context }, { check }: CheckParams) => ({
      clockMs: check.at,
      polls: context.polls + 1,
      pollDelayMs: Math.min(
        Math.max(context.pollMaxMs, Math.ceil(Math.max(context.graceMs, context.killTimeoutMs) / POLLS_PER_WAIT)),
        context.pollDelayMs * 2,
      ),
    })),
    noteCheck: assign(({ context }, { check }: CheckParams) => ({ clockMs: check.at, polls: context.polls + 1 })),
    /** The lock was let go: poll from HINT_POLL_MS again should the process still be on its way out. */
    noteExitHint: assign({ pollDelayMs: HINT_POLL_MS }),
    conclude: assign((_, params: { outcome: StopOutcome }) => ({ outcome: params.outcome })),
  },
  guards: {
    nothingRuns: (_, { result }: ProbeParams) => result.kind === 'notRunning',
    pidFileStale: (_, { result }: ProbeParams) => result.kind === 'stale',
    runningVerified: (_, { result }: ProbeParams) => result.kind === 'running',
    unverifiedButForced: ({ context }, { result }: ProbeParams) =>
      result.kind === 'unverified' && result.pid !== null && context.force,
    unverified: (_, { result }: ProbeParams) => result.kind === 'unverified',
    signalSent: (_, { result }: SignalParams) => result.kind === 'ok',
    processGone: (_, { result }: SignalParams) => result.kind === 'esrch',
    notPermitted: (_, { result }: SignalParams) => result.kind === 'eperm',
    exited: (_, { check }: CheckParams) => !check.alive,
    lockReleased: (_, { hint }: { hint: ExitHint }) => hint.kind === 'released',
    deadlinePassed: ({ context }, { check }: CheckParams) =>
      context.deadlineAt !== null && check.at >= context.deadlineAt,
  },
  delays: {
    nextPoll: ({ context }) => nextPollDelay(context),
  },
});

/** Any effect that rejects ends the run as `failed`, its error kept as the detail. */
const failOnError = { target: '#stop.failed', actions: { type: 'noteFailure', params: failure } } as const;

/** Sleep one backoff step (see `nextPoll`). */
const waitingForNextPoll = stopSetup.createStateConfig({
  after: { nextPoll: 'checking' },
});

const exitHint = ({ event }: { event: { output: ExitHint } }) => ({ hint: event.output });

/**
 * Wait for the death itself for the whole of a wait (`polling` or `killing`, named by `state`): once
 * the lock is let go, a sleeping poll is cut short; a check already under way is left to finish and
 * the next poll comes after HINT_POLL_MS.
 */
function awaitingExit(state: 'polling' | 'killing') {
  return {
    id: 'awaitExit',
    src: 'awaitExit',
    input: ({ context }: { context: StopContext }) => ({ pid: targetPid(context) }),
    onDone: [
      {
        guard: and([stateIn(`#stop.${state}.waiting`), { type: 'lockReleased', params: exitHint }]),
        target: `#stop.${state}.checking`,
        actions: 'noteExitHint',
      },
      { guard: { type: 'lockReleased', params: exitHint }, actions: 'noteExitHint' },
    ],
  } as const;
}

/**
 * One liveness check, used while polling after SIGTERM and after SIGKILL: gone → `ifExited`; still alive
 * at the deadline → `ifOverdue`, logging `overdue`; otherwise back off and wait again.
 */
function checkingAlive(ifExited: string, ifOverdue: string, overdue: LogParams) {
  return stopSetup.createStateConfig({
    invoke: {
      id: 'checkAlive',
      src: 'checkAlive',
      input: ({ context }) => ({ pid: targetPid(context) }),
      onDone: [
        {
          guard: { type: 'exited', params: aliveCheck },
          target: ifExited,
          actions: { type: 'noteCheck', params: aliveCheck },
        },
        {
          guard: { type: 'deadlinePassed', params: aliveCheck },
          target: ifOverdue,
          actions: [
            { type: 'noteCheck', params: aliveCheck },
            { type: 'log', params: overdue },
          ],
        },
        { target: 'waiting', actions: { type: 'backOff', params: aliveCheck } },
      ],
      onError: failOnError,
    },
  });
}

export const machine = stopSetup.createMachine({
  id: 'stop',
  description: 'Stop the daemon: TERM, poll with backoff, KILL after the grace period, confirm death.',
  context: ({ input }) => initialStopContext(input),
  initial: 'probing',
  output: ({ context }) => {
    const outcome = context.outcome ?? 'failed';
    return {
      outcome,
      exitCode: STOP_EXIT_CODES[outcome],
      pid: context.pid,
      refusal: context.refusal,
      detail: context.detail,
    };
  },
  states: {
    probing: {
      description: 'Read daemon.pid, the lifetime lock and the identity recorded in the state file.',
      invoke: {
        id: 'probe',
        src: 'probe',
        onDone: [
          { guard: { type: 'nothingRuns', params: probeResult }, target: 'notRunning' },
          {
            guard: { type: 'pidFileStale', params: probeResult },
            target: 'cleaningStale',
            actions: { type: 'rememberTarget', params: probeResult },
          },
          {
            guard: { type: 'runningVerified', params: probeResult },
            target: 'terming',
            actions: { type: 'rememberTarget', params: probeResult },
          },
          {
            guard: { type: 'unverifiedButForced', params: probeResult },
            target: 'terming',
            actions: [
              { type: 'rememberTarget', params: probeResult },
              { type: 'log', params: { level: 'warn', message: 'signalling an unverified process (--force)' } },
            ],
          },
          {
            guard: { type: 'unverified', params: probeResult },
            target: 'refused',
            actions: [
              { type: 'rememberTarget', params: probeResult },
              { type: 'refuse', params: { refusal: 'unverified' } },
            ],
          },
        ],
        onError: failOnError,
      },
    },

    cleaningStale: {
      description: 'Remove daemon.pid if it still names the dead pid. Never signals.',
      invoke: {
        id: 'cleanStale',
        src: 'cleanStale',
        input: ({ context }) => ({ pid: context.pid }),
        onDone: 'staleCleaned',
        onError: failOnError,
      },
    },

    terming: {
      description: 'Send SIGTERM so the daemon can abort its pass, return leases and clean up.',
      invoke: {
        id: 'signal',
        src: 'signal',
        input: ({ context }) => ({ pid: targetPid(context), signal: 'SIGTERM' as const }),
        onDone: [
          {
            guard: { type: 'signalSent', params: signalResult },
            target: 'polling',
            actions: {
              type: 'startDeadline',
              params: ({ event }) => ({ result: event.output, budget: 'grace' as const }),
            },
          },
          // It exited between the probe and the signal; whatever it left behind is stale now.
          { guard: { type: 'processGone', params: signalResult }, target: 'cleaningStale' },
          {
            guard: { type: 'notPermitted', params: signalResult },
            target: 'refused',
            actions: { type: 'refuse', params: { refusal: 'notPermitted' } },
          },
        ],
        onError: failOnError,
      },
    },

    polling: {
      description:
        'Wait for the daemon to exit: its death (the lifetime lock let go) or a poll, 5 ms doubling to 100 ms, until the grace period ends.',
      invoke: awaitingExit('polling'),
      initial: 'waiting',
      states: {
        waiting: waitingForNextPoll,
        checking: checkingAlive('#stop.terminated', '#stop.killing', {
          level: 'warn',
          message: 'grace period over; sending SIGKILL',
        }),
      },
    },

    killing: {
      description: 'Send SIGKILL and confirm the process is gone before the kill timeout.',
      invoke: awaitingExit('killing'),
      initial: 'signalling',
      states: {
        signalling: {
          invoke: {
            id: 'signal',
            src: 'signal',
            input: ({ context }) => ({ pid: targetPid(context), signal: 'SIGKILL' as const }),
            onDone: [
              {
                guard: { type: 'signalSent', params: signalResult },
                target: 'waiting',
                actions: {
                  type: 'startDeadline',
                  params: ({ event }) => ({ result: event.output, budget: 'kill' as const }),
                },
              },
              // SIGTERM did its work after all, just after the grace period.
              { guard: { type: 'processGone', params: signalResult }, target: '#stop.terminated' },
              // We could TERM it but may not KILL it: nothing sensible is left to try.
              {
                guard: { type: 'notPermitted', params: signalResult },
                target: '#stop.failed',
                actions: { type: 'noteFailure', params: { error: 'SIGKILL was not permitted' } },
              },
            ],
            onError: failOnError,
          },
        },
        waiting: waitingForNextPoll,
        checking: checkingAlive('cleaningUp', '#stop.wouldNotDie', {
          level: 'error',
          message: 'the daemon survived SIGKILL',
        }),
        cleaningUp: {
          description: 'A killed daemon cannot remove its own pid file.',
          invoke: {
            id: 'cleanStale',
            src: 'cleanStale',
            input: ({ context }) => ({ pid: context.pid }),
            onDone: '#stop.killed',
            // The process is gone either way; the next start reclaims a leftover file.
            onError: { target: '#stop.killed', actions: { type: 'noteFailure', params: failure } },
          },
        },
      },
    },

    notRunning: { type: 'final', entry: { type: 'conclude', params: { outcome: 'notRunning' } } },
    staleCleaned: { type: 'final', entry: { type: 'conclude', params: { outcome: 'staleCleaned' } } },
    terminated: { type: 'final', entry: { type: 'conclude', params: { outcome: 'terminated' } } },
    killed: { type: 'final', entry: { type: 'conclude', params: { outcome: 'killed' } } },
    wouldNotDie: { type: 'final', entry: { type: 'conclude', params: { outcome: 'wouldNotDie' } } },
    refused: { type: 'final', entry: { type: 'conclude', params: { outcome: 'refused' } } },
    failed: { type: 'final', entry: { type: 'conclude', params: { outcome: 'failed' } } },
  },
});

export type StopMachine = typeof machine;

/** The stop protocol's effects as plain functions; `provideStop(ports)` wires them in. */
export interface StopPorts {
  probe(): Promise<ProbeResult>;
  cleanStale(input: PidInput): Promise<void>;
  signal(input: SignalInput): Promise<SignalResult>;
  checkAlive(input: { readonly pid: number }): Promise<AliveCheck>;
  /** Resolves when the lifetime lock is let go; absent: the polls alone decide. */
  awaitExit?(input: { readonly pid: number }): Promise<ExitHint>;
  log(params: LogParams, context: StopContext): void;
}

export function provideStop(ports: StopPorts): StopMachine {
  return machine.provide({
    actors: {
      probe: fromPromise<ProbeResult, void>(() => ports.probe()),
      cleanStale: fromPromise<void, PidInput>(({ input }) => ports.cleanStale(input)),
      signal: fromPromise<SignalResult, SignalInput>(({ input }) => ports.signal(input)),
      checkAlive: fromPromise<AliveCheck, { readonly pid: number }>(({ input }) => ports.checkAlive(input)),
      awaitExit: fromPromise<ExitHint, { readonly pid: number }>(({ input }) =>
        // Not being able to wait leaves the polls to decide: a failed wait is no wait.
        (ports.awaitExit?.(input) ?? Promise.resolve(UNWATCHABLE)).catch(() => UNWATCHABLE),
      ),
    },
    actions: {
      log: ({ context }, params) => ports.log(params, context),
    },
  });
}
