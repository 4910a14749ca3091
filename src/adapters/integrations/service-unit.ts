/**
 * How the daemon is run by a service manager: the systemd user unit and the launchd agent plist, where
 * each lives, and how to recognise a file we wrote. Also the absolute command line of this CLI, which
 * service files and agent hooks both need because neither runs with the user's shell PATH.
 * Text only: writing and removing the files is the commands' job.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { DAEMON_NODE_FLAGS } from '../lifecycle/daemon-node-flags.js';

export type ServiceManager = 'systemd' | 'launchd';

export const SYSTEMD_UNIT_NAME = 'difflore-daemon.service';
export const LAUNCHD_LABEL = 'dev.difflore.daemon';

/**
 * The first line of every file we write. `daemon uninstall` removes a file only if it carries it, so
 * a unit the user wrote by hand under the same name is never deleted.
 */
export const MANAGED_MARKER = 'difflore-managed: written by `difflore daemon install`';

/** Variables the service needs to find the same data home and cloud as the user's shell. Never a token. */
export const SERVICE_ENV_VARS = ['DIFFLORE_HOME', 'DIFFLORE_CLOUD_URL'] as const;

/**
 * The `difflore` binary of this installation (this module is dist/adapters/integrations/service-unit.js
 * once built): dist/cli/main.cjs, the CommonJS build scripts/build-entries.mjs makes of main.ts, which
 * starts faster; dist/cli/main.js, its ES module twin, in a build without it (tsc alone).
 */
export function cliEntryPath(): string {
  const bin = join(import.meta.dirname, '..', '..', 'cli', 'main.cjs');
  return existsSync(bin) ? bin : join(import.meta.dirname, '..', '..', 'cli', 'main.js');
}

/**
 * A warning when this CLI runs from a place that may vanish (npx's cache is pruned at will), since
 * hooks and units point at it by absolute path. Undefined when the location looks lasting.
 */
export function ephemeralEntryWarning(entryPath: string): string | undefined {
  if (!/[/\\]_npx[/\\]/.test(entryPath)) return undefined;
  return (
    `warning: difflore is running from npx's cache (${entryPath}), which npm may delete; ` +
    'install it (npm install -g, or as a project dependency) and run this command again from there'
  );
}

export interface ServiceSpec {
  /** Absolute path of the node binary. */
  readonly nodePath: string;
  /** Absolute path of dist/cli/main.js. */
  readonly entryPath: string;
  /** Environment the daemon runs with (only SERVICE_ENV_VARS, absolute paths). */
  readonly env: Readonly<Record<string, string>>;
  /** Where launchd sends stdout/stderr (systemd uses the journal). */
  readonly logPath: string;
}

/** The spec for this installation and environment. Relative DIFFLORE_HOME is made absolute against `cwd`. */
export function serviceSpec(env: NodeJS.ProcessEnv, logPath: string, cwd = process.cwd()): ServiceSpec {
  const serviceEnv: Record<string, string> = {};
  for (const name of SERVICE_ENV_VARS) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    serviceEnv[name] = name === 'DIFFLORE_HOME' ? resolve(cwd, value) : value;
  }
  return { nodePath: process.execPath, entryPath: cliEntryPath(), env: serviceEnv, logPath };
}

/** The user's home as the service manager sees it: $HOME when set (as systemd and launchd use it). */
export function userHome(env: NodeJS.ProcessEnv): string {
  return env.HOME && env.HOME !== '' ? env.HOME : homedir();
}

