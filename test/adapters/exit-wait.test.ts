/**
 * Waiting for a lock holder's death (the stop protocol's `awaitExit`): a real flock held by a real
 * child process; the wait ends when the holder dies, not before, and a wait can be ended early.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exitWaiter } from '../../src/adapters/lifecycle/exit-wait.js';
import { probeLock, tryLock, unlock } from '../../src/adapters/lifecycle/flock.js';
import type { ExitHint } from '../../src/machines/stop.js';
import { makeTempHome } from '../helpers/index.js';
import { killAllChildren, startCommand } from './fixtures/child.js';

const hasFlockUtil = process.platform === 'linux' && spawnSync('flock', ['--version']).status === 0;

let home: string;
let cleanup: () => void;

beforeEach(() => {
  ({ home, cleanup } = makeTempHome());
  mkdirSync(home, { recursive: true, mode: 0o700 });
});

afterEach(async () => {
  await killAllChildren();
  cleanup();
});

/** Settles `promise` into a value we can look at without waiting for it. */
function watch(promise: Promise<ExitHint>): { readonly result: () => ExitHint | null } {
  let result: ExitHint | null = null;
  void promise.then((hint) => {
    result = hint;
  });
  return { result: () => result };
}

describe('exit waiter', () => {
  it('a missing lock file is nothing to wait for', async () => {
    expect(await exitWaiter(join(home, 'daemon.lock')).wait()).toEqual({
      kind: hasFlockUtil ? 'released' : 'unwatchable',
    });
  });

  it.runIf(hasFlockUtil)('ends when the holder dies, and only then', async () => {
    const path = join(home, 'daemon.lock');
    // Created 0600 by our own adapter, as the daemon creates it.
    const made = tryLock(path);
    if (made.kind === 'acquired') unlock(made.handle);
    const holder = startCommand('flock', ['-x', path, '-c', 'echo \'{"event":"locked"}\'; read line']);
    await holder.next((m) => m.event === 'locked', 'flock(1) locked');
    const waiter = exitWaiter(path);
    const waiting = watch(waiter.wait());
    // The holder still lives: a round trip through another process proves the wait did not end.
    expect(spawnSync('true').status).toBe(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(waiting.result()).toBeNull();
    expect(probeLock(path).kind).toBe('held');
    holder.send('done');
    expect(await waiter.wait()).toEqual({ kind: 'released' });
    expect(probeLock(path).kind).toBe('free');
  });

  it.runIf(hasFlockUtil)('can be ended while the holder lives (a target that would not die)', async () => {
    const path = join(home, 'daemon.lock');
    const made = tryLock(path);
    if (made.kind === 'acquired') unlock(made.handle);
    const holder = startCommand('flock', ['-x', path, '-c', 'echo \'{"event":"locked"}\'; read line']);
    await holder.next((m) => m.event === 'locked', 'flock(1) locked');
    const waiter = exitWaiter(path);
    const waiting = waiter.wait();
    // Cancelling before the child is even spawned must still end the wait once it is.
    await new Promise((resolve) => setTimeout(resolve, 0));
    waiter.cancel();
    expect(await waiting).toEqual({ kind: 'unwatchable' });
    expect(probeLock(path).kind).toBe('held');
  });
});
