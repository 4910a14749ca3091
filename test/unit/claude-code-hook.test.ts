import { describe, expect, it } from 'vitest';
import {
  buildObservation,
  capDiff,
  DIFF_EXCERPT_MAX_BYTES,
  type HookEvent,
  type Observation,
  parseHookEvent,
} from '../../src/adapters/claude-code-hook.js';

const NOW = 1_760_000_000_000;

function event(fields: Record<string, unknown>): HookEvent {
  const parsed = parseHookEvent(
    JSON.stringify({
      session_id: 'sess-1',
      transcript_path: '/home/u/.claude/projects/x/sess-1.jsonl',
      cwd: '/work/app',
      hook_event_name: 'PostToolUse',
      ...fields,
    }),
  );
  if (parsed.kind !== 'event') throw new Error(parsed.reason);
  return parsed.event;
}

function observe(fields: Record<string, unknown>): Observation {
  const built = buildObservation(event(fields), NOW);
  if (built.kind !== 'observation') throw new Error(`ignored: ${built.reason}`);
  return built.observation;
}

const OBSERVATION_KEYS = [
  'content_hash',
  'diff_excerpt',
  'file_path',
  'narrative',
  'obs_type',
  'session_id',
  'title',
  'tool',
  'ts_ms',
];

describe('parseHookEvent', () => {
  it.each([
    ['empty', ''],
    ['whitespace', '  \n'],
    ['not JSON', 'hello'],
    ['truncated', '{"hook_event_name":"PostToolUse","tool_name":"Ed'],
    ['an array', '[1,2]'],
    ['null', 'null'],
    ['no event name', '{"tool_name":"Edit"}'],
  ])('refuses %s input with a reason', (_, text) => {
    const parsed = parseHookEvent(text);
    expect(parsed.kind).toBe('invalid');
    if (parsed.kind === 'invalid') expect(parsed.reason.length).toBeGreaterThan(0);
  });

  it('ignores unknown fields', () => {
    const parsed = parseHookEvent(
      '{"hook_event_name":"PostToolUse","tool_name":"Write","tool_input":{"file_path":"/a","content":"x"},"future_field":{"a":1},"permission_mode":"default"}',
    );
    expect(parsed.kind).toBe('event');
  });
});

