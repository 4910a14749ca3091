/**
 * The Rust login's cryptography and key choice against the vectors in reference/rust-auth.md, and
 * reading a `cloud-auth.db` written by the independent test writer (real SQLite files).
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  apiOrigin,
  ciVariable,
  deriveKeyseedKey,
  hostAllows,
  masterKeyFromHex,
  openSecret,
  parseKeyseed,
  sealSecret,
} from '../../src/adapters/auth/login-crypto.js';
import { chooseMasterKey } from '../../src/adapters/auth/master-key.js';
import { loginDbPath, readRustLoginWith, saveLoginTokens } from '../../src/adapters/auth/rust-login.js';
import { makeTempHome } from '../helpers/index.js';
import {
  readRustRows,
  rustDecrypt,
  rustEncrypt,
  rustKeyseedKey,
  writeRustLogin,
} from '../helpers/rust-login-writer.js';

const VECTOR_KEY = Buffer.alloc(32, 0x0b);
const VECTOR_NONCE = Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
const VECTOR_SEALED = '000102030405060708090a0b930fa3a55eec1614d795cbf90ae1b206f11269bf1127f2271931ee';
const KEY = Buffer.alloc(32, 0x5a);
const URL = 'http://127.0.0.1:8787/api';

let temp: { home: string; cleanup: () => void };
beforeEach(() => {
  temp = makeTempHome();
  mkdirSync(temp.home, { recursive: true, mode: 0o700 });
});
afterEach(() => temp.cleanup());

describe('AES-256-GCM values (rust-auth.md §2)', () => {
  it('reproduces the example vector exactly, and opens it', () => {
    expect(sealSecret(VECTOR_KEY, 'hello-token', VECTOR_NONCE)).toBe(VECTOR_SEALED);
    expect(openSecret(VECTOR_KEY, VECTOR_SEALED)).toBe('hello-token');
    expect(openSecret(VECTOR_KEY, VECTOR_SEALED.toUpperCase())).toBe('hello-token');
  });

  it('gives nothing for a wrong key, odd or non-hex text, or a value shorter than nonce + tag', () => {
    expect(openSecret(KEY, VECTOR_SEALED)).toBeNull();
    expect(openSecret(VECTOR_KEY, VECTOR_SEALED.slice(1))).toBeNull();
    expect(openSecret(VECTOR_KEY, `zz${VECTOR_SEALED.slice(2)}`)).toBeNull();
    expect(openSecret(VECTOR_KEY, VECTOR_SEALED.slice(0, 24))).toBeNull();
    const flipped = `${VECTOR_SEALED.slice(0, -2)}${VECTOR_SEALED.endsWith('ee') ? 'ef' : 'ee'}`;
    expect(openSecret(VECTOR_KEY, flipped)).toBeNull();
  });

  it('seals with a fresh nonce each time, in lowercase hex the independent reader opens', () => {
    const a = sealSecret(KEY, 'tok');
    const b = sealSecret(KEY, 'tok');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[0-9a-f]+$/);
    expect(rustDecrypt(KEY, a)).toBe('tok');
  });
});

describe('master key (rust-auth.md §3)', () => {
  it('derives the keyseed key of both test vectors', () => {
    const seed = Buffer.alloc(32, 0x07);
    expect(deriveKeyseedKey(seed, '/home/alice', null).toString('hex')).toBe(
      'c9b6042d3f964c7efe97a377a2bc723da287ff6cac6876ab50931eba4f0d0aad',
    );
    expect(deriveKeyseedKey(seed, '/home/alice', 'machine-a').toString('hex')).toBe(
      'fb464aaa8c0fee01b2722852a4a792aba16fc7f40c4b4a1a3be5553a3f0f80fd',
    );
    // The test writer follows the same rule independently.
    expect(rustKeyseedKey(seed, '/home/alice', 'machine-a').toString('hex')).toBe(
      'fb464aaa8c0fee01b2722852a4a792aba16fc7f40c4b4a1a3be5553a3f0f80fd',
    );
  });

  it('accepts 64 hex digits of either case for DIFFLORE_MASTER_KEY (trimmed), lowercase only for keyseed', () => {
    expect(masterKeyFromHex('AB'.repeat(32))?.toString('hex')).toBe('ab'.repeat(32));
    expect(masterKeyFromHex('ab'.repeat(31))).toBeNull();
    expect(parseKeyseed(`  ${'07'.repeat(32)}\n`)?.toString('hex')).toBe('07'.repeat(32));
    expect(parseKeyseed('AB'.repeat(32))).toBeNull();
  });

  it('takes the env key first, skips an invalid one to the keyring, and refuses the keyseed on CI', () => {
    const keyring = { kind: 'key' as const, key: KEY };
    const env = chooseMasterKey(temp.home, { DIFFLORE_MASTER_KEY: ` ${'AA'.repeat(32)} ` }, keyring);
    expect(env).toMatchObject({ kind: 'key', source: 'master-key-env' });
    const invalid = chooseMasterKey(temp.home, { DIFFLORE_MASTER_KEY: 'nope' }, keyring);
    expect(invalid).toMatchObject({ kind: 'key', source: 'keyring' });
    writeFileSync(join(temp.home, 'keyseed'), '07'.repeat(32), { mode: 0o600 });
    const down = { kind: 'unavailable' as const, reason: 'no D-Bus' };
    expect(chooseMasterKey(temp.home, { HOME: '/home/alice' }, down)).toMatchObject({ kind: 'key', source: 'keyseed' });
    for (const ci of [{ CI: 'true' }, { GITHUB_ACTIONS: '1' }, { JENKINS_URL: 'http://j' }]) {
      const refused = chooseMasterKey(temp.home, { HOME: '/home/alice', ...ci }, down);
      expect(refused.kind).toBe('none');
      expect(refused.kind === 'none' && refused.reason).toContain('DIFFLORE_MASTER_KEY');
    }
    // Rust's truthiness: empty, `0` and `false` are not CI; `FALSE` is.
    expect(ciVariable({ CI: '', TRAVIS: '0', BUILDKITE: 'false' })).toBeNull();
    expect(ciVariable({ CI: 'FALSE' })).toBe('CI');
  });

  it('derives the keyseed key from $HOME and the machine id, never from DIFFLORE_HOME', () => {
    writeFileSync(join(temp.home, 'keyseed'), '07'.repeat(32), { mode: 0o600 });
    const idFile = join(temp.home, '..', 'machine-id');
    writeFileSync(idFile, 'machine-a\n');
    const down = { kind: 'unavailable' as const, reason: 'no D-Bus' };
    const key = chooseMasterKey(temp.home, { HOME: '/home/alice', DIFFLORE_HOME: temp.home }, down, {
      machineIdFiles: ['/nonexistent/machine-id', idFile],
    });
    expect(key.kind === 'key' && key.key.toString('hex')).toBe(
      'fb464aaa8c0fee01b2722852a4a792aba16fc7f40c4b4a1a3be5553a3f0f80fd',
    );
  });
});

describe('host binding and reading cloud-auth.db', () => {
  it('binds to token_host exactly, and without one only to https://difflore.dev', () => {
    expect(apiOrigin('HTTP://127.0.0.1:8787/api')).toBe('http://127.0.0.1:8787');
    expect(hostAllows('http://127.0.0.1:8787', 'http://127.0.0.1:8787')).toBe(true);
    expect(hostAllows('https://difflore.dev', 'http://127.0.0.1:8787')).toBe(false);
    expect(hostAllows(null, 'https://difflore.dev')).toBe(true);
    expect(hostAllows(null, 'http://127.0.0.1:8787')).toBe(false);
  });

  it('opens a login the Rust way, and names why one cannot be used', () => {
    const env = { DIFFLORE_MASTER_KEY: KEY.toString('hex') };
    const path = loginDbPath(temp.home);
    writeRustLogin(path, KEY, { token: 'tok_rust', refreshToken: 'r'.repeat(64), tokenHost: 'http://127.0.0.1:8787' });
    expect(readRustLoginWith(temp.home, env, URL, 'not-read')).toMatchObject({
      kind: 'token',
      token: 'tok_rust',
      refreshToken: 'r'.repeat(64),
      keySource: 'master-key-env',
    });
    const wrong = readRustLoginWith(temp.home, { DIFFLORE_MASTER_KEY: 'ab'.repeat(32) }, URL, 'not-read');
    expect(wrong.kind === 'unusable' && wrong.message).toContain('cannot be decrypted');
    const foreign = readRustLoginWith(temp.home, env, 'http://127.0.0.1:9999', 'not-read');
    expect(foreign.kind === 'unusable' && foreign.message).toContain('issued for http://127.0.0.1:8787');
    for (const r of [wrong, foreign]) expect(JSON.stringify(r)).not.toContain('tok_rust');
  });

  it('refuses a cloud-auth.db that is a symbolic link', () => {
    const elsewhere = join(temp.home, '..', 'elsewhere.db');
    writeRustLogin(elsewhere, KEY, { token: 'tok_rust', tokenHost: 'http://127.0.0.1:8787' });
    symlinkSync(elsewhere, loginDbPath(temp.home));
    const read = readRustLoginWith(temp.home, { DIFFLORE_MASTER_KEY: KEY.toString('hex') }, URL, 'not-read');
    expect(read.kind === 'unusable' && read.message).toContain('symbolic link');
  });

  it('writes back as save_login_tokens: new nonces, login_nonce gone, refresh_token deleted when none', () => {
    const path = loginDbPath(temp.home);
    writeRustLogin(path, KEY, {
      token: 'tok_old',
      refreshToken: 'r'.repeat(64),
      tokenHost: 'https://difflore.dev',
      extra: { login_nonce: 'legacy', 'gitlab_pat::gitlab.com': rustEncrypt(KEY, 'pat') },
    });
    saveLoginTokens(path, KEY, 'http://127.0.0.1:8787', 'tok_new', `  ${'s'.repeat(64)}  `);
    let rows = readRustRows(path);
    expect(Object.keys(rows).sort()).toEqual(['gitlab_pat::gitlab.com', 'refresh_token', 'token', 'token_host']);
    expect(rustDecrypt(KEY, rows.token as string)).toBe('tok_new');
    expect(rustDecrypt(KEY, rows.refresh_token as string)).toBe('s'.repeat(64));
    expect(rustDecrypt(KEY, rows.token_host as string)).toBe('http://127.0.0.1:8787');
    expect(rows.token).toMatch(/^[0-9a-f]+$/);
    saveLoginTokens(path, KEY, 'http://127.0.0.1:8787', 'tok_newer', null);
    rows = readRustRows(path);
    expect(rows.refresh_token).toBeUndefined();
    expect(rustDecrypt(KEY, rows['gitlab_pat::gitlab.com'] as string)).toBe('pat');
  });
});
