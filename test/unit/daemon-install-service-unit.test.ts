import { describe, expect, it } from 'vitest';
import {
  defaultManager,
  disableCommand,
  enableCommand,
  ephemeralEntryWarning,
  isManagedServiceFile,
  renderLaunchdPlist,
  renderSystemdUnit,
  type ServiceSpec,
  serviceFilePath,
  serviceSpec,
  shellQuote,
  systemdQuote,
} from '../../src/adapters/integrations/service-unit.js';

const SPEC: ServiceSpec = {
  nodePath: '/usr/local/bin/node',
  entryPath: '/opt/difflore/dist/cli/main.js',
  env: { DIFFLORE_HOME: '/srv/difflore home' },
  logPath: '/srv/difflore home/logs/daemon.log',
};

describe('systemd unit', () => {
  const unit = renderSystemdUnit(SPEC);

  it('runs `daemon run` with absolute paths and restarts only on failure', () => {
    expect(unit).toContain(
      'ExecStart="/usr/local/bin/node" "--max-semi-space-size=1" "/opt/difflore/dist/cli/main.js" daemon run\n',
    );
    expect(unit).toContain('\nRestart=on-failure\n');
    expect(unit).toMatch(/\[Unit\][^[]*StartLimitBurst=5/);
    expect(unit).toContain('\nType=simple\n');
    expect(unit).toContain('[Install]\nWantedBy=default.target\n');
    expect(unit).toContain('Environment="DIFFLORE_HOME=/srv/difflore home"\n');
    expect(isManagedServiceFile(unit)).toBe(true);
  });

  it('escapes what systemd would expand', () => {
    expect(systemdQuote('/a/100%/$HOME/"q"\\', 'exec')).toBe('"/a/100%%/$$HOME/\\"q\\"\\\\"');
    expect(systemdQuote('X=$y%', 'environment')).toBe('"X=$y%%"');
  });
});

describe('launchd plist', () => {
  const plist = renderLaunchdPlist({ ...SPEC, env: { DIFFLORE_HOME: '/a&b<c>' } });

  it('runs `daemon run`, keeps it alive only after a failure, and escapes XML', () => {
    expect(plist).toContain('<string>dev.difflore.daemon</string>');
    expect(plist).toContain(
      '<string>/usr/local/bin/node</string>\n    <string>--max-semi-space-size=1</string>\n    <string>/opt/difflore/dist/cli/main.js</string>\n    <string>daemon</string>\n    <string>run</string>',
    );
    expect(plist).toMatch(/<key>KeepAlive<\/key>\s*<dict>\s*<key>SuccessfulExit<\/key>\s*<false\/>/);
    expect(plist).toContain('<key>DIFFLORE_HOME</key>\n    <string>/a&amp;b&lt;c&gt;</string>');
    expect(isManagedServiceFile(plist)).toBe(true);
    // An XML comment may not contain "--".
    const comment = /<!--(.*)-->/.exec(plist)?.[1] ?? '';
    expect(comment).not.toContain('--');
  });
});

describe('serviceSpec', () => {
  it('passes on the data home (made absolute) and the cloud URL, never a token', () => {
    const spec = serviceSpec(
      {
        DIFFLORE_HOME: 'rel/home',
        DIFFLORE_CLOUD_URL: 'http://127.0.0.1:9/api',
        DIFFLORE_CLOUD_TOKEN: 'secret-token',
        PATH: '/bin',
      },
      '/x/daemon.log',
      '/work',
    );
    expect(spec.env).toEqual({ DIFFLORE_HOME: '/work/rel/home', DIFFLORE_CLOUD_URL: 'http://127.0.0.1:9/api' });
    expect(spec.nodePath).toBe(process.execPath);
    expect(renderSystemdUnit(spec)).not.toContain('secret-token');
    expect(renderLaunchdPlist(spec)).not.toContain('secret-token');
  });

  it('leaves unset variables out', () => {
    expect(serviceSpec({ DIFFLORE_HOME: '' }, '/x').env).toEqual({});
  });
});

describe('paths and commands', () => {
  it('puts the unit under XDG_CONFIG_HOME or ~/.config, the plist under ~/Library/LaunchAgents', () => {
    expect(serviceFilePath('systemd', { HOME: '/h' })).toBe('/h/.config/systemd/user/difflore-daemon.service');
    expect(serviceFilePath('systemd', { HOME: '/h', XDG_CONFIG_HOME: '/cfg' })).toBe(
      '/cfg/systemd/user/difflore-daemon.service',
    );
    expect(serviceFilePath('launchd', { HOME: '/h' })).toBe('/h/Library/LaunchAgents/dev.difflore.daemon.plist');
  });

  it('chooses the manager by platform', () => {
    expect(defaultManager('linux')).toBe('systemd');
    expect(defaultManager('darwin')).toBe('launchd');
    expect(defaultManager('win32')).toBeUndefined();
  });

  it('prints the commands the user runs next', () => {
    expect(enableCommand('systemd', '/x')).toBe(
      'systemctl --user daemon-reload && systemctl --user enable --now difflore-daemon',
    );
    expect(enableCommand('launchd', '/h/Library/LaunchAgents/dev.difflore.daemon.plist')).toBe(
      'launchctl bootstrap gui/$(id -u) /h/Library/LaunchAgents/dev.difflore.daemon.plist',
    );
    expect(disableCommand('systemd')).toContain('systemctl --user stop difflore-daemon');
    expect(disableCommand('launchd')).toBe('launchctl bootout gui/$(id -u)/dev.difflore.daemon');
  });

  it('shell-quotes only what needs it', () => {
    expect(shellQuote('/usr/bin/node')).toBe('/usr/bin/node');
    expect(shellQuote('/a b')).toBe("'/a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('')).toBe("''");
  });

  it('warns when the CLI runs from the npx cache, which may be pruned', () => {
    expect(ephemeralEntryWarning('/home/u/.npm/_npx/1a2b/node_modules/difflore/dist/cli/main.js')).toContain('npx');
    expect(ephemeralEntryWarning('/usr/lib/node_modules/difflore/dist/cli/main.js')).toBeUndefined();
  });
});