describe('buildObservation', () => {
  it('turns an Edit into the Rust observation shape', () => {
    const obs = observe({
      tool_name: 'Edit',
      tool_input: {
        file_path: '/work/app/src/main.ts',
        old_string: 'const a = 1;\nconst b = 2;\nconst c = 3;\n',
        new_string: 'const a = 1;\nconst b = 20;\nconst c = 3;\n',
      },
      tool_response: { filePath: '/work/app/src/main.ts', success: true },
    });
    expect(Object.keys(obs).sort()).toEqual(OBSERVATION_KEYS);
    expect(obs).toMatchObject({
      session_id: 'sess-1',
      ts_ms: NOW,
      obs_type: 'edit',
      tool: 'Edit',
      file_path: 'src/main.ts',
      title: 'Edit src/main.ts',
    });
    expect(obs.narrative).toContain('src/main.ts');
    expect(obs.narrative).toContain('+1 -1');
    // Only the changed line and one line of context on each side.
    expect(obs.diff_excerpt).toBe(
      '--- a/src/main.ts\n+++ b/src/main.ts\n@@ -1 +1 @@\n const a = 1;\n-const b = 2;\n+const b = 20;\n const c = 3;\n',
    );
    expect(obs.content_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('turns a MultiEdit into one hunk per edit', () => {
    const obs = observe({
      tool_name: 'MultiEdit',
      tool_input: {
        file_path: '/work/app/lib.py',
        edits: [
          { old_string: 'x = 1', new_string: 'x = 2' },
          { old_string: 'def f():\n    pass', new_string: 'def f():\n    return 1', replace_all: false },
        ],
      },
    });
    expect(obs.obs_type).toBe('edit');
    expect(obs.title).toBe('MultiEdit lib.py (2 edits)');
    expect(obs.diff_excerpt.match(/^@@/gm)).toHaveLength(2);
    expect(obs.diff_excerpt).toContain('-x = 1\n+x = 2\n');
    expect(obs.diff_excerpt).toContain('-    pass\n+    return 1\n');
    expect(obs.narrative).toContain('2 edits');
  });

  it('turns a Write into an all-added excerpt and says whether it created the file', () => {
    const obs = observe({
      tool_name: 'Write',
      tool_input: { file_path: '/work/app/README.md', content: '# App\n\nHello\n' },
      tool_response: { type: 'create', filePath: '/work/app/README.md' },
    });
    expect(obs.obs_type).toBe('write');
    expect(obs.diff_excerpt).toBe('--- a/README.md\n+++ b/README.md\n@@ -0,0 +1,3 @@\n+# App\n+\n+Hello\n');
    expect(obs.narrative).toContain('created README.md (3 lines)');
  });

  it('turns a NotebookEdit into an excerpt of the new cell source', () => {
    const obs = observe({
      tool_name: 'NotebookEdit',
      tool_input: {
        notebook_path: '/work/app/nb/analysis.ipynb',
        cell_id: 'c42',
        new_source: 'import pandas as pd\ndf = pd.read_csv("x.csv")',
        cell_type: 'code',
        edit_mode: 'replace',
      },
    });
    expect(obs.obs_type).toBe('notebook_edit');
    expect(obs.file_path).toBe('nb/analysis.ipynb');
    expect(obs.title).toBe('NotebookEdit nb/analysis.ipynb (replace cell c42)');
    expect(obs.diff_excerpt).toContain('@@ cell c42 (code, replace) @@\n+import pandas as pd\n');
  });

  it('keeps a path outside the cwd as it is', () => {
    const obs = observe({ tool_name: 'Write', tool_input: { file_path: '/etc/hosts', content: 'x' } });
    expect(obs.file_path).toBe('/etc/hosts');
  });

  it.each([
    ['a PreToolUse event', { hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_input: { file_path: '/a' } }],
    ['a Stop event', { hook_event_name: 'Stop' }],
    ['a UserPromptSubmit event', { hook_event_name: 'UserPromptSubmit', prompt: 'hi' }],
    ['a Read', { tool_name: 'Read', tool_input: { file_path: '/work/app/a.ts' } }],
    ['a Bash', { tool_name: 'Bash', tool_input: { command: 'ls' } }],
    ['an MCP tool', { tool_name: 'mcp__fs__write_file', tool_input: { path: '/a' } }],
    ['an Edit without tool_input', { tool_name: 'Edit' }],
    ['an Edit without a file path', { tool_name: 'Edit', tool_input: { old_string: 'a', new_string: 'b' } }],
    [
      'an Edit whose response reports a failure',
      {
        tool_name: 'Edit',
        tool_input: { file_path: '/a', old_string: 'a', new_string: 'b' },
        tool_response: { success: false },
      },
    ],
  ])('ignores %s', (_, fields) => {
    expect(buildObservation(event(fields), NOW).kind).toBe('ignored');
  });

  it('gives the same edit the same content_hash, whatever the time', () => {
    const fields = {
      tool_name: 'Edit',
      tool_input: { file_path: '/work/app/a.ts', old_string: 'a', new_string: 'b' },
    };
    const first = buildObservation(event(fields), NOW);
    const second = buildObservation(event(fields), NOW + 60_000);
    expect(first.kind === 'observation' && second.kind === 'observation').toBe(true);
    if (first.kind !== 'observation' || second.kind !== 'observation') return;
    expect(second.observation.ts_ms).not.toBe(first.observation.ts_ms);
    expect(second.observation.content_hash).toBe(first.observation.content_hash);
  });

  it('gives different edits, files and sessions different hashes', () => {
    const base = { tool_name: 'Edit', tool_input: { file_path: '/work/app/a.ts', old_string: 'a', new_string: 'b' } };
    const hashes = new Set([
      observe(base).content_hash,
      observe({ ...base, tool_input: { ...base.tool_input, new_string: 'c' } }).content_hash,
      observe({ ...base, tool_input: { ...base.tool_input, file_path: '/work/app/b.ts' } }).content_hash,
      observe({ ...base, session_id: 'sess-2' }).content_hash,
    ]);
    expect(hashes.size).toBe(4);
  });

  it('caps the excerpt but hashes the whole change', () => {
    const big = Array.from({ length: 2000 }, (_, i) => `line ${i} ${'é'.repeat(5)}`).join('\n');
    const a = observe({ tool_name: 'Write', tool_input: { file_path: '/work/app/big.txt', content: big } });
    const b = observe({ tool_name: 'Write', tool_input: { file_path: '/work/app/big.txt', content: `${big}\nlast` } });
    expect(Buffer.byteLength(a.diff_excerpt, 'utf8')).toBeLessThanOrEqual(DIFF_EXCERPT_MAX_BYTES);
    expect(a.diff_excerpt).toMatch(/… \(\d+ more bytes\)\n$/);
    // Both excerpts end long before the edits differ (the last line); only the hash tells them apart.
    expect(a.diff_excerpt).toContain('+line 100 ééééé\n');
    expect(b.diff_excerpt).not.toContain('+last');
    expect(a.content_hash).not.toBe(b.content_hash);
  });

  it('uses "unknown" for a missing session id and caps long titles', () => {
    const obs = observe({
      session_id: undefined,
      tool_name: 'Write',
      tool_input: { file_path: `/work/app/${'d/'.repeat(200)}f.txt`, content: 'x' },
    });
    expect(obs.session_id).toBe('unknown');
    expect(Array.from(obs.title).length).toBeLessThanOrEqual(200);
  });
});

describe('capDiff', () => {
  it('leaves a short diff alone', () => {
    expect(capDiff('abc\n', 100)).toBe('abc\n');
  });

  it('never splits a multi-byte character and stays within the cap', () => {
    const text = '😀'.repeat(3000);
    const capped = capDiff(text, 1000);
    expect(Buffer.byteLength(capped, 'utf8')).toBeLessThanOrEqual(1000);
    expect(capped).not.toContain('\uFFFD');
    expect(capped.replace(/\n… \(\d+ more bytes\)\n$/, '')).toMatch(/^(😀)+$/u);
  });
});
