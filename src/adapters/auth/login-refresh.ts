/**
 * Refreshing the Rust login after a 401 (reference/rust-auth.md §6): `POST {base}/token/refresh`
 * with `{clientId: "difflore-cli", refreshToken}`, no Authorization header, 15 s; the new pair is
 * written back with Rust's `save_login_tokens` and kept in memory.
 *
 * Unlike Rust, which lets every process refresh on its own (and, against a server that rotates
 * refresh tokens, makes all but one of them fail), one refresh runs at a time across all our
 * processes: an in-process single flight, then a flock on `cloud-auth-refresh.lock`; whoever gets
 * the lock reads the database again and, if another process already replaced the token, takes that
 * one instead of refreshing again. The Rust binary takes no lock; if our refresh fails because it
 * spent the refresh token first, the pair it wrote is used.
 */
import { join } from 'node:path';
import { formatHttpError, formatLastError } from '../../machines/delivery-policy.js';
import { createCloudClient, type TransportResult } from '../delivery/cloud-client.js';
import { lock, unlock } from '../lifecycle/flock.js';
import { rememberedFor, rememberRefresh, rememberSecrets, seenLoginSecrets } from './login-memory.js';
import { openLogin, readLoginRows, loginDbPath, type RustLogin, saveLoginTokens } from './rust-login.js';

export const REFRESH_TIMEOUT_MS = 15_000;
/** Longer than one refresh: a waiter gives up only if the holder is stuck past its own timeout. */
const LOCK_WAIT_MS = REFRESH_TIMEOUT_MS + 5_000;
export const REFRESH_LOCK_NAME = 'cloud-auth-refresh.lock';
const CLIENT_ID = 'difflore-cli';

type OpenLogin = Extract<RustLogin, { kind: 'token' }>;

export type RefreshOutcome =
  | {
      readonly kind: 'refreshed';
      readonly token: string;
      readonly refreshToken: string | null;
      /** `server`: this process refreshed; `shared`: another one had, and its token is used. */
      readonly by: 'server' | 'shared';
      /** Set when the new pair could not be written back (it is still used from memory). */
      readonly saveError: string | null;
    }
  | { readonly kind: 'failed'; readonly reason: string };

/** Refreshes in flight in this process, by the token that was refused. */
const flights = new Map<string, Promise<RefreshOutcome>>();

/**
 * Gets a token to use instead of `login.token`, which the cloud answered 401 to. Concurrent calls
 * for the same refused token share one refresh.
 */
export function refreshLogin(home: string, cloudUrl: string, login: OpenLogin): Promise<RefreshOutcome> {
  const stale = login.token;
  let flight = flights.get(stale);
  if (flight === undefined) {
    flight = refreshLocked(home, cloudUrl, login).finally(() => flights.delete(stale));
    flights.set(stale, flight);
  }
  return flight;
}

async function refreshLocked(home: string, cloudUrl: string, login: OpenLogin): Promise<RefreshOutcome> {
  const known = rememberedFor(login.token);
  if (known !== null) return { kind: 'refreshed', ...known, by: 'shared', saveError: null };
  let held: Awaited<ReturnType<typeof lock>>;
  try {
    held = await lock(join(home, REFRESH_LOCK_NAME), { timeoutMs: LOCK_WAIT_MS });
  } catch (error) {
    return { kind: 'failed', reason: `cannot take the refresh lock: ${(error as Error).message}` };
  }
  if (held.kind === 'busy')
    return { kind: 'failed', reason: 'another process has been refreshing the login for too long' };
  try {
    const path = loginDbPath(home);
    const stored = storedLogin(path, login, cloudUrl);
    if (stored !== null && stored.token !== login.token) return sharedOutcome(stored);
    if (stored !== null) login = { ...login, refreshToken: stored.refreshToken };
    if (login.refreshToken === null) {
      return { kind: 'failed', reason: 'the Rust login has no refresh token' };
    }
    const answer = await postRefresh(cloudUrl, login.refreshToken);
    if (answer.kind === 'failed') {
      // The Rust binary takes no lock: it may have refreshed meanwhile and spent the refresh token.
      const after = storedLogin(path, login, cloudUrl);
      return after !== null && after.token !== login.token ? sharedOutcome(after) : answer;
    }
    rememberRefresh(login.token, answer.token, answer.refreshToken);
    let saveError: string | null = null;
    try {
      saveLoginTokens(path, login.key, login.origin, answer.token, answer.refreshToken);
    } catch (error) {
      saveError = formatLastError((error as Error).message, seenLoginSecrets());
    }
    return { kind: 'refreshed', token: answer.token, refreshToken: answer.refreshToken, by: 'server', saveError };
  } finally {
    unlock(held.handle);
  }
}

/** The login as stored now, opened with the key that opened `login`; null if it cannot be read. */
function storedLogin(path: string, login: OpenLogin, cloudUrl: string): OpenLogin | null {
  const rows = readLoginRows(path);
  if (rows.kind !== 'rows') return null;
  const now = openLogin(rows.rows, login.key, login.keySource, cloudUrl, path);
  return now.kind === 'token' ? now : null;
}

/** Another process (ours or the Rust binary) replaced the token: use its pair. */
function sharedOutcome(stored: OpenLogin): RefreshOutcome {
  rememberSecrets(stored.token, stored.refreshToken);
  return { kind: 'refreshed', token: stored.token, refreshToken: stored.refreshToken, by: 'shared', saveError: null };
}

async function postRefresh(
  cloudUrl: string,
  refreshToken: string,
): Promise<{ kind: 'ok'; token: string; refreshToken: string | null } | { kind: 'failed'; reason: string }> {
  const client = createCloudClient({ baseUrl: cloudUrl, token: '', timeoutMs: REFRESH_TIMEOUT_MS, maxSockets: 1 });
  let result: TransportResult;
  try {
    result = await client.post({
      path: '/token/refresh',
      body: JSON.stringify({ clientId: CLIENT_ID, refreshToken }),
      token: null,
    });
  } finally {
    client.close();
  }
  const secrets = [refreshToken, ...seenLoginSecrets()];
  const fail = (text: string) => ({
    kind: 'failed' as const,
    reason: formatLastError(`token refresh: ${text}`, secrets),
  });
  if (result.type === 'network') return fail(result.message);
  if (result.type === 'timeout') return fail(`timed out after ${result.afterMs} ms`);
  if (result.type === 'aborted') return fail('cancelled');
  if (result.status < 200 || result.status >= 300) return fail(formatHttpError(result.status, result.body, secrets));
  let body: unknown;
  try {
    body = JSON.parse(result.body);
  } catch {
    return fail(`${result.status} but the answer is not JSON`);
  }
  const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const token = record.token;
  if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token)) {
    return fail(`${result.status} but the answer has no usable 'token'`);
  }
  const next =
    typeof record.refreshToken === 'string' && record.refreshToken.trim() !== '' ? record.refreshToken.trim() : null;
  return { kind: 'ok', token, refreshToken: next };
}
