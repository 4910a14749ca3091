/**
 * The daemon machine's promises, one by one, against fake effects: no lost wake-ups, STOP aborts a
 * pass and waits for its leases, restored snapshots re-arm the tick, claims end as DESIGN §3.1 says.
 */
import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import {
  type ClaimResult,
  type DaemonInput,
  type DaemonOutput,
  type DaemonPorts,
  type DrainPassInput,
  type DrainSummary,
  initialDaemonContext,
  MAX_RECLAIMS,
  machine,
  nextTickDeadline,
  provideDaemon,
  type ReleaseInput,
} from '../../src/machines/daemon.js';
import { type BreakerState, CLOSED_BREAKER } from '../../src/machines/delivery-policy.js';
import { stateName, type StateValue } from '../../src/machines/types.js';
import { flush, ManualClock, summaryAt } from '../model/harness.js';

interface Controlled<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

const CLAIMED: ClaimResult = { kind: 'claimed', identity: { pid: 4242, bootId: 'b', startTime: '1' } };

/** A daemon whose effects wait for the test to settle them, recording every call. */
function rig(
  input: DaemonInput = { tickMs: 5_000, batchSize: 8, minSleepMs: 10, abortGraceMs: 2_000 },
  options: { readonly watch?: boolean } = {},
) {
  const clock = new ManualClock();
  const log: string[] = [];
  const passes: { input: DrainPassInput; signal: AbortSignal; done: Controlled<DrainSummary> }[] = [];
  const claims: Controlled<ClaimResult>[] = [];
  const reclaims: { pid: number | null; done: Controlled<ClaimResult> }[] = [];
  const aborted: Controlled<void>[] = [];
  const releases: { input: ReleaseInput; done: Controlled<void> }[] = [];
  let wake: (() => void) | undefined;
  const controlled = <T>(push: (c: Controlled<T>) => void) =>
    new Promise<T>((resolve, reject) => push({ resolve, reject }));
  const ports: DaemonPorts = {
    claim: () => {
      log.push('claim');
      return controlled<ClaimResult>((c) => claims.push(c));
    },
    reclaimStale: ({ pid }) => {
      log.push(`reclaimStale ${pid}`);
      return controlled<ClaimResult>((done) => reclaims.push({ pid, done }));
    },
    drainPass: (passInput, signal) => {
      log.push(`drainPass ${passInput.trigger}${passInput.resetBreaker ? ' resetBreaker' : ''}`);
      signal.addEventListener('abort', () => log.push('pass aborted'));
      return controlled<DrainSummary>((done) => passes.push({ input: passInput, signal, done }));
    },
    awaitAbortedPass: () => {
      log.push('awaitAbortedPass');
      return controlled<void>((c) => aborted.push(c));
    },
    release: (releaseInput) => {
      log.push(`release ${releaseInput.reason}`);
      return controlled<void>((done) => releases.push({ input: releaseInput, done }));
    },
    watchWakes: (w) => {
      if (options.watch === false) return null;
      wake = w;
      return () => {
        wake = undefined;
      };
    },
    heartbeat: () => log.push('heartbeat'),
    recordPass: (p) => log.push(`recordPass ${p.summary ? p.summary.attempted : `error ${p.error}`}`),
    reportDelivery: ({ previous, current, authSource }) => {
      if (previous.state !== current.state) log.push(`delivery ${previous.state} -> ${current.state}`);
      if (authSource.previous !== authSource.current) log.push(`token ${authSource.previous} -> ${authSource.current}`);
    },
    log: () => {},
  };
  const actor = createActor(provideDaemon(ports), { input, clock });
  const state = () => stateName(actor.getSnapshot().value as StateValue);
  return {
    actor,
    clock,
    log,
    passes,
    claims,
    reclaims,
    aborted,
    releases,
    state,
    wake: () => {
      expect(wake, 'wake watcher running').toBeDefined();
      wake?.();
    },
    output: () => actor.getSnapshot().output as DaemonOutput | undefined,
    /** Starts the actor and lets the claim succeed: the startup pass is in flight. */
    async serve() {
      actor.start();
      claims[0]?.resolve(CLAIMED);
      await flush();
      expect(state()).toBe('serving.draining');
    },
  };
}

