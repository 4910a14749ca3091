/**
 * The Rust login end to end: a `cloud-auth.db` written the Rust way (by the independent test writer)
 * is used by real `outbox drain` processes and a real daemon against the reference cloud on
 * loopback, which records every Authorization header it sees. Key from DIFFLORE_MASTER_KEY and from
 * the keyseed fallback (refused under CI); a rotated token refreshed exactly once under 20 concurrent
 * drains and written back so Rust's rules read the new pair; a wrong key or a foreign host never
 * sends the token; a failed refresh leaves rows pending with their tries unspent and says what to do.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ReferenceCloud, startReferenceCloud } from '../../src/reference-cloud/server.js';
import { CLI, mcpQueryPayload, runProcess, waitFor } from '../helpers/index.js';
import { writeModuleRecorder } from '../helpers/module-log.js';
import {
  RUST_CI_VARS,
  readRustRows,
  rustDecrypt,
  rustKeyseedKey,
  rustMachineId,
  writeRustLogin,
} from '../helpers/rust-login-writer.js';
import { DaemonWorld } from './daemon-harness.js';

const T0 = `tok_rust_${randomBytes(8).toString('hex')}`;
const R0 = randomBytes(32).toString('hex');
const KEY = randomBytes(32);
/** Nothing answers here: the OS keyring is unavailable, whatever the developer's session has. */
const NO_DBUS = 'unix:path=/nonexistent/difflore-test-bus';

let world: DaemonWorld;
let cloud: ReferenceCloud;

beforeEach(async () => {
  world = new DaemonWorld();
  cloud = await startReferenceCloud({ token: T0, refreshToken: R0 });
});
afterEach(async () => {
  await world.dispose();
  await cloud.close();
});

const origin = (): string => new URL(cloud.url).origin;
const loginPath = (): string => join(world.home, 'cloud-auth.db');

function env(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { DIFFLORE_CLOUD_URL: cloud.url, DBUS_SESSION_BUS_ADDRESS: NO_DBUS, ...extra };
}
const withKey = (extra: Record<string, string | undefined> = {}) =>
  env({ DIFFLORE_MASTER_KEY: KEY.toString('hex'), ...extra });
/** A child environment with none of Rust's CI variables. */
const noCi = (extra: Record<string, string | undefined>) =>
  env({ ...Object.fromEntries(RUST_CI_VARS.map((v) => [v, undefined])), ...extra });

async function drain(extra: Record<string, string | undefined>, args: string[] = []) {
  const result = await world.cli(['outbox', 'drain', '--json', ...args], extra);
  for (const secret of [T0, R0, KEY.toString('hex')]) {
    expect(result.stdout + result.stderr).not.toContain(secret);
  }
  return { ...result, summary: JSON.parse(result.stdout) as Record<string, unknown> };
}

const pendingUntried = () => world.rows().every((r) => r.status === 'pending' && r.retry_count === 0);

