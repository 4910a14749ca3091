/**
 * Test-only preload for the real-process model tests (`node --import clock-hook.mjs dist/cli/main.js …`).
 *
 * Everything in the CLI stays real — files, locks, signals, processes, SQLite, HTTP — except one
 * thing: the XState timers (the stop protocol's polls, the daemon's tick and abort grace) do not
 * fire on the wall clock but when the test says so, over the IPC channel the test opened. A
 * generated path says "the poll fired here, the lock was let go there"; with wall-clock timers the
 * number of polls before an event would depend on the scheduler, with these it is the path's.
 *
 * Messages to the test: `{ t: 'armed', id, ms }`, `{ t: 'cleared', id }` (the machine left the state
 * that armed it), `{ t: 'fired', id }`, and `{ t: 'exit', file }` once a child process of the CLI has
 * exited and that exit has been handled (the stop protocol's wait for the lifetime lock is such a
 * child). From the test: `{ t: 'fire', id }`.
 *
 * Only timers XState's scheduler arms are held (recognised by the scheduler on the stack); every
 * other timer (lock polling, HTTP, retries) runs on the real clock. Inert without the variable or
 * without an IPC channel, and the variable is removed so that the CLI's own children never see it.
 */
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';

const ENABLED = process.env.DIFFLORE_MODEL_CLOCK === '1' && typeof process.send === 'function';
delete process.env.DIFFLORE_MODEL_CLOCK;

/**
 * XState's scheduler arms its delays through the actor's clock: the caller of this setTimeout is the
 * clock's `setTimeout`, and its caller the scheduler's `schedule`. Anything else that merely runs
 * inside an XState callback (a lock poll started by an invoked promise) is not one of its timers.
 */
function armedByXState(stack) {
  const frames = stack.split('\n');
  return /\bsetTimeout\b/.test(frames[2] ?? '') && /\bschedule\b/.test(frames[3] ?? '');
}

function install() {
  const realSetTimeout = globalThis.setTimeout;
  const realClearTimeout = globalThis.clearTimeout;
  /** @type {Map<number, () => void>} */
  const held = new Map();
  let nextId = 1;
  let listening = false;

  const send = (message) => {
    try {
      process.send?.(message);
    } catch {
      // The test went away; nothing left to tell.
    }
  };
  const onMessage = (message) => {
    if (message?.t !== 'fire') return;
    const fn = held.get(message.id);
    if (fn === undefined) return;
    held.delete(message.id);
    listen();
    fn();
    // After the reactions the timer started (a check, the transition it led to): the test may act.
    setImmediate(() => send({ t: 'fired', id: message.id }));
  };
  /**
   * A held timer keeps the CLI alive as a real one would: the channel is ref'd exactly while some
   * timer is held (explicit ref/unref, so the 'message' listener alone never keeps it alive).
   */
  const listen = () => {
    if (held.size > 0 && !listening) {
      process.channel?.ref();
      listening = true;
    } else if (held.size === 0 && listening) {
      process.channel?.unref();
      listening = false;
    }
  };

  class HeldTimer {
    constructor(id) {
      this.id = id;
    }
    ref() {
      return this;
    }
    unref() {
      return this;
    }
    hasRef() {
      return true;
    }
    refresh() {
      return this;
    }
    [Symbol.toPrimitive]() {
      return -this.id;
    }
  }

  globalThis.setTimeout = function heldSetTimeout(fn, ms, ...args) {
    if (typeof fn !== 'function' || !armedByXState(new Error().stack ?? '')) {
      return realSetTimeout(fn, ms, ...args);
    }
    const id = nextId++;
    held.set(id, () => fn(...args));
    listen();
    send({ t: 'armed', id, ms: Number(ms) || 0 });
    return new HeldTimer(id);
  };
  globalThis.clearTimeout = function heldClearTimeout(timer) {
    if (timer instanceof HeldTimer) {
      if (held.delete(timer.id)) send({ t: 'cleared', id: timer.id });
      listen();
      return;
    }
    realClearTimeout(timer);
  };

  // Tell the test when a child's exit has been handled: the report goes out after the CLI's own
  // 'exit' listeners and the promise reactions they started.
  const realSpawn = childProcess.spawn;
  childProcess.spawn = function reportingSpawn(...args) {
    const child = realSpawn.apply(this, args);
    const file = String(args[0]);
    child.once('exit', () => setImmediate(() => send({ t: 'exit', file })));
    return child;
  };
  syncBuiltinESMExports();

  process.on('message', onMessage);
  // The channel itself must not keep the CLI alive while nothing is held.
  process.channel?.unref();
}

if (ENABLED) install();
