/**
 * What this process remembers about the Rust login between passes, kept apart from the refresher so
 * that reading a token (status, doctor) never loads the HTTP client: the last refreshed pair (used in
 * place of the refused token if writing it back failed) and every token and refresh token seen, so
 * logs, journal and state files can scrub them.
 */

/** The fields of an opened login this module touches. */
interface LoginPair {
  readonly token: string;
  readonly refreshToken: string | null;
}

let remembered: { readonly from: string; readonly token: string; readonly refreshToken: string | null } | null = null;
const seen = new Set<string>();

export function rememberSecrets(...values: (string | null)[]): void {
  for (const v of values) if (v !== null && v !== '') seen.add(v);
}

/** Every login secret this process has seen. */
export function seenLoginSecrets(): string[] {
  return [...seen];
}

/** Records a refreshed pair replacing the refused token `from`. */
export function rememberRefresh(from: string, token: string, refreshToken: string | null): void {
  rememberSecrets(token, refreshToken);
  remembered = { from, token, refreshToken };
}

/** The pair that replaced `token` in this process, if any. */
export function rememberedFor(token: string): LoginPair | null {
  return remembered !== null && remembered.from === token ? remembered : null;
}

/** The login as this process knows it: a refreshed pair it could not write back replaces the stored one. */
export function withRemembered<T extends LoginPair>(login: T): T {
  rememberSecrets(login.token, login.refreshToken);
  const pair = rememberedFor(login.token);
  return pair === null ? login : { ...login, token: pair.token, refreshToken: pair.refreshToken };
}

/** Why refreshing a refused token failed, by that token's fingerprint: later passes say it again. */
const failures = new Map<string, string>();

export function rememberRefreshFailure(fingerprint: string, reason: string): void {
  if (failures.size > 16) failures.clear();
  failures.set(fingerprint, reason);
}

export function refreshFailureFor(fingerprint: string): string | null {
  return failures.get(fingerprint) ?? null;
}

/** Forgets everything (tests). */
export function forgetLoginMemory(): void {
  remembered = null;
  seen.clear();
  failures.clear();
}
