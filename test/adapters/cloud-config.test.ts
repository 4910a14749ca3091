/**
 * Cloud URL and token resolution: loopback-only plain http, the default URL, and the token file's
 * checks (mode, symlink, owner) against real files.
 */
import { chmodSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCloudToken, tokenFingerprint } from '../../src/adapters/delivery/cloud-config.js';
import { DEFAULT_CLOUD_URL, isLoopbackHost, resolveCloudUrl } from '../../src/adapters/delivery/cloud-url.js';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import { DiffloreError } from '../../src/errors.js';
import { makeTempHome } from '../helpers/index.js';

let temp: { home: string; cleanup: () => void };
let paths: HomePaths;
beforeEach(() => {
  temp = makeTempHome();
  paths = ensureHome(temp.home);
});
afterEach(() => temp.cleanup());

describe('resolveCloudUrl', () => {
  it('defaults to the production API and trims a trailing slash', () => {
    expect(resolveCloudUrl({})).toBe(DEFAULT_CLOUD_URL);
    expect(resolveCloudUrl({ DIFFLORE_CLOUD_URL: '   ' })).toBe(DEFAULT_CLOUD_URL);
    expect(resolveCloudUrl({ DIFFLORE_CLOUD_URL: 'https://api.example.com/v1/' })).toBe('https://api.example.com/v1');
  });

  it('falls back to the legacy DIFF_LORE_CLOUD_URL as the Rust binary does', () => {
    expect(resolveCloudUrl({ DIFF_LORE_CLOUD_URL: 'https://old.example.com/api' })).toBe('https://old.example.com/api');
    expect(
      resolveCloudUrl({
        DIFFLORE_CLOUD_URL: 'https://new.example.com',
        DIFF_LORE_CLOUD_URL: 'https://old.example.com',
      }),
    ).toBe('https://new.example.com');
  });

  it.each([
    'http://127.0.0.1:8787',
    'http://127.8.9.10',
    'http://localhost:3000/api',
    'http://app.localhost',
    'http://[::1]:9000',
  ])('accepts plain http to loopback: %s', (url) => {
    expect(resolveCloudUrl({ DIFFLORE_CLOUD_URL: url })).toBe(url.replace(/\/$/, ''));
  });

  it.each([
    ['http://example.com', 'plain http://'],
    ['http://192.168.1.2:8080', 'plain http://'],
    ['http://[::2]:80', 'plain http://'],
    ['http://127.0.0.1.example.com', 'plain http://'],
    ['ftp://127.0.0.1', 'must use https://'],
    ['not a url', 'is not a URL'],
    ['https://user:pw@example.com', 'user name or password'],
    ['https://example.com/?a=1', 'query or fragment'],
  ])('refuses %s', (url, message) => {
    let error: unknown;
    try {
      resolveCloudUrl({ DIFFLORE_CLOUD_URL: url });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DiffloreError);
    expect((error as DiffloreError).code).toBe('config');
    expect((error as DiffloreError).message).toContain(message);
  });

  it('knows loopback names', () => {
    expect(isLoopbackHost('LOCALHOST')).toBe(true);
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('::ffff:7f00:1')).toBe(true);
    expect(isLoopbackHost('128.0.0.1')).toBe(false);
    expect(isLoopbackHost('localhost.evil.com')).toBe(false);
  });
});

describe('readCloudToken', () => {
  it('prefers DIFFLORE_CLOUD_TOKEN (trimmed) over the file', () => {
    writeFileSync(paths.tokenFile, 'from-file-token', { mode: 0o600 });
    expect(readCloudToken(paths, { DIFFLORE_CLOUD_TOKEN: '  from-env-token \n' })).toMatchObject({
      kind: 'token',
      token: 'from-env-token',
      source: 'env',
      fingerprint: tokenFingerprint('from-env-token'),
    });
  });

  it('reads a 0600 file, and reports none when there is no file or it is empty', () => {
    expect(readCloudToken(paths, {})).toEqual({ kind: 'none' });
    writeFileSync(paths.tokenFile, '\n', { mode: 0o600 });
    expect(readCloudToken(paths, {})).toEqual({ kind: 'none' });
    writeFileSync(paths.tokenFile, 'file-token-123\n', { mode: 0o600 });
    expect(readCloudToken(paths, { DIFFLORE_CLOUD_TOKEN: '' })).toMatchObject({
      token: 'file-token-123',
      source: 'file',
    });
  });

  it.each([0o640, 0o604, 0o644, 0o660])('refuses a file with mode %o', (mode) => {
    writeFileSync(paths.tokenFile, 'file-token-123', { mode: 0o600 });
    chmodSync(paths.tokenFile, mode);
    const result = readCloudToken(paths, {});
    expect(result.kind).toBe('refused');
    expect(result.kind === 'refused' && result.message).toContain(`chmod 600 ${paths.tokenFile}`);
  });

  it('refuses a symlink in place of the file', () => {
    const target = join(temp.home, 'elsewhere');
    writeFileSync(target, 'linked-token-123', { mode: 0o600 });
    symlinkSync(target, paths.tokenFile);
    expect(readCloudToken(paths, {})).toMatchObject({
      kind: 'refused',
      message: expect.stringContaining('symbolic link'),
    });
  });

  it('refuses a token that cannot go in a header, without echoing it', () => {
    const result = readCloudToken(paths, { DIFFLORE_CLOUD_TOKEN: 'two words' });
    expect(result).toMatchObject({ kind: 'refused' });
    expect(result.kind === 'refused' && result.message).not.toContain('two words');
  });

  it('fingerprints are short, stable and not the token', () => {
    expect(tokenFingerprint('abc')).toBe(tokenFingerprint('abc'));
    expect(tokenFingerprint('abc')).not.toBe(tokenFingerprint('abd'));
    expect(tokenFingerprint('abc')).toMatch(/^[0-9a-f]{16}$/);
  });
});
