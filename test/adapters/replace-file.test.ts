import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import { replaceHomeFile } from '../../src/adapters/home/replace-file.js';
import { makeTempHome } from '../helpers/index.js';

let paths: HomePaths;
let cleanup: () => void;

beforeEach(() => {
  const temp = makeTempHome();
  cleanup = temp.cleanup;
  paths = ensureHome(temp.home);
});

afterEach(() => cleanup());

describe('replaceHomeFile', () => {
  it.each([true, false])('creates or replaces the file whole, mode 0600, leaving no temp file (sync %s)', (sync) => {
    const target = join(paths.home, 'state.json');
    replaceHomeFile(target, 'first', sync);
    expect(readFileSync(target, 'utf8')).toBe('first');
    writeFileSync(target, 'x'.repeat(100_000), { mode: 0o644 });
    const text = `${'é'.repeat(70_000)}end`;
    replaceHomeFile(target, text, sync);
    expect(readFileSync(target, 'utf8')).toBe(text);
    expect(statSync(target).mode & 0o777).toBe(0o600);
    expect(readdirSync(paths.home).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('replaces a planted symbolic link itself, never the file it points to', () => {
    const outside = join(paths.home, '..', `outside-${process.pid}`);
    writeFileSync(outside, 'precious');
    const target = join(paths.home, 'state.json');
    symlinkSync(outside, target);
    replaceHomeFile(target, 'ours', true);
    expect(readFileSync(outside, 'utf8')).toBe('precious');
    expect(lstatSync(target).isSymbolicLink()).toBe(false);
    expect(readFileSync(target, 'utf8')).toBe('ours');
  });

  it('fails with the old file intact and no temp file left when the rename cannot happen', () => {
    const target = join(paths.home, 'a-directory');
    mkdirSync(join(target, 'inside'), { recursive: true });
    expect(() => replaceHomeFile(target, 'text', true)).toThrow();
    expect(statSync(target).isDirectory()).toBe(true);
    expect(readdirSync(paths.home).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});