/** Where the unit or plist goes. systemd honours XDG_CONFIG_HOME for user units, so we do too. */
export function serviceFilePath(manager: ServiceManager, env: NodeJS.ProcessEnv): string {
  if (manager === 'launchd') return join(userHome(env), 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
  const configHome =
    env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(userHome(env), '.config');
  return join(configHome, 'systemd', 'user', SYSTEMD_UNIT_NAME);
}

/** The manager this platform uses, or undefined where we support none. */
export function defaultManager(platform: NodeJS.Platform = process.platform): ServiceManager | undefined {
  if (platform === 'darwin') return 'launchd';
  if (platform === 'linux') return 'systemd';
  return undefined;
}

export function renderServiceFile(manager: ServiceManager, spec: ServiceSpec): string {
  return manager === 'systemd' ? renderSystemdUnit(spec) : renderLaunchdPlist(spec);
}

/** True if `text` is a file `daemon install` wrote. */
export function isManagedServiceFile(text: string): boolean {
  return text.includes(MANAGED_MARKER);
}

/**
 * A systemd user unit. Restart=on-failure only: a daemon that exits 0 (stopped on purpose, or found
 * another daemon already running) is left alone instead of being restarted into a conflict loop.
 * TimeoutStopSec leaves room for the daemon's own graceful stop before systemd sends SIGKILL.
 */
export function renderSystemdUnit(spec: ServiceSpec): string {
  const lines = [
    `# ${MANAGED_MARKER}; \`difflore daemon uninstall\` removes it.`,
    '[Unit]',
    'Description=difflore outbox daemon (drains ~/.difflore outbox to the difflore cloud)',
    // Bounds a crash loop: a daemon that fails at once on every start (an unusable data home, a
    // symlinked state file) is given up on after five tries in a minute. A conflict is no such loop:
    // `daemon run` exits 0 when another daemon (say one a hook started) already serves the home.
    'StartLimitIntervalSec=60',
    'StartLimitBurst=5',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${[spec.nodePath, ...DAEMON_NODE_FLAGS, spec.entryPath].map((w) => systemdQuote(w, 'exec')).join(' ')} daemon run`,
    'Restart=on-failure',
    'RestartSec=2',
    'KillSignal=SIGTERM',
    'TimeoutStopSec=20',
  ];
  for (const [name, value] of Object.entries(spec.env)) {
    lines.push(`Environment=${systemdQuote(`${name}=${value}`, 'environment')}`);
  }
  lines.push('', '[Install]', 'WantedBy=default.target', '');
  return lines.join('\n');
}

/**
 * A launchd agent. KeepAlive.SuccessfulExit=false restarts it only after a failure, like the systemd
 * unit (a conflict exits 0, so it is not restarted into one); ThrottleInterval keeps a crash loop
 * from spinning.
 */
export function renderLaunchdPlist(spec: ServiceSpec): string {
  const args = [spec.nodePath, ...DAEMON_NODE_FLAGS, spec.entryPath, 'daemon', 'run'];
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    `<!-- ${MANAGED_MARKER}; \`difflore daemon uninstall\` removes it. -->`,
    '<plist version="1.0">',
    '<dict>',
    '  <key>Label</key>',
    `  <string>${LAUNCHD_LABEL}</string>`,
    '  <key>ProgramArguments</key>',
    '  <array>',
    ...args.map((a) => `    <string>${xmlEscape(a)}</string>`),
    '  </array>',
    '  <key>RunAtLoad</key>',
    '  <true/>',
    '  <key>KeepAlive</key>',
    '  <dict>',
    '    <key>SuccessfulExit</key>',
    '    <false/>',
    '  </dict>',
    '  <key>ThrottleInterval</key>',
    '  <integer>10</integer>',
    '  <key>ProcessType</key>',
    '  <string>Background</string>',
  ];
  const env = Object.entries(spec.env);
  if (env.length > 0) {
    lines.push('  <key>EnvironmentVariables</key>', '  <dict>');
    for (const [name, value] of env) {
      lines.push(`    <key>${xmlEscape(name)}</key>`, `    <string>${xmlEscape(value)}</string>`);
    }
    lines.push('  </dict>');
  }
  lines.push(
    '  <key>StandardOutPath</key>',
    `  <string>${xmlEscape(spec.logPath)}</string>`,
    '  <key>StandardErrorPath</key>',
    `  <string>${xmlEscape(spec.logPath)}</string>`,
    '</dict>',
    '</plist>',
    '',
  );
  return lines.join('\n');
}

/** What the user runs after `daemon install` (we do not drive the service manager ourselves). */
export function enableCommand(manager: ServiceManager, filePath: string): string {
  if (manager === 'systemd') {
    return `systemctl --user daemon-reload && systemctl --user enable --now ${SYSTEMD_UNIT_NAME.replace(/\.service$/, '')}`;
  }
  return `launchctl bootstrap gui/$(id -u) ${shellQuote(filePath)}`;
}

/**
 * What the user runs after `daemon uninstall`. Both work on a unit whose file is already gone: systemd
 * keeps a loaded unit until daemon-reload, and launchctl boots out by label.
 */
export function disableCommand(manager: ServiceManager): string {
  if (manager === 'systemd') {
    return `systemctl --user stop ${SYSTEMD_UNIT_NAME.replace(/\.service$/, '')}; systemctl --user daemon-reload`;
  }
  return `launchctl bootout gui/$(id -u)/${LAUNCHD_LABEL}`;
}

/**
 * Quotes one word for a systemd unit: double-quoted, with `\` and `"` escaped and `%` doubled
 * (specifier expansion everywhere); `$` is doubled only in ExecStart, the one place systemd expands it.
 */
export function systemdQuote(word: string, where: 'exec' | 'environment'): string {
  let escaped = word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%');
  if (where === 'exec') escaped = escaped.replace(/\$/g, '$$$$');
  return `"${escaped}"`;
}

/** Quotes a word for a POSIX shell, leaving plain words (letters, digits, `/._-+:@=,`) as they are. */
export function shellQuote(word: string): string {
  if (word !== '' && /^[A-Za-z0-9/._+:@=,-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
