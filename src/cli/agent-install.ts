/**
 * The non-Claude half of `hook install|uninstall <agent>` (Codex, Cursor, Gemini CLI, Windsurf): find
 * the agent's config, refuse when the agent is not installed here, merge or unmerge our entry, and
 * print, diff or write it (backup first, atomic rename). The pure parts are in adapters/integrations/agent-config.ts.
 */
import { resolve } from 'node:path';
import { agentTarget, mergeAgentHooks, unmergeAgentHooks } from '../adapters/integrations/agent-config.js';
import { cliEntryPath } from '../adapters/integrations/service-unit.js';
import {
  agentHookCommand,
  detectIndent,
  keepFinalNewline,
  lineDiff,
  parseSettings,
  readSettingsFile,
  renderSettings,
  writeSettingsFile,
} from '../adapters/integrations/settings-merge.js';
import { DiffloreError } from '../errors.js';
import type { AgentHookAdapter, AgentInstallSpec } from '../observation/agents/agent.js';
import type { AgentRow } from '../observation/agents/index.js';

export interface InstallOptions {
  readonly project: string | undefined;
  readonly user: boolean;
  readonly dryRun: boolean;
  readonly print: boolean;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly out: (line: string) => void;
  readonly raw: (text: string) => void;
}

function specOf(adapter: AgentHookAdapter): AgentInstallSpec {
  if (adapter.install === undefined) throw new Error(`${adapter.label} has no generic installer`);
  return adapter.install;
}

function checkScope(adapter: AgentHookAdapter, options: InstallOptions): void {
  const spec = specOf(adapter);
  if (spec.scope === 'user' && options.project !== undefined) {
    throw new DiffloreError(
      'usage',
      `${adapter.label} hooks are per user (~/${spec.configPath.join('/')}); drop --project.`,
    );
  }
  if (spec.scope === 'project' && options.user) {
    throw new DiffloreError(
      'usage',
      `${adapter.label} hooks are per project (${spec.configPath.join('/')}); drop --user.`,
      {
        hint: 'give the project with --project DIR (default: the current directory)',
      },
    );
  }
}

export async function installAgentHook(row: AgentRow, options: InstallOptions): Promise<number> {
  const adapter = await row.load();
  const spec = specOf(adapter);
  checkScope(adapter, options);
  const target = agentTarget(spec, options);
  const writing = !options.print && !options.dryRun;
  if (target.installedBecause === undefined && writing) {
    throw new DiffloreError(
      'config',
      `${adapter.label} does not look installed here: no ${target.lookedFor}; nothing written.`,
      {
        hint: `install ${adapter.label} first (or run it once), then run this again; --print shows the entry`,
      },
    );
  }
  const file = readSettingsFile(target.path);
  const current = parseSettings(file.text, target.path, adapter.label);
  const home = options.env.DIFFLORE_HOME ? resolve(options.env.DIFFLORE_HOME) : undefined;
  const command = agentHookCommand(process.execPath, cliEntryPath(), home, adapter.name);
  const merged = mergeAgentHooks(current, spec, row.names, command, target.path);
  const after = keepFinalNewline(renderSettings(merged.config, detectIndent(file.text)), file.text);
  if (options.print) {
    options.raw(after.endsWith('\n') ? after : `${after}\n`);
    return 0;
  }
  if (!merged.changed) {
    options.out(`The difflore hook for ${adapter.label} is already installed in ${target.path}; nothing changed.`);
    return 0;
  }
  if (options.dryRun) {
    options.raw(lineDiff(file.text ?? '', after, file.text === undefined ? '/dev/null' : target.path, target.path));
    options.out(`(dry run: ${target.path} not written)`);
    return 0;
  }
  const { backup } = writeSettingsFile(file, after, Date.now());
  options.out(
    `${merged.previous > 0 ? 'Updated' : 'Installed'} the difflore hook for ${adapter.label} in ${target.path}`,
  );
  for (const event of Object.keys(spec.entries(command))) options.out(`  ${event} → ${command}`);
  if (backup) options.out(`  previous file saved as ${backup}`);
  if (spec.note) options.out(spec.note);
  return 0;
}

export async function uninstallAgentHook(row: AgentRow, options: InstallOptions): Promise<number> {
  const adapter = await row.load();
  checkScope(adapter, options);
  const target = agentTarget(specOf(adapter), options);
  const file = readSettingsFile(target.path);
  if (file.text === undefined) {
    options.out(`No ${target.path}; nothing to remove.`);
    return 0;
  }
  const result = unmergeAgentHooks(parseSettings(file.text, target.path, adapter.label), row.names, target.path);
  const after = keepFinalNewline(renderSettings(result.config, detectIndent(file.text)), file.text);
  if (options.print) {
    options.raw(after.endsWith('\n') ? after : `${after}\n`);
    return 0;
  }
  if (!result.changed) {
    options.out(`No difflore hook in ${target.path}; nothing changed.`);
    return 0;
  }
  if (options.dryRun) {
    options.raw(lineDiff(file.text, after, target.path, target.path));
    options.out(`(dry run: ${target.path} not written)`);
    return 0;
  }
  const { backup } = writeSettingsFile(file, after, Date.now());
  const n = result.removed;
  options.out(`Removed ${n} difflore hook entr${n === 1 ? 'y' : 'ies'} for ${adapter.label} from ${target.path}`);
  if (backup) options.out(`  previous file saved as ${backup}`);
  return 0;
}
