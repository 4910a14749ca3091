/**
 * The hostile fault suite (issue 9): hostile homes, payloads and signals, each built for real (links,
 * FIFOs, sockets, device nodes, directories where files belong, a home someone else owns, a read-only
 * mount, a full disk, a 50,000-level payload, a cloud that echoes the token in every encoding, SIGUSR1,
 * SIGUSR2, SIGSTOP, a reader that closes the pipe early) against the built CLI as real processes.
 *
 * Every run is checked the same way (`run`): it exits by itself (never killed by the deadline, which
 * only bounds a hang) with a documented exit code, prints no stack trace and no literal `\u000a`, and
 * no output carries the token in any encoding. A sentinel directory outside the home, which the
 * attacks point at, must be byte-for-byte unchanged afterwards: nothing read-and-renamed, written or
 * deleted there, and none of its content uploaded.
 */
import { spawnSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FAULT_TOKEN, type Lab, type LabHome, labPerTest, workRow, workRows } from './fault-harness.js';
import { type CliResult, makeTempHome, waitFor } from '../helpers/index.js';

const useLab = labPerTest();
const IS_ROOT = process.getuid?.() === 0;

/** Every form the token could take in output: as the scrubber knows them, and a few it need not. */
function tokenForms(token: string): string[] {
  const json = JSON.stringify(token).slice(1, -1);
  return [
    token,
    json,
    encodeURIComponent(token),
    Buffer.from(token).toString('base64').replace(/=+$/, ''),
    Buffer.from(token).toString('base64url'),
  ];
}

/** mkfifo, as a real process (Node has no call for it). */
function mkfifo(path: string): void {
  const made = spawnSync('mkfifo', ['-m', '600', path]);
  if (made.status !== 0) throw new Error(`mkfifo ${path}: ${made.stderr}`);
}

/** A listening unix socket at `path`; closed by the returned function. */
async function socketAt(path: string): Promise<() => Promise<void>> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A sentinel directory outside every home: what an attack points at, and what must not change. */
class Sentinel {
  readonly dir: string;
  readonly cleanup: () => void;
  #before = '';

  constructor() {
    const made = makeTempHome('difflore-sentinel-');
    mkdirSync(made.home, { recursive: true });
    this.dir = made.home;
    this.cleanup = made.cleanup;
    // What a victim directory looks like to a replayer: valid spill records and a database-ish file.
    const record = { version: 1, kind: 'observation', payloadJson: workRow('victim', 0, 'observation').payloadJson };
    writeFileSync(join(this.dir, '1-1-0.json'), JSON.stringify({ ...record, createdAtMs: 1, lastError: null }));
    writeFileSync(join(this.dir, '2-1-0.json'), JSON.stringify({ ...record, createdAtMs: 2, lastError: null }));
    writeFileSync(join(this.dir, 'precious.db'), 'not yours to write');
    mkdirSync(join(this.dir, 'sub'));
    writeFileSync(join(this.dir, 'sub', 'daemon.log'), 'old log\n');
    this.#before = this.snapshot();
  }

  /** Names, types, sizes, modes, inodes, mtimes and contents of everything under the directory. */
  snapshot(): string {
    const walk = (dir: string): string[] =>
      readdirSync(dir)
        .sort()
        .flatMap((name) => {
          const path = join(dir, name);
          const s = lstatSync(path);
          const line = `${path} ${s.mode} ${s.size} ${s.ino} ${s.mtimeMs}`;
          if (s.isDirectory()) return [line, ...walk(path)];
          return [`${line} ${s.isFile() ? readFileSync(path, 'base64') : ''}`];
        });
    return walk(this.dir).join('\n');
  }

  expectUntouched(): void {
    expect(this.snapshot()).toBe(this.#before);
  }
}

/**
 * Runs the CLI and applies the suite's checks to what it did: exited on its own, a documented code,
 * no stack trace, no literal \u000a, no token in any encoding.
 */
async function run(
  lab: Lab,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: { input?: string; codes?: readonly number[] } = {},
): Promise<CliResult> {
  const result = await lab.cli(args, env, {
    timeoutMs: 30_000,
    ...(options.input === undefined ? {} : { input: options.input }),
  });
  const shown = `${args.join(' ')} → ${result.code}/${result.signal}\n${result.stdout}\n${result.stderr}`;
  expect(result.signal, `killed by the deadline: ${shown}`).toBeNull();
  expect(options.codes ?? [0, 1, 2, 3, 4], shown).toContain(result.code);
  expect(result.stderr, shown).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);
  expect(`${result.stdout}${result.stderr}`, shown).not.toContain('\\u000a');
  for (const form of tokenForms(FAULT_TOKEN)) expect(`${result.stdout}${result.stderr}`, shown).not.toContain(form);
  return result;
}

