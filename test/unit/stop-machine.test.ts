/**
 * The stop protocol's promises against fake effects: never signal a stranger, poll fast then back off,
 * escalate to SIGKILL after the grace period and confirm death, exit codes as DESIGN §8.
 */
import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import {
  type AliveCheck,
  type ExitHint,
  machine,
  nextPollDelay,
  POLLS_PER_WAIT,
  type ProbeResult,
  provideStop,
  STOP_EXIT_CODES,
  type SignalInput,
  type SignalResult,
  type StopInput,
  type StopOutput,
} from '../../src/machines/stop.js';
import { stateName, type StateValue } from '../../src/machines/types.js';
import { flush, ManualClock } from '../model/harness.js';

const PID = 777;

/**
 * A stop run against a fake process: it "dies" at `diesAt` (clock ms; never when null) or refuses
 * signals with `signalAnswer`. Time is the manual clock, which also stamps the effects' results.
 */
function rig(
  probe: ProbeResult,
  options: {
    input?: Partial<StopInput>;
    diesAt?: number | null;
    diesOnKillAt?: number | null;
    signalAnswer?: SignalResult['kind'];
  } = {},
) {
  const clock = new ManualClock();
  clock.now = 10_000;
  const signals: SignalInput[] = [];
  const cleaned: (number | null)[] = [];
  const checks: number[] = [];
  let diesAt = options.diesAt ?? null;
  const actor = createActor(
    provideStop({
      probe: () => Promise.resolve(probe),
      cleanStale: ({ pid }) => {
        cleaned.push(pid);
        return Promise.resolve();
      },
      signal: (input) => {
        signals.push(input);
        const kind = options.signalAnswer ?? 'ok';
        if (input.signal === 'SIGKILL' && options.diesOnKillAt !== undefined) diesAt = options.diesOnKillAt;
        return Promise.resolve(kind === 'ok' ? { kind, at: clock.now } : { kind });
      },
      checkAlive: (): Promise<AliveCheck> => {
        checks.push(clock.now);
        return Promise.resolve({ alive: diesAt === null || clock.now < diesAt, at: clock.now });
      },
      log: () => {},
    }),
    { input: { graceMs: 1_000, killTimeoutMs: 500, force: false, ...options.input }, clock },
  );
  return {
    actor,
    clock,
    signals,
    cleaned,
    checks,
    state: () => stateName(actor.getSnapshot().value as StateValue),
    output: () => actor.getSnapshot().output as StopOutput | undefined,
    /** Fires timers until the run ends; returns the delays it waited. */
    async runToEnd(): Promise<number[]> {
      actor.start();
      await flush();
      const delays: number[] = [];
      while (actor.getSnapshot().status === 'active') {
        delays.push(clock.fireOnly());
        await flush();
        if (delays.length > 1_000) throw new Error('the stop protocol does not end');
      }
      return delays;
    },
  };
}

const RUNNING: ProbeResult = { kind: 'running', pid: PID, verified: true };

