/**
 * `difflore daemon install`: writes a systemd user unit or a launchd agent that runs `daemon run`, so the
 * daemon starts at login and restarts after a crash. It does not drive systemctl/launchctl itself (they
 * may be absent, as in CI, or need a user session); it prints the one command to run next.
 */
import { closeSync, constants, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { homePaths, resolveHome } from '../../adapters/home/home.js';
import {
  defaultManager,
  enableCommand,
  ephemeralEntryWarning,
  isManagedServiceFile,
  renderServiceFile,
  type ServiceManager,
  serviceFilePath,
  serviceSpec,
} from '../../adapters/integrations/service-unit.js';
import { DiffloreError, errnoCode } from '../../errors.js';
import { usageError } from '../exit-codes.js';
import { defineCommand, flag, output } from '../command-spec.js';

export default defineCommand({
  paths: [['daemon', 'install']],
  usage: {
    category: 'Daemon',
    description: 'Run the daemon as a user service (systemd or launchd)',
    details: `
      Writes \`~/.config/systemd/user/difflore-daemon.service\` (\`--systemd\`, the default on Linux) or
      \`~/Library/LaunchAgents/dev.difflore.daemon.plist\` (\`--launchd\`, the default on macOS). It runs
      \`difflore daemon run\` with this node and this difflore, restarts it when it fails, and passes on
      \`DIFFLORE_HOME\` and \`DIFFLORE_CLOUD_URL\` if they are set. The token is never written into it:
      the daemon reads \`DIFFLORE_CLOUD_TOKEN\` or the token file in the data home.

      \`--print\` prints the file instead of writing it. After writing, run the command it prints to
      enable and start the service.
    `,
    examples: [
      ['Install for this platform', '$0 daemon install'],
      ['Preview the systemd unit', '$0 daemon install --systemd --print'],
    ],
  },
  options: {
    systemd: flag('--systemd', 'Write a systemd user unit'),
    launchd: flag('--launchd', 'Write a launchd agent plist'),
    printOnly: flag('--print', 'Print the file; write nothing'),
  },

  parse: (raw) => raw,
  async run(args, io) {
    const out = output(io);
    const env = process.env;
    const manager = chooseManager(args.systemd, args.launchd);
    const logPath = resolve(homePaths(resolveHome(env)).daemonLog);
    const spec = serviceSpec(env, logPath);
    const text = renderServiceFile(manager, spec);
    if (args.printOnly) {
      io.stdout.write(text);
      return 0;
    }
    const path = serviceFilePath(manager, env);
    const existing = readIfExists(path);
    if (existing !== undefined && !isManagedServiceFile(existing)) {
      throw new DiffloreError('conflict', `${path} exists and was not written by difflore; left as it is.`, {
        hint: `move it aside if it is not needed, or compare it with: difflore daemon install --${manager} --print`,
      });
    }
    if (existing === text) {
      out.print(`${path} is already installed and up to date.`);
    } else {
      const warning = ephemeralEntryWarning(spec.entryPath);
      if (warning) out.warn(warning);
      writeFileAtomically(path, text);
      out.print(`${existing === undefined ? 'Wrote' : 'Updated'} ${path}`);
    }
    out.print('To enable it now and at every login, run:');
    out.print(`  ${enableCommand(manager, path)}`);
    return 0;
  },
});

export function chooseManager(systemd: boolean, launchd: boolean): ServiceManager {
  if (systemd && launchd) usageError('--systemd and --launchd are exclusive; pick one.');
  if (systemd) return 'systemd';
  if (launchd) return 'launchd';
  const manager = defaultManager();
  if (!manager) {
    usageError(
      `no supported service manager on ${process.platform}.`,
      'pass --systemd or --launchd with --print to see a file, or run `difflore daemon start` instead',
    );
  }
  return manager;
}

export function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw new DiffloreError('io', `cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Temp file + fsync + rename: a service manager reading the directory never sees half a unit. */
function writeFileAtomically(path: string, text: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.difflore-tmp-${process.pid}`;
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (error) {
    throw new DiffloreError('io', `cannot write ${path}: ${(error as Error).message}`, { cause: error });
  }
}