/** No file under the home holds the token in any encoding. */
function expectNoTokenIn(h: LabHome): void {
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      const s = lstatSync(path);
      return s.isDirectory() ? walk(path) : s.isFile() ? [path] : [];
    });
  for (const file of walk(h.home)) {
    const text = readFileSync(file, 'latin1');
    for (const form of tokenForms(FAULT_TOKEN)) expect(text.includes(form), `${form} in ${file}`).toBe(false);
  }
}

describe('hostile spill directories and files', () => {
  it('linked spill directories are left alone: nothing in them read, renamed, deleted or uploaded', async () => {
    const lab = useLab();
    const sentinel = new Sentinel();
    try {
      const cloud = await lab.cloud();
      const h = lab.home();
      mkdirSync(h.paths.spillDir, { mode: 0o700 });
      symlinkSync(sentinel.dir, h.paths.observationSpillDir);
      symlinkSync(sentinel.dir, h.paths.otherSpillDir);
      h.seed(workRows('good', 0, 8));
      const drained = await run(lab, ['outbox', 'drain'], h.env(cloud.url));
      expect(drained.code).toBe(0);
      sentinel.expectUntouched();
      expect(await cloud.receivedTotal()).toBe(8);
      expect(h.outbox()).toEqual({ pending: 0, processing: 0, abandoned: 0 });
      const doctor = await run(lab, ['doctor'], h.env(cloud.url), { codes: [1] });
      expect(doctor.stdout).toContain('hook-spill/observations/ is a symbolic link');
      expect(doctor.stdout).toContain('hook-spill/outbox/ is a symbolic link');
    } finally {
      sentinel.cleanup();
    }
  });

  it('a FIFO, socket, device, directory and link among spill files: none opened, all set aside, the good one delivered', async () => {
    const lab = useLab();
    const sentinel = new Sentinel();
    const h = lab.home();
    const closers: (() => Promise<void>)[] = [];
    try {
      const cloud = await lab.cloud();
      const dir = h.paths.observationSpillDir;
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      mkfifo(join(dir, '1-1-0.json'));
      closers.push(await socketAt(join(dir, '2-1-0.json')));
      symlinkSync(join(sentinel.dir, '1-1-0.json'), join(dir, '3-1-0.json'));
      mkdirSync(join(dir, '4-1-0.json'));
      const device = spawnSync('mknod', [join(dir, '5-1-0.json'), 'c', '1', '3']).status === 0;
      const good = workRow('spill', 0, 'observation');
      writeFileSync(
        join(dir, '9-1-0.json'),
        JSON.stringify({
          version: 1,
          kind: 'observation',
          payloadJson: good.payloadJson,
          createdAtMs: 9,
          lastError: null,
        }),
        { mode: 0o600 },
      );
      const status = await run(lab, ['outbox', 'status'], h.env(cloud.url));
      expect(status.code).toBe(0);
      const drained = await run(lab, ['outbox', 'drain'], h.env(cloud.url));
      expect(drained.code).toBe(0);
      expect(await cloud.receivedTotal()).toBe(1);
      const left = readdirSync(dir).sort();
      expect(left).toEqual(['1-1-0.bad', '2-1-0.bad', '3-1-0.bad', '4-1-0.bad', ...(device ? ['5-1-0.bad'] : [])]);
      // The link was moved, not followed: it still points at the sentinel, which is unchanged.
      expect(lstatSync(join(dir, '3-1-0.bad')).isSymbolicLink()).toBe(true);
      sentinel.expectUntouched();
    } finally {
      for (const close of closers) await close();
      sentinel.cleanup();
    }
  });
});

