/**
 * ensureDaemonRunning against a fake daemon command (until `daemon run` exists, and to observe what
 * the spawned process inherits) and against a lifetime lock held by a real other process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, statSync, symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ensureDaemonRunning,
  isAutostartDisabled,
  type SpawnTarget,
} from '../../src/adapters/integrations/daemon-autostart.js';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import { cleanEnv, makeTempHome, waitFor } from '../helpers/index.js';

const ROOT = join(import.meta.dirname, '..', '..');

// The fake daemon records who it is (pid, session, cwd, an inherited variable), then writes to stdout
// and stderr, which must both land in logs/daemon.log.
const FAKE_DAEMON = `
const fs = require('node:fs');
const stat = fs.readFileSync('/proc/self/stat', 'utf8');
const [, , , session] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
fs.writeFileSync(process.argv[1], JSON.stringify({ pid: process.pid, session: Number(session), cwd: process.cwd(), mark: process.env.AUTOSTART_MARK, home: process.env.DIFFLORE_HOME }));
process.stdout.write('fake daemon stdout\\n');
process.stderr.write('fake daemon stderr\\n');
`;

function fakeTarget(marker: string): SpawnTarget {
  return { command: process.execPath, args: ['-e', FAKE_DAEMON, marker] };
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function tempHome(): HomePaths {
  const { home, cleanup } = makeTempHome('difflore-autostart-');
  cleanups.push(cleanup);
  return ensureHome(home);
}

/** Another process holding the lifetime lock, as a live daemon does. Released when its stdin ends. */
async function holdLock(path: string): Promise<ChildProcess> {
  const script = `
    const fs = require('node:fs');
    const { flockSync } = require('fs-ext-extra-prebuilt');
    const fd = fs.openSync(process.argv[1], 'a+', 0o600);
    flockSync(fd, 'exnb');
    process.stdout.write('locked\\n');
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
  `;
  const child = spawn(process.execPath, ['-e', script, path], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  await waitFor(() => out.includes('locked'), { what: 'the lock holder to take the lock' });
  return child;
}

async function release(holder: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => holder.once('exit', resolve));
  holder.stdin?.end();
  await exited;
}

describe('isAutostartDisabled', () => {
  it.each([
    ['1', true],
    ['true', true],
    ['yes', true],
    ['FALSE', true], // case-sensitive, as in Rust
    [' ', true],
    ['0', false],
    ['false', false],
    ['', false],
  ])('DIFFLORE_DISABLE_OUTBOX_DAEMON=%j → %s', (value, disabled) => {
    expect(isAutostartDisabled({ DIFFLORE_DISABLE_OUTBOX_DAEMON: value })).toBe(disabled);
  });

  it('is off when the variable is unset', () => {
    expect(isAutostartDisabled({})).toBe(false);
  });
});

describe.skipIf(process.platform !== 'linux')('ensureDaemonRunning', () => {
  it('spawns a detached daemon in its own session, in the data home, with stdio appended to daemon.log', async () => {
    const paths = tempHome();
    const marker = join(paths.home, '..', 'marker.json');
    const env = cleanEnv({ DIFFLORE_HOME: paths.home, AUTOSTART_MARK: 'inherited' });
    const result = await ensureDaemonRunning(paths, env, { target: fakeTarget(marker) });
    expect(result.kind).toBe('spawned');
    const seen = await waitFor(() => (existsSync(marker) ? JSON.parse(readFileSync(marker, 'utf8')) : undefined), {
      what: 'the fake daemon to run',
    });
    expect(result.kind === 'spawned' && result.pid).toBe(seen.pid);
    expect(seen.session).toBe(seen.pid); // setsid(): leader of a new session
    expect(realpathSync(seen.cwd)).toBe(realpathSync(paths.home));
    expect(seen.mark).toBe('inherited');
    expect(seen.home).toBe(paths.home);
    await waitFor(
      () => {
        const log = existsSync(paths.daemonLog) ? readFileSync(paths.daemonLog, 'utf8') : '';
        return log.includes('fake daemon stdout') && log.includes('fake daemon stderr');
      },
      { what: 'daemon.log to receive both streams' },
    );
    expect(statSync(paths.daemonLog).mode & 0o777).toBe(0o600);
    // Probing must not leave a lock file behind when no daemon ever ran.
    expect(existsSync(paths.lifetimeLock)).toBe(false);
  });

  it('does not spawn while another process holds the lifetime lock, and does once it is released', async () => {
    const paths = tempHome();
    const marker = join(paths.home, '..', 'marker.json');
    const holder = await holdLock(paths.lifetimeLock);
    try {
      const env = cleanEnv({ DIFFLORE_HOME: paths.home });
      expect(await ensureDaemonRunning(paths, env, { target: fakeTarget(marker) })).toEqual({ kind: 'running' });
      // The spawn path opens daemon.log before anything else: no log means no spawn was attempted.
      expect(existsSync(paths.daemonLog)).toBe(false);
    } finally {
      await release(holder);
    }
    const after = await ensureDaemonRunning(paths, cleanEnv({ DIFFLORE_HOME: paths.home }), {
      target: fakeTarget(marker),
    });
    expect(after.kind).toBe('spawned');
    await waitFor(() => existsSync(marker), { what: 'the fake daemon to run' });
  });

  it('does nothing when autostart is disabled', async () => {
    const paths = tempHome();
    const marker = join(paths.home, '..', 'marker.json');
    const env = cleanEnv({ DIFFLORE_HOME: paths.home, DIFFLORE_DISABLE_OUTBOX_DAEMON: '1' });
    expect(await ensureDaemonRunning(paths, env, { target: fakeTarget(marker) })).toEqual({ kind: 'disabled' });
    expect(existsSync(paths.daemonLog)).toBe(false);
  });

  it('makes a relative DIFFLORE_HOME absolute for the daemon, which runs elsewhere', async () => {
    const paths = tempHome();
    const marker = join(paths.home, '..', 'marker.json');
    const relativeHome = relative(process.cwd(), paths.home);
    const env = cleanEnv({ DIFFLORE_HOME: relativeHome });
    await ensureDaemonRunning(paths, env, { target: fakeTarget(marker) });
    const seen = await waitFor(() => (existsSync(marker) ? JSON.parse(readFileSync(marker, 'utf8')) : undefined));
    expect(seen.home).toBe(paths.home);
  });

  it('reports a command that cannot be spawned instead of throwing', async () => {
    const paths = tempHome();
    const result = await ensureDaemonRunning(paths, cleanEnv({ DIFFLORE_HOME: paths.home }), {
      target: { command: join(paths.home, 'no-such-binary'), args: [] },
    });
    expect(result.kind).toBe('failed');
  });

  it('refuses to write the daemon log through a symlink', async () => {
    const paths = tempHome();
    const elsewhere = join(paths.home, '..', 'elsewhere.log');
    mkdirSync(paths.logsDir, { recursive: true });
    symlinkSync(elsewhere, paths.daemonLog);
    const marker = join(paths.home, '..', 'marker.json');
    const result = await ensureDaemonRunning(paths, cleanEnv({ DIFFLORE_HOME: paths.home }), {
      target: fakeTarget(marker),
    });
    expect(result.kind).toBe('failed');
    expect(existsSync(elsewhere)).toBe(false);
    expect(existsSync(marker)).toBe(false);
  });
});
