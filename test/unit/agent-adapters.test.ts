/**
 * The agent adapters at the pure level: Rust's own adapter test cases (Codex patches, `---flag`),
 * Cursor's two edit shapes, Gemini's tool names and ANSI stripping, Windsurf's session id and
 * fallbacks — the edit events they produce, before the builder.
 */
import { describe, expect, it } from 'vitest';
import type { AgentHookAdapter } from '../../src/observation/agents/agent.js';
import { codex } from '../../src/observation/agents/codex.js';
import { cursor } from '../../src/observation/agents/cursor.js';
import { geminiCli, stripAnsi } from '../../src/observation/agents/gemini-cli.js';
import { findAgent } from '../../src/observation/agents/index.js';
import { windsurf } from '../../src/observation/agents/windsurf.js';
import type { EditEvent } from '../../src/observation/edit-event.js';

function events(adapter: AgentHookAdapter, event: unknown): readonly EditEvent[] {
  const parsed = adapter.parse(JSON.stringify(event));
  if (parsed.kind !== 'edits') throw new Error(parsed.reason);
  return parsed.events;
}

const patchEvent = (patch: string) => ({
  hook_event_name: 'PostToolUse',
  tool_name: 'apply_patch',
  tool_input: { command: patch },
});

describe('Codex', () => {
  it('a single update is an Edit with the -/+ lines as old and new text (Rust codex.rs:269-306)', () => {
    const [e] = events(
      codex,
      patchEvent('*** Begin Patch\n*** Update File: src/foo.rs\n@@\n-let x = 1;\n+let x = 2;\n*** End Patch\n'),
    );
    expect(e).toMatchObject({ toolName: 'Edit', filePath: 'src/foo.rs', oldText: 'let x = 1;', newText: 'let x = 2;' });
    expect(e?.diff).toBe('*** Begin Patch\n*** Update File: src/foo.rs\n@@\n-let x = 1;\n+let x = 2;\n*** End Patch');
  });

  it('an added file is a Write (codex.rs:309-335); ---flag becomes old --flag (codex.rs:372-380)', () => {
    const [w] = events(codex, patchEvent('*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch'));
    expect(w).toMatchObject({ toolName: 'Write', newText: 'hello', oldText: null });
    const [f] = events(codex, patchEvent('*** Begin Patch\n*** Update File: a.sh\n---flag\n+--flag2\n*** End Patch'));
    expect(f).toMatchObject({ oldText: '--flag', newText: '--flag2' });
  });

  it('two files become two one-file patches, in order, each as Rust would read it alone', () => {
    const both = events(
      codex,
      patchEvent(
        '*** Begin Patch\n*** Update File: src/foo.rs\n@@\n-a\n+b\n*** Update File: src/bar.rs\n@@\n-c\n+d\n*** End Patch',
      ),
    );
    expect(both.map((e) => [e.toolName, e.filePath, e.oldText, e.newText])).toEqual([
      ['Edit', 'src/foo.rs', 'a', 'b'],
      ['Edit', 'src/bar.rs', 'c', 'd'],
    ]);
    expect(both[1]?.diff).toBe('*** Begin Patch\n*** Update File: src/bar.rs\n@@\n-c\n+d\n*** End Patch');
  });

  it('one file with two headers is a MultiEdit, as in Rust', () => {
    const [e] = events(
      codex,
      patchEvent('*** Begin Patch\n*** Update File: a\n-x\n+y\n*** Update File: a\n-z\n+w\n*** End Patch'),
    );
    expect(e?.toolName).toBe('MultiEdit');
  });

  it('direct Edit/Write, Bash and other events are ignored', () => {
    for (const event of [
      { hook_event_name: 'PostToolUse', tool_name: 'Write', tool_input: { file_path: 'a' } },
      { hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'ls' } },
      { hook_event_name: 'Stop' },
    ]) {
      expect(codex.parse(JSON.stringify(event)).kind).toBe('ignored');
    }
    expect(codex.parse('{"hook_event_name":"PostToolUse","session_id":7}')).toMatchObject({ malformed: true });
  });
});

describe('Cursor', () => {
  it('reads tool_input as Rust does, and the documented top-level edits when tool_input has none', () => {
    const [a] = events(cursor, {
      hook_event_name: 'afterFileEdit',
      tool_input: { file_path: 'a.ts', edits: [{ old_string: 'x', new_string: 'y' }] },
    });
    expect(a).toMatchObject({ toolName: 'Edit', filePath: 'a.ts', diff: '-x\n+y\n', sessionId: null });
    const [b] = events(cursor, {
      hook_event_name: 'afterFileEdit',
      conversation_id: 'c',
      file_path: '/r/b.ts',
      edits: [
        { old_string: 'p', new_string: 'q' },
        { old_string: 'r', new_string: 's' },
      ],
    });
    expect(b).toMatchObject({ filePath: '/r/b.ts', diff: '-p\n+q\n-r\n+s\n', oldText: 'p\n\nr', newText: 'q\n\ns' });
  });

  it('refuses workspace_roots that is not a list of strings, as serde would', () => {
    expect(cursor.parse('{"hook_event_name":"afterFileEdit","workspace_roots":"/r"}')).toMatchObject({
      malformed: true,
    });
  });
});

describe('Gemini CLI', () => {
  it.each([
    ['write_file', 'Write'],
    ['WriteFile', 'Write'],
    ['replace', 'Edit'],
    ['Edit', 'Edit'],
  ])('%s is %s', (tool, canonical) => {
    const [e] = events(geminiCli, {
      hook_event_name: 'AfterTool',
      tool_name: tool,
      tool_input: { file_path: 'a', content: 'x' },
    });
    expect(e?.toolName).toBe(canonical);
  });

  it('strips ANSI as Rust does', () => {
    expect(stripAnsi('\u001b[31mred\u001b[0m \u009b1mbold \u001b]0;title\u0007x \u001bPdcs\u001b\\y \u001bcz')).toBe(
      'red bold x y z',
    );
  });
});

describe('Windsurf', () => {
  it('session from trajectory_id, else execution_id; old_code/new_code as the fallback texts', () => {
    const [e] = events(windsurf, {
      agent_action_name: 'post_write_code',
      trajectory_id: '  ',
      execution_id: 'exec',
      tool_info: { file_path: 'a', old_code: 'o', new_code: 'n' },
    });
    expect(e).toMatchObject({ toolName: 'Write', sessionId: 'exec', oldText: 'o', newText: 'n', diff: null });
  });
});

describe('the agent table', () => {
  it('finds every agent by its Rust names, ASCII case-insensitively, and nothing else', () => {
    expect(findAgent('Codex-CLI')?.names[0]).toBe('codex');
    expect(findAgent('GEMINI')?.names[0]).toBe('gemini-cli');
    expect(findAgent(' codex')).toBeUndefined();
    expect(findAgent('copilot')).toBeUndefined();
  });
});
