/**
 * `difflore daemon install|uninstall` writing real unit/plist files under a fake $HOME. systemctl and
 * launchctl are never run (they are not available in CI, and the commands only print what to run).
 */
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, cleanEnv, runCli } from '../helpers/index.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function fakeHome(): string {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'difflore-daemon-install-')));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

function run(args: string[], home: string, env: Record<string, string | undefined> = {}) {
  return runCli(args, {
    env: cleanEnv({ HOME: home, XDG_CONFIG_HOME: undefined, DIFFLORE_HOME: join(home, 'data'), ...env }),
  });
}

const unitPath = (home: string) => join(home, '.config', 'systemd', 'user', 'difflore-daemon.service');
const plistPath = (home: string) => join(home, 'Library', 'LaunchAgents', 'dev.difflore.daemon.plist');

describe('daemon install --systemd', () => {
  it('--print prints the unit and writes nothing', async () => {
    const home = fakeHome();
    const result = await run(['daemon', 'install', '--systemd', '--print'], home);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`ExecStart="${process.execPath}" "--max-semi-space-size=1" "${CLI}" daemon run\n`);
    expect(result.stdout).toContain('Restart=on-failure');
    expect(result.stdout).toContain(`Environment="DIFFLORE_HOME=${join(home, 'data')}"`);
    expect(existsSync(join(home, '.config'))).toBe(false);
  });

  it('writes the unit, never with the token, and prints the command to enable it', async () => {
    const home = fakeHome();
    const result = await run(['daemon', 'install', '--systemd'], home, {
      DIFFLORE_CLOUD_TOKEN: 'tok-secret-123',
      DIFFLORE_CLOUD_URL: 'http://127.0.0.1:4010/api',
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(unitPath(home));
    expect(result.stdout).toContain('systemctl --user daemon-reload && systemctl --user enable --now difflore-daemon');
    const unit = readFileSync(unitPath(home), 'utf8');
    expect(unit).toContain('daemon run');
    expect(unit).toContain('Environment="DIFFLORE_CLOUD_URL=http://127.0.0.1:4010/api"');
    expect(unit).not.toContain('tok-secret-123');
    expect(unit).not.toContain('TOKEN');

    const again = await run(['daemon', 'install', '--systemd'], home, {
      DIFFLORE_CLOUD_URL: 'http://127.0.0.1:4010/api',
    });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already installed');
  });

  it('honours XDG_CONFIG_HOME', async () => {
    const home = fakeHome();
    const config = join(home, 'cfg');
    const result = await run(['daemon', 'install', '--systemd'], home, { XDG_CONFIG_HOME: config });
    expect(result.code).toBe(0);
    expect(existsSync(join(config, 'systemd', 'user', 'difflore-daemon.service'))).toBe(true);
  });

  it('leaves a unit it did not write alone, on install and on uninstall', async () => {
    const home = fakeHome();
    mkdirSync(join(unitPath(home), '..'), { recursive: true });
    const mine = '[Service]\nExecStart=/usr/bin/something-else\n';
    writeFileSync(unitPath(home), mine);
    const install = await run(['daemon', 'install', '--systemd'], home);
    expect(install.code).toBe(1);
    expect(install.stderr).toContain('not written by difflore');
    const uninstall = await run(['daemon', 'uninstall', '--systemd'], home);
    expect(uninstall.code).toBe(1);
    expect(readFileSync(unitPath(home), 'utf8')).toBe(mine);
  });

  it('uninstall removes the unit and its enable link and prints how to stop it', async () => {
    const home = fakeHome();
    expect((await run(['daemon', 'install', '--systemd'], home)).code).toBe(0);
    // What `systemctl --user enable` would have made.
    const wants = join(unitPath(home), '..', 'default.target.wants');
    mkdirSync(wants);
    symlinkSync(unitPath(home), join(wants, 'difflore-daemon.service'));
    const result = await run(['daemon', 'uninstall', '--systemd'], home);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('systemctl --user stop difflore-daemon');
    expect(existsSync(unitPath(home))).toBe(false);
    expect(() => lstatSync(join(wants, 'difflore-daemon.service'))).toThrow();

    const none = await run(['daemon', 'uninstall', '--systemd'], home);
    expect(none.code).toBe(0);
    expect(none.stdout).toContain('nothing to remove');
  });
});

describe('daemon install --launchd', () => {
  it('writes the plist, uninstall removes it', async () => {
    const home = fakeHome();
    const result = await run(['daemon', 'install', '--launchd'], home);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('launchctl bootstrap gui/$(id -u)');
    const plist = readFileSync(plistPath(home), 'utf8');
    expect(plist).toContain(`<string>${process.execPath}</string>`);
    expect(plist).toContain(`<string>${CLI}</string>`);
    expect(plist).toContain('<key>SuccessfulExit</key>');
    expect(plist).toContain(`<string>${join(home, 'data', 'logs', 'daemon.log')}</string>`);

    const removed = await run(['daemon', 'uninstall', '--launchd'], home);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toContain('launchctl bootout gui/$(id -u)/dev.difflore.daemon');
    expect(existsSync(plistPath(home))).toBe(false);
  });
});

describe('daemon install options', () => {
  it('refuses --systemd with --launchd', async () => {
    const home = fakeHome();
    const result = await run(['daemon', 'install', '--systemd', '--launchd'], home);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('exclusive');
  });

  it.skipIf(process.platform !== 'linux')('picks systemd by default on Linux', async () => {
    const home = fakeHome();
    const result = await run(['daemon', 'install', '--print'], home);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('[Service]');
  });
});
