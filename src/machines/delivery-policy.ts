/**
 * Delivery policy: the pure decisions of the drainer (DESIGN §5.2).
 * Owns: classifying one delivery attempt into a verdict, backoff with full jitter, Retry-After
 * parsing, the circuit breaker's transitions, and the text stored in `last_error`.
 * No I/O, no clock, no randomness of its own: callers pass `now` and a random source in.
 */
import { replaceSecrets, scrubbableSecrets } from './secrets.js';

/** Tunables. Defaults suit a daemon; tests shrink the delays. */
export interface PolicyConfig {
  /** First retry waits up to this long (full jitter: uniform in [0, base·2^(tries-1)]). */
  readonly backoffBaseMs: number;
  readonly backoffCapMs: number;
  /** A server's Retry-After is honoured up to this long. */
  readonly retryAfterCapMs: number;
  /** Consecutive retryable failures that open the breaker. */
  readonly breakerThreshold: number;
  /** How long the breaker stays open the first time; doubles on each failed probe up to the cap. */
  readonly breakerOpenMs: number;
  readonly breakerOpenCapMs: number;
  /**
   * Each cool-down, and each pause a server asks for with Retry-After, is stretched by a random
   * fraction up to this much (never shortened: the try budget and the server's wish stay floors), so a
   * fleet that failed together does not probe together and a cloud's one Retry-After spreads it.
   */
  readonly breakerJitter: number;
  /**
   * From the second cool-down in a row on (a failed probe: this is an outage, not a blip), the random
   * stretch is at least this wide (ms). Daemons trip as fast as rows arrive when an outage begins, so
   * after a few minutes of it they would otherwise come back within a few seconds' jitter of each
   * other. The first cool-down keeps only the relative jitter, so a blip costs a daemon seconds.
   */
  readonly breakerSpreadMs: number;
  /** After a 401/403, the same token is tried again (one probe) only after this long. */
  readonly authReprobeMs: number;
}

export const DEFAULT_POLICY: PolicyConfig = {
  backoffBaseMs: 1_000,
  backoffCapMs: 300_000,
  retryAfterCapMs: 3_600_000,
  breakerThreshold: 3,
  breakerOpenMs: 30_000,
  breakerOpenCapMs: 600_000,
  breakerJitter: 0.5,
  breakerSpreadMs: 180_000,
  authReprobeMs: 600_000,
};

export const LAST_ERROR_MAX_CHARS = 2048;
const SNIPPET_MAX_CHARS = 200;
export const REDACTED = '[REDACTED-TOKEN]';

/** What one attempt at delivering a row (or a batch of rows) came to. */
export type AttemptResult =
  /** The server answered. `accepted` is the route's success test on a 2xx (false: the body said no). */
  | {
      readonly type: 'response';
      readonly status: number;
      readonly body: string;
      readonly retryAfter: string | null;
      /** For 2xx only: the route's verdict on the body ('accepted', 'rejected' with a reason, 'undecodable'). */
      readonly success?: SuccessTest;
    }
  | { readonly type: 'network'; readonly message: string }
  | { readonly type: 'timeout'; readonly afterMs: number }
  /** The route could not shape the payload (bad JSON, missing field). */
  | { readonly type: 'invalid'; readonly reason: string }
  | { readonly type: 'unknown_kind'; readonly kind: string }
  /** A kind that is confirmed without being sent (legacy `fix_acceptance`). */
  | { readonly type: 'skipped' };

export type SuccessTest =
  | { readonly kind: 'accepted' }
  | { readonly kind: 'rejected'; readonly reason: string }
  | { readonly kind: 'undecodable'; readonly reason: string };

export type FailureClass = 'retryable' | 'auth' | 'permanent';

export type Verdict =
  | { readonly action: 'confirm'; readonly duplicate: boolean }
  /** Spend a try; `retryAfterMs` is the server's wish (capped), if it said one. */
  | { readonly action: 'retry'; readonly error: string; readonly retryAfterMs: number | null }
  /** No try spent: the token was refused. */
  | { readonly action: 'auth'; readonly error: string }
  | { readonly action: 'abandon'; readonly error: string };

