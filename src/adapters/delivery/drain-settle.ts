/**
 * Settling, the last step of the drain pipeline (classify → plan → send → settle): what each claimed
 * row became, and the plan the store applies for a whole claim in one transaction
 * (OutboxStore.settle). Pure: the verdicts come from src/machines/delivery-policy.ts, times and
 * randomness are passed in.
 */
import { type PolicyConfig, type Verdict, retryAt } from '../../machines/delivery-policy.js';
import type { ClaimedRow, SettlePlan } from '../outbox/outbox-store.js';

/** What one claimed row became in a pass. */
export type Outcome =
  | { readonly kind: 'confirm'; readonly row: ClaimedRow }
  | { readonly kind: 'retry'; readonly row: ClaimedRow; readonly error: string; readonly at: number }
  | { readonly kind: 'abandon'; readonly row: ClaimedRow; readonly error: string }
  /** Claimed but not tried (no try spent); `note` replaces the row's last_error. */
  | { readonly kind: 'release'; readonly row: ClaimedRow; readonly note?: string };

/** What turning a failure into an outcome needs: the policy and the jitter source for the retry time. */
export interface RetryTiming {
  readonly config: PolicyConfig;
  readonly random: () => number;
}

/**
 * A row's outcome under a verdict that did not confirm its request at `at`: the next try behind a
 * jittered backoff (or the server's Retry-After), or abandonment. An `auth` verdict never reaches
 * here (the sender releases those rows); it would confirm, as `confirm` does.
 */
export function outcomeOfFailure(verdict: Verdict, row: ClaimedRow, at: number, timing: RetryTiming): Outcome {
  if (verdict.action === 'retry') {
    const next = retryAt(at, row.retryCount + 1, verdict.retryAfterMs, timing.random, timing.config);
    return { kind: 'retry', row, error: verdict.error, at: next };
  }
  if (verdict.action === 'abandon') return { kind: 'abandon', row, error: verdict.error };
  return { kind: 'confirm', row };
}

/**
 * The store's plan for a claim's outcomes. Released rows all take the first note given (they were
 * handed back for the same reason: the token was refused).
 */
export function settlePlan(outcomes: readonly Outcome[]): SettlePlan {
  const confirm: number[] = [];
  const retry: { id: number; error: string; at: number }[] = [];
  const abandon: { id: number; error: string }[] = [];
  const release: number[] = [];
  let releaseNote: string | null = null;
  for (const o of outcomes) {
    switch (o.kind) {
      case 'confirm':
        confirm.push(o.row.id);
        break;
      case 'retry':
        retry.push({ id: o.row.id, error: o.error, at: o.at });
        break;
      case 'abandon':
        abandon.push({ id: o.row.id, error: o.error });
        break;
      case 'release':
        release.push(o.row.id);
        releaseNote ??= o.note ?? null;
        break;
    }
  }
  return { confirm, retry, abandon, release, releaseNote };
}