describe('stop machine', () => {
  it('nothing runs: exit 0, no signal', async () => {
    const r = rig({ kind: 'notRunning' });
    expect(await r.runToEnd()).toEqual([]);
    expect(r.output()).toEqual({ outcome: 'notRunning', exitCode: 0, pid: null, refusal: null, detail: null });
    expect(r.signals).toEqual([]);
  });

  it('a stale pid file is cleaned and never signalled', async () => {
    const r = rig({ kind: 'stale', pid: PID });
    await r.runToEnd();
    expect(r.output()?.outcome).toBe('staleCleaned');
    expect(r.cleaned).toEqual([PID]);
    expect(r.signals).toEqual([]);
  });

  it('refuses an unverified process without --force, and signals nothing', async () => {
    const r = rig({ kind: 'unverified', pid: PID });
    await r.runToEnd();
    expect(r.output()).toMatchObject({ outcome: 'refused', exitCode: 3, refusal: 'unverified', pid: PID });
    expect(r.signals).toEqual([]);
  });

  it('with --force, terminates an unverified process', async () => {
    const r = rig({ kind: 'unverified', pid: PID }, { input: { force: true }, diesAt: 10_020 });
    await r.runToEnd();
    expect(r.signals).toEqual([{ pid: PID, signal: 'SIGTERM' }]);
    expect(r.output()?.outcome).toBe('terminated');
  });

  it('even with --force, refuses when no pid names the owner', async () => {
    const r = rig({ kind: 'unverified', pid: null }, { input: { force: true } });
    await r.runToEnd();
    expect(r.output()?.outcome).toBe('refused');
    expect(r.signals).toEqual([]);
  });

  it('sees a daemon that exits at once on the first poll, 5 ms after SIGTERM', async () => {
    const r = rig(RUNNING, { diesAt: 10_001 });
    expect(await r.runToEnd()).toEqual([5]);
    expect(r.output()).toMatchObject({ outcome: 'terminated', exitCode: 0, pid: PID });
    expect(r.signals).toEqual([{ pid: PID, signal: 'SIGTERM' }]);
  });

  it('the lifetime lock let go cuts a sleeping poll short; a process still on its way out is polled from 1 ms', async () => {
    const clock = new ManualClock();
    clock.now = 10_000;
    let exit: (hint: ExitHint) => void = () => {};
    const checks: number[] = [];
    let alive = true;
    const actor = createActor(
      provideStop({
        probe: () => Promise.resolve(RUNNING),
        cleanStale: () => Promise.resolve(),
        signal: () => Promise.resolve({ kind: 'ok', at: clock.now }),
        checkAlive: (): Promise<AliveCheck> => {
          checks.push(clock.now);
          return Promise.resolve({ alive, at: clock.now });
        },
        awaitExit: () =>
          new Promise<ExitHint>((resolve) => {
            exit = resolve;
          }),
        log: () => {},
      }),
      { input: { graceMs: 1_000, killTimeoutMs: 500, force: false }, clock },
    );
    actor.start();
    await flush();
    // Asleep in its first 5 ms poll; the lock goes at 10_003 while the process is not yet reaped.
    expect(clock.armed()).toEqual([5]);
    clock.now = 10_003;
    exit({ kind: 'released' });
    await flush();
    expect(checks).toEqual([10_003]);
    expect(clock.armed()).toEqual([2]);
    alive = false;
    clock.fireOnly();
    await flush();
    expect(checks).toEqual([10_003, 10_005]);
    expect(actor.getSnapshot().output).toMatchObject({ outcome: 'terminated', exitCode: 0 });
  });

  it('backs off from 5 ms doubling to 100 ms, never sleeping past the grace deadline', async () => {
    const r = rig(RUNNING, { diesAt: 10_600 });
    const delays = await r.runToEnd();
    expect(delays).toEqual([5, 10, 20, 40, 80, 100, 100, 100, 100, 100]);
    expect(r.checks.at(-1)).toBe(10_655);
    expect(r.output()?.outcome).toBe('terminated');
    expect(nextPollDelay({ pollDelayMs: 100, deadlineAt: 11_000, clockMs: 10_970 })).toBe(30);
    expect(nextPollDelay({ pollDelayMs: 100, deadlineAt: 11_000, clockMs: 11_200 })).toBe(0);
  });

  it('a long grace costs a bounded number of polls (and so of journal records): the cap grows with it', async () => {
    const r = rig(RUNNING, { input: { graceMs: 60_000, killTimeoutMs: 5_000 }, diesAt: null, diesOnKillAt: 71_030 });
    const delays = await r.runToEnd();
    expect(r.output()?.outcome).toBe('killed');
    // 60 s at a 100 ms cap would be ~600 polls; the cap is grace / POLLS_PER_WAIT (3 s) instead.
    expect(Math.max(...delays)).toBe(3_000);
    expect(r.checks.length).toBeLessThan(2 * (POLLS_PER_WAIT + 12));
  });

  it('escalates to SIGKILL when the grace period ends, and confirms the process died', async () => {
    const r = rig(RUNNING, { diesAt: null, diesOnKillAt: 11_030 });
    const delays = await r.runToEnd();
    expect(r.signals).toEqual([
      { pid: PID, signal: 'SIGTERM' },
      { pid: PID, signal: 'SIGKILL' },
    ]);
    // The last grace wait is clamped so the deadline check happens exactly at 11 000.
    const graceWaits = delays.slice(0, delays.indexOf(5, 1));
    expect(graceWaits.reduce((a, b) => a + b, 0)).toBe(1_000);
    // After SIGKILL, polling starts fast again until death is seen; then the pid file is cleaned.
    expect(delays.slice(graceWaits.length)).toEqual([5, 10, 20]);
    expect(r.cleaned).toEqual([PID]);
    expect(r.output()).toMatchObject({ outcome: 'killed', exitCode: 0 });
  });

  it('reports wouldNotDie (exit 2) when the process survives the kill timeout', async () => {
    const r = rig(RUNNING, { diesAt: null });
    await r.runToEnd();
    expect(r.output()).toMatchObject({ outcome: 'wouldNotDie', exitCode: 2, pid: PID });
    expect(r.clock.now).toBe(11_500);
    expect(r.cleaned).toEqual([]);
  });

  it('refuses (exit 3) a signal it is not permitted to send', async () => {
    const r = rig(RUNNING, { signalAnswer: 'eperm' });
    await r.runToEnd();
    expect(r.output()).toMatchObject({ outcome: 'refused', exitCode: 3, refusal: 'notPermitted' });
  });

  it('a process that vanished before SIGTERM leaves only a stale file to clean', async () => {
    const r = rig(RUNNING, { signalAnswer: 'esrch' });
    await r.runToEnd();
    expect(r.output()?.outcome).toBe('staleCleaned');
    expect(r.cleaned).toEqual([PID]);
  });

  it('a failing probe fails the run (exit 3) with its message', async () => {
    const actor = createActor(
      provideStop({
        probe: () => Promise.reject(new Error('daemon.pid is a symlink')),
        cleanStale: () => Promise.resolve(),
        signal: () => Promise.resolve({ kind: 'esrch' }),
        checkAlive: () => Promise.resolve({ alive: false, at: 0 }),
        log: () => {},
      }),
      { input: { graceMs: 1_000, killTimeoutMs: 500, force: false } },
    );
    actor.start();
    await flush();
    expect(actor.getSnapshot().output).toMatchObject({
      outcome: 'failed',
      exitCode: 3,
      detail: 'daemon.pid is a symlink',
    });
  });

  it('maps outcomes to exit codes: 0 when nothing runs at the end, 2 would not die, 3 refused or failed', () => {
    expect(STOP_EXIT_CODES).toEqual({
      notRunning: 0,
      staleCleaned: 0,
      terminated: 0,
      killed: 0,
      wouldNotDie: 2,
      refused: 3,
      failed: 3,
    });
  });

  it('placeholder effects fail loudly when the composition root forgets one', async () => {
    const actor = createActor(machine, { input: { graceMs: 1, killTimeoutMs: 1, force: false } });
    actor.start();
    await flush();
    expect(actor.getSnapshot().output).toMatchObject({
      outcome: 'failed',
      detail: "stop effect 'probe' was not provided",
    });
  });
});
