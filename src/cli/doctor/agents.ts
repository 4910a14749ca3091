/**
 * The doctor's `agents` check: for each agent `hook install` serves, whether it is installed here,
 * whether our hook is in its config, and whether that hook runs this difflore (a hook left by a
 * moved or older checkout is a warning with its fix). An agent that is not installed is no problem.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { agentTarget, ourCommands } from '../../adapters/integrations/agent-config.js';
import { cliEntryPath } from '../../adapters/integrations/service-unit.js';
import { agentHookCommand } from '../../adapters/integrations/settings-merge.js';
import type { AgentInstallSpec } from '../../observation/agents/agent.js';
import { AGENT_HOOKS } from '../../observation/agents/index.js';
import type { Check } from './checks.js';
import type { JsonRecord } from '../../json-record.js';

/** Claude Code's settings, user and project, in the same terms as the other agents' specs. */
const CLAUDE_CODE: readonly AgentInstallSpec[] = [
  {
    scope: 'user',
    configPath: ['.claude', 'settings.json'],
    detectDirs: [['.claude']],
    detectCommand: 'claude',
    shape: 'group',
    entries: () => ({}),
  },
  {
    scope: 'project',
    configPath: ['.claude', 'settings.json'],
    detectDirs: [['.claude']],
    shape: 'group',
    entries: () => ({}),
  },
];

function readConfig(path: string): JsonRecord | 'missing' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return 'missing';
  }
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonRecord) : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

export async function agentHooksCheck(env: NodeJS.ProcessEnv, cwd: string): Promise<Check> {
  const home = env.DIFFLORE_HOME ? resolve(env.DIFFLORE_HOME) : undefined;
  const notes: string[] = [];
  const stale: string[] = [];
  const hooked: string[] = [];
  let installed = 0;
  for (const row of AGENT_HOOKS) {
    const name = row.names[0] as string;
    const adapter = await row.load();
    const specs = adapter.install === undefined ? CLAUDE_CODE : [adapter.install];
    const expected = agentHookCommand(process.execPath, cliEntryPath(), home, name);
    const found: string[] = [];
    let because: string | undefined;
    for (const spec of specs) {
      const target = agentTarget(spec, { project: undefined, cwd, env });
      because ??= target.installedBecause;
      const config = readConfig(target.path);
      if (config === 'unreadable') found.push(`${target.path} is not a JSON object`);
      else if (config !== 'missing') {
        for (const command of ourCommands(config, row.names)) {
          if (command === expected) found.push(`hook in ${target.path} runs this difflore`);
          else {
            found.push(`hook in ${target.path} runs another difflore: ${command}`);
            stale.push(name);
          }
        }
      }
    }
    if (because !== undefined) installed++;
    if (found.some((f) => f.startsWith('hook'))) hooked.push(name);
    const state = because === undefined ? 'not installed here' : `installed (${because})`;
    notes.push(`${name}: ${state}; ${found.length === 0 ? 'no difflore hook' : found.join('; ')}`);
  }
  const detail = `${installed} of ${AGENT_HOOKS.length} agents installed; difflore hook in: ${hooked.join(', ') || 'none'}`;
  if (stale.length === 0) return { name: 'agents', status: 'ok', detail, notes };
  return {
    name: 'agents',
    status: 'warn',
    detail,
    notes,
    fix: [...new Set(stale)].map((n) => `difflore hook install ${n}`).join('; '),
  };
}