describe('hostile files in the home', () => {
  it('data.db as a link: enqueue spills, start fails naming it, status and doctor agree; the target is untouched', async () => {
    const lab = useLab();
    const sentinel = new Sentinel();
    try {
      const cloud = await lab.cloud();
      const h = lab.home();
      symlinkSync(join(sentinel.dir, 'precious.db'), h.paths.db);
      const env = h.env(cloud.url);
      const enq = await run(lab, ['enqueue', 'trajectory', workRow('db', 0, 'trajectory').payloadJson], env);
      expect(enq.code).toBe(0);
      expect(h.spill().waiting).toHaveLength(1);
      const start = await run(lab, ['daemon', 'start'], env, { codes: [1] });
      expect(start.stderr).toContain(`${h.paths.db} is a symbolic link`);
      const status = await run(lab, ['daemon', 'status'], env);
      expect(status.stdout).toContain('is a symbolic link');
      const doctor = await run(lab, ['doctor', '--json'], env, { codes: [1] });
      const checks = JSON.parse(doctor.stdout).checks as { name: string; status: string; detail: string }[];
      expect(checks.find((c) => c.name === 'database')).toMatchObject({ status: 'fail' });
      sentinel.expectUntouched();
    } finally {
      sentinel.cleanup();
    }
  });

  it.each([
    ['a FIFO at the journal', (h: LabHome) => mkfifo(h.paths.journal), 'daemon-journal.jsonl'],
    [
      'a FIFO at logs/daemon.log',
      (h: LabHome) => {
        mkdirSync(h.paths.logsDir, { mode: 0o700 });
        mkfifo(h.paths.daemonLog);
      },
      'daemon.log',
    ],
    ['a directory at the state file', (h: LabHome) => mkdirSync(h.paths.stateFile), 'daemon-state.json'],
    ['a FIFO at daemon.pid', (h: LabHome) => mkfifo(h.paths.pidFile), 'daemon.pid'],
  ])('%s: start, status, doctor and stop all end by themselves and name the file', async (_what, plant, name) => {
    const lab = useLab();
    const cloud = await lab.cloud();
    const h = lab.home();
    plant(h);
    const env = h.env(cloud.url);
    const start = await run(lab, ['daemon', 'start'], env, { codes: [1] });
    expect(start.stderr).toContain(name);
    const status = await run(lab, ['daemon', 'status'], env);
    expect(status.code).not.toBe(0);
    const doctor = await run(lab, ['doctor'], env, { codes: [1] });
    expect(doctor.stdout).toContain(name);
    const stop = await run(lab, ['daemon', 'stop'], env);
    expect(stop.code === 0 || stop.stderr.includes(name)).toBe(true);
  });

  it('logs/ as a link to a directory elsewhere: the daemon refuses it and writes nothing there', async () => {
    const lab = useLab();
    const sentinel = new Sentinel();
    try {
      const cloud = await lab.cloud();
      const h = lab.home();
      symlinkSync(join(sentinel.dir, 'sub'), h.paths.logsDir);
      const start = await run(lab, ['daemon', 'start'], h.env(cloud.url), { codes: [1] });
      expect(start.stderr).toContain('logs');
      const hook = await run(lab, ['hook', 'claude-code'], h.env(cloud.url), { input: '{"nonsense":true}' });
      expect(hook.code).toBe(0);
      sentinel.expectUntouched();
    } finally {
      sentinel.cleanup();
    }
  });

  it('a FIFO at logs/hook.log never blocks the hook', async () => {
    const lab = useLab();
    const h = lab.home();
    mkdirSync(h.paths.logsDir, { mode: 0o700 });
    mkfifo(join(h.paths.logsDir, 'hook.log'));
    const hook = await run(lab, ['hook', 'claude-code'], h.env(null), { input: 'not json' });
    expect(hook.code).toBe(0);
    expect(hook.stdout).toContain('"continue":true');
  });

  it('a FIFO as the token file: the pass refuses it instead of hanging', async () => {
    const lab = useLab();
    const cloud = await lab.cloud();
    const h = lab.home();
    mkfifo(h.paths.tokenFile);
    h.seed(workRows('fifo-token', 0, 2));
    const env = h.env(cloud.url, { DIFFLORE_CLOUD_TOKEN: undefined });
    const drained = await run(lab, ['outbox', 'drain'], env);
    expect(`${drained.stdout}${drained.stderr}`).toContain('FIFO');
    expect(h.outbox().pending).toBe(2);
  });

  it.skipIf(!IS_ROOT)('a home owned by another user is refused', async () => {
    const lab = useLab();
    const h = lab.home();
    chownSync(h.home, 65534, 65534);
    const enq = await run(lab, ['enqueue', 'observation', workRow('x', 0, 'observation').payloadJson], h.env(null), {
      codes: [1],
    });
    expect(enq.stderr).toContain('belongs to another user');
    const start = await run(lab, ['daemon', 'start'], h.env(null), { codes: [1] });
    expect(start.stderr).toContain('belongs to another user');
    expect(existsSync(h.paths.db)).toBe(false);
  });
});

