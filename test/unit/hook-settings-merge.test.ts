import { describe, expect, it } from 'vitest';
import { DiffloreError } from '../../src/errors.js';
import {
  addClaudeCodeHook,
  claudeCodeHookSpec,
  detectIndent,
  isOurHookCommand,
  lineDiff,
  parseSettings,
  removeClaudeCodeHook,
  renderSettings,
} from '../../src/adapters/integrations/settings-merge.js';
import type { JsonRecord } from '../../src/json-record.js';

const PATH = '/p/.claude/settings.json';
const SPEC = claudeCodeHookSpec('/usr/local/bin/node', '/opt/difflore/dist/cli/main.js');

function existing(): JsonRecord {
  return {
    model: 'opus',
    permissions: { allow: ['Bash(npm test:*)'] },
    hooks: {
      PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: 'audit.sh' }] }],
      PostToolUse: [
        { matcher: 'Write', hooks: [{ type: 'command', command: 'prettier --write "$FILE"' }] },
        { matcher: 'Edit|MultiEdit|Write', hooks: [{ type: 'command', command: 'lint.sh' }] },
      ],
    },
    env: { FOO: '1' },
  };
}

describe('claudeCodeHookSpec', () => {
  it('runs this node and this main.js, with the matcher of every observed tool', () => {
    // The tools that can become observations; Claude Code reads `timeout` in seconds, and it must
    // outlast the 5 s SQLite busy timeout so a hook waiting on a locked database still spills its row.
    expect(SPEC.matcher).toBe('Edit|MultiEdit|Write');
    expect(SPEC.timeoutSec).toBe(10);
    expect(SPEC.command).toBe('/usr/local/bin/node /opt/difflore/dist/cli/main.js hook claude-code');
  });

  it('quotes paths with spaces for the shell and pins a chosen data home', () => {
    const spec = claudeCodeHookSpec('/Applications/My Node/node', "/home/o'neil/dist/cli/main.js", '/data/dl home');
    expect(spec.command).toBe(
      `DIFFLORE_HOME='/data/dl home' '/Applications/My Node/node' '/home/o'\\''neil/dist/cli/main.js' hook claude-code`,
    );
    expect(isOurHookCommand(spec.command)).toBe(true);
  });
});

describe('isOurHookCommand', () => {
  it.each([
    'difflore hook claude-code',
    'npx difflore hook claude-code',
    '/usr/bin/node /x/dist/cli/main.js hook claude-code',
    // the CommonJS binary (0.2 on), so a reinstall replaces a 0.1 entry instead of adding a second
    '/usr/bin/node /x/dist/cli/main.cjs hook claude-code',
    `'/usr/bin/node' '/x y/dist/cli/main.js' hook claude-code`,
    'DIFFLORE_HOME=/h /usr/local/bin/difflore hook claude-code',
  ])('recognises %s', (command) => {
    expect(isOurHookCommand(command)).toBe(true);
  });

  it.each([
    'lint.sh',
    'difflore hook codex',
    'difflore-other hook claude-code --flag',
    'echo difflore hook claude-code > log',
    'node main.js hook claude-code',
    'node /x/cli/main.mjs hook claude-code',
  ])('leaves %s alone', (command) => {
    expect(isOurHookCommand(command)).toBe(false);
  });
});

describe('addClaudeCodeHook', () => {
  it('adds a PostToolUse group to empty settings', () => {
    const { settings, changed } = addClaudeCodeHook({}, SPEC, PATH);
    expect(changed).toBe(true);
    expect(settings).toEqual({
      hooks: {
        PostToolUse: [
          { matcher: SPEC.matcher, hooks: [{ type: 'command', command: SPEC.command, timeout: SPEC.timeoutSec }] },
        ],
      },
    });
  });

  it('keeps every other key, hook and matcher, and joins the group that has our matcher', () => {
    const before = existing();
    const { settings } = addClaudeCodeHook(before, SPEC, PATH);
    expect(before).toEqual(existing()); // the input is not mutated
    const expected = existing();
    const post = (expected.hooks as { PostToolUse: { hooks: unknown[] }[] }).PostToolUse;
    post[1]?.hooks.push({ type: 'command', command: SPEC.command, timeout: SPEC.timeoutSec });
    expect(settings).toEqual(expected);
    expect(Object.keys(settings)).toEqual(['model', 'permissions', 'hooks', 'env']);
  });

  it('is idempotent', () => {
    const once = addClaudeCodeHook(existing(), SPEC, PATH).settings;
    const twice = addClaudeCodeHook(once, SPEC, PATH);
    expect(twice.changed).toBe(false);
    expect(twice.settings).toBe(once);
  });

  it('replaces a stale entry of ours (another path) instead of adding a second one', () => {
    const stale = addClaudeCodeHook(
      existing(),
      claudeCodeHookSpec('/old/node', '/old/dist/cli/main.js'),
      PATH,
    ).settings;
    const { settings, changed } = addClaudeCodeHook(stale, SPEC, PATH);
    expect(changed).toBe(true);
    const commands = JSON.stringify(settings).match(/hook claude-code/g);
    expect(commands).toHaveLength(1);
    expect(JSON.stringify(settings)).toContain(SPEC.command);
    expect(JSON.stringify(settings)).toContain('lint.sh');
  });

  it.each([
    ['hooks is an array', { hooks: [] }],
    ['hooks is a string', { hooks: 'x' }],
    ['PostToolUse is an object', { hooks: { PostToolUse: {} } }],
  ])('refuses settings where %s', (_, settings) => {
    expect(() => addClaudeCodeHook(settings as JsonRecord, SPEC, PATH)).toThrow(DiffloreError);
  });

  it('leaves malformed groups of others untouched', () => {
    const settings = { hooks: { PostToolUse: ['weird', { matcher: 'Edit', hooks: 'nope' }] } };
    const { settings: after } = addClaudeCodeHook(settings, SPEC, PATH);
    const post = (after.hooks as { PostToolUse: unknown[] }).PostToolUse;
    expect(post.slice(0, 2)).toEqual(['weird', { matcher: 'Edit', hooks: 'nope' }]);
    expect(post).toHaveLength(3);
  });
});

