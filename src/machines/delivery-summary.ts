/**
 * The delivery summary (issue 16): the daemon's answer to "is my data getting out, and if not, why?".
 * Pure. It lives in the daemon machine's context (`context.delivery`), is derived from each drain
 * pass's output by `nextDelivery`, journaled with the transition that changed it (`deliveryRecord`)
 * and reproduced by `daemon log --verify`, and written to daemon-state.json's `delivery` section.
 *
 * States:
 * - `never-tried`        rows may be waiting, but no request has been made yet in this run;
 * - `idle`               nothing to send, and no request has succeeded yet (or the last failed and the
 *                        rows it was about have gone: abandoned, purged);
 * - `ok`                 the last request reached a healthy cloud (2xx, 409, or a 4xx that blames the row,
 *                        not the cloud); stays `ok` while there is nothing to send;
 * - `unreachable`        the last request never got an answer: DNS, refused, reset, timeout, TLS;
 * - `failing`            the cloud answered 5xx, 429, 408, 425 or a redirect: it is there but not taking rows;
 * - `auth-rejected`      the cloud refused the token (401/403, after any refresh); rows wait for a new token;
 * - `waiting-for-token`  there is no usable token; rows wait until there is one.
 */
import { type AttemptResult, type BreakerState, reasonPhrase, type Verdict } from './delivery-policy.js';

export const DELIVERY_STATES = [
  'never-tried',
  'idle',
  'ok',
  'unreachable',
  'failing',
  'auth-rejected',
  'waiting-for-token',
] as const;

export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** What a pass saw of the cloud: the outcome of its last settled request, or why it sent none. */
export type DeliveryOutcome = Exclude<DeliveryState, 'never-tried' | 'idle'>;

/** One request's (or a pass's) verdict on delivery, with a stable identifier for the cause. */
export interface DeliveryObservation {
  readonly outcome: DeliveryOutcome;
  /** `ENOTFOUND`, `ECONNREFUSED`, `timeout`, `http_503`, `no_token`…: an identifier, safe to journal. */
  readonly errorCode: string | null;
}

export interface DeliverySummary {
  readonly state: DeliveryState;
  /** When the daemon entered `state` (epoch ms); null until the first pass. */
  readonly since: number | null;
  /** Why delivery is not `ok`, scrubbed and bounded by the drainer; null when it is fine. */
  readonly lastError: string | null;
  /** The identifier of the cause (see DeliveryObservation.errorCode); null when fine. */
  readonly errorCode: string | null;
  readonly lastSuccessAtMs: number | null;
  /** When the next request or probe may go out (a row's backoff, the breaker, a token re-probe). */
  readonly nextAttemptAtMs: number | null;
  readonly breaker: { readonly open: boolean; readonly until: number | null };
  /** The API base the last pass used; null before the first. */
  readonly cloudUrl: string | null;
}

export const INITIAL_DELIVERY: DeliverySummary = {
  state: 'never-tried',
  since: null,
  lastError: null,
  errorCode: null,
  lastSuccessAtMs: null,
  nextAttemptAtMs: null,
  breaker: { open: false, until: null },
  cloudUrl: null,
};

/** What `nextDelivery` reads of a finished pass (the daemon machine's DrainSummary has all of it). */
export interface PassDeliveryFacts {
  readonly finishedAt: number;
  readonly nextDueAt: number | null;
  /** The last settled request's verdict, or the reason no request went out; null: nothing was sent. */
  readonly outcome: DeliveryOutcome | null;
  readonly errorCode: string | null;
  readonly lastError: string | null;
  /** Sendable rows were pending when the pass ended (due or backing off). */
  readonly rowsWaiting: boolean;
  readonly breaker: Pick<BreakerState, 'state' | 'openUntil'>;
  readonly cloudUrl?: string | null;
}

/** The summary after a pass. Pure: times come from the pass (`finishedAt`), never a clock. */
export function nextDelivery(previous: DeliverySummary, pass: PassDeliveryFacts): DeliverySummary {
  let state: DeliveryState;
  if (pass.outcome !== null) state = pass.outcome;
  else if (!pass.rowsWaiting) state = previous.state === 'ok' ? 'ok' : 'idle';
  // Rows wait but nothing went out (all backing off, the breaker open): nothing new was learnt.
  else if (previous.state === 'idle') state = previous.lastSuccessAtMs === null ? 'never-tried' : 'ok';
  else state = previous.state;
  const healthy = state === 'ok' || state === 'idle' || state === 'never-tried';
  return {
    state,
    since: state === previous.state && previous.since !== null ? previous.since : pass.finishedAt,
    lastError: healthy ? null : pass.outcome === null ? previous.lastError : (pass.lastError ?? previous.lastError),
    errorCode: healthy ? null : pass.outcome === null ? previous.errorCode : pass.errorCode,
    lastSuccessAtMs: pass.outcome === 'ok' ? pass.finishedAt : previous.lastSuccessAtMs,
    nextAttemptAtMs: pass.nextDueAt,
    breaker: { open: pass.breaker.state !== 'closed', until: pass.breaker.openUntil },
    cloudUrl: pass.cloudUrl ?? previous.cloudUrl,
  };
}