export interface ErrorContext {
  /** Route label used in transport errors, e.g. `post_observations`. */
  readonly label: string;
  /** Secrets to scrub from anything stored or shown. */
  readonly secrets: readonly string[];
  readonly now: number;
  readonly config?: PolicyConfig;
}

/** Classifies a status code the server answered with. 2xx and 409 are not failures. */
export function classifyStatus(status: number): 'success' | 'duplicate' | FailureClass {
  if (status >= 200 && status < 300) return 'success';
  if (status === 409) return 'duplicate';
  if (status === 401 || status === 403) return 'auth';
  if (status === 408 || status === 425 || status === 429 || status >= 500) return 'retryable';
  // A redirect (we never follow one: it could carry the token elsewhere) or a non-final answer says
  // nothing against the row; it waits behind its backoff instead of being abandoned.
  if (status < 200 || (status >= 300 && status < 400)) return 'retryable';
  return 'permanent';
}

/** The verdict on one attempt. Pure: the caller applies it to the store. */
export function judgeAttempt(attempt: AttemptResult, context: ErrorContext): Verdict {
  const config = context.config ?? DEFAULT_POLICY;
  switch (attempt.type) {
    case 'skipped':
      return { action: 'confirm', duplicate: false };
    case 'unknown_kind':
      return { action: 'abandon', error: formatLastError(`unknown outbox kind '${attempt.kind}'`, context.secrets) };
    case 'invalid':
      return { action: 'abandon', error: formatLastError(`invalid payload: ${attempt.reason}`, context.secrets) };
    case 'network':
      return {
        action: 'retry',
        error: formatLastError(`transport: ${context.label}: ${attempt.message}`, context.secrets),
        retryAfterMs: null,
      };
    case 'timeout':
      return {
        action: 'retry',
        error: formatLastError(`transport: ${context.label}: timed out after ${attempt.afterMs} ms`, context.secrets),
        retryAfterMs: null,
      };
    case 'response': {
      const cls = classifyStatus(attempt.status);
      if (cls === 'duplicate') return { action: 'confirm', duplicate: true };
      if (cls === 'success') {
        const test = attempt.success ?? { kind: 'accepted' };
        if (test.kind === 'accepted') return { action: 'confirm', duplicate: false };
        const text = `${context.label}: ${attempt.status} ${reasonPhrase(attempt.status)} but ${test.reason}`;
        // A definite "no" from a healthy server will not change on resend (the cloud dedupes by key);
        // a body we could not read might have said yes, so that one is worth another try.
        return test.kind === 'rejected'
          ? { action: 'abandon', error: formatLastError(text, context.secrets) }
          : { action: 'retry', error: formatLastError(text, context.secrets), retryAfterMs: null };
      }
      const error = formatHttpError(attempt.status, attempt.body, context.secrets);
      if (cls === 'auth') return { action: 'auth', error };
      if (cls === 'permanent') return { action: 'abandon', error };
      return {
        action: 'retry',
        error,
        retryAfterMs: parseRetryAfter(attempt.retryAfter, context.now, config.retryAfterCapMs),
      };
    }
  }
}

/**
 * Full-jitter exponential backoff: uniform in [0, min(cap, base·2^(tries-1))], where `tries` is the
 * number of tries spent so far (≥ 1). `random` returns [0, 1).
 */
export function backoffDelayMs(tries: number, random: () => number, config: PolicyConfig = DEFAULT_POLICY): number {
  const exponent = Math.min(Math.max(tries - 1, 0), 30);
  const ceiling = Math.min(config.backoffCapMs, config.backoffBaseMs * 2 ** exponent);
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * ceiling);
}

/** When a failed row may be tried again: the server's Retry-After if it gave one, else backoff. */
export function retryAt(
  now: number,
  tries: number,
  retryAfterMs: number | null,
  random: () => number,
  config: PolicyConfig = DEFAULT_POLICY,
): number {
  return now + (retryAfterMs ?? backoffDelayMs(tries, random, config));
}

/**
 * Parses a Retry-After header: delta-seconds or an HTTP date. Returns ms from `now`, capped and
 * never negative, or null when absent or unparseable.
 */
