/**
 * The Rust login: `cloud-auth.db` in the data home, as `difflore cloud login` (the Rust binary)
 * leaves it (reference/rust-auth.md §1, §4, §5). Owns reading the `auth` table (read-only, never
 * through a symbolic link), decrypting `token`, `refresh_token` and `token_host` with the master key,
 * Rust's host binding, and writing a refreshed pair back exactly as Rust's `save_login_tokens` does,
 * so the Rust binary keeps reading it. better-sqlite3 loads on first use only.
 */
import { chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { checkHomeEntry } from '../home/home-files.js';
import { apiOrigin, hostAllows, openSecret, sealSecret } from './login-crypto.js';
import { chooseMasterKey, type KeyringRead, type KeySource, needsKeyring, readKeyring } from './master-key.js';

export const LOGIN_DB_NAME = 'cloud-auth.db';
const BUSY_TIMEOUT_MS = 2_000;

/** The stored (encrypted) values of the rows we use. */
export interface LoginRows {
  readonly token: string | null;
  readonly refreshToken: string | null;
  readonly tokenHost: string | null;
}

export type RustLogin =
  /** No `cloud-auth.db`, or no `token` row: not logged in. */
  | { readonly kind: 'absent' }
  /** A login is there but cannot be used here; `message` says why and what to do. Nothing is sent. */
  | { readonly kind: 'unusable'; readonly message: string }
  | {
      readonly kind: 'token';
      readonly token: string;
      readonly refreshToken: string | null;
      readonly keySource: KeySource;
      /** The key that opened it: a refreshed pair is sealed with the same one. */
      readonly key: Buffer;
      readonly origin: string;
    };

const require = createRequire(import.meta.filename);
function sqlite(): typeof BetterSqlite3 {
  return require('better-sqlite3') as typeof BetterSqlite3;
}

export function loginDbPath(home: string): string {
  return join(home, LOGIN_DB_NAME);
}

/**
 * The home's file rule (home-files.ts) before SQLite opens the path: a link, a non-file or another
 * user's file is refused. Only the message is kept: the rule's usual fix ("difflore recreates it")
 * does not hold for a login only the Rust binary writes.
 */
function checkLoginFile(path: string): 'missing' | null | string {
  try {
    return checkHomeEntry(path, 'file') === 'missing' ? 'missing' : null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The encrypted rows, read-only. `absent` when there is no file or no `token` row. */
export function readLoginRows(
  path: string,
): { kind: 'rows'; rows: LoginRows } | { kind: 'absent' } | { kind: 'error'; message: string } {
  const problem = checkLoginFile(path);
  if (problem === 'missing') return { kind: 'absent' };
  if (problem !== null) return { kind: 'error', message: problem };
  let db: BetterSqlite3.Database | undefined;
  try {
    db = new (sqlite())(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'auth'").get();
    if (hasTable === undefined) return { kind: 'absent' };
    const rows = db
      .prepare("SELECT key, value FROM auth WHERE key IN ('token', 'refresh_token', 'token_host')")
      .all() as {
      key: string;
      value: unknown;
    }[];
    const get = (key: string): string | null => {
      const value = rows.find((r) => r.key === key)?.value;
      return typeof value === 'string' ? value : null;
    };
    if (get('token') === null) return { kind: 'absent' };
    return {
      kind: 'rows',
      rows: { token: get('token'), refreshToken: get('refresh_token'), tokenHost: get('token_host') },
    };
  } catch (error) {
    return { kind: 'error', message: `cannot read ${path}: ${(error as Error).message}` };
  } finally {
    db?.close();
  }
}

const RELOGIN = 'run `difflore cloud login` with the Rust binary, or set DIFFLORE_CLOUD_TOKEN';

/** Decrypts the rows with `key` and applies Rust's host binding for `cloudUrl`. */
export function openLogin(
  rows: LoginRows,
  key: Buffer,
  keySource: KeySource,
  cloudUrl: string,
  path: string,
): RustLogin {
  const token = rows.token === null ? null : openSecret(key, rows.token);
  if (token === null) {
    return {
      kind: 'unusable',
      message: `the Rust login in ${path} cannot be decrypted with the key from ${KEY_WORDS[keySource]}; set DIFFLORE_MASTER_KEY to the key the Rust binary uses, or ${RELOGIN}`,
    };
  }
  const origin = apiOrigin(cloudUrl);
  const host = rows.tokenHost === null ? null : openSecret(key, rows.tokenHost);
  if (!hostAllows(host, origin)) {
    return {
      kind: 'unusable',
      message: `the Rust login in ${path} was issued for ${host ?? 'https://difflore.dev (no token_host)'}, not ${origin}; it is not sent elsewhere. ${capitalise(RELOGIN)} for ${origin}`,
    };
  }
  // The refresh token passes the same host check; a missing or undecryptable one just means no refresh.
  const refreshToken = rows.refreshToken === null ? null : openSecret(key, rows.refreshToken);
  return { kind: 'token', token, refreshToken, keySource, key, origin };
}

export const KEY_WORDS: Readonly<Record<KeySource, string>> = {
  'master-key-env': 'DIFFLORE_MASTER_KEY',
  keyring: 'the OS keyring',
  keyseed: 'the keyseed fallback',
};

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * The Rust login with what is known now, without asking the keyring (`keyring` is what an earlier
 * `readKeyring` returned, or `'not-read'`). For callers that cannot wait: `resolveRustLogin` is the
 * full lookup.
 */
export function readRustLoginWith(
  home: string,
  env: NodeJS.ProcessEnv,
  cloudUrl: string,
  keyring: KeyringRead | 'not-read',
): RustLogin {
  const path = loginDbPath(home);
  const read = readLoginRows(path);
  if (read.kind === 'absent') return read;
  if (read.kind === 'error') return { kind: 'unusable', message: read.message };
  const key = chooseMasterKey(home, env, keyring);
  if (key.kind === 'none') {
    const tried = key.notes.length > 0 ? ` (${key.notes.join('; ')})` : '';
    return { kind: 'unusable', message: `the Rust login in ${path} cannot be opened: ${key.reason}${tried}` };
  }
  return openLogin(read.rows, key.key, key.source, cloudUrl, path);
}

/** The full lookup: asks the OS keyring only when there is a login to open and no DIFFLORE_MASTER_KEY. */
export async function resolveRustLogin(home: string, env: NodeJS.ProcessEnv, cloudUrl: string): Promise<RustLogin> {
  const path = loginDbPath(home);
  const rows = readLoginRows(path);
  if (rows.kind === 'absent') return rows;
  if (rows.kind === 'error') return { kind: 'unusable', message: rows.message };
  if (!needsKeyring(env)) return readRustLoginWith(home, env, cloudUrl, 'not-read');
  const first = await readKeyring();
  const login = readRustLoginWith(home, env, cloudUrl, first);
  if (login.kind === 'unusable' && first.kind === 'key') {
    // The key we kept may be one Rust has since replaced: look it up again once.
    const again = await readKeyring({ fresh: true });
    if (again.kind === 'key' && !again.key.equals(first.key)) return readRustLoginWith(home, env, cloudUrl, again);
  }
  return login;
}

/**
 * Rust's `save_login_tokens`: upsert `token` and delete `login_nonce`; upsert the trimmed refresh
 * token, or delete `refresh_token` when there is none; upsert `token_host` = origin. Every value is
 * sealed with a fresh nonce. One transaction (Rust runs the statements one by one): a reader never
 * sees a new token with an old refresh token.
 */
export function saveLoginTokens(
  path: string,
  key: Buffer,
  origin: string,
  token: string,
  refreshToken: string | null,
): void {
  const problem = checkLoginFile(path);
  if (problem !== null) throw new Error(problem === 'missing' ? `${path} no longer exists` : problem);
  const db = new (sqlite())(path, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  try {
    const upsert = db.prepare('INSERT OR REPLACE INTO auth (key, value) VALUES (?, ?)');
    const remove = db.prepare('DELETE FROM auth WHERE key = ?');
    const refresh = refreshToken?.trim() ?? '';
    db.transaction(() => {
      upsert.run('token', sealSecret(key, token));
      remove.run('login_nonce');
      if (refresh !== '') upsert.run('refresh_token', sealSecret(key, refresh));
      else remove.run('refresh_token');
      upsert.run('token_host', sealSecret(key, origin));
    }).immediate();
  } finally {
    db.close();
  }
}

/**
 * Creates an empty `cloud-auth.db` (0600) for saveLoginTokens to fill: for `difflore cloud serve
 * --login-home`, which sets up a home for tests and demos. Refuses to replace an existing file.
 */
export function createLoginDatabase(path: string): void {
  const problem = checkLoginFile(path);
  if (problem !== 'missing') throw new Error(`${path} already exists; refusing to replace a login`);
  const db = new (sqlite())(path);
  try {
    db.exec('CREATE TABLE IF NOT EXISTS auth (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)');
  } finally {
    db.close();
  }
  chmodSync(path, 0o600);
}