/** True for the states in which rows are not getting out for a reason the user may have to fix. */
export function deliveryBlocked(state: DeliveryState): boolean {
  return state === 'unreachable' || state === 'failing' || state === 'auth-rejected' || state === 'waiting-for-token';
}

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|EPROTO$|HOSTNAME_MISMATCH)/;
const CODE_IN_TEXT =
  /\b(E[A-Z][A-Z0-9_]+|ERR_[A-Z0-9_]+|CERT_[A-Z0-9_]+|UNABLE_TO_[A-Z0-9_]+|DEPTH_ZERO_[A-Z0-9_]+|SELF_SIGNED_[A-Z0-9_]+)\b/;

/** The errno-like code in a transport message (`getaddrinfo ENOTFOUND x` → `ENOTFOUND`), or null. */
export function transportCode(message: string): string | null {
  return CODE_IN_TEXT.exec(message)?.[1] ?? null;
}

/**
 * What one settled request says about delivery (null for results that say nothing about the cloud:
 * a row we could not shape, a skipped kind). A 4xx that abandons a row is a healthy cloud refusing a
 * bad row, so it counts as `ok`.
 */
export function observeAttempt(attempt: AttemptResult, verdict: Verdict): DeliveryObservation | null {
  switch (attempt.type) {
    case 'network':
      return { outcome: 'unreachable', errorCode: transportCode(attempt.message) ?? 'network' };
    case 'timeout':
      return { outcome: 'unreachable', errorCode: 'timeout' };
    case 'response': {
      const errorCode = `http_${attempt.status}`;
      if (verdict.action === 'auth') return { outcome: 'auth-rejected', errorCode };
      // A 2xx whose body could not be read: the cloud answered, but not in a way that confirms rows.
      if (verdict.action === 'retry' && attempt.status >= 200 && attempt.status < 300) {
        return { outcome: 'failing', errorCode: 'unreadable_2xx' };
      }
      if (verdict.action === 'retry') return { outcome: 'failing', errorCode };
      return { outcome: 'ok', errorCode: null };
    }
    default:
      return null;
  }
}

/** The cause in a few plain words: `DNS lookup failed (ENOTFOUND)`, `503 Service Unavailable`. */
export function causeInWords(errorCode: string | null): string | null {
  if (errorCode === null) return null;
  const http = /^http_(\d{3})$/.exec(errorCode);
  if (http) {
    const status = Number(http[1]);
    const phrase = `${status} ${reasonPhrase(status)}`;
    return status === 429 ? `the cloud asks us to slow down (${phrase})` : `the cloud answers ${phrase}`;
  }
  const words: Readonly<Record<string, string>> = {
    ENOTFOUND: 'DNS lookup failed',
    EAI_AGAIN: 'DNS lookup failed',
    EAI_FAIL: 'DNS lookup failed',
    EAI_NONAME: 'DNS lookup failed',
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset',
    EPIPE: 'connection reset',
    ETIMEDOUT: 'timed out',
    timeout: 'no answer in time',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ENETDOWN: 'network down',
    no_token: 'no cloud token',
    token_unusable: 'the token cannot be used',
    token_refused: 'the cloud refused this token',
    unreadable_2xx: 'the cloud answers 2xx with a body that does not confirm the rows',
    network: 'connection failed',
  };
  const said = words[errorCode] ?? (TLS_CODE.test(errorCode) ? 'TLS handshake failed' : 'connection failed');
  // System codes (ENOTFOUND, CERT_…) are worth showing; our own lowercase identifiers are not.
  return /^[A-Z]/.test(errorCode) ? `${said} (${errorCode})` : said;
}

/**
 * The part of the summary the journal keeps and replay reproduces: identifiers and times only (no
 * error text, no URL). Flat, so that the journal's sanitizer keeps every field.
 */
export interface DeliveryRecord {
  readonly [field: string]: string | number | boolean | null;
  readonly state: DeliveryState;
  readonly since: number | null;
  readonly errorCode: string | null;
  readonly lastSuccessAtMs: number | null;
  readonly nextAttemptAtMs: number | null;
  readonly breakerOpen: boolean;
  readonly breakerUntil: number | null;
}

export function deliveryRecord(summary: DeliverySummary): DeliveryRecord {
  return {
    state: summary.state,
    since: summary.since,
    errorCode: summary.errorCode,
    lastSuccessAtMs: summary.lastSuccessAtMs,
    nextAttemptAtMs: summary.nextAttemptAtMs,
    breakerOpen: summary.breaker.open,
    breakerUntil: summary.breaker.until,
  };
}

/** Reads a summary back from a state file (or anything), defaulting what is missing or malformed. */
export function reviveDelivery(value: unknown): DeliverySummary | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const state = DELIVERY_STATES.find((s) => s === v.state);
  if (state === undefined) return null;
  const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
  const str = (x: unknown): string | null => (typeof x === 'string' ? x : null);
  const breaker = typeof v.breaker === 'object' && v.breaker !== null ? (v.breaker as Record<string, unknown>) : {};
  return {
    state,
    since: num(v.since),
    lastError: str(v.lastError),
    errorCode: str(v.errorCode),
    lastSuccessAtMs: num(v.lastSuccessAtMs),
    nextAttemptAtMs: num(v.nextAttemptAtMs),
    breaker: { open: breaker.open === true, until: num(breaker.until) },
    cloudUrl: str(v.cloudUrl),
  };
}