export function parseRetryAfter(header: string | null | undefined, now: number, capMs: number): number | null {
  if (header === null || header === undefined) return null;
  const text = header.trim();
  if (text === '') return null;
  let ms: number;
  if (/^\d+$/.test(text)) {
    ms = Number(text) * 1000;
  } else {
    // Only date shapes: Date.parse also accepts things like "1" or "soon 5" on some engines.
    if (!/[a-z]{3}/i.test(text)) return null;
    const at = Date.parse(text);
    if (Number.isNaN(at)) return null;
    ms = at - now;
  }
  if (!Number.isFinite(ms)) return capMs;
  return Math.min(Math.max(ms, 0), capMs);
}

// ---------------------------------------------------------------------------------------------
// Breaker

export interface BreakerState {
  readonly state: 'closed' | 'open' | 'half_open';
  readonly consecutiveFailures: number;
  /** Unix ms until which nothing is sent (open), or null. */
  readonly openUntil: number | null;
  /** Opens in a row without a success in between: the cool-down doubles with each. */
  readonly opens: number;
  /**
   * The token the cloud refused (a fingerprint, never the token itself) and when. Delivery waits
   * until the token changes, or probes the same one again after `authReprobeMs`.
   */
  readonly authRejected: { readonly fingerprint: string; readonly at: number } | null;
}

export const CLOSED_BREAKER: BreakerState = {
  state: 'closed',
  consecutiveFailures: 0,
  openUntil: null,
  opens: 0,
  authRejected: null,
};

/** What the breaker lets through now: everything, a single probe, or nothing until `until`. */
export type Gate =
  | { readonly pass: 'all' }
  | { readonly pass: 'probe' }
  | { readonly pass: 'none'; readonly until: number };

export function breakerGate(breaker: BreakerState, now: number): Gate {
  if (breaker.state === 'closed') return { pass: 'all' };
  if (breaker.state === 'half_open') return { pass: 'probe' };
  const until = breaker.openUntil ?? now;
  return now >= until ? { pass: 'probe' } : { pass: 'none', until };
}

/** Open → half-open once the cool-down is over (the caller then sends exactly one probe). */
export function breakerBeginProbe(breaker: BreakerState, now: number): BreakerState {
  if (breaker.state === 'open' && now >= (breaker.openUntil ?? now)) {
    return { ...breaker, state: 'half_open', openUntil: null };
  }
  return breaker;
}

/** The server answered in a way that shows it is healthy (2xx, 409, or a plain 4xx). */
export function breakerOnHealthy(breaker: BreakerState): BreakerState {
  if (breaker.state === 'closed' && breaker.consecutiveFailures === 0 && breaker.opens === 0) return breaker;
  return { ...breaker, state: 'closed', consecutiveFailures: 0, openUntil: null, opens: 0 };
}

/**
 * A retryable failure (5xx, 408/425/429, network, timeout). Opens the breaker at the threshold, or
 * at once when the probe fails, or when the server asked for a pause (Retry-After).
 */
export function breakerOnRetryable(
  breaker: BreakerState,
  now: number,
  retryAfterMs: number | null,
  config: PolicyConfig = DEFAULT_POLICY,
  /** [0, 1) draw for the jitter; without one the pauses are exactly the nominal ones. */
  random: () => number = noJitter,
): BreakerState {
  const failures = breaker.consecutiveFailures + 1;
  const draw = (): number => Math.min(Math.max(random(), 0), 1);
  const askedPause = retryAfterMs === null ? 0 : now + retryAfterMs * (1 + config.breakerJitter * draw());
  if (breaker.state === 'open') {
    // Requests already in flight when it opened: they neither escalate the cool-down nor shorten it.
    return { ...breaker, consecutiveFailures: failures, openUntil: Math.max(breaker.openUntil ?? now, askedPause) };
  }
  const trips = breaker.state === 'half_open' || failures >= config.breakerThreshold;
  if (!trips && retryAfterMs === null) return { ...breaker, consecutiveFailures: failures };
  const opens = trips ? breaker.opens + 1 : breaker.opens;
  const coolDown = trips ? breakerCoolDownMs(opens, config) + breakerStretchMs(opens, config) * draw() : 0;
  return {
    ...breaker,
    state: 'open',
    consecutiveFailures: failures,
    openUntil: Math.max(now + coolDown, askedPause),
    opens,
  };
}