describe('a Rust login delivers', () => {
  it('with the key in DIFFLORE_MASTER_KEY; drain, status and doctor name the source, never the token', async () => {
    writeRustLogin(loginPath(), KEY, { token: T0, refreshToken: R0, tokenHost: origin() });
    world.enqueue(3, 'mcp_query');
    const { code, summary } = await drain(withKey());
    expect(code).toBe(0);
    expect(summary).toMatchObject({ confirmed: 3, tokenSource: 'rust-login:master-key-env', tokenRefreshed: null });
    expect(cloud.authorizations()).toEqual([`Bearer ${T0}`]);

    const text = await world.cli(['outbox', 'drain'], withKey());
    expect(text.stdout).toContain('token from: the Rust login (cloud-auth.db), key from DIFFLORE_MASTER_KEY');
    const status = await world.cli(['daemon', 'status', '--json'], withKey());
    expect(JSON.parse(status.stdout)).toMatchObject({ tokenSource: 'rust-login:master-key-env', tokenProblem: null });
    const doctor = await world.cli(['doctor', '--json'], withKey());
    const token = (JSON.parse(doctor.stdout) as { checks: { name: string; detail: string }[] }).checks.find(
      (c) => c.name === 'token',
    );
    expect(token?.detail).toContain('key from DIFFLORE_MASTER_KEY');
    for (const out of [status.stdout, doctor.stdout, text.stdout]) expect(out).not.toContain(T0);
  });

  it('with the keyseed fallback (no CI variable, HOME set) in a real daemon; under CI the fallback is refused', async () => {
    const osHome = join(world.home, '..', 'os-home');
    const seed = randomBytes(32);
    writeFileSync(join(world.home, 'keyseed'), seed.toString('hex'), { mode: 0o600 });
    const key = rustKeyseedKey(seed, osHome, rustMachineId());
    writeRustLogin(loginPath(), key, { token: T0, refreshToken: R0, tokenHost: origin() });

    world.enqueue(2, 'mcp_query');
    const underCi = await drain(env({ HOME: osHome, CI: 'true' }));
    expect(underCi.code).toBe(1);
    expect(String(underCi.summary.authProblem)).toContain('CI is set, so the keyseed fallback is refused');
    expect(cloud.authorizations()).toEqual([]);
    expect(pendingUntried()).toBe(true);

    const daemonEnv = noCi({ HOME: osHome });
    const pid = await world.start(['--tick', '200ms'], daemonEnv);
    await waitFor(() => world.rows().length === 0, { what: 'the daemon to deliver with the keyseed login' });
    expect(cloud.authorizations()).toEqual([`Bearer ${T0}`]);
    const status = JSON.parse((await world.cli(['daemon', 'status', '--json'], daemonEnv)).stdout);
    expect(status).toMatchObject({ pid, status: 'running', tokenSource: 'rust-login:keyseed', waitingForToken: false });
    const log = readFileSync(world.paths.daemonLog, 'utf8');
    expect(log).toContain('"source":"rust-login:keyseed"');
    for (const secret of [T0, R0, seed.toString('hex'), key.toString('hex')]) expect(log).not.toContain(secret);
  });

  it('set up by `cloud serve --login-home`, sealed with the given key for the cloud origin', async () => {
    await cloud.close();
    const served = world.spawn(
      process.execPath,
      [join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js'), 'cloud', 'serve', '--login-home', world.home],
      { ...process.env, DIFFLORE_MASTER_KEY: KEY.toString('hex') },
    );
    let out = '';
    served.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    const lines = await waitFor(() => (/login written to .*\n/.test(out) ? out.split('\n') : null), {
      what: 'cloud serve to write the login',
    });
    const url = (lines[0] ?? '').replace('listening on ', '');
    expect(lines[1]).toBe(`login written to ${loginPath()} for ${new URL(url).origin}`);
    const rows = readRustRows(loginPath());
    expect(rustDecrypt(KEY, rows.token_host as string)).toBe(new URL(url).origin);
    world.enqueue(2, 'mcp_query');
    const result = await world.cli(['outbox', 'drain', '--json'], {
      DIFFLORE_CLOUD_URL: url,
      DIFFLORE_MASTER_KEY: KEY.toString('hex'),
      DBUS_SESSION_BUS_ADDRESS: NO_DBUS,
    });
    expect(JSON.parse(result.stdout)).toMatchObject({ confirmed: 2, tokenSource: 'rust-login:master-key-env' });
  });
});

/** The binaries a real Secret Service session needs, or the first one missing. */
function missingKeyringTool(): string | null {
  const dirs = (process.env.PATH ?? '').split(':');
  for (const tool of ['dbus-run-session', 'dbus-send', 'gnome-keyring-daemon', 'secret-tool']) {
    if (!dirs.some((d) => existsSync(join(d, tool)))) return tool;
  }
  return null;
}

describe('the OS keyring through a real Secret Service', () => {
  const missing = missingKeyringTool();
  if (missing !== null)
    console.log(
      `skipping the keyring test: ${missing} is not installed (apt-get install gnome-keyring dbus-daemon libsecret-tools)`,
    );
  it.skipIf(missing !== null)(
    'reads difflore/master-key-v2 (service + username attributes), read-only, even under CI',
    async () => {
      writeRustLogin(loginPath(), KEY, { token: T0, refreshToken: R0, tokenHost: origin() });
      world.enqueue(2, 'mcp_query');
      const osHome = join(world.home, '..', 'keyring-home');
      mkdirSync(osHome, { recursive: true, mode: 0o700 });
      // The decoy has the right service but another account: a lookup by service alone would find it.
      const script = [
        'set -e',
        'printf %s "$KEYRING_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets >/dev/null',
        // The daemon forks before it owns the bus name; a store before then D-Bus-activates a second,
        // locked instance. Wait (bounded) until the unlocked one answers.
        'i=0; until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets | grep -q "boolean true"; do i=$((i+1)); [ $i -lt 200 ] || exit 9; sleep 0.05; done',
        'printf %s "$DECOY_KEY" | secret-tool store --label=decoy service difflore username someone-else',
        'printf %s "$MASTER_KEY" | secret-tool store --label=x service difflore username master-key-v2',
        // gnome-keyring may print its environment on stdout: markers delimit what the test reads.
        'echo @@summary',
        'node "$DIFFLORE_CLI" outbox drain --json',
        'echo @@stored-key',
        'secret-tool lookup service difflore username master-key-v2',
        'echo',
        'echo @@end',
      ].join('\n');
      const result = await runProcess('dbus-run-session', ['--', 'sh', '-c', script], {
        env: world.env({
          DIFFLORE_CLOUD_URL: cloud.url,
          DIFFLORE_CLI: CLI,
          HOME: osHome,
          XDG_DATA_HOME: join(osHome, '.local', 'share'),
          KEYRING_PASSWORD: 'test-password',
          MASTER_KEY: KEY.toString('hex'),
          DECOY_KEY: randomBytes(32).toString('hex'),
          CI: 'true',
          DBUS_SESSION_BUS_ADDRESS: undefined,
        }),
        timeoutMs: 45_000,
      });
      expect(result.code, result.stderr).toBe(0);
      const between = (from: string, to: string): string =>
        result.stdout.slice(result.stdout.indexOf(from) + from.length, result.stdout.indexOf(to));
      const summaryText = between('@@summary\n', '@@stored-key');
      const storedKey = between('@@stored-key\n', '@@end');
      expect(JSON.parse(summaryText ?? '')).toMatchObject({ confirmed: 2, tokenSource: 'rust-login:keyring' });
      // Read-only: the entry is as the test stored it.
      expect(storedKey?.trim()).toBe(KEY.toString('hex'));
      expect(cloud.authorizations()).toEqual([`Bearer ${T0}`]);
      expect(result.stdout + result.stderr).not.toContain(T0);
    },
  );
});

describe('a Secret Service that never answers', () => {
  const missing = missingKeyringTool();
  it.skipIf(missing !== null)('does not hold the pass: the key falls back to the keyseed', async () => {
    // A session bus whose org.freedesktop.secrets "service" is a process that never registers.
    const dir = join(world.home, '..', 'hung-bus');
    mkdirSync(join(dir, 'services'), { recursive: true });
    writeFileSync(
      join(dir, 'services', 'org.freedesktop.secrets.service'),
      '[D-BUS Service]\nName=org.freedesktop.secrets\nExec=/usr/bin/timeout 4 /bin/sleep 4\n',
    );
    writeFileSync(
      join(dir, 'session.conf'),
      `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:tmpdir=${dir}</listen><auth>EXTERNAL</auth>
<servicedir>${join(dir, 'services')}</servicedir>
<policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/></policy></busconfig>`,
    );
    const osHome = join(world.home, '..', 'os-home');
    const seed = randomBytes(32);
    writeFileSync(join(world.home, 'keyseed'), seed.toString('hex'), { mode: 0o600 });
    writeRustLogin(loginPath(), rustKeyseedKey(seed, osHome, rustMachineId()), {
      token: T0,
      refreshToken: R0,
      tokenHost: origin(),
    });
    world.enqueue(2, 'mcp_query');
    const result = await runProcess(
      'dbus-run-session',
      [`--config-file=${join(dir, 'session.conf')}`, '--', process.execPath, CLI, 'outbox', 'drain', '--json'],
      { env: world.env(noCi({ HOME: osHome, DBUS_SESSION_BUS_ADDRESS: undefined })), timeoutMs: 45_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ confirmed: 2, tokenSource: 'rust-login:keyseed' });
  });
});

describe('the hook and enqueue path stays light', () => {
  it('enqueue with a Rust login present loads neither the keyring binding nor the login reader', async () => {
    writeRustLogin(loginPath(), KEY, { token: T0, refreshToken: R0, tokenHost: origin() });
    const dir = join(world.home, '..', 'modules');
    mkdirSync(dir, { recursive: true });
    writeModuleRecorder(dir);
    const log = join(dir, 'modules.txt');
    const payload = mcpQueryPayload('a.ts', 0);
    const result = await runProcess(
      process.execPath,
      ['--import', join(dir, 'register.mjs'), CLI, 'enqueue', 'mcp_query', payload],
      { env: world.env({ ...env(), DIFFLORE_TEST_MODULE_LOG: log, DIFFLORE_DISABLE_OUTBOX_DAEMON: '1' }) },
    );
    expect(result.code, result.stderr).toBe(0);
    const loaded = readFileSync(log, 'utf8');
    expect(loaded).toMatch(/enqueue/);
    expect(loaded).not.toMatch(/@napi-rs\/keyring/);
    expect(loaded).not.toMatch(/\/dist\/adapters\/auth\//);
  });
});

describe('the token never goes where Rust would not send it', () => {
  it('a wrong key: nothing is sent, rows keep their tries, the reason names the key', async () => {
    writeRustLogin(loginPath(), KEY, { token: T0, refreshToken: R0, tokenHost: origin() });
    world.enqueue(2, 'mcp_query');
    const { code, summary } = await drain(env({ DIFFLORE_MASTER_KEY: randomBytes(32).toString('hex') }));
    expect(code).toBe(1);
    expect(String(summary.authProblem)).toContain('cannot be decrypted with the key from DIFFLORE_MASTER_KEY');
    expect(cloud.authorizations()).toEqual([]);
    expect(pendingUntried()).toBe(true);
  });

  it('a foreign token_host, or none for a non-default origin: the token is not sent, even with a token file', async () => {
    world.enqueue(2, 'mcp_query');
    writeRustLogin(loginPath(), KEY, { token: T0, refreshToken: R0, tokenHost: 'https://evil.example' });
    const foreign = await drain(withKey());
    expect(String(foreign.summary.authProblem)).toContain(`issued for https://evil.example, not ${origin()}`);

    writeRustLogin(loginPath(), KEY, { token: T0, refreshToken: R0, tokenHost: null });
    const db = (await import('better-sqlite3')).default;
    const conn = new db(loginPath());
    conn.prepare("DELETE FROM auth WHERE key = 'token_host'").run();
    conn.close();
    const none = await drain(withKey());
    expect(String(none.summary.authProblem)).toContain('https://difflore.dev (no token_host)');
    expect(cloud.authorizations()).toEqual([]);

    // Our token file comes after the login: it is used, and still the login's token never travels.
    writeFileSync(world.paths.tokenFile, 'tok_from_file_abcdef\n', { mode: 0o600 });
    const file = await drain(withKey());
    expect(file.summary).toMatchObject({ tokenSource: 'file' });
    expect(cloud.authorizations()).toEqual(['Bearer tok_from_file_abcdef']);
    expect(pendingUntried()).toBe(true);
  });
});

describe('refresh on 401', () => {
  it('a rotated token is refreshed exactly once under 20 concurrent drains and written back for Rust', async () => {
    writeRustLogin(loginPath(), KEY, {
      token: T0,
      refreshToken: R0,
      tokenHost: origin(),
      extra: { login_nonce: 'legacy' },
    });
    world.enqueue(20, 'mcp_query');
    cloud.rotateToken();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => world.cli(['outbox', 'drain', '--json', '--limit', '1'], withKey())),
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    expect(world.rows()).toEqual([]);
    expect(cloud.authStats()).toMatchObject({ refreshes: 1, refusedRefreshes: 0 });
    const { token, refreshToken } = cloud.currentLogin();
    const rows = readRustRows(loginPath());
    expect(Object.keys(rows).sort()).toEqual(['refresh_token', 'token', 'token_host']);
    expect(rustDecrypt(KEY, rows.token as string)).toBe(token);
    expect(rustDecrypt(KEY, rows.refresh_token as string)).toBe(refreshToken);
    expect(rustDecrypt(KEY, rows.token_host as string)).toBe(origin());
    expect(new Set(cloud.authorizations())).toEqual(new Set([`Bearer ${T0}`, `Bearer ${token}`]));
    const refreshedBy = results.map((r) => (JSON.parse(r.stdout) as { tokenRefreshed: string | null }).tokenRefreshed);
    expect(refreshedBy.filter((b) => b === 'server')).toHaveLength(1);
  });

  it('a failed refresh: rows wait with tries unspent, status and doctor say what to do; a new login resumes', async () => {
    writeRustLogin(loginPath(), KEY, { token: T0, refreshToken: R0, tokenHost: origin() });
    cloud.rotateToken();
    await fetch(`${cloud.url}/__auth`, { method: 'POST', body: JSON.stringify({ failRefreshStatus: 503 }) });
    world.enqueue(3, 'mcp_query');
    const once = await drain(withKey());
    expect(once.code).toBe(1);
    expect(String(once.summary.authProblem)).toContain('refreshing the Rust login failed');
    expect(pendingUntried()).toBe(true);

    await world.start(['--tick', '200ms'], withKey());
    const status = await waitFor(
      async () => {
        const s = JSON.parse((await world.cli(['daemon', 'status', '--json'], withKey())).stdout);
        return s.waitingForToken === true ? s : null;
      },
      { what: 'status to say the daemon waits for a token' },
    );
    expect(status.tokenProblem).toContain('refreshing the Rust login failed');
    expect(status.tokenProblem).toContain('difflore cloud login');
    const doctor = JSON.parse((await world.cli(['doctor', '--json'], withKey())).stdout) as {
      checks: { name: string; status: string; fix?: string }[];
    };
    expect(doctor.checks.find((c) => c.name === 'token')).toMatchObject({ status: 'fail' });
    expect(doctor.checks.find((c) => c.name === 'token')?.fix).toContain('difflore cloud login');
    expect(pendingUntried()).toBe(true);

    // `difflore cloud login` again (here: the test writer with the cloud's current token): the next pass delivers.
    writeRustLogin(loginPath(), KEY, { token: cloud.currentLogin().token as string, tokenHost: origin() });
    await waitFor(() => world.rows().length === 0, { what: 'delivery after a new login' });
  });
});
