/**
 * The agents `difflore hook <agent>` serves: one row each, with the names Rust's `ClientId::from_wire`
 * accepts for it (reference/rust-hook-agents.md §1.2). The adapter module loads only when its hook
 * runs, so a hook process reads one adapter file, not five.
 *
 * Pure: no node:* import, no I/O.
 */
import type { AgentHookAdapter } from './agent.js';

export interface AgentRow {
  /** Canonical name first, then the aliases. */
  readonly names: readonly string[];
  readonly load: () => Promise<AgentHookAdapter>;
}

export const AGENT_HOOKS: readonly AgentRow[] = [
  {
    names: ['claude-code', 'claude', 'claude_code', 'claude-cli'],
    load: async () => (await import('./claude-code.js')).claudeCode,
  },
  { names: ['codex', 'codex-cli'], load: async () => (await import('./codex.js')).codex },
  { names: ['cursor', 'cursor-agent'], load: async () => (await import('./cursor.js')).cursor },
  { names: ['gemini-cli', 'gemini', 'gemini_cli'], load: async () => (await import('./gemini-cli.js')).geminiCli },
  { names: ['windsurf'], load: async () => (await import('./windsurf.js')).windsurf },
];

/** The row for a name as typed on the command line; Rust lowercases ASCII only. */
export function findAgent(name: string): AgentRow | undefined {
  const wire = name.replace(/[A-Z]+/g, (run) => run.toLowerCase());
  return AGENT_HOOKS.find((row) => row.names.includes(wire));
}
