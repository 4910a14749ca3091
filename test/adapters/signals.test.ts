import { afterEach, describe, expect, it } from 'vitest';
import { installSignalHandlers, sendSignal } from '../../src/adapters/lifecycle/signals.js';
import { deadPid, killAllChildren, startAdapterChild } from './fixtures/child.js';

afterEach(async () => {
  await killAllChildren();
});

describe('signals adapter', () => {
  it('refuses pid ≤ 1 and non-integers without sending anything', () => {
    for (const pid of [0, 1, -1, -1234, 2.5, Number.NaN]) {
      expect(sendSignal(pid, 'SIGTERM')).toEqual({ kind: 'refused', reason: 'invalidPid' });
    }
  });

  it('answers esrch for a process that is gone', async () => {
    expect(sendSignal(await deadPid(), 'SIGTERM')).toEqual({ kind: 'esrch' });
  });

  it('forwards SIGTERM, SIGINT and SIGHUP to the callback, and removing the handlers restores the default', async () => {
    const child = startAdapterChild(['signals']);
    await child.next((m) => m.event === 'ready');
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      expect(sendSignal(child.pid, signal)).toEqual({ kind: 'ok' });
      await child.next((m) => m.event === 'signal' && m.signal === signal, `${signal} forwarded`);
    }
    child.send('remove');
    await child.next((m) => m.event === 'removed');
    expect(sendSignal(child.pid, 'SIGTERM')).toEqual({ kind: 'ok' });
    expect(await child.exited).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('the remover is idempotent and only removes its own handlers', () => {
    const seen: string[] = [];
    const other = (): void => {
      seen.push('other');
    };
    process.on('SIGHUP', other);
    const remove = installSignalHandlers((s) => seen.push(s), ['SIGHUP']);
    process.emit('SIGHUP', 'SIGHUP');
    remove();
    remove();
    process.emit('SIGHUP', 'SIGHUP');
    process.off('SIGHUP', other);
    expect(seen).toEqual(['other', 'SIGHUP', 'other']);
  });
});
