import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import {
  createPidFile,
  parsePid,
  readPidFile,
  removeGarbagePidFile,
  removePidFileIfHolds,
} from '../../src/adapters/lifecycle/pid-file.js';
import { makeTempHome } from '../helpers/index.js';
import { killAllChildren } from './fixtures/child.js';

let paths: HomePaths;
let cleanup: () => void;

beforeEach(() => {
  const temp = makeTempHome();
  cleanup = temp.cleanup;
  paths = ensureHome(temp.home);
});

afterEach(async () => {
  await killAllChildren();
  cleanup();
});

describe('parsePid', () => {
  it('accepts every pid from 2 to 2^31-1, with surrounding whitespace as Rust trims it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 2 ** 31 - 1 }), fc.constantFrom('', ' ', '\n', '\t', ' \n'), (pid, ws) => {
        expect(parsePid(`${ws}${pid}${ws}`)).toBe(pid);
      }),
    );
  });

  it('rejects pid ≤ 1, signs, out-of-range numbers and anything that is not digits', () => {
    for (const text of [
      '',
      ' ',
      '0',
      '1',
      '-1',
      '+5',
      '-0',
      '00',
      '01',
      '2147483648',
      '99999999999',
      '12 34',
      '0x10',
      '1e3',
      '5.0',
      'abc',
      '12abc',
    ]) {
      expect(parsePid(text), JSON.stringify(text)).toBeUndefined();
    }
    fc.assert(
      fc.property(fc.string(), (text) => {
        const pid = parsePid(text);
        if (pid !== undefined) {
          expect(/^\s*[0-9]+\s*$/.test(text)).toBe(true);
          expect(pid).toBeGreaterThan(1);
        }
      }),
    );
  });
});

describe('readPidFile', () => {
  it('reads missing, a pid, and garbage (including pid 0, 1 and -1)', () => {
    expect(readPidFile(paths.pidFile)).toEqual({ kind: 'missing' });
    writeFileSync(paths.pidFile, '4242');
    expect(readPidFile(paths.pidFile)).toEqual({ kind: 'pid', pid: 4242 });
    writeFileSync(paths.pidFile, '4242\n');
    expect(readPidFile(paths.pidFile)).toEqual({ kind: 'pid', pid: 4242 });
    for (const text of ['', 'garbage', '0', '1', '-1', '\u0000\u0001']) {
      writeFileSync(paths.pidFile, text);
      expect(readPidFile(paths.pidFile)).toEqual({ kind: 'garbage', text });
    }
    writeFileSync(paths.pidFile, '7'.repeat(1000));
    const long = readPidFile(paths.pidFile);
    expect(long.kind).toBe('garbage');
    if (long.kind === 'garbage') expect(long.text.length).toBeLessThanOrEqual(64);
  });

  it('refuses a symlink and a FIFO instead of following or hanging', () => {
    const target = join(paths.home, 'elsewhere');
    writeFileSync(target, '4242');
    symlinkSync(target, paths.pidFile);
    expect(() => readPidFile(paths.pidFile)).toThrow(/symbolic link/);
    const fifo = join(paths.home, 'fifo.pid');
    execFileSync('mkfifo', [fifo]);
    expect(() => readPidFile(fifo)).toThrow(/not a regular file/);
  });
});

describe('createPidFile', () => {
  it('creates the bare decimal pid, no newline, mode 0600, and leaves no temp file behind', () => {
    expect(createPidFile(paths.pidFile, 31337)).toEqual({ kind: 'created' });
    expect(readFileSync(paths.pidFile, 'utf8')).toBe('31337');
    expect(statSync(paths.pidFile).mode & 0o777).toBe(0o600);
    expect(readdirSync(paths.home).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('never overwrites: an existing file (or a symlink) answers exists and is left as it was', () => {
    writeFileSync(paths.pidFile, '999');
    expect(createPidFile(paths.pidFile, 31337)).toEqual({ kind: 'exists' });
    expect(readFileSync(paths.pidFile, 'utf8')).toBe('999');

    const other = join(paths.home, 'other.pid');
    const target = join(paths.home, 'target');
    symlinkSync(target, other); // dangling: O_CREAT through it would create the target
    expect(createPidFile(other, 31337)).toEqual({ kind: 'exists' });
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(paths.home).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('refuses to write pid ≤ 1', () => {
    for (const pid of [0, 1, -1, 1.5]) expect(() => createPidFile(paths.pidFile, pid)).toThrow();
    expect(existsSync(paths.pidFile)).toBe(false);
  });
});

describe('removing the pid file', () => {
  it('removes only a file that still names the given pid', () => {
    expect(removePidFileIfHolds(paths.pidFile, 1234)).toEqual({ kind: 'missing' });
    writeFileSync(paths.pidFile, '5678');
    expect(removePidFileIfHolds(paths.pidFile, 1234)).toEqual({ kind: 'notOurs', found: { kind: 'pid', pid: 5678 } });
    expect(existsSync(paths.pidFile)).toBe(true);
    expect(removePidFileIfHolds(paths.pidFile, 5678)).toEqual({ kind: 'removed' });
    expect(existsSync(paths.pidFile)).toBe(false);
  });

  it('removes a garbage file only while it is garbage', () => {
    writeFileSync(paths.pidFile, '5678');
    expect(removeGarbagePidFile(paths.pidFile).kind).toBe('notOurs');
    writeFileSync(paths.pidFile, 'junk');
    expect(removeGarbagePidFile(paths.pidFile)).toEqual({ kind: 'removed' });
  });
});
