/**
 * With what token delivery goes (where it goes: cloud-url.ts). Owns the token sources, first found
 * wins: `DIFFLORE_CLOUD_TOKEN`; the Rust login in `cloud-auth.db` (auth/rust-login.ts); the 0600
 * `cloud-token` file in the home.
 * All are read again on every pass, so a new token or a new login needs no restart.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, readFileSync } from 'node:fs';
import { describeError } from '../../errors.js';
import { withRemembered } from '../auth/login-memory.js';
import type { KeyringRead, KeySource } from '../auth/master-key.js';
import { readRustLoginWith, resolveRustLogin, type RustLogin } from '../auth/rust-login.js';
import type { HomePaths } from '../home/home.js';
import { oneLineError, openHomeFile } from '../home/home-files.js';
import { MIN_SECRET_CHARS } from '../../machines/secrets.js';
import { resolveCloudUrl } from './cloud-url.js';

/** Where the token in use came from; the Rust login is named with the source of its master key. */
export type TokenSource = 'env' | 'file' | `rust-login:${KeySource}`;

export type OpenRustLogin = Extract<RustLogin, { kind: 'token' }>;

export type TokenResult =
  | {
      readonly kind: 'token';
      readonly token: string;
      readonly source: TokenSource;
      readonly fingerprint: string;
      /** The Rust login the token came from (refreshable on 401); never shown or written anywhere. */
      readonly login?: OpenRustLogin;
    }
  | { readonly kind: 'none' }
  /** A token source exists but must not be used; `message` says why and what to do. */
  | { readonly kind: 'refused'; readonly message: string };

/** The token source in words, for status, doctor and drain output. */
export function describeTokenSource(source: TokenSource, paths: HomePaths): string {
  switch (source) {
    case 'env':
      return 'DIFFLORE_CLOUD_TOKEN';
    case 'file':
      return `the token file ${paths.tokenFile}`;
    case 'rust-login:keyring':
      return 'the Rust login (cloud-auth.db), key from the OS keyring';
    case 'rust-login:keyseed':
      return 'the Rust login (cloud-auth.db), key from the keyseed fallback';
    case 'rust-login:master-key-env':
      return 'the Rust login (cloud-auth.db), key from DIFFLORE_MASTER_KEY';
  }
}

/** What to tell a user whose token is missing or refused. */
export function noTokenAdvice(paths: HomePaths): string {
  return `set DIFFLORE_CLOUD_TOKEN or write it to ${paths.tokenFile} (mode 600), or run \`difflore cloud login\` with the Rust binary`;
}

/** A short, one-way name for a token: safe to keep in state files and compare across passes. */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update('difflore-token\n').update(token).digest('hex').slice(0, 16);
}

/**
 * The token in use, every source consulted: `DIFFLORE_CLOUD_TOKEN` (trimmed, not bound to a host);
 * the Rust login (asking the OS keyring for its key when needed); the token file.
 */
export async function resolveCloudToken(paths: HomePaths, env: NodeJS.ProcessEnv = process.env): Promise<TokenResult> {
  const fromEnv = env.DIFFLORE_CLOUD_TOKEN?.trim();
  if (fromEnv) return checked(fromEnv, 'env', 'DIFFLORE_CLOUD_TOKEN');
  let login: RustLogin;
  try {
    login = await resolveRustLogin(paths.home, env, resolveCloudUrl(env));
  } catch (error) {
    login = { kind: 'unusable', message: describeError(error) };
  }
  return afterLogin(paths, login);
}

/**
 * The same lookup without waiting for the keyring: `keyring` is what an earlier read found, or
 * `'not-read'` (a login that needs the keyring is then reported as not opened).
 */
export function readCloudToken(
  paths: HomePaths,
  env: NodeJS.ProcessEnv = process.env,
  keyring: KeyringRead | 'not-read' = 'not-read',
): TokenResult {
  const fromEnv = env.DIFFLORE_CLOUD_TOKEN?.trim();
  if (fromEnv) return checked(fromEnv, 'env', 'DIFFLORE_CLOUD_TOKEN');
  let login: RustLogin;
  try {
    login = readRustLoginWith(paths.home, env, resolveCloudUrl(env), keyring);
  } catch (error) {
    login = { kind: 'unusable', message: describeError(error) };
  }
  return afterLogin(paths, login);
}

/** A usable login wins; otherwise the token file, and if that has nothing, why the login is unusable. */
function afterLogin(paths: HomePaths, login: RustLogin): TokenResult {
  if (login.kind === 'token') {
    const known = withRemembered(login);
    const result = checked(known.token, `rust-login:${known.keySource}`, 'the Rust login');
    return result.kind === 'token' ? { ...result, login: known } : result;
  }
  const file = readTokenFile(paths);
  if (file.kind !== 'none' || login.kind === 'absent') return file;
  return { kind: 'refused', message: login.message };
}

/** `<home>/cloud-token`: a regular file (not a link), owned by us and not readable by group or others. */
function readTokenFile(paths: HomePaths): TokenResult {
  const file = paths.tokenFile;
  let fd: number | undefined;
  try {
    // The home-files rule: no link, no FIFO (it would hang every pass), a regular file of ours.
    fd = openHomeFile(file, constants.O_RDONLY);
  } catch (error) {
    return { kind: 'refused', message: oneLineError(error) };
  }
  if (fd === undefined) return { kind: 'none' };
  try {
    const stat = fstatSync(fd);
    if ((stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(3, '0');
      return {
        kind: 'refused',
        message: `${file} is readable by group or others (mode ${mode}); refusing to use it. Fix: chmod 600 ${file}`,
      };
    }
    const token = readFileSync(fd, 'utf8').trim();
    if (token === '') return { kind: 'none' };
    return checked(token, 'file', file);
  } finally {
    closeSync(fd);
  }
}

/** A token must fit in an HTTP header as it is; anything else would fail every request. */
function checked(token: string, source: TokenSource, where: string): TokenResult {
  if (!/^[\x21-\x7e]+$/.test(token)) {
    return {
      kind: 'refused',
      message: `the token in ${where} contains spaces or characters that cannot go in an HTTP header.`,
    };
  }
  // Too short to tell apart from ordinary text: it could be neither scrubbed (every `x` in a log
  // would go) nor kept out of what a cloud echoes back (machines/secrets.ts). Real tokens are longer.
  if (token.length < MIN_SECRET_CHARS) {
    return {
      kind: 'refused',
      message: `the token in ${where} is ${token.length} characters long; tokens shorter than ${MIN_SECRET_CHARS} cannot be kept out of logs and errors, so it is not used. Fix: use the full token the cloud issued.`,
    };
  }
  return { kind: 'token', token, source, fingerprint: tokenFingerprint(token) };
}
