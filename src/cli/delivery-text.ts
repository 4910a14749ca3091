/**
 * The delivery summary in plain words, for `daemon status`, `doctor`, `outbox status` and the daemon's
 * own log: "cannot reach the cloud at https://…: DNS lookup failed (ENOTFOUND) since 10:41; next try in
 * 37s; 5 rows waiting". Light: pure text from the summary and the queue facts, no I/O.
 */
import {
  causeInWords,
  type DeliveryState,
  type DeliverySummary,
  deliveryBlocked,
} from '../machines/delivery-summary.js';
import { formatDuration, plural, printable } from './text.js';

export { deliveryBlocked };

/** What the outbox says about the rows delivery is about (read by status from data.db). */
export interface QueueFacts {
  /** Sendable pending rows, plus rows being sent. */
  readonly waiting: number;
  /** Sendable pending rows due now. */
  readonly dueNow: number;
  /** Sendable pending rows waiting out a backoff. */
  readonly backingOff: number;
  readonly oldestPendingAtMs: number | null;
}

function where(summary: DeliverySummary): string {
  return summary.cloudUrl === null ? 'the cloud' : `the cloud at ${summary.cloudUrl}`;
}

/** One clause: what delivery is doing and why, without times or counts. */
export function describeDelivery(summary: DeliverySummary): string {
  const cause = causeInWords(summary.errorCode);
  const because = cause === null ? '' : `: ${cause}`;
  const said: Readonly<Record<DeliveryState, string>> = {
    'never-tried': 'no request sent yet',
    idle: 'nothing to send',
    ok: `delivering to ${where(summary)}`,
    unreachable: `cannot reach ${where(summary)}${because}`,
    failing: `${where(summary)} is failing${because}`,
    'auth-rejected': `${where(summary)} refused the token${because}; rows wait for a new one`,
    'waiting-for-token': `waiting for a token${because}; rows wait until there is one`,
  };
  return said[summary.state];
}

/** "10:41" today, "2026-11-29 10:41" another day (local time: what the user's clock shows). */
export function clockTime(atMs: number, now: number): string {
  const at = new Date(atMs);
  const two = (n: number): string => String(n).padStart(2, '0');
  const hm = `${two(at.getHours())}:${two(at.getMinutes())}`;
  if (at.toDateString() === new Date(now).toDateString()) return hm;
  return `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${hm}`;
}

/** When the next try happens, from the daemon's point of view. */
function nextTry(summary: DeliverySummary, now: number): string | null {
  if (summary.state === 'waiting-for-token') return 'next try when a token is set (read again on every pass)';
  const at = summary.nextAttemptAtMs;
  if (at === null) return null;
  if (at <= now) return 'next try now';
  const what = summary.breaker.open && summary.breaker.until === at ? 'next probe' : 'next try';
  return `${what} in ${formatDuration(at - now)}`;
}

/** The whole line: the clause, since when, the next try, and the rows waiting. */
export function deliveryLine(summary: DeliverySummary, now: number, queue: QueueFacts | null): string {
  const parts = [describeDelivery(summary)];
  const blocked = deliveryBlocked(summary.state);
  if (blocked && summary.since !== null) parts[0] += ` since ${clockTime(summary.since, now)}`;
  if (summary.state === 'ok' && summary.lastSuccessAtMs !== null) {
    parts.push(`last accepted ${formatDuration(Math.max(0, now - summary.lastSuccessAtMs))} ago`);
  }
  if (blocked) {
    const next = nextTry(summary, now);
    if (next !== null) parts.push(next);
  }
  if (queue !== null && queue.waiting > 0) {
    const split = queue.backingOff > 0 ? ` (${queue.dueNow} due now, ${queue.backingOff} backing off)` : '';
    parts.push(`${plural(queue.waiting, 'row')} waiting${split}`);
  }
  return printable(parts.join('; '));
}
