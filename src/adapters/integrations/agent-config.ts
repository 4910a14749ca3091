/**
 * `difflore hook install|uninstall <agent>` for the agents whose hook config is a JSON file with a
 * `hooks` object of event → array (Codex, Cursor, Gemini CLI, Windsurf; the spec is in the agent's
 * adapter file). Owns: where the file is, whether the agent is installed, the pure merge and unmerge
 * of our entries, and recognising ours. Reading, the backup and the atomic write are settings-merge.ts's.
 *
 * Ours are recognised by their command (`… difflore … hook <agent>`), never by a name another tool
 * could use, so an entry of the Rust binary (`difflore-hook --client …`) or of the user is never
 * touched; an install from a moved checkout replaces its stale entry.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { DiffloreError } from '../../errors.js';
import type { AgentInstallSpec } from '../../observation/agents/agent.js';
import { isOurHookCommand } from './settings-merge.js';
import { isJsonRecord, type JsonRecord } from '../../json-record.js';

export interface AgentTarget {
  /** The config file. */
  readonly path: string;
  /** Why the agent counts as installed, or undefined when it does not. */
  readonly installedBecause: string | undefined;
  /** What we looked for, for the "not installed" message. */
  readonly lookedFor: string;
}

/** Where the agent's config is for this user or project, and whether the agent is installed here. */
export function agentTarget(
  spec: AgentInstallSpec,
  options: { project: string | undefined; cwd: string; env: NodeJS.ProcessEnv },
): AgentTarget {
  const base =
    spec.scope === 'user'
      ? options.env.HOME && options.env.HOME !== ''
        ? options.env.HOME
        : homedir()
      : resolve(options.cwd, options.project ?? '.');
  const dirs = spec.detectDirs.map((parts) => join(base, ...parts));
  const found = dirs.find(isDirectory);
  let installedBecause = found === undefined ? undefined : `${found} exists`;
  if (installedBecause === undefined && spec.detectCommand !== undefined) {
    const onPath = findOnPath(spec.detectCommand, options.env);
    if (onPath !== undefined) installedBecause = `${onPath} is on PATH`;
  }
  const lookedFor = [...dirs, ...(spec.detectCommand === undefined ? [] : [`\`${spec.detectCommand}\` on PATH`])];
  return { path: join(base, ...spec.configPath), installedBecause, lookedFor: lookedFor.join(', ') };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function findOnPath(command: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The commands of an event-array element: its own (flat) or those of its `hooks[]` (group). */
function commandsOf(element: unknown): unknown[] {
  if (!isJsonRecord(element)) return [];
  const nested = Array.isArray(element.hooks)
    ? element.hooks.map((h) => (isJsonRecord(h) ? h.command : undefined))
    : [];
  return [element.command, ...nested];
}

/** Ours: some command in the element runs `difflore hook <one of names>`. */
export function isOurElement(element: unknown, names: readonly string[]): boolean {
  return commandsOf(element).some((command) => isOurHookCommand(command, names));
}

function hooksObject(config: JsonRecord, path: string, create: boolean): JsonRecord | undefined {
  if (config.hooks === undefined) {
    if (!create) return undefined;
    config.hooks = {};
  }
  if (!isJsonRecord(config.hooks)) {
    throw new DiffloreError('invalid_input', `${path}: "hooks" is not a JSON object; nothing written.`, {
      hint: 'fix the file by hand, then run the command again',
    });
  }
  return config.hooks;
}

function eventArray(hooks: JsonRecord, event: string, path: string): unknown[] | undefined {
  const list = hooks[event];
  if (list === undefined) return undefined;
  if (!Array.isArray(list)) {
    throw new DiffloreError('invalid_input', `${path}: "hooks.${event}" is not an array; nothing written.`, {
      hint: 'fix the file by hand, then run the command again',
    });
  }
  return list;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export interface AgentMerge {
  readonly config: JsonRecord;
  readonly changed: boolean;
  /** Entries of ours found before (replaced, or kept when already exact). */
  readonly previous: number;
}

/**
 * Adds our entry under each of the spec's events, after the user's. Idempotent: an exact entry of
 * ours already there stays where it is; stale ones (another command, another shape, another event)
 * are removed. Every other key, event and element is kept as it was, in its order.
 */
export function mergeAgentHooks(
  original: JsonRecord,
  spec: AgentInstallSpec,
  names: readonly string[],
  command: string,
  path: string,
): AgentMerge {
  const config = structuredClone(original) as JsonRecord & Record<string, unknown>;
  for (const [key, value] of Object.entries(spec.defaults ?? {})) if (!(key in config)) config[key] = value;
  const hooks = hooksObject(config, path, true) as Record<string, unknown>;
  const wanted = spec.entries(command);
  let previous = 0;
  for (const event of Object.keys(hooks)) {
    const list = eventArray(hooks, event, path) ?? [];
    const ours = list.filter((e) => isOurElement(e, names));
    previous += ours.length;
    const target = wanted[event];
    if (target !== undefined && ours.length === 1 && sameJson(ours[0], target)) continue;
    if (ours.length > 0) hooks[event] = list.filter((e) => !isOurElement(e, names));
  }
  for (const [event, entry] of Object.entries(wanted)) {
    const list = eventArray(hooks, event, path) ?? [];
    if (!list.some((e) => sameJson(e, entry))) hooks[event] = [...list, entry];
  }
  // An event array our removal emptied (a stale entry alone under an event we no longer use) goes.
  const originalHooks = isJsonRecord(original.hooks) ? original.hooks : {};
  for (const event of Object.keys(hooks)) {
    const before = originalHooks[event];
    const emptied = Array.isArray(before) && before.length > 0 && (hooks[event] as unknown[]).length === 0;
    if (emptied) delete hooks[event];
  }
  return { config, changed: !sameJson(config, original), previous };
}

/**
 * Removes every entry of ours, and the containers our removal emptied (an event array, the `hooks`
 * object); anything else — empty containers that were already empty included — stays.
 */
export function unmergeAgentHooks(
  original: JsonRecord,
  names: readonly string[],
  path: string,
): AgentMerge & { removed: number } {
  const config = structuredClone(original) as JsonRecord & Record<string, unknown>;
  const hooks = hooksObject(config, path, false) as Record<string, unknown> | undefined;
  if (hooks === undefined) return { config: original, changed: false, previous: 0, removed: 0 };
  let removed = 0;
  for (const event of Object.keys(hooks)) {
    const list = eventArray(hooks, event, path) ?? [];
    const kept = list.filter((e) => !isOurElement(e, names));
    if (kept.length === list.length) continue;
    removed += list.length - kept.length;
    if (kept.length === 0) delete hooks[event];
    else hooks[event] = kept;
  }
  if (removed > 0 && Object.keys(hooks).length === 0) delete config.hooks;
  return { config, changed: removed > 0, previous: removed, removed };
}

/** Our entries in a config, with their commands, for doctor. */
export function ourCommands(config: JsonRecord, names: readonly string[]): string[] {
  if (!isJsonRecord(config.hooks)) return [];
  const out: string[] = [];
  for (const list of Object.values(config.hooks)) {
    if (!Array.isArray(list)) continue;
    for (const element of list) {
      for (const command of commandsOf(element)) {
        if (typeof command === 'string' && isOurHookCommand(command, names)) out.push(command);
      }
    }
  }
  return out;
}
