/**
 * The token of one drain pass: whether the pass may send at all (a token, not refused before), the
 * token requests go out with, and its one refresh when the cloud answers 401 to a Rust login — every
 * request in flight then shares that refresh and resends once. Also the words that tell the user what
 * to do while delivery waits for a token.
 */
import { type BreakerState, tokenMayBeTried } from '../../machines/delivery-policy.js';
import type { DeliveryObservation } from '../../machines/delivery-summary.js';
import { refreshFailureFor, rememberRefreshFailure } from '../auth/login-memory.js';
import { refreshLogin } from '../auth/login-refresh.js';
import type { HomePaths } from '../home/home.js';
import type { TransportResult } from './cloud-client.js';
import { type OpenRustLogin, type TokenResult, noTokenAdvice, tokenFingerprint } from './cloud-config.js';

/** Why a pass cannot send from the start: the words for the user and what it tells of delivery. */
export interface AuthWait {
  readonly problem: string;
  readonly observed: DeliveryObservation;
}

function refreshFailedProblem(paths: HomePaths, refusal: string, failure: string): string {
  return `the cloud refused the token (${refusal}) and refreshing the Rust login failed (${failure}); rows wait without spending tries: ${noTokenAdvice(paths)}`;
}

/**
 * Whether a pass with this token may send: null when it may; otherwise why not — no token, a token
 * that cannot be used, or one the cloud refused that may not be tried again yet.
 */
export function authWait(paths: HomePaths, token: TokenResult, breaker: BreakerState, now: number): AuthWait | null {
  if (token.kind === 'none') {
    const problem = `no cloud token: ${noTokenAdvice(paths)}; rows wait until then`;
    return { problem, observed: { outcome: 'waiting-for-token', errorCode: 'no_token' } };
  }
  if (token.kind !== 'token') {
    return { problem: token.message, observed: { outcome: 'waiting-for-token', errorCode: 'token_unusable' } };
  }
  if (tokenMayBeTried(breaker, token.fingerprint, now)) return null;
  const failed = refreshFailureFor(token.fingerprint);
  const problem =
    failed === null
      ? `the cloud refused this token (401/403); delivery waits until the token changes: ${noTokenAdvice(paths)}`
      : refreshFailedProblem(paths, '401 Unauthorized', failed);
  return { problem, observed: { outcome: 'auth-rejected', errorCode: 'token_refused' } };
}

/** The token requests of one pass go out with, refreshed at most once. */
export class PassAuth {
  #token: string;
  #login: OpenRustLogin | undefined;
  #refreshFailure: string | null = null;
  /** The Rust login was refreshed during the pass: by this process (`server`) or another one (`shared`). */
  refreshed: 'server' | 'shared' | null = null;
  /** Everything to scrub from stored and shown text: every token and refresh token the pass held. */
  readonly secrets: string[];
  readonly #paths: HomePaths;
  readonly #cloudUrl: string;

  constructor(paths: HomePaths, cloudUrl: string, token: string, login: OpenRustLogin | undefined) {
    this.#paths = paths;
    this.#cloudUrl = cloudUrl;
    this.#token = token;
    this.#login = login;
    this.secrets = [token, ...(login?.refreshToken ? [login.refreshToken] : [])];
  }

  get token(): string {
    return this.#token;
  }

  /**
   * Sends with the pass's token; a 401 to a Rust login refreshes it (one refresh for all) and resends
   * once. Returns the answer that counts and the token it was sent with.
   */
  async post(
    post: (bearer: string) => Promise<TransportResult>,
    signal: AbortSignal | undefined,
  ): Promise<{ result: TransportResult; bearer: string }> {
    const used = this.#token;
    const first = await post(used);
    if (first.type !== 'response' || first.status !== 401) return { result: first, bearer: used };
    const next = await this.#replacementFor(used);
    if (next === null || signal?.aborted) return { result: first, bearer: used };
    return { result: await post(next), bearer: next };
  }

  /** What the user must do after the cloud refused the token with `error`. */
  refusedProblem(error: string): string {
    return this.#refreshFailure === null
      ? `the cloud refused the token: ${error}; delivery waits until the token changes: ${noTokenAdvice(this.#paths)}`
      : refreshFailedProblem(this.#paths, error, this.#refreshFailure);
  }

  /** A token to resend with after `used` got a 401: a refreshed Rust login, or null (no login, refresh failed). */
  async #replacementFor(used: string): Promise<string | null> {
    if (this.#token !== used) return this.#token; // another request of this pass already refreshed
    if (this.#login === undefined || this.#refreshFailure !== null) return null;
    const outcome = await refreshLogin(this.#paths.home, this.#cloudUrl, { ...this.#login, token: used });
    if (outcome.kind === 'failed') {
      this.#refreshFailure = outcome.reason;
      rememberRefreshFailure(tokenFingerprint(used), outcome.reason);
      return null;
    }
    this.secrets.push(outcome.token, ...(outcome.refreshToken === null ? [] : [outcome.refreshToken]));
    if (this.#token === used) {
      this.#token = outcome.token;
      this.#login = { ...this.#login, token: outcome.token, refreshToken: outcome.refreshToken };
      this.refreshed = outcome.by;
    }
    return this.#token;
  }
}
