/**
 * Event sourcing: `sanitizeEvent` keeps what replay needs and nothing secret; `replayJournal`
 * reproduces recorded runs and reports the first record the machine does not reproduce.
 */
import { describe, expect, it } from 'vitest';
import { replayJournal, sanitizeEvent } from '../../src/machines/journal-replay.js';
import type { TransitionRecord } from '../../src/machines/types.js';
import { stateName } from '../../src/machines/types.js';
import { type ModelEvent, type ModelPath, runDaemonPath, runStopPath, stopPaths, summaryAt } from '../model/harness.js';

const CLAIMED = { kind: 'claimed', identity: { pid: 4242, bootId: 'boot', startTime: '1' } };

/** A scripted run: claim, a pass woken mid-way, idle, tick, wake, STOP mid-pass, cleanup. */
async function recordedDaemonRun(): Promise<TransitionRecord[]> {
  const script: [ModelEvent, string][] = [
    [{ type: 'xstate.done.actor.claim', output: CLAIMED }, 'serving.draining'],
    [{ type: 'WAKE' }, 'serving.draining'],
    [
      {
        type: 'xstate.done.actor.drainPass',
        output: summaryAt(1_010, {
          outcome: 'unreachable',
          errorCode: 'ECONNREFUSED',
          rowsWaiting: true,
          nextDueAt: 31_010,
          breaker: { state: 'open', consecutiveFailures: 3, openUntil: 31_010, opens: 1, authRejected: null },
        }),
      },
      'serving.draining',
    ],
    [{ type: 'xstate.done.actor.drainPass', output: summaryAt(1_020) }, 'serving.running'],
    [{ type: 'xstate.after.untilTick.daemon.serving.running' }, 'serving.draining'],
    [{ type: 'xstate.done.actor.drainPass', output: summaryAt(6_030, { nextDueAt: 7_000 }) }, 'serving.running'],
    [{ type: 'WAKE' }, 'serving.draining'],
    [{ type: 'STOP', signal: 'SIGTERM' }, 'stopping.abortingPass'],
    [{ type: 'xstate.done.actor.awaitAbortedPass', output: undefined }, 'stopping.releasing'],
    [{ type: 'xstate.done.actor.release', output: undefined }, 'stopped'],
  ];
  const path: ModelPath = {
    machine: 'daemon',
    input: { tickMs: 5_000, batchSize: 16, minSleepMs: 10, abortGraceMs: 2_000 },
    description: 'scripted',
    events: script.map(([event]) => event),
    states: ['claiming', ...script.map(([, state]) => state)],
  };
  return (await runDaemonPath(path)).records;
}

describe('sanitizeEvent', () => {
  it('keeps the input of the start', () => {
    expect(
      sanitizeEvent({ type: 'xstate.init', input: { graceMs: 10, force: true, token: 'secret-token' } } as {
        type: string;
      }),
    ).toEqual({ type: 'xstate.init', input: { graceMs: 10, force: true } });
  });

  it('keeps the fields guards and deadlines read from outputs, drops free text', () => {
    const event = {
      type: 'xstate.done.actor.drainPass',
      output: { ...summaryAt(1_000, { lastError: 'HTTP 500: {"token":"abc"}' }), body: '{"payload":1}' },
    };
    expect(sanitizeEvent(event)).toEqual({
      type: 'xstate.done.actor.drainPass',
      output: {
        attempted: 3,
        confirmed: 2,
        retried: 1,
        abandoned: 0,
        waitingForAuth: 0,
        cancelled: 0,
        nextDueAt: null,
        startedAt: 995,
        finishedAt: 1_000,
        outcome: 'ok',
        errorCode: null,
        rowsWaiting: false,
        breaker: { state: 'closed', consecutiveFailures: 0, openUntil: null, opens: 0 },
      },
    });
    expect(
      sanitizeEvent({
        type: 'xstate.done.actor.claim',
        output: { kind: 'claimed', identity: { pid: 5, bootId: 'a1b2-c3', startTime: '123' }, lifetime: { fd: 3 } },
      }),
    ).toEqual({
      type: 'xstate.done.actor.claim',
      output: { kind: 'claimed', identity: { pid: 5, bootId: 'a1b2-c3', startTime: '123' } },
    });
  });

  it('keeps an error code, never its message', () => {
    const error = Object.assign(new Error('Bearer sk-live-123 rejected'), { code: 'db_unavailable' });
    expect(sanitizeEvent({ type: 'xstate.error.actor.drainPass', error } as { type: string })).toEqual({
      type: 'xstate.error.actor.drainPass',
      error: { code: 'db_unavailable' },
    });
    expect(sanitizeEvent({ type: 'xstate.error.actor.claim', error: new Error('x') } as { type: string })).toEqual({
      type: 'xstate.error.actor.claim',
    });
  });

  it('keeps where a pass found its token (an identifier), never anything token-shaped beyond it', () => {
    expect(
      sanitizeEvent({ type: 'xstate.done.actor.drainPass', output: { authSource: 'rust-login:keyring' } } as {
        type: string;
      }),
    ).toEqual({ type: 'xstate.done.actor.drainPass', output: { authSource: 'rust-login:keyring' } });
    expect(
      sanitizeEvent({ type: 'xstate.done.actor.drainPass', output: { authSource: 'Bearer abc def' } } as {
        type: string;
      }),
    ).toEqual({ type: 'xstate.done.actor.drainPass', output: {} });
  });

  it('keeps STOP signal, nothing else of plain events', () => {
    expect(sanitizeEvent({ type: 'STOP', signal: 'SIGTERM', note: 'hi there' } as { type: string })).toEqual({
      type: 'STOP',
      signal: 'SIGTERM',
    });
    expect(sanitizeEvent({ type: 'WAKE', path: '/home/x' } as { type: string })).toEqual({ type: 'WAKE' });
  });
});

