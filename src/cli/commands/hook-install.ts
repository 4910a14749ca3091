/**
 * `difflore hook install <agent>`: adds our hook entry to the agent's config, keeping everything else
 * in the file as it was. Claude Code's settings.json has its own merge (settings-merge.ts); the other
 * agents share agent-install.ts, driven by the spec in their adapter file.
 */
import { resolve } from 'node:path';
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
import { usageError } from '../exit-codes.js';
import { type CommandIo, defineCommand, flag, output, positional, value } from '../command-spec.js';

const AGENTS = AGENT_HOOKS.map((row) => row.names[0]).join(', ');

/** The agent row for a name on the command line, or a usage error listing the agents. */
export function agentRow(name: string): AgentRow {
  const row = findAgent(name);
  if (row === undefined) return usageError(`unknown agent "${name}"`, `one of: ${AGENTS}`);
  return row;
}

/** The options `hook install` and `hook uninstall` share. */
export const hookConfigOptions = {
  project: value('--project', 'Project directory (Claude Code, Cursor)'),
  user: flag('--user', 'Claude Code: change ~/.claude/settings.json instead'),
  dryRun: flag('--dry-run', 'Print the change as a diff without writing anything'),
  printOnly: flag('--print', 'Print the whole file as it would be written; write nothing'),
};

export interface HookConfigArgs {
  readonly project: string | undefined;
  readonly user: boolean;
  readonly dryRun: boolean;
  readonly printOnly: boolean;
}

/** The agent installer's view of the shared options. */
export function installOptions(args: HookConfigArgs, io: CommandIo): InstallOptions {
  return {
    project: args.project,
    user: args.user,
    dryRun: args.dryRun,
    print: args.printOnly,
    cwd: process.cwd(),
    env: io.env,
    out: (line) => output(io).print(line),
    raw: (text) => io.stdout.write(text),
  };
}

export default defineCommand({
  paths: [['hook', 'install']],
  usage: {
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
  },
  options: { ...hookConfigOptions, agent: positional('agent', true) },
  parse: (raw) => raw,
  async run(args, io) {
    const row = agentRow(args.agent);
    if (row.names[0] !== 'claude-code') return installAgentHook(row, installOptions(args, io));
    return installClaudeCode(args, io);
  },
});

function installClaudeCode(args: HookConfigArgs, io: CommandIo): number {
  const out = output(io);
  const env = io.env;
  const path = resolveSettingsPath({ project: args.project, user: args.user, cwd: process.cwd(), env });
  const file = readSettingsFile(path);
  const current = parseSettings(file.text, path);
  const home = env.DIFFLORE_HOME !== undefined && env.DIFFLORE_HOME !== '' ? resolve(env.DIFFLORE_HOME) : undefined;
  const entry = cliEntryPath();
  const spec = claudeCodeHookSpec(process.execPath, entry, home);
  const merged = addClaudeCodeHook(current, spec, path);
  const after = renderSettings(merged.settings, detectIndent(file.text));
  if (args.printOnly) {
    io.stdout.write(merged.changed ? after : (file.text ?? after));
    return 0;
  }
  if (!merged.changed) {
    out.print(`The difflore hook is already installed in ${path}; nothing changed.`);
    return 0;
  }
  if (args.dryRun) {
    io.stdout.write(lineDiff(file.text ?? '', after, file.text === undefined ? '/dev/null' : path, path));
    out.print(`(dry run: ${path} not written)`);
    return 0;
  }
  const { backup } = writeSettingsFile(file, after, Date.now());
  const warning = ephemeralEntryWarning(entry);
  if (warning) out.warn(warning);
  out.print(`Installed the difflore hook in ${path}`);
  out.print(`  PostToolUse ${spec.matcher} → ${spec.command}`);
  if (backup) out.print(`  previous file saved as ${backup}`);
  out.print('Claude Code picks it up in new sessions (or after /hooks in a running one).');
  return 0;
}
