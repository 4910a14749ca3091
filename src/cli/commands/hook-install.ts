/**
 * `difflore hook install claude-code`: adds our PostToolUse entry to a Claude Code settings.json,
 * keeping everything else in the file as it was.
 */
import { resolve } from 'node:path';
import { Command, Option } from 'clipanion';
import { cliEntryPath, ephemeralEntryWarning } from '../../adapters/service-unit.js';
import {
  addClaudeCodeHook,
  claudeCodeHookSpec,
  detectIndent,
  lineDiff,
  parseSettings,
  readSettingsFile,
  renderSettings,
  resolveSettingsPath,
  writeSettingsFile,
} from '../../adapters/settings-merge.js';
import { BaseCommand } from '../base-command.js';

export default class HookInstallCommand extends BaseCommand {
  static override paths = [['hook', 'install', 'claude-code']];

  static override usage = Command.Usage({
    category: 'Hooks',
    description: 'Make Claude Code record its edits into the outbox',
    details: `
      Adds a \`PostToolUse\` hook (matcher \`Edit|MultiEdit|Write\`, timeout 10 s) that runs
      \`difflore hook claude-code\` to \`<DIR>/.claude/settings.json\` (\`--project\`, default: the current
      directory) or to \`~/.claude/settings.json\` (\`--user\`). Other hooks and settings are kept; the old
      file is copied to \`settings.json.bak-<time>\` first. Running it again changes nothing.

      The hook command uses absolute paths to this node and this difflore, so it works whatever PATH
      Claude Code starts with; run the install again after moving or upgrading either. When
      \`DIFFLORE_HOME\` is set, the hook is pinned to that data home.
    `,
    examples: [
      ['Install for the project in the current directory', '$0 hook install claude-code'],
      ['Install for every project of this user', '$0 hook install claude-code --user'],
      ['Show what would change', '$0 hook install claude-code --project ~/src/app --dry-run'],
    ],
  });

  project = Option.String('--project', { description: 'Project directory whose .claude/settings.json to change' });
  user = Option.Boolean('--user', false, { description: 'Change ~/.claude/settings.json instead' });
  dryRun = Option.Boolean('--dry-run', false, { description: 'Print the change without writing anything' });

  protected async run(): Promise<number> {
    const env = process.env;
    const path = resolveSettingsPath({ project: this.project, user: this.user, cwd: process.cwd(), env });
    const file = readSettingsFile(path);
    const current = parseSettings(file.text, path);
    const home = env.DIFFLORE_HOME !== undefined && env.DIFFLORE_HOME !== '' ? resolve(env.DIFFLORE_HOME) : undefined;
    const entry = cliEntryPath();
    const spec = claudeCodeHookSpec(process.execPath, entry, home);
    const merged = addClaudeCodeHook(current, spec, path);

    if (!merged.changed) {
      this.print(`The difflore hook is already installed in ${path}; nothing changed.`);
      return 0;
    }
    const after = renderSettings(merged.settings, detectIndent(file.text));
    if (this.dryRun) {
      this.context.stdout.write(lineDiff(file.text ?? '', after, file.text === undefined ? '/dev/null' : path, path));
      this.print(`(dry run: ${path} not written)`);
      return 0;
    }
    const { backup } = writeSettingsFile(file, after, Date.now());
    const warning = ephemeralEntryWarning(entry);
    if (warning) this.warn(warning);
    this.print(`Installed the difflore hook in ${path}`);
    this.print(`  PostToolUse ${spec.matcher} → ${spec.command}`);
    if (backup) this.print(`  previous file saved as ${backup}`);
    this.print('Claude Code picks it up in new sessions (or after /hooks in a running one).');
    return 0;
  }
}