describe('transitionRecorder', () => {
  it('records the start with its input, context-only changes, and nothing for ignored events', async () => {
    const records = await recordedDaemonRun();
    expect(records[0]).toEqual({
      machine: 'daemon',
      seq: 1,
      atMs: 0,
      pid: 4242,
      from: null,
      event: { type: 'xstate.init', input: { tickMs: 5_000, batchSize: 16, minSleepMs: 10, abortGraceMs: 2_000 } },
      to: 'claiming',
      delivery: {
        state: 'never-tried',
        since: null,
        errorCode: null,
        lastSuccessAtMs: null,
        nextAttemptAtMs: null,
        breakerOpen: false,
        breakerUntil: null,
      },
    });
    // Delivery changes ride on the transition that made them, and only there.
    const changes = records.filter((r) => r.delivery !== undefined).map((r) => [r.seq, r.delivery?.state]);
    expect(changes).toEqual([
      [1, 'never-tried'],
      [5, 'unreachable'],
      [6, 'ok'],
      [8, 'ok'],
    ]);
    expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
    // The wake watcher saying it runs, and a WAKE during a pass, change only context and are
    // recorded: replay needs them (WATCHING lengthens the idle sleep).
    expect(records[2]).toMatchObject({ from: 'serving.draining', event: { type: 'WATCHING' }, to: 'serving.draining' });
    expect(records[3]).toMatchObject({ from: 'serving.draining', event: { type: 'WAKE' }, to: 'serving.draining' });
    // Only the machine's own snapshots: no record carries a child's promise events.
    expect(records.some((r) => r.event.type.startsWith('xstate.promise'))).toBe(false);
    expect(records.at(-1)).toMatchObject({ from: 'stopping.releasing', to: 'stopped' });
  });
});

describe('replayJournal', () => {
  it('replays a recorded daemon run to its final state', async () => {
    const records = await recordedDaemonRun();
    expect(records.length).toBeGreaterThan(5);
    // What a recorder writes goes through JSON.
    const journal = JSON.parse(JSON.stringify(records)) as TransitionRecord[];
    expect(replayJournal('daemon', journal)).toEqual({
      ok: true,
      finalState: 'stopped',
      runs: 1,
      replayed: records.length,
      skippedRuns: 0,
    });
  });

  it('replays every model path of both machines (their journals are checked in harness.ts too)', async () => {
    for (const path of stopPaths()) {
      const { records } = await runStopPath(path);
      expect(replayJournal('stop', records)).toMatchObject({ ok: true, finalState: path.states.at(-1) });
    }
  });

  it('reports the first record whose recorded state the machine does not reach', async () => {
    const records = await recordedDaemonRun();
    const tampered = records.map((r, i) => (i === 2 ? { ...r, to: 'stopped' } : r));
    const result = replayJournal('daemon', tampered);
    expect(result).toMatchObject({ ok: false, seq: records[2]?.seq, expected: 'stopped', actual: records[2]?.to });
  });

  it('reports a delivery summary the machine does not reproduce', async () => {
    const records = await recordedDaemonRun();
    const at = records.findIndex((r) => r.delivery?.state === 'unreachable');
    const tampered = records.map((r, i) =>
      i === at ? { ...r, delivery: { ...r.delivery, state: 'ok', errorCode: null } } : r,
    );
    const result = replayJournal('daemon', tampered);
    expect(result).toMatchObject({ ok: false, seq: records[at]?.seq });
    if (!result.ok) expect(result.reason).toContain('delivery summary differs');
  });

  it('reports a missing transition as a from-state mismatch', async () => {
    const records = await recordedDaemonRun();
    const gap = records.filter((_, i) => i !== 1);
    const result = replayJournal('daemon', gap);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain('from-state');
  });

  it('replays runs one by one, ignores other machines and skips runs whose start was rotated away', async () => {
    const first = await recordedDaemonRun();
    const second = (await recordedDaemonRun()).map((r) => ({ ...r, pid: 5_000 }));
    const [stopPath] = stopPaths().filter((p) => p.states.at(-1) === 'terminated');
    if (!stopPath) throw new Error('no terminated path');
    const stop = (await runStopPath(stopPath)).records;
    const truncated = first.slice(3).map((r) => ({ ...r, pid: 6_000 }));
    const journal = [...truncated, ...first, ...stop, ...second];
    expect(replayJournal('daemon', journal)).toEqual({
      ok: true,
      finalState: 'stopped',
      runs: 3,
      replayed: first.length + second.length,
      skippedRuns: 1,
    });
    expect(replayJournal('stop', journal)).toMatchObject({ ok: true, finalState: 'terminated', runs: 1 });
  });

  it('accepts states recorded as XState values instead of dotted names', async () => {
    const records = await recordedDaemonRun();
    const asValue = (name: string | null) => {
      if (name === null || !name.includes('.')) return name;
      const [parent, child] = name.split('.');
      return { [parent ?? '']: child };
    };
    const journal = records.map((r) => ({ ...r, from: asValue(r.from), to: asValue(r.to) }));
    expect(replayJournal('daemon', journal)).toMatchObject({ ok: true, finalState: 'stopped' });
    expect(stateName({ serving: 'running' })).toBe('serving.running');
  });

  it('an empty journal is fine', () => {
    expect(replayJournal('daemon', [])).toEqual({ ok: true, finalState: null, runs: 0, replayed: 0, skippedRuns: 0 });
  });
});
