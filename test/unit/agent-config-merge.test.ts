/**
 * The pure merge of our hook entry into an agent's config, as a property over generated configs that
 * hold the user's hooks (and the Rust binary's): install is idempotent, keeps every other entry in
 * its place, and uninstall gives back exactly the config it started from.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isOurElement, mergeAgentHooks, unmergeAgentHooks } from '../../src/adapters/integrations/agent-config.js';

import { codex } from '../../src/observation/agents/codex.js';
import { cursor } from '../../src/observation/agents/cursor.js';
import { geminiCli } from '../../src/observation/agents/gemini-cli.js';
import { windsurf } from '../../src/observation/agents/windsurf.js';
import type { JsonRecord } from '../../src/json-record.js';

const AGENTS = { codex, cursor, 'gemini-cli': geminiCli, windsurf };
const COMMAND = (agent: string) => `/usr/bin/node /opt/difflore/dist/cli/main.js hook ${agent}`;

const userCommand = fc.constantFrom(
  'audit.sh',
  'prettier --write',
  '"/usr/local/bin/difflore-hook" --client codex',
  'difflore-hook --client windsurf',
  'hooks/format.sh',
);
const flat = userCommand.map((command) => ({ command }));
const group = fc
  .record({ matcher: fc.option(fc.constantFrom('Bash', 'write_file', '*'), { nil: undefined }), command: userCommand })
  .map(({ matcher, command }) => ({ ...(matcher ? { matcher } : {}), hooks: [{ type: 'command', command }] }));
const events = fc.constantFrom(
  'PostToolUse',
  'Stop',
  'afterFileEdit',
  'AfterTool',
  'post_write_code',
  'pre_user_prompt',
);
const config = fc
  .record({
    hooks: fc.option(fc.dictionary(events, fc.array(fc.oneof(flat, group), { maxLength: 3 })), { nil: undefined }),
    theme: fc.option(fc.constantFrom('dark', 'GitHub'), { nil: undefined }),
    version: fc.option(fc.constant(1), { nil: undefined }),
  })
  .map((c) => JSON.parse(JSON.stringify(c)) as JsonRecord);

describe.each(Object.entries(AGENTS))('merging the %s hook', (agent, adapter) => {
  const spec = adapter.install;
  if (spec === undefined) throw new Error('no spec');
  const names = [agent];

  it('install twice = install once; uninstall gives the config back; the user entries stay in order', () => {
    fc.assert(
      fc.property(config, (original) => {
        const once = mergeAgentHooks(original, spec, names, COMMAND(agent), 'f');
        expect(once.changed).toBe(true);
        const twice = mergeAgentHooks(once.config, spec, names, COMMAND(agent), 'f');
        expect(twice.changed).toBe(false);
        const hooks = once.config.hooks as Record<string, unknown[]>;
        const ours = Object.values(hooks)
          .flat()
          .filter((e) => isOurElement(e, names));
        expect(ours).toHaveLength(Object.keys(spec.entries('x')).length);
        const before = (original.hooks ?? {}) as Record<string, unknown[]>;
        for (const [event, list] of Object.entries(before)) expect(hooks[event]?.slice(0, list.length)).toEqual(list);
        const back = unmergeAgentHooks(once.config, names, 'f').config;
        // Defaults we added (Cursor's version) stay; everything else is the original — except an empty
        // event array we filled, and an empty `hooks` object, which leave with our entry.
        const expected = structuredClone(original) as Record<string, unknown>;
        const expectedHooks = expected.hooks as Record<string, unknown[]> | undefined;
        if (expectedHooks !== undefined) {
          for (const event of Object.keys(spec.entries('x'))) {
            if (expectedHooks[event]?.length === 0) delete expectedHooks[event];
          }
          if (Object.keys(expectedHooks).length === 0) delete expected.hooks;
        }
        for (const key of Object.keys(spec.defaults ?? {}))
          if (!(key in original)) delete (back as Record<string, unknown>)[key];
        expect(back).toEqual(expected);
      }),
    );
  });

  it('replaces a stale entry of ours (another checkout) instead of adding a second', () => {
    const stale = mergeAgentHooks({}, spec, names, `/old/node /old/dist/cli/main.js hook ${agent}`, 'f').config;
    const fresh = mergeAgentHooks(stale, spec, names, COMMAND(agent), 'f');
    expect(fresh.previous).toBe(1);
    const all = Object.values(fresh.config.hooks as Record<string, unknown[]>).flat();
    expect(all.filter((e) => isOurElement(e, names))).toHaveLength(1);
    expect(JSON.stringify(fresh.config)).not.toContain('/old/');
  });
});