describe('removeClaudeCodeHook', () => {
  it('round-trips: install then uninstall gives back the original settings', () => {
    for (const original of [{}, existing(), { hooks: { PostToolUse: [] } }, { a: 1 }]) {
      const installed = addClaudeCodeHook(original, SPEC, PATH).settings;
      const removed = removeClaudeCodeHook(installed, PATH);
      expect(removed.changed).toBe(true);
      expect(removed.removed).toBe(1);
      if (JSON.stringify(original) === '{"hooks":{"PostToolUse":[]}}') {
        // Containers our removal emptied go; this one was empty before we came.
        expect(removed.settings).toEqual({});
      } else {
        expect(removed.settings).toEqual(original);
      }
    }
  });

  it('removes every entry of ours and nothing else', () => {
    const settings: JsonRecord = {
      hooks: {
        PostToolUse: [
          {
            matcher: 'Edit',
            hooks: [
              { type: 'command', command: 'difflore hook claude-code' },
              { type: 'command', command: 'keep-me.sh' },
            ],
          },
          { matcher: 'Write', hooks: [{ type: 'command', command: 'npx difflore hook claude-code' }] },
        ],
        Stop: [{ hooks: [{ type: 'command', command: 'difflore hook claude-code' }] }],
      },
    };
    const { settings: after, removed } = removeClaudeCodeHook(settings, PATH);
    expect(removed).toBe(2);
    expect(after).toEqual({
      hooks: {
        PostToolUse: [{ matcher: 'Edit', hooks: [{ type: 'command', command: 'keep-me.sh' }] }],
        // Only PostToolUse is ours to manage: install never writes elsewhere.
        Stop: [{ hooks: [{ type: 'command', command: 'difflore hook claude-code' }] }],
      },
    });
  });

  it('changes nothing when nothing of ours is there', () => {
    const settings = existing();
    const result = removeClaudeCodeHook(settings, PATH);
    expect(result.changed).toBe(false);
    expect(result.settings).toBe(settings);
    expect(removeClaudeCodeHook({}, PATH).changed).toBe(false);
  });
});

describe('parseSettings', () => {
  it('treats a missing or empty file as {}', () => {
    expect(parseSettings(undefined, PATH)).toEqual({});
    expect(parseSettings('  \n', PATH)).toEqual({});
  });

  it.each([
    ['broken JSON', '{"hooks": {'],
    ['JSON with comments', '{ // mine\n "a": 1 }'],
    ['an array', '[]'],
    ['a number', '42'],
  ])('refuses %s with a message naming the file', (_, text) => {
    try {
      parseSettings(text, PATH);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(DiffloreError);
      expect((error as DiffloreError).message).toContain(PATH);
      expect((error as DiffloreError).code).toBe('invalid_input');
    }
  });
});

describe('rendering and diffing', () => {
  it('renders 2-space JSON with a trailing newline, or the indent the file had', () => {
    expect(renderSettings({ a: { b: 1 } })).toBe('{\n  "a": {\n    "b": 1\n  }\n}\n');
    expect(detectIndent('{\n    "a": 1\n}\n')).toBe(4);
    expect(detectIndent('{\n\t"a": 1\n}\n')).toBe('\t');
    expect(detectIndent('{"a":1}')).toBe(2);
    expect(detectIndent(undefined)).toBe(2);
  });

  it('shows only the changed lines with context', () => {
    const before = renderSettings(existing());
    const after = renderSettings(addClaudeCodeHook(existing(), SPEC, PATH).settings);
    const diff = lineDiff(before, after, 'a', 'b');
    expect(diff.startsWith('--- a\n+++ b\n@@ ')).toBe(true);
    const added = diff.split('\n').filter((l) => l.startsWith('+') && !l.startsWith('+++'));
    const removedLines = diff.split('\n').filter((l) => l.startsWith('-') && !l.startsWith('---'));
    expect(added.join('\n')).toContain(SPEC.command);
    expect(removedLines.every((l) => !l.includes('lint.sh'))).toBe(true);
    expect(diff).not.toContain('"model"');
  });

  it('diffs against an empty file', () => {
    const diff = lineDiff('', '{\n  "a": 1\n}\n', '/dev/null', 'x');
    expect(diff).toBe('--- /dev/null\n+++ x\n@@ -0,0 +1,3 @@\n+{\n+  "a": 1\n+}\n');
  });
});
