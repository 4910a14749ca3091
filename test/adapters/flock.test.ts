import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiffloreError } from '../../src/errors.js';
import { lock, lockSync, probeLock, tryLock, unlock } from '../../src/adapters/lifecycle/flock.js';
import { makeTempHome } from '../helpers/index.js';
import { killAllChildren, startAdapterChild, startCommand } from './fixtures/child.js';

const hasFlockUtil = spawnSync('flock', ['--version']).status === 0;

let home: string;
let cleanup: () => void;

beforeEach(() => {
  ({ home, cleanup } = makeTempHome());
  mkdirSync(home, { recursive: true, mode: 0o700 });
});

afterEach(async () => {
  await killAllChildren();
  cleanup();
});

describe('flock adapter', () => {
  it('acquires, reports busy to another open file description, and frees on unlock', () => {
    const path = join(home, 'a.lock');
    const first = tryLock(path);
    expect(first.kind).toBe('acquired');
    // Same process, new open: flock locks belong to the description, so this conflicts.
    expect(tryLock(path).kind).toBe('busy');
    expect(probeLock(path).kind).toBe('held');
    if (first.kind !== 'acquired') throw new Error('unreachable');
    unlock(first.handle);
    unlock(first.handle); // idempotent
    expect(probeLock(path).kind).toBe('free');
    const again = tryLock(path);
    expect(again.kind).toBe('acquired');
    if (again.kind === 'acquired') unlock(again.handle);
  });

  it('creates the lock file 0600 and never follows a symlink or locks a directory', () => {
    const path = join(home, 'b.lock');
    const taken = tryLock(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    if (taken.kind === 'acquired') unlock(taken.handle);

    const target = join(home, 'target');
    writeFileSync(target, 'keep');
    const link = join(home, 'link.lock');
    symlinkSync(target, link);
    expect(() => tryLock(link)).toThrow(DiffloreError);
    expect(() => tryLock(link)).toThrow(/symbolic link/);
    expect(() => probeLock(link)).toThrow(/symbolic link/);
    expect(readFileSync(target, 'utf8')).toBe('keep');

    const dir = join(home, 'dir.lock');
    mkdirSync(dir);
    expect(() => tryLock(dir)).toThrow();
  });

  it('probing a missing lock file answers free and creates nothing', () => {
    const path = join(home, 'never.lock');
    expect(probeLock(path).kind).toBe('free');
    expect(existsSync(path)).toBe(false);
  });

  it('shared locks coexist; an exclusive holder blocks a shared probe', () => {
    const path = join(home, 'c.lock');
    const s1 = tryLock(path, { mode: 'shared' });
    const s2 = tryLock(path, { mode: 'shared' });
    expect(s1.kind).toBe('acquired');
    expect(s2.kind).toBe('acquired');
    expect(probeLock(path, 'shared').kind).toBe('free');
    expect(probeLock(path, 'exclusive').kind).toBe('held');
    for (const r of [s1, s2]) if (r.kind === 'acquired') unlock(r.handle);
    const ex = tryLock(path);
    expect(probeLock(path, 'shared').kind).toBe('held');
    if (ex.kind === 'acquired') unlock(ex.handle);
  });

  it('a lock held by another process is busy, and the kernel frees it when that process is killed -9', async () => {
    const path = join(home, 'd.lock');
    const holder = startAdapterChild(['hold-lock', path, 'exclusive']);
    await holder.next((m) => m.event === 'locked', 'child locked');
    expect(tryLock(path).kind).toBe('busy');
    expect(probeLock(path).kind).toBe('held');
    holder.proc.kill('SIGKILL');
    await holder.exited;
    expect(probeLock(path).kind).toBe('free');
  });

  it.runIf(process.platform === 'linux' && process.arch === 'x64')(
    "loads the package's prebuilt binary for this Node straight, not through the package's loader",
    () => {
      const flockModule = join(import.meta.dirname, '..', '..', 'dist', 'adapters', 'lifecycle', 'flock.js');
      const path = join(home, 'direct.lock');
      // A fresh process, so that nothing else has loaded the addon.
      const script = `import { createRequire } from 'node:module';
        import { tryLock, unlock } from ${JSON.stringify(flockModule)};
        const taken = tryLock(${JSON.stringify(path)});
        unlock(taken.handle);
        const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('fs-ext'));
        process.stdout.write(JSON.stringify({ kind: taken.kind, loaded }));`;
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
      const { kind, loaded } = JSON.parse(run.stdout) as { kind: string; loaded: string[] };
      expect(kind).toBe('acquired');
      expect(loaded.map((file) => file.replace(/^.*node_modules\//, ''))).toEqual([
        `fs-ext-extra-prebuilt/binaries/fs-ext-linux-x64-node-${process.versions.node.split('.')[0]}.0.0.node`,
      ]);
    },
  );

  it('opening and closing the lock file in the holder does not release a flock', async () => {
    const path = join(home, 'e.lock');
    const taken = tryLock(path);
    expect(taken.kind).toBe('acquired');
    // The fcntl foot-gun: any close() of the file in the holder would drop an fcntl lock. Not flock.
    readFileSync(path);
    closeSync(openSync(path, 'r'));
    expect(probeLock(path).kind).toBe('held');
    const other = startAdapterChild(['hold-lock', path, 'exclusive']);
    await other.next((m) => m.event === 'busy', 'child sees busy');
    if (taken.kind === 'acquired') unlock(taken.handle);
  });

  it('lock() waits for a holder to release; a zero timeout answers busy', async () => {
    const path = join(home, 'f.lock');
    const holder = startAdapterChild(['hold-lock', path, 'exclusive']);
    await holder.next((m) => m.event === 'locked', 'child locked');
    expect((await lock(path, { timeoutMs: 0 })).kind).toBe('busy');
    expect(lockSync(path, { timeoutMs: 0 }).kind).toBe('busy');
    const waiting = lock(path, { timeoutMs: 30_000 });
    holder.send('release');
    const got = await waiting;
    expect(got.kind).toBe('acquired');
    if (got.kind === 'acquired') unlock(got.handle);
  });

  it.skipIf(!hasFlockUtil)(
    'excludes and is excluded by flock(1), i.e. the flock(2) the Rust binary calls',
    async () => {
      const path = join(home, 'daemon.pid.lock');
      writeFileSync(path, '');
      const util = startCommand('flock', [path, '-c', 'echo \'{"event":"locked"}\'; read line']);
      await util.next((m) => m.event === 'locked', 'flock(1) locked');
      expect(tryLock(path).kind).toBe('busy');
      const waiting = lock(path, { timeoutMs: 30_000 });
      util.send('done');
      const got = await waiting;
      expect(got.kind).toBe('acquired');

      // And the other way round: while we hold it, `flock -n` fails.
      const probe = startCommand('flock', ['-n', path, '-c', 'true']);
      expect((await probe.exited).code).toBe(1);
      if (got.kind === 'acquired') unlock(got.handle);
      const probe2 = startCommand('flock', ['-n', path, '-c', 'true']);
      expect((await probe2.exited).code).toBe(0);
    },
  );
});