describe('hostile payloads and input', () => {
  it('a 50,000-level trajectory is abandoned alone with the reason; the daemon delivers every other row', async () => {
    const lab = useLab();
    const cloud = await lab.cloud();
    const h = lab.home();
    const good = workRows('deep', 0, 24);
    h.seed([
      ...good.slice(0, 12),
      {
        kind: 'trajectory',
        payloadJson: `{"pr_review_id":"pr-deep","steps":${'['.repeat(50_000)}${']'.repeat(50_000)}}`,
      },
      ...good.slice(12),
    ]);
    const env = h.env(cloud.url);
    const start = await lab.daemonStart(h, env);
    expect(start.code, start.stderr).toBe(0);
    await waitFor(
      async () => {
        const o = h.outbox();
        return (await cloud.receivedTotal()) >= good.length && o.pending + o.processing === 0 && o.abandoned === 1;
      },
      { what: 'every good row delivered around the deep one' },
    );
    expect(await cloud.receivedTotal()).toBe(good.length);
    const left = h.withStore((s) => s.list({ limit: 10 }));
    expect(left.map((r) => [r.kind, r.status])).toEqual([['trajectory', 'abandoned']]);
    expect(left[0]?.lastError).toMatch(/\S/);
    await run(lab, ['daemon', 'stop'], env, { codes: [0] });
  });

  it('invalid UTF-8 on stdin: enqueue exits 2 and queues nothing', async () => {
    const lab = useLab();
    const h = lab.home();
    const t = lab.spawn(
      process.execPath,
      [join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js'), 'enqueue', 'observation'],
      {
        env: h.env(null),
      },
    );
    t.child.stdin?.end(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    const exit = await t.exited;
    expect(exit.code).toBe(2);
    expect(t.stderr()).toContain('not valid UTF-8');
    expect(h.outbox().pending).toBe(0);
  });

  it('a cloud echoing the token JSON-escaped, URL-encoded and base64-encoded: in no output, log or row', async () => {
    const lab = useLab();
    const h = lab.home();
    const forms = tokenForms(FAULT_TOKEN);
    const echo = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.statusCode = 400;
        res.end(JSON.stringify({ error: 'bad', echoed: forms, header: req.headers.authorization }));
      });
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
      h.seed(workRows('echo', 0, 4));
      const env = h.env(url);
      await run(lab, ['outbox', 'drain'], env);
      expect(h.outbox().abandoned).toBe(4);
      await run(lab, ['outbox', 'list', '--status', 'abandoned', '--json'], env);
      await run(lab, ['outbox', 'status'], env);
      await run(lab, ['daemon', 'status'], env);
      await run(lab, ['doctor'], env);
      expectNoTokenIn(h);
    } finally {
      await new Promise((resolve) => echo.close(resolve));
    }
  });
});

