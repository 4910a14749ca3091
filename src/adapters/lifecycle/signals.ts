/**
 * Signals, both ways. Owns: sending one signal with a typed answer (never to pid ≤ 1, whatever
 * the caller asks), and installing/removing the handlers that turn SIGTERM, SIGINT and SIGHUP into
 * callbacks. Whether to send, what to send and when to escalate is the stop machine's business;
 * whether the target is provably ours is checked by the caller (liveness/identity) before this.
 */
import { DiffloreError, errnoCode } from '../../errors.js';
import { isValidPid } from './process-identity.js';

export type SendSignalResult =
  | { readonly kind: 'ok' }
  /** No such process (it has exited and been reaped). */
  | { readonly kind: 'esrch' }
  /** The process exists but we may not signal it (another user's). */
  | { readonly kind: 'eperm' }
  /** Never sent: pid ≤ 1, not an integer, or out of range (kill(0|-1, …) would hit groups). */
  | { readonly kind: 'refused'; readonly reason: 'invalidPid' };

/** Sends `signal` to `pid`. Unexpected errors (EINVAL for an unknown signal) throw `internal`. */
export function sendSignal(pid: number, signal: NodeJS.Signals): SendSignalResult {
  if (!isValidPid(pid)) return { kind: 'refused', reason: 'invalidPid' };
  try {
    process.kill(pid, signal);
    return { kind: 'ok' };
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ESRCH') return { kind: 'esrch' };
    if (code === 'EPERM') return { kind: 'eperm' };
    throw new DiffloreError('internal', `cannot send ${signal} to pid ${pid}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

export type ForwardedSignal = 'SIGTERM' | 'SIGINT' | 'SIGHUP';

export const DEFAULT_FORWARDED: readonly ForwardedSignal[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/** Removes the handlers installed by one `installSignalHandlers` call; calling it twice is harmless. */
export type RemoveSignalHandlers = () => void;

/**
 * Forwards each of `signals` to `onSignal` instead of Node's default (exit). Install before
 * claiming, so a SIGTERM during start-up is a clean stop rather than a kill that leaves the pid
 * file behind. A signal that arrives while `onSignal` throws is not lost for later ones: errors
 * from the callback are reported on the process's `warning` channel, not rethrown.
 */
export function installSignalHandlers(
  onSignal: (signal: ForwardedSignal) => void,
  signals: readonly ForwardedSignal[] = DEFAULT_FORWARDED,
): RemoveSignalHandlers {
  const installed: [ForwardedSignal, () => void][] = [];
  for (const signal of new Set(signals)) {
    const handler = (): void => {
      try {
        onSignal(signal);
      } catch (error) {
        process.emitWarning(`signal handler for ${signal} failed: ${(error as Error).message ?? String(error)}`);
      }
    };
    // SIGHUP cannot be listened to on Windows; skip what the platform refuses.
    try {
      process.on(signal, handler);
      installed.push([signal, handler]);
    } catch {
      // Not supported here.
    }
  }
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    for (const [signal, handler] of installed) process.off(signal, handler);
  };
}

export type IgnoredSignal = 'SIGUSR1' | 'SIGUSR2';

/**
 * Tells `onIgnored` about SIGUSR1/SIGUSR2 and otherwise does nothing with them: they neither stop
 * the daemon (SIGUSR2's default is to kill it, skipping the clean stop) nor open the inspector
 * (SIGUSR1's default). Only SIGTERM, SIGINT and SIGHUP mean something to the daemon.
 */
export function installIgnoredSignals(onIgnored: (signal: IgnoredSignal) => void): RemoveSignalHandlers {
  const installed: [IgnoredSignal, () => void][] = [];
  for (const signal of ['SIGUSR1', 'SIGUSR2'] as const) {
    const handler = (): void => onIgnored(signal);
    try {
      process.on(signal, handler);
      installed.push([signal, handler]);
    } catch {
      // Not a signal on this platform.
    }
  }
  return () => {
    for (const [signal, handler] of installed.splice(0)) process.off(signal, handler);
  };
}