const noJitter = (): number => 0;

/** The nominal cool-down after the `opens`-th trip in a row: doubling from breakerOpenMs up to the cap. */
export function breakerCoolDownMs(opens: number, config: PolicyConfig = DEFAULT_POLICY): number {
  return Math.min(config.breakerOpenCapMs, config.breakerOpenMs * 2 ** Math.min(Math.max(opens - 1, 0), 20));
}

/** How much longer than nominal the `opens`-th cool-down in a row may be drawn (see breakerSpreadMs). */
export function breakerStretchMs(opens: number, config: PolicyConfig = DEFAULT_POLICY): number {
  const relative = breakerCoolDownMs(opens, config) * config.breakerJitter;
  return opens >= 2 ? Math.max(relative, config.breakerSpreadMs) : relative;
}

/** The cloud refused this token (401/403). */
export function breakerOnAuthRejected(breaker: BreakerState, fingerprint: string, now: number): BreakerState {
  return { ...breaker, authRejected: { fingerprint, at: now } };
}

/** Whether a token may be tried: not the one last refused, unless the re-probe interval has passed. */
export function tokenMayBeTried(
  breaker: BreakerState,
  fingerprint: string,
  now: number,
  config: PolicyConfig = DEFAULT_POLICY,
): boolean {
  const rejected = breaker.authRejected;
  if (rejected === null || rejected.fingerprint !== fingerprint) return true;
  return now - rejected.at >= config.authReprobeMs;
}

/** The cloud accepted a request with this token: forget an old refusal. */
export function breakerOnAuthAccepted(breaker: BreakerState): BreakerState {
  return breaker.authRejected === null ? breaker : { ...breaker, authRejected: null };
}

