/**
 * `difflore daemon uninstall`: removes the unit or plist `daemon install` wrote (only if it carries our
 * marker) and prints the command that stops the loaded service.
 */
import { lstatSync, readlinkSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  disableCommand,
  isManagedServiceFile,
  SYSTEMD_UNIT_NAME,
  serviceFilePath,
} from '../../adapters/integrations/service-unit.js';
import { DiffloreError } from '../../errors.js';
import { chooseManager, readIfExists } from './daemon-install.js';
import { defineCommand, flag, output } from '../command-spec.js';

export default defineCommand({
  paths: [['daemon', 'uninstall']],
  usage: {
    category: 'Daemon',
    description: 'Remove the user service written by `daemon install`',
    details: `
      Removes the systemd unit (and its \`default.target.wants\` link) or the launchd plist that
      \`difflore daemon install\` wrote. A file of the same name that difflore did not write is left alone.
      Then run the printed command to stop the service that is still loaded.
    `,
    examples: [
      ['Uninstall for this platform', '$0 daemon uninstall'],
      ['Uninstall the launchd agent', '$0 daemon uninstall --launchd'],
    ],
  },
  options: {
    systemd: flag('--systemd', 'Remove the systemd user unit'),
    launchd: flag('--launchd', 'Remove the launchd agent plist'),
  },

  parse: (raw) => raw,
  async run(args, io) {
    const out = output(io);
    const env = process.env;
    const manager = chooseManager(args.systemd, args.launchd);
    const path = serviceFilePath(manager, env);
    const existing = readIfExists(path);
    if (existing === undefined) {
      out.print(`No ${path}; nothing to remove.`);
      return 0;
    }
    if (!isManagedServiceFile(existing)) {
      throw new DiffloreError('conflict', `${path} was not written by difflore; left as it is.`, {
        hint: 'remove it yourself if you no longer want it',
      });
    }
    try {
      unlinkSync(path);
      // `systemctl enable` links the unit from default.target.wants; with the unit gone that link
      // would dangle, so remove it too, but only if it points at the file we just removed.
      if (manager === 'systemd') removeWantsLink(path);
    } catch (error) {
      throw new DiffloreError('io', `cannot remove ${path}: ${(error as Error).message}`, { cause: error });
    }
    out.print(`Removed ${path}`);
    out.print('To stop the service that is still loaded, run:');
    out.print(`  ${disableCommand(manager)}`);
    return 0;
  },
});

function removeWantsLink(unitPath: string): void {
  const link = join(dirname(unitPath), 'default.target.wants', SYSTEMD_UNIT_NAME);
  try {
    if (!lstatSync(link).isSymbolicLink()) return;
    if (resolve(dirname(link), readlinkSync(link)) === unitPath) unlinkSync(link);
  } catch {
    // no link: the unit was never enabled
  }
}
