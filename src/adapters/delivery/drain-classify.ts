/**
 * Classifying, the first step of the drain pipeline (classify → plan → send → settle): each claimed
 * row read by its kind's payload contract (src/machines/contracts) becomes either a request body to
 * send or an outcome at once — a payload Rust could never send is abandoned with the reason, a kind
 * confirmed without sending (legacy `fix_acceptance`) is confirmed, a kind this version does not know
 * is handed back untouched for a newer version. Pure apart from hashing the Idempotency-Key.
 */
import { judgeAttempt } from '../../machines/delivery-policy.js';
import { stringifyJson } from '../../machines/contracts/index.js';
import { type Route, idempotencyKey, routeFor, shapeRow } from './cloud-routes.js';
import type { ClaimedRow } from '../outbox/outbox-store.js';
import { type Outcome, type RetryTiming, outcomeOfFailure } from './drain-settle.js';

/** A row ready to go out. */
export interface Work {
  readonly row: ClaimedRow;
  /** The row's Idempotency-Key; null for a batched kind, whose key is computed only if it goes alone. */
  readonly key: string | null;
  /** The request path (a batch uses its route's). */
  readonly path: string;
  /** The body as sent, exactly as Rust would (one element of the array, for a batch row). */
  readonly text: string;
}

export interface Sendable {
  readonly route: Route;
  readonly work: Work;
}

/** A row is sendable, or already has its outcome. */
export type Classified = Sendable | Outcome;

export function isSendable(classified: Classified): classified is Sendable {
  return 'work' in classified;
}

/** What classifying needs: secrets to scrub from error texts, the policy, the clock at the claim. */
export interface ClassifyContext extends RetryTiming {
  readonly secrets: readonly string[];
  readonly now: () => number;
}

/**
 * One row's classification. A row whose payload cannot be parsed, shaped, serialised or hashed (nested
 * deeper than the stack, say) is abandoned alone, with the reason; it never stops the others.
 */
export function classifyRow(row: ClaimedRow, context: ClassifyContext): Classified {
  try {
    return shapeForSending(row, context);
  } catch (error) {
    const reason = `${row.kind}: cannot prepare the request (${(error as Error).message ?? String(error)})`;
    return invalid(row, row.kind, reason, context);
  }
}

function shapeForSending(row: ClaimedRow, context: ClassifyContext): Classified {
  const route = routeFor(row.kind);
  // A kind a newer version knows (claims leave such rows alone; this covers a race): hand it back
  // untouched, neither sent nor abandoned.
  if (route === undefined) return { kind: 'release', row };
  if (route.mode === 'skip') return { kind: 'confirm', row };
  // A row Rust could never parse is abandoned at once with the reason (Rust spends 8 tries on it).
  const shaped = shapeRow(route, row.payloadJson);
  if (!shaped.ok) return invalid(row, route.label, shaped.reason, context);
  const text = stringifyJson(shaped.body);
  const key = route.mode === 'batch' ? null : idempotencyKey(row.kind, row.payloadJson);
  return { route, work: { row, key, path: shaped.path, text } };
}

function invalid(row: ClaimedRow, label: string, reason: string, context: ClassifyContext): Outcome {
  const at = context.now();
  const verdict = judgeAttempt(
    { type: 'invalid', reason },
    { label, secrets: context.secrets, now: at, config: context.config },
  );
  return outcomeOfFailure(verdict, row, at, context);
}
