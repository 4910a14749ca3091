/**
 * `difflore hook install <agent>`: adds our hook entry to the agent's config, keeping everything else
 * in the file as it was. Claude Code's settings.json has its own merge (settings-merge.ts); the other
 * agents share agent-install.ts, driven by the spec in their adapter file.
 */
import { resolve } from 'node:path';
import { Command, Option } from 'clipanion';
import { cliEntryPath, ephemeralEntryWarning } from '../../adapters/integrations/service-unit.js';
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
} from '../../adapters/integrations/settings-merge.js';
import { AGENT_HOOKS, type AgentRow, findAgent } from '../../observation/agents/index.js';
import { type InstallOptions, installAgentHook } from '../agent-install.js';
import { BaseCommand, usageError } from '../base-command.js';

const AGENTS = AGENT_HOOKS.map((row) => row.names[0]).join(', ');

/** The agent row for a name on the command line, or a usage error listing the agents. */
export function agentRow(name: string): AgentRow {
  const row = findAgent(name);
  if (row === undefined) return usageError(`unknown agent "${name}"`, `one of: ${AGENTS}`);
  return row;
}

/** The options `hook install` and `hook uninstall` share, and the agent installer's view of them. */
export abstract class HookConfigCommand extends BaseCommand {
  project = Option.String('--project', { description: 'Project directory (Claude Code, Cursor)' });
  user = Option.Boolean('--user', false, { description: 'Claude Code: change ~/.claude/settings.json instead' });
  dryRun = Option.Boolean('--dry-run', false, { description: 'Print the change as a diff without writing anything' });
  printOnly = Option.Boolean('--print', false, {
    description: 'Print the whole file as it would be written; write nothing',
  });

  protected installOptions(): InstallOptions {
    return {
      project: this.project,
      user: this.user,
      dryRun: this.dryRun,
      print: this.printOnly,
      cwd: process.cwd(),
      env: process.env,
      out: (line) => this.print(line),
      raw: (text) => this.context.stdout.write(text),
    };
  }
}

export default class HookInstallCommand extends HookConfigCommand {
  static override paths = [['hook', 'install']];

  static override usage = Command.Usage({
    category: 'Hooks',
    description: 'Make a coding agent record its edits into the outbox',
    details: `
      Agents: ${AGENTS} (and the Rust binary's aliases).

      \`claude-code\`: a \`PostToolUse\` hook (matcher \`Edit|MultiEdit|Write\`, timeout 10 s) in
      \`<DIR>/.claude/settings.json\` (\`--project\`, default: the current directory) or
      \`~/.claude/settings.json\` (\`--user\`). \`codex\`: \`PostToolUse\` of \`apply_patch\` in
      \`~/.codex/hooks.json\`. \`cursor\`: \`afterFileEdit\` in \`<DIR>/.cursor/hooks.json\`. \`gemini-cli\`:
      \`AfterTool\` of \`write_file|replace\` in \`~/.gemini/settings.json\`. \`windsurf\`: \`post_write_code\` in
      \`~/.codeium/windsurf/hooks.json\`.

      Other hooks and settings are kept; the old file is copied to \`<file>.bak-<time>\` first and the new
      one replaces it atomically. Running it again changes nothing. An agent that is not installed here
      (none of its directories, not on PATH) is reported and nothing is created.

      The hook command uses absolute paths to this node and this difflore, so it works whatever PATH the
      agent starts with; run the install again after moving or upgrading either. When \`DIFFLORE_HOME\`
      is set, the hook is pinned to that data home.
    `,
    examples: [
      ['Install for the project in the current directory', '$0 hook install claude-code'],
      ['Install for every project of this user', '$0 hook install claude-code --user'],
      ['Codex, for this user', '$0 hook install codex'],
      ['Show the file as it would be written', '$0 hook install gemini-cli --print'],
      ['Show what would change', '$0 hook install cursor --project ~/src/app --dry-run'],
    ],
  });

  agent = Option.String({ name: 'agent' });

  protected async run(): Promise<number> {
    const row = agentRow(this.agent);
    if (row.names[0] !== 'claude-code') {
      return installAgentHook(row, this.installOptions());
    }
    return this.installClaudeCode();
  }

  private installClaudeCode(): number {
    const env = process.env;
    const path = resolveSettingsPath({ project: this.project, user: this.user, cwd: process.cwd(), env });
    const file = readSettingsFile(path);
    const current = parseSettings(file.text, path);
    const home = env.DIFFLORE_HOME !== undefined && env.DIFFLORE_HOME !== '' ? resolve(env.DIFFLORE_HOME) : undefined;
    const entry = cliEntryPath();
    const spec = claudeCodeHookSpec(process.execPath, entry, home);
    const merged = addClaudeCodeHook(current, spec, path);
    const after = renderSettings(merged.settings, detectIndent(file.text));
    if (this.printOnly) {
      this.context.stdout.write(merged.changed ? after : (file.text ?? after));
      return 0;
    }
    if (!merged.changed) {
      this.print(`The difflore hook is already installed in ${path}; nothing changed.`);
      return 0;
    }
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