describe('hostile signals and readers', () => {
  it('SIGUSR1 opens no debugger and SIGUSR2 does not kill; a SIGSTOPped daemon still stops cleanly', async () => {
    const lab = useLab();
    const cloud = await lab.cloud();
    const h = lab.home();
    const env = h.env(cloud.url);
    const start = await lab.daemonStart(h, env);
    expect(start.code, start.stderr).toBe(0);
    const pid = start.pid as number;
    process.kill(pid, 'SIGUSR1');
    process.kill(pid, 'SIGUSR2');
    await waitFor(() => h.daemonLogTail(50).includes('received SIGUSR2: ignored'), { what: 'both signals logged' });
    expect(h.daemonLogTail(50)).toContain('received SIGUSR1: ignored');
    const inspector = await new Promise<boolean>((resolve) => {
      const socket = net.connect(9229, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    expect(inspector).toBe(false);
    expect((await run(lab, ['daemon', 'status'], env)).code).toBe(0);
    h.seed(workRows('after-usr', 0, 3));
    await waitFor(async () => (await cloud.receivedTotal()) === 3, { what: 'delivery after the user signals' });

    process.kill(pid, 'SIGSTOP');
    const stop = await run(lab, ['daemon', 'stop', '--grace', '60s', '--json'], env, { codes: [0] });
    expect(JSON.parse(stop.stdout)).toMatchObject({ outcome: 'terminated', pid });
  });

  it('a reader that closes the pipe early: the command exits with its own status, quietly', async () => {
    const lab = useLab();
    const h = lab.home();
    const cli = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
    for (const [args, code] of [
      ['daemon status', 3],
      ['outbox status', 0],
      ['doctor', 1],
    ] as const) {
      const t = lab.spawn(
        'bash',
        ['-c', `"${process.execPath}" "${cli}" ${args} | head -c1 >/dev/null; echo "rc=\${PIPESTATUS[0]}"`],
        {
          env: h.env(null),
        },
      );
      t.child.stdin?.end();
      await t.exited;
      expect(t.stdout().trim(), `${args}: ${t.stderr()}`).toBe(`rc=${code}`);
      expect(t.stderr(), args).not.toMatch(/EPIPE|\n\s+at /);
    }
  });
});

describe('hostile disks', () => {
  const canMount = IS_ROOT && process.platform === 'linux';

  /** A small tmpfs as the home's parent, unmounted by the returned function. */
  function tmpfs(sizeKb: number): { dir: string; unmount: () => void } | null {
    const made = makeTempHome('difflore-mount-');
    const dir = join(made.home, '..', 'mnt');
    mkdirSync(dir);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'tmpfs', dir]);
    if (mounted.status !== 0) {
      made.cleanup();
      return null;
    }
    return {
      dir,
      unmount: () => {
        spawnSync('umount', ['-l', dir]);
        made.cleanup();
      },
    };
  }

  it.skipIf(!canMount)('a home on a read-only mount: start fails saying so; enqueue says the row is lost', async () => {
    const lab = useLab();
    const fs = tmpfs(1024);
    if (fs === null) return; // no mount(2) here: the README says so
    try {
      const home = join(fs.dir, 'home');
      const env = { ...lab.home().env(null), DIFFLORE_HOME: home };
      expect((await run(lab, ['enqueue', 'observation', workRow('ro', 0, 'observation').payloadJson], env)).code).toBe(
        0,
      );
      expect(spawnSync('mount', ['-o', 'remount,ro', fs.dir]).status).toBe(0);
      const start = await run(lab, ['daemon', 'start'], env, { codes: [1] });
      expect(start.stderr).toMatch(/read-only|EROFS/i);
      const enq = await run(lab, ['enqueue', 'observation', workRow('ro', 1, 'observation').payloadJson], env, {
        codes: [1],
      });
      expect(enq.stderr).toMatch(/spill|read-only|EROFS/i);
      const doctor = await run(lab, ['doctor'], env, { codes: [1] });
      expect(doctor.stdout).toMatch(/read-only|EROFS/i);
    } finally {
      fs.unmount();
    }
  });

  it.skipIf(!canMount)('a full disk: enqueue and the daemon end by themselves with a clear message', async () => {
    const lab = useLab();
    const fs = tmpfs(512);
    if (fs === null) return;
    try {
      const home = join(fs.dir, 'home');
      const env = { ...lab.home().env(null), DIFFLORE_HOME: home };
      expect(
        (await run(lab, ['enqueue', 'observation', workRow('full', 0, 'observation').payloadJson], env)).code,
      ).toBe(0);
      spawnSync('dd', ['if=/dev/zero', `of=${join(fs.dir, 'filler')}`, 'bs=4k', 'count=1000']);
      expect(statSync(join(fs.dir, 'filler')).size).toBeGreaterThan(0);
      const big = JSON.stringify({
        ...JSON.parse(workRow('full', 1, 'observation').payloadJson),
        narrative: 'x'.repeat(200_000),
      });
      const enq = await run(lab, ['enqueue', 'observation', '-'], env, { input: big, codes: [0, 1] });
      if (enq.code === 1) expect(enq.stderr).toMatch(/no space|ENOSPC|SQLITE_FULL|full/i);
      await run(lab, ['daemon', 'start'], env, { codes: [0, 1] });
      await run(lab, ['daemon', 'stop'], env, { codes: [0, 2, 3] });
    } finally {
      fs.unmount();
    }
  });
});

describe('a torn journal line', () => {
  it('does not swallow the next record, and daemon log --verify fails on it', async () => {
    const lab = useLab();
    const cloud = await lab.cloud();
    const h = lab.home();
    writeFileSync(h.paths.journal, '{"machine":"daemon","seq":1,"atMs":1,"pid":4242,"from":null,"ev', { mode: 0o600 });
    const env = h.env(cloud.url);
    const start = await lab.daemonStart(h, env);
    expect(start.code, start.stderr).toBe(0);
    await run(lab, ['daemon', 'stop'], env, { codes: [0] });
    const lines = readFileSync(h.paths.journal, 'utf8').split('\n');
    expect(lines[0]).toMatch(/"ev$/);
    expect(JSON.parse(lines[1] as string)).toMatchObject({ machine: 'daemon', pid: start.pid });
    const verify = await run(lab, ['daemon', 'log', '--verify'], env, { codes: [1] });
    expect(verify.stderr).toContain('1 unreadable lines');
  });
});