/** Accepts a breaker read back from a state file, or falls back to closed when it is malformed. */
export function reviveBreaker(value: unknown): BreakerState {
  if (typeof value !== 'object' || value === null) return CLOSED_BREAKER;
  const v = value as Record<string, unknown>;
  const state = v.state === 'open' || v.state === 'half_open' || v.state === 'closed' ? v.state : null;
  if (state === null) return CLOSED_BREAKER;
  const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
  const auth = v.authRejected as Record<string, unknown> | null | undefined;
  return {
    state,
    consecutiveFailures: num(v.consecutiveFailures) ?? 0,
    openUntil: num(v.openUntil),
    opens: num(v.opens) ?? 0,
    authRejected:
      auth && typeof auth.fingerprint === 'string' && num(auth.at) !== null
        ? { fingerprint: auth.fingerprint, at: num(auth.at) as number }
        : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Applying verdicts: shared by the drain pass and the fleet simulation (sim/), so both decide alike

/**
 * A row is abandoned on its MAX_TRIES-th failed try, as in Rust (rust-wire §0.4). The store applies
 * this in SQL; the policy owns the number.
 */
export const MAX_TRIES = 8;

/**
 * The breaker after one attempt. Only failures that say the cloud is unwell (retryable verdicts other
 * than an unreadable 2xx) count against it; any answer from a server that is not such a failure shows
 * it healthy; local failures (bad payload, unknown kind) say nothing about the cloud.
 */
export function breakerAfterAttempt(
  breaker: BreakerState,
  attempt: AttemptResult,
  verdict: Verdict,
  context: {
    readonly now: number;
    readonly tokenFingerprint: string;
    readonly config?: PolicyConfig;
    /** [0, 1) source for the breaker's jitter. */
    readonly random: () => number;
  },
): BreakerState {
  if (verdict.action === 'auth') return breakerOnAuthRejected(breaker, context.tokenFingerprint, context.now);
  const fromServer = attempt.type === 'response';
  const healthyAnswer = fromServer && attempt.status >= 200 && attempt.status < 300;
  if (verdict.action === 'retry' && !healthyAnswer) {
    const config = context.config ?? DEFAULT_POLICY;
    return breakerOnRetryable(breaker, context.now, verdict.retryAfterMs, config, context.random);
  }
  return fromServer ? breakerOnAuthAccepted(breakerOnHealthy(breaker)) : breaker;
}

/**
 * A failed request that carried several rows is split in two and both halves resent (no try spent)
 * while the breaker still lets everything through, so one bad row alone takes the blame. Returns
 * where to split, or null to settle every row with the verdict (one row, or the breaker tripped:
 * in an outage every half fails too).
 */
export function splitFailedBatch(rows: number, breaker: BreakerState, now: number): number | null {
  if (rows <= 1 || breakerGate(breaker, now).pass !== 'all') return null;
  return Math.ceil(rows / 2);
}

/**
 * The shortest time in which a row can spend all MAX_TRIES tries against a cloud that fails every
 * request (no Retry-After): at most `breakerThreshold` tries before the breaker trips (backoff may be
 * near zero), then one probe per cool-down, each at least its nominal length (jitter only stretches).
 * An outage shorter than this abandons no row that it found fresh.
 */
export function tryBudgetMs(config: PolicyConfig = DEFAULT_POLICY): number {
  let total = 0;
  for (let opens = 1; opens <= MAX_TRIES - config.breakerThreshold; opens++) total += breakerCoolDownMs(opens, config);
  return total;
}

/**
 * How many rows the half-open probe may carry in its one request, given how many one request can
 * carry for the row's kind.
 */
export function probeRowLimit(perRequest: number): number {
  return Math.max(1, perRequest);
}

/**
 * When a pass that just ended has work again: the earliest due row, not before an open breaker lets a
 * probe through. While delivery waits for a token, due rows are not work: only a new token (seen on
 * the next tick) or the re-probe of a refused one can move them, so never a time in the past.
 */
export function passNextDueAt(
  storeNextDueAt: number | null,
  breaker: BreakerState,
  waitingForAuth: boolean,
  config: PolicyConfig = DEFAULT_POLICY,
): number | null {
  let next = storeNextDueAt;
  if (next !== null && breaker.state === 'open' && breaker.openUntil !== null) next = Math.max(next, breaker.openUntil);
  if (next !== null && waitingForAuth) {
    const rejected = breaker.authRejected;
    next = rejected === null ? null : Math.max(next, rejected.at + config.authReprobeMs);
  }
  return next;
}

// ---------------------------------------------------------------------------------------------
// last_error text

/**
 * `"<status> <reason>: <snippet>"` (as the Rust client writes it, reference §3.4), the snippet being
 * the body with secrets scrubbed, whitespace collapsed and cut to 200 characters.
 */
export function formatHttpError(status: number, body: string, secrets: readonly string[]): string {
  const snippet = cutChars(redact(body, secrets).replace(/\s+/g, ' ').trim(), SNIPPET_MAX_CHARS);
  const head = `${status} ${reasonPhrase(status)}`;
  return formatLastError(snippet === '' ? head : `${head}: ${snippet}`, secrets);
}

/** Scrubs secrets and caps the text at 2048 characters: the only way text reaches `last_error`. */
export function formatLastError(text: string, secrets: readonly string[]): string {
  return cutChars(redact(text, secrets), LAST_ERROR_MAX_CHARS);
}

/** Replaces every secret of scrubbable length (see secrets.ts), and anything after `Bearer `, with a marker. */
export function redact(text: string, secrets: readonly string[]): string {
  const out = replaceSecrets(text, scrubbableSecrets(secrets), REDACTED);
  return out.replace(/(Bearer\s+)(?!\[REDACTED-TOKEN\])[^\s"',;]+/gi, `$1${REDACTED}`);
}

function cutChars(text: string, max: number): string {
  if (text.length <= max) return text; // UTF-16 length ≥ code points: short texts need no scan
  const chars = Array.from(text);
  return chars.length <= max ? text : chars.slice(0, max).join('');
}

const REASONS: Readonly<Record<number, string>> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  301: 'Moved Permanently',
  302: 'Found',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  425: 'Too Early',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The canonical reason phrase, or the number itself when unknown (as the Rust client does). */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? String(status);
}
