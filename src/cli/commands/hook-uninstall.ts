/**
 * `difflore hook uninstall claude-code`: removes the entries `hook install` added from a Claude Code
 * settings.json and nothing else.
 */
import { Command, Option } from 'clipanion';
import {
  detectIndent,
  lineDiff,
  parseSettings,
  readSettingsFile,
  removeClaudeCodeHook,
  renderSettings,
  resolveSettingsPath,
  writeSettingsFile,
} from '../../adapters/settings-merge.js';
import { BaseCommand } from '../base-command.js';

export default class HookUninstallCommand extends BaseCommand {
  static override paths = [
    ['hook', 'uninstall', 'claude-code'],
    ['hook', 'uninstall'],
  ];

  static override usage = Command.Usage({
    category: 'Hooks',
    description: 'Stop Claude Code from recording its edits',
    details: `
      Removes every hook entry that runs \`difflore hook claude-code\` from \`<DIR>/.claude/settings.json\`
      (\`--project\`, default: the current directory) or \`~/.claude/settings.json\` (\`--user\`), and the
      groups that only held it. Everything else stays; the old file is copied to
      \`settings.json.bak-<time>\` first.
    `,
    examples: [
      ['Uninstall from the project in the current directory', '$0 hook uninstall claude-code'],
      ['Uninstall from the user settings', '$0 hook uninstall claude-code --user'],
      ['Show what would change', '$0 hook uninstall claude-code --dry-run'],
    ],
  });

  project = Option.String('--project', { description: 'Project directory whose .claude/settings.json to change' });
  user = Option.Boolean('--user', false, { description: 'Change ~/.claude/settings.json instead' });
  dryRun = Option.Boolean('--dry-run', false, { description: 'Print the change without writing anything' });

  protected async run(): Promise<number> {
    const path = resolveSettingsPath({ project: this.project, user: this.user, cwd: process.cwd(), env: process.env });
    const file = readSettingsFile(path);
    if (file.text === undefined) {
      this.print(`No ${path}; nothing to remove.`);
      return 0;
    }
    const result = removeClaudeCodeHook(parseSettings(file.text, path), path);
    if (!result.changed) {
      this.print(`No difflore hook in ${path}; nothing changed.`);
      return 0;
    }
    const after = renderSettings(result.settings, detectIndent(file.text));
    if (this.dryRun) {
      this.context.stdout.write(lineDiff(file.text, after, path, path));
      this.print(`(dry run: ${path} not written)`);
      return 0;
    }
    const { backup } = writeSettingsFile(file, after, Date.now());
    const n = result.removed;
    this.print(`Removed ${n} difflore hook entr${n === 1 ? 'y' : 'ies'} from ${path}`);
    if (backup) this.print(`  previous file saved as ${backup}`);
    return 0;
  }
}
