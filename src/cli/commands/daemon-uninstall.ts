/**
 * `difflore daemon uninstall`: removes the unit or plist `daemon install` wrote (only if it carries our
 * marker) and prints the command that stops the loaded service.
 */
import { lstatSync, readlinkSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Command, Option } from 'clipanion';
import {
  disableCommand,
  isManagedServiceFile,
  SYSTEMD_UNIT_NAME,
  serviceFilePath,
} from '../../adapters/integrations/service-unit.js';
import { DiffloreError } from '../../errors.js';
import { BaseCommand } from '../base-command.js';
import { chooseManager, readIfExists } from './daemon-install.js';

export default class DaemonUninstallCommand extends BaseCommand {
  static override paths = [['daemon', 'uninstall']];

  static override usage = Command.Usage({
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
  });

  systemd = Option.Boolean('--systemd', false, { description: 'Remove the systemd user unit' });
  launchd = Option.Boolean('--launchd', false, { description: 'Remove the launchd agent plist' });

  protected async run(): Promise<number> {
    const env = process.env;
    const manager = chooseManager(this.systemd, this.launchd);
    const path = serviceFilePath(manager, env);
    const existing = readIfExists(path);
    if (existing === undefined) {
      this.print(`No ${path}; nothing to remove.`);
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
    this.print(`Removed ${path}`);
    this.print('To stop the service that is still loaded, run:');
    this.print(`  ${disableCommand(manager)}`);
    return 0;
  }
}

function removeWantsLink(unitPath: string): void {
  const link = join(dirname(unitPath), 'default.target.wants', SYSTEMD_UNIT_NAME);
  try {
    if (!lstatSync(link).isSymbolicLink()) return;
    if (resolve(dirname(link), readlinkSync(link)) === unitPath) unlinkSync(link);
  } catch {
    // no link: the unit was never enabled
  }
}
