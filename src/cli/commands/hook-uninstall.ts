/**
 * `difflore hook uninstall [agent]`: removes the entries `hook install` added from the agent's config
 * and nothing else (Claude Code when no agent is named, as before the other agents arrived).
 */
import {
  detectIndent,
  lineDiff,
  parseSettings,
  readSettingsFile,
  removeClaudeCodeHook,
  renderSettings,
  resolveSettingsPath,
  writeSettingsFile,
} from '../../adapters/integrations/settings-merge.js';
import { uninstallAgentHook } from '../agent-install.js';
import { type CommandIo, defineCommand, output, positional } from '../command-spec.js';
import { agentRow, type HookConfigArgs, hookConfigOptions, installOptions } from './hook-install.js';

export default defineCommand({
  paths: [['hook', 'uninstall']],
  usage: {
    category: 'Hooks',
    description: 'Stop a coding agent from recording its edits',
    details: `
      Removes every hook entry that runs \`difflore hook <agent>\` from the agent's config (the file
      \`hook install\` writes; for Claude Code \`<DIR>/.claude/settings.json\` with \`--project\`, default the
      current directory, or \`~/.claude/settings.json\` with \`--user\`), and the containers that only held
      it. Everything else stays — the Rust binary's own entries too; the old file is copied to
      \`<file>.bak-<time>\` first.
    `,
    examples: [
      ['Uninstall from the project in the current directory', '$0 hook uninstall claude-code'],
      ['Uninstall from the user settings', '$0 hook uninstall claude-code --user'],
      ['Uninstall the Codex hook', '$0 hook uninstall codex'],
      ['Show what would change', '$0 hook uninstall windsurf --dry-run'],
    ],
  },
  options: { ...hookConfigOptions, agent: positional('agent', false) },
  parse: (raw) => raw,
  async run(args, io) {
    const row = agentRow(args.agent ?? 'claude-code');
    if (row.names[0] !== 'claude-code') return uninstallAgentHook(row, installOptions(args, io));
    return uninstallClaudeCode(args, io);
  },
});

function uninstallClaudeCode(args: HookConfigArgs, io: CommandIo): number {
  const out = output(io);
  const path = resolveSettingsPath({ project: args.project, user: args.user, cwd: process.cwd(), env: io.env });
  const file = readSettingsFile(path);
  if (file.text === undefined) {
    out.print(`No ${path}; nothing to remove.`);
    return 0;
  }
  const result = removeClaudeCodeHook(parseSettings(file.text, path), path);
  const after = result.changed ? renderSettings(result.settings, detectIndent(file.text)) : file.text;
  if (args.printOnly) {
    io.stdout.write(after);
    return 0;
  }
  if (!result.changed) {
    out.print(`No difflore hook in ${path}; nothing changed.`);
    return 0;
  }
  if (args.dryRun) {
    io.stdout.write(lineDiff(file.text, after, path, path));
    out.print(`(dry run: ${path} not written)`);
    return 0;
  }
  const { backup } = writeSettingsFile(file, after, Date.now());
  const n = result.removed;
  out.print(`Removed ${n} difflore hook entr${n === 1 ? 'y' : 'ies'} from ${path}`);
  if (backup) out.print(`  previous file saved as ${backup}`);
  return 0;
}