describe('daemon machine', () => {
  it('keeps the token source as context: reported when it changes, kept through a pass that found no token', async () => {
    const r = rig();
    await r.serve();
    r.passes[0]?.done.resolve(summaryAt(1_000, { authSource: 'env' }));
    await flush();
    expect(r.actor.getSnapshot().context.authSource).toBe('env');
    r.wake();
    await flush();
    r.passes[1]?.done.resolve(summaryAt(1_100, { authSource: null }));
    await flush();
    expect(r.actor.getSnapshot().context.authSource).toBe('env');
    r.wake();
    await flush();
    r.passes[2]?.done.resolve(summaryAt(1_200, { authSource: 'rust-login:keyring' }));
    await flush();
    expect(r.actor.getSnapshot().context.authSource).toBe('rust-login:keyring');
    expect(r.log.filter((line) => line.startsWith('token'))).toEqual([
      'token null -> env',
      'token env -> rust-login:keyring',
    ]);
  });

  it('tags its states, so code outside asks hasTag instead of comparing names', async () => {
    const r = rig();
    r.actor.start();
    expect([...r.actor.getSnapshot().tags]).toEqual(['claiming']);
    r.claims[0]?.resolve(CLAIMED);
    await flush();
    expect([...r.actor.getSnapshot().tags].sort()).toEqual(['draining', 'serving']);
    r.passes[0]?.done.resolve(summaryAt(1_000));
    await flush();
    expect([...r.actor.getSnapshot().tags].sort()).toEqual(['idle', 'serving']);
    r.actor.send({ type: 'STOP' });
    await flush();
    expect(r.actor.getSnapshot().hasTag('stopping')).toBe(true);
    expect(r.actor.getSnapshot().hasTag('serving')).toBe(false);
  });

  it('claims, then drains once at start before idling until the tick', async () => {
    const r = rig();
    await r.serve();
    expect(r.passes[0]?.input).toEqual({
      batchSize: 8,
      trigger: 'start',
      resetBreaker: false,
      breaker: CLOSED_BREAKER,
    });
    r.passes[0]?.done.resolve(summaryAt(1_000));
    await flush();
    expect(r.state()).toBe('serving.running');
    expect(r.clock.armed()).toEqual([5_000]);
    r.clock.fireOnly();
    await flush();
    expect(r.log.slice(-2)).toEqual(['heartbeat', 'drainPass tick']);
  });

  it('does not lose a WAKE that arrives during a pass: another pass follows at once', async () => {
    const r = rig();
    await r.serve();
    r.wake();
    r.wake();
    await flush();
    expect(r.passes).toHaveLength(1);
    r.passes[0]?.done.resolve(summaryAt(1_000));
    await flush();
    expect(r.state()).toBe('serving.draining');
    expect(r.passes).toHaveLength(2);
    expect(r.passes[1]?.input.trigger).toBe('wake');
    // Two wake-ups during one pass cost one extra pass, not two.
    r.passes[1]?.done.resolve(summaryAt(1_100));
    await flush();
    expect(r.state()).toBe('serving.running');
    expect(r.passes).toHaveLength(2);
  });

  it('drains at once on a WAKE while idle', async () => {
    const r = rig();
    await r.serve();
    r.passes[0]?.done.resolve(summaryAt(1_000));
    await flush();
    r.wake();
    await flush();
    expect(r.state()).toBe('serving.draining');
    expect(r.passes[1]?.input.trigger).toBe('wake');
    expect(r.clock.armed()).toEqual([]);
  });

  it('aborts the pass on STOP, waits for its leases, then releases and exits 0', async () => {
    const r = rig();
    await r.serve();
    const signal = r.passes[0]?.signal;
    expect(signal?.aborted).toBe(false);
    r.actor.send({ type: 'STOP', signal: 'SIGTERM' });
    await flush();
    expect(signal?.aborted).toBe(true);
    expect(r.state()).toBe('stopping.abortingPass');
    expect(r.releases).toHaveLength(0);
    r.aborted[0]?.resolve();
    await flush();
    expect(r.log.slice(-3)).toEqual(['pass aborted', 'awaitAbortedPass', 'release stopped']);
    r.releases[0]?.done.resolve();
    await flush();
    expect(r.actor.getSnapshot().status).toBe('done');
    expect(r.output()).toEqual({ exitCode: 0, reason: 'stopped', detail: null, conflictPid: null });
  });

  it('cleans up anyway when an aborted pass does not settle within the abort grace', async () => {
    const r = rig();
    await r.serve();
    r.actor.send({ type: 'STOP' });
    await flush();
    expect(r.clock.fireOnly()).toBe(2_000);
    await flush();
    expect(r.state()).toBe('stopping.releasing');
  });

  it('a late result of an aborted pass changes nothing', async () => {
    const r = rig();
    await r.serve();
    r.actor.send({ type: 'STOP' });
    await flush();
    r.passes[0]?.done.resolve(summaryAt(1_000, { cancelled: 8 }));
    await flush();
    expect(r.state()).toBe('stopping.abortingPass');
    expect(r.log).not.toContain('recordPass 3');
  });

  it('STOP while idle goes straight to cleanup', async () => {
    const r = rig();
    await r.serve();
    r.passes[0]?.done.resolve(summaryAt(1_000));
    await flush();
    r.actor.send({ type: 'STOP' });
    await flush();
    expect(r.state()).toBe('stopping.releasing');
    expect(r.clock.armed()).toEqual([]);
    expect(r.log).not.toContain('awaitAbortedPass');
  });

  it('sleeps until the next due row when that comes before the tick, never less than minSleepMs', async () => {
    const r = rig();
    await r.serve();
    r.passes[0]?.done.resolve(summaryAt(1_000, { nextDueAt: 2_200 }));
    await flush();
    expect(r.clock.armed()).toEqual([1_200]);
    expect(nextTickDeadline(1_000, 900, { tickMs: 5_000, minSleepMs: 10 })).toBe(1_010);
    expect(nextTickDeadline(1_000, 9_000, { tickMs: 5_000, minSleepMs: 10 })).toBe(6_000);
    expect(nextTickDeadline(1_000, null, { tickMs: 5_000, minSleepMs: 10 })).toBe(6_000);
  });

  it('while commits wake it, sleeps the long idle heartbeat, cut short by a due row; without a watch, the tick', async () => {
    const input = { tickMs: 5_000, idleMs: 60_000, batchSize: 8, minSleepMs: 10, abortGraceMs: 2_000 };
    const watched = rig(input);
    await watched.serve();
    expect(watched.actor.getSnapshot().context.watching).toBe(true);
    watched.passes[0]?.done.resolve(summaryAt(1_000));
    await flush();
    expect(watched.clock.armed()).toEqual([60_000]);
    // A retry (or a lease expiry) falling due wakes it then.
    watched.wake();
    await flush();
    watched.passes[1]?.done.resolve(summaryAt(2_000, { nextDueAt: 9_000 }));
    await flush();
    expect(watched.clock.armed()).toEqual([7_000]);
    // Nothing can be watched: the tick is the fallback.
    const unwatched = rig(input, { watch: false });
    await unwatched.serve();
    expect(unwatched.actor.getSnapshot().context.watching).toBe(false);
    unwatched.passes[0]?.done.resolve(summaryAt(1_000));
    await flush();
    expect(unwatched.clock.armed()).toEqual([5_000]);
  });

  it('after a failed pass, records the error and sleeps a full tick', async () => {
    const r = rig();
    await r.serve();
    r.passes[0]?.done.resolve(summaryAt(1_000));
    await flush();
    r.wake();
    await flush();
    r.passes[1]?.done.reject(new Error('database is locked'));
    await flush();
    expect(r.state()).toBe('serving.running');
    expect(r.actor.getSnapshot().context.lastError).toBe('database is locked');
    expect(r.log).toContain('recordPass error database is locked');
    expect(r.clock.armed()).toEqual([5_000]);
  });

  it('RELOAD drains at once with the breaker reset, and is remembered during a pass', async () => {
    const r = rig();
    await r.serve();
    r.actor.send({ type: 'RELOAD' });
    r.passes[0]?.done.resolve(summaryAt(1_000));
    await flush();
    expect(r.passes[1]?.input).toEqual({
      batchSize: 8,
      trigger: 'reload',
      resetBreaker: true,
      breaker: CLOSED_BREAKER,
    });
    r.passes[1]?.done.resolve(summaryAt(1_100));
    await flush();
    r.actor.send({ type: 'RELOAD' });
    await flush();
    expect(r.passes[2]?.input.resetBreaker).toBe(true);
  });

  it('carries the breaker from pass to pass in context, and a RELOAD closes it', async () => {
    const open: BreakerState = {
      ...CLOSED_BREAKER,
      state: 'open',
      consecutiveFailures: 3,
      openUntil: 31_000,
      opens: 1,
    };
    const r = rig();
    await r.serve();
    r.passes[0]?.done.resolve(
      summaryAt(1_000, { breaker: open, outcome: 'unreachable', errorCode: 'ECONNREFUSED', rowsWaiting: true }),
    );
    await flush();
    expect(r.actor.getSnapshot().context.breaker).toEqual(open);
    r.wake();
    await flush();
    expect(r.passes[1]?.input.breaker).toEqual(open);
    r.passes[1]?.done.resolve(summaryAt(1_100, { breaker: open, outcome: null, rowsWaiting: true }));
    await flush();
    r.actor.send({ type: 'RELOAD' });
    await flush();
    expect(r.passes[2]?.input.breaker).toEqual(CLOSED_BREAKER);
  });

  it('keeps the delivery summary in context: unreachable since the first failure, ok again on success', async () => {
    const r = rig();
    expect(initialDaemonContext(undefined).delivery.state).toBe('never-tried');
    await r.serve();
    const open: BreakerState = { ...CLOSED_BREAKER, state: 'open', openUntil: 31_000, opens: 1 };
    r.passes[0]?.done.resolve(
      summaryAt(1_000, {
        outcome: 'unreachable',
        errorCode: 'ENOTFOUND',
        lastError: 'transport: post_observations: getaddrinfo ENOTFOUND x.invalid',
        rowsWaiting: true,
        nextDueAt: 31_000,
        breaker: open,
      }),
    );
    await flush();
    expect(r.actor.getSnapshot().context.delivery).toMatchObject({
      state: 'unreachable',
      since: 1_000,
      errorCode: 'ENOTFOUND',
      lastError: 'transport: post_observations: getaddrinfo ENOTFOUND x.invalid',
      lastSuccessAtMs: null,
      nextAttemptAtMs: 31_000,
      breaker: { open: true, until: 31_000 },
    });
    // A pass that sent nothing (breaker open) learns nothing: same state, same since.
    r.wake();
    await flush();
    r.passes[1]?.done.resolve(summaryAt(2_000, { outcome: null, rowsWaiting: true, nextDueAt: 31_000, breaker: open }));
    await flush();
    expect(r.actor.getSnapshot().context.delivery).toMatchObject({ state: 'unreachable', since: 1_000 });
    r.wake();
    await flush();
    r.passes[2]?.done.resolve(summaryAt(40_000, { outcome: 'ok', rowsWaiting: false }));
    await flush();
    expect(r.actor.getSnapshot().context.delivery).toMatchObject({
      state: 'ok',
      since: 40_000,
      lastError: null,
      lastSuccessAtMs: 40_000,
      breaker: { open: false, until: null },
    });
    expect(r.log.filter((line) => line.startsWith('delivery'))).toEqual([
      'delivery never-tried -> unreachable',
      'delivery unreachable -> ok',
    ]);
  });

  it('yields to a live owner: conflict, exit 0 (nothing to do, not a failure), nothing to clean up', async () => {
    const r = rig();
    r.actor.start();
    r.claims[0]?.resolve({ kind: 'conflict', pid: 99, verified: false });
    await flush();
    expect(r.output()).toMatchObject({ exitCode: 0, reason: 'conflict', conflictPid: 99 });
    expect(r.output()?.detail).toContain('pid 99');
    expect(r.releases).toHaveLength(0);
    expect(r.passes).toHaveLength(0);
  });

  it('reclaims a stale pid file, then serves', async () => {
    const r = rig();
    r.actor.start();
    r.claims[0]?.resolve({ kind: 'stale', pid: 98, reason: 'dead' });
    await flush();
    expect(r.state()).toBe('reclaimingStale');
    expect(r.reclaims[0]?.pid).toBe(98);
    r.reclaims[0]?.done.resolve(CLAIMED);
    await flush();
    expect(r.state()).toBe('serving.draining');
    expect(r.actor.getSnapshot().context.identity).toEqual(CLAIMED.kind === 'claimed' ? CLAIMED.identity : undefined);
  });

  it('loses a reclaim race as a conflict', async () => {
    const r = rig();
    r.actor.start();
    r.claims[0]?.resolve({ kind: 'stale', pid: null, reason: 'invalidPid' });
    await flush();
    r.reclaims[0]?.done.resolve({ kind: 'conflict', pid: 77, verified: true });
    await flush();
    expect(r.output()).toMatchObject({ exitCode: 0, reason: 'conflict', conflictPid: 77 });
  });

  it(`gives up when the pid file keeps turning stale (${MAX_RECLAIMS} reclaims)`, async () => {
    const r = rig();
    r.actor.start();
    r.claims[0]?.resolve({ kind: 'stale', pid: 1_000, reason: 'dead' });
    await flush();
    for (let i = 0; i < MAX_RECLAIMS; i += 1) {
      r.reclaims[i]?.done.resolve({ kind: 'stale', pid: 1_001 + i, reason: 'dead' });
      await flush();
    }
    expect(r.reclaims).toHaveLength(MAX_RECLAIMS);
    expect(r.output()).toMatchObject({ exitCode: 1, reason: 'fatal' });
  });

  it('a STOP during the claim waits for it, then releases what was claimed; no pass runs', async () => {
    const r = rig();
    r.actor.start();
    r.actor.send({ type: 'STOP' });
    await flush();
    expect(r.state()).toBe('claiming');
    r.claims[0]?.resolve(CLAIMED);
    await flush();
    expect(r.state()).toBe('stopping.releasing');
    expect(r.passes).toHaveLength(0);
    r.releases[0]?.done.resolve();
    await flush();
    expect(r.output()?.exitCode).toBe(0);
  });

  it('a failed claim still runs cleanup (it may have created the pid file) and exits 1', async () => {
    const r = rig();
    r.actor.start();
    r.claims[0]?.reject(new Error('cannot open data.db'));
    await flush();
    expect(r.state()).toBe('stopping.releasing');
    expect(r.releases[0]?.input.reason).toBe('fatal');
    r.releases[0]?.done.resolve();
    await flush();
    expect(r.output()).toEqual({ exitCode: 1, reason: 'fatal', detail: 'cannot open data.db', conflictPid: null });
  });

  it('a clean stop whose cleanup fails exits 1', async () => {
    const r = rig();
    await r.serve();
    r.passes[0]?.done.resolve(summaryAt(1_000));
    await flush();
    r.actor.send({ type: 'STOP' });
    await flush();
    r.releases[0]?.done.reject(new Error('EACCES'));
    await flush();
    expect(r.output()).toMatchObject({ exitCode: 1, reason: 'fatal', detail: 'cleanup failed: EACCES' });
  });

  it('placeholder effects fail loudly when the composition root forgets one', async () => {
    const actor = createActor(machine, { input: {}, clock: new ManualClock() });
    actor.start();
    await flush();
    await flush();
    expect(actor.getSnapshot().context.outcome?.detail).toBe("daemon effect 'claim' was not provided");
    actor.stop();
  });
});
