/**
 * An independent writer and reader of the Rust login for tests, written from reference/rust-auth.md
 * alone (not from src/): the `auth` table, values as lowercase hex of nonce ‖ ciphertext ‖ tag under
 * AES-256-GCM, and the keyseed derivation. Tests use it to set up a login "the Rust way" and to check
 * what our refresher wrote back "with Rust's rules".
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';

export function rustEncrypt(key: Buffer, plaintext: string): string {
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  const ct = Buffer.concat([c.update(Buffer.from(plaintext, 'utf8')), c.final()]);
  return Buffer.concat([nonce, ct, c.getAuthTag()]).toString('hex');
}

/** Rust's decrypt: hex (either case) → nonce 12 | ct | tag 16; throws on any failure. */
export function rustDecrypt(key: Buffer, hex: string): string {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) throw new Error('bad hex');
  const b = Buffer.from(hex, 'hex');
  if (b.length < 13) throw new Error('ciphertext too short');
  const d = createDecipheriv('aes-256-gcm', key, b.subarray(0, 12));
  d.setAuthTag(b.subarray(b.length - 16));
  return Buffer.concat([d.update(b.subarray(12, b.length - 16)), d.final()]).toString('utf8');
}

/** `difflore cloud login` as Rust leaves it: the table, then INSERT OR REPLACE of each encrypted row. */
export function writeRustLogin(
  path: string,
  key: Buffer,
  login: { token: string; refreshToken?: string | null; tokenHost?: string | null; extra?: Record<string, string> },
): void {
  const db = new Database(path);
  try {
    db.exec('CREATE TABLE IF NOT EXISTS auth (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)');
    const put = db.prepare('INSERT OR REPLACE INTO auth (key, value) VALUES (?, ?)');
    put.run('token', rustEncrypt(key, login.token));
    if (login.refreshToken) put.run('refresh_token', rustEncrypt(key, login.refreshToken));
    if (login.tokenHost) put.run('token_host', rustEncrypt(key, login.tokenHost));
    for (const [k, v] of Object.entries(login.extra ?? {})) put.run(k, v);
  } finally {
    db.close();
  }
  chmodSync(path, 0o600);
}

/** Every row of the `auth` table, raw. */
export function readRustRows(path: string): Record<string, string> {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare('SELECT key, value FROM auth').all() as { key: string; value: string }[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  } finally {
    db.close();
  }
}

/** SHA-256("difflore-local-fallback-master-key-v2" ‖ seed ‖ home ‖ ["\0machine-id\0" ‖ id]). */
export function rustKeyseedKey(seed: Buffer, home: string, machineId: string | null): Buffer {
  const parts = [Buffer.from('difflore-local-fallback-master-key-v2'), seed, Buffer.from(home, 'utf8')];
  if (machineId !== null) parts.push(Buffer.from('\0machine-id\0'), Buffer.from(machineId, 'utf8'));
  return createHash('sha256').update(Buffer.concat(parts)).digest();
}

/** This machine's id as Rust reads it: first non-empty (trimmed) of /etc/machine-id, /var/lib/dbus/machine-id. */
export function rustMachineId(): string | null {
  for (const file of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = readFileSync(file, 'utf8').trim();
      if (id !== '') return id;
    } catch {
      // unreadable: the next one
    }
  }
  return null;
}

/** The CI variables Rust checks, for clearing them from a child's environment. */
export const RUST_CI_VARS = [
  'CI',
  'GITHUB_ACTIONS',
  'GITLAB_CI',
  'CIRCLECI',
  'BUILDKITE',
  'JENKINS_URL',
  'TRAVIS',
  'TEAMCITY_VERSION',
  'CODEBUILD_BUILD_ID',
];
