/**
 * `difflore hook codex|cursor|gemini-cli|windsurf` as each agent runs it: a real process, a real-shaped
 * event on stdin (edit, write, multi-file patch, shell, secret path, garbage, empty), a temp home.
 * Each must exit 0 and print the agent's envelope; edits become Rust-shaped observation rows, the rest
 * nothing. The last block keeps every agent's hook within the light module set.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, cleanEnv, makeTempHome, runCli, runProcess } from '../helpers/index.js';
import { writeModuleRecorder } from '../helpers/module-log.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as typeof BetterSqlite3;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function tempHome(): string {
  const { home, cleanup } = makeTempHome('difflore-agent-hook-');
  cleanups.push(cleanup);
  return home;
}

const env = (home: string, extra: Record<string, string> = {}) =>
  cleanEnv({ DIFFLORE_HOME: home, DIFFLORE_DISABLE_OUTBOX_DAEMON: '1', ...extra });

interface Payload {
  session_id: string;
  obs_type: string;
  tool: string;
  file_path: string;
  title: string;
  narrative: string | null;
  diff_excerpt: string | null;
  content_hash: string;
}

function payloads(home: string): Payload[] {
  const path = join(home, 'data.db');
  if (!existsSync(path)) return [];
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare('SELECT kind, payload_json FROM cloud_outbox ORDER BY id').all() as {
      kind: string;
      payload_json: string;
    }[];
    for (const row of rows) expect(row.kind).toBe('observation');
    return rows.map((r) => JSON.parse(r.payload_json) as Payload);
  } finally {
    db.close();
  }
}

function leftovers(home: string): string[] {
  const spill = join(home, 'hook-spill');
  return existsSync(spill) ? readdirSync(spill, { recursive: true }).map(String) : [];
}

const SECRET = 'sk-live-123456789';
const PATCH = (...sections: string[]) => ['*** Begin Patch', ...sections, '*** End Patch'].join('\n');
const codexPatch = (patch: string) =>
  JSON.stringify({
    session_id: 'codex-s',
    transcript_path: '/tmp/t.jsonl',
    cwd: '/repo',
    hook_event_name: 'PostToolUse',
    model: 'gpt-5',
    tool_name: 'apply_patch',
    tool_use_id: 'call_1',
    tool_input: { command: patch },
    tool_response: { output: 'Success. Updated the following files:\nM src/a.ts' },
  });

const cursorEdit = (file: string, edits: unknown[]) =>
  JSON.stringify({
    hook_event_name: 'afterFileEdit',
    conversation_id: 'conv-1',
    generation_id: 'gen-1',
    workspace_roots: ['/repo'],
    file_path: file,
    edits,
  });

const geminiTool = (tool: string, input: Record<string, unknown>) =>
  JSON.stringify({
    session_id: 'gem-s',
    transcript_path: '/tmp/g.json',
    cwd: '/repo',
    hook_event_name: 'AfterTool',
    timestamp: '2026-11-30T10:00:00Z',
    tool_name: tool,
    tool_input: input,
    tool_response: { llmContent: 'ok', returnDisplay: 'ok' },
  });

const windsurfAction = (action: string, toolInfo: Record<string, unknown>) =>
  JSON.stringify({
    agent_action_name: action,
    trajectory_id: 'traj-1',
    execution_id: 'exec-1',
    timestamp: '2026-11-30T10:00:00Z',
    tool_info: toolInfo,
  });

interface Case {
  readonly name: string;
  readonly stdin: string;
  /** Expected rows: [tool, file_path, obs_type]. */
  readonly rows: readonly (readonly [string, string, string])[];
}

const AGENTS: Record<string, { envelope: string; cases: Case[] }> = {
  codex: {
    envelope: '{"continue":true}\n',
    cases: [
      {
        name: 'edit',
        stdin: codexPatch(PATCH('*** Update File: src/a.ts', '@@', '-let x = 1;', '+let x = 2;')),
        rows: [['Edit', 'src/a.ts', 'change']],
      },
      {
        name: 'write',
        stdin: codexPatch(PATCH('*** Add File: docs/new.md', '+# New')),
        rows: [['Write', 'docs/new.md', 'feature']],
      },
      {
        name: 'multi-file patch, one file secret',
        stdin: codexPatch(
          PATCH(
            '*** Update File: src/a.ts',
            '@@',
            '-a',
            '+b',
            '*** Update File: config/.env',
            '@@',
            '-API_KEY=old',
            `+API_KEY=${SECRET}`,
            '*** Add File: src/c.ts',
            '+export const c = 1;',
          ),
        ),
        rows: [
          ['Edit', 'src/a.ts', 'change'],
          ['Write', 'src/c.ts', 'feature'],
        ],
      },
      {
        name: 'shell',
        stdin: JSON.stringify({ hook_event_name: 'PostToolUse', tool_name: 'Bash', tool_input: { command: 'ls' } }),
        rows: [],
      },
      { name: 'secret path', stdin: codexPatch(PATCH('*** Update File: .env', '@@', `+K=${SECRET}`)), rows: [] },
      {
        name: 'session start',
        stdin: JSON.stringify({ hook_event_name: 'SessionStart', source: 'startup' }),
        rows: [],
      },
    ],
  },
  cursor: {
    envelope: '{"continue":true}\n',
    cases: [
      {
        name: 'edit (top-level edits, as Cursor documents it)',
        stdin: cursorEdit('/repo/src/a.ts', [{ old_string: 'const a = 1', new_string: 'const a = 2' }]),
        rows: [['Edit', '/repo/src/a.ts', 'change']],
      },
      {
        name: 'write (tool_input, as Rust reads it)',
        stdin: JSON.stringify({
          hook_event_name: 'afterFileEdit',
          tool_name: 'Write',
          tool_input: { file_path: '/repo/new.ts', content: 'x\r\ny\r\n' },
        }),
        rows: [['Write', '/repo/new.ts', 'feature']],
      },
      {
        name: 'shell',
        stdin: JSON.stringify({ hook_event_name: 'afterShellExecution', command: 'ls', output: 'a', cwd: '/repo' }),
        rows: [],
      },
      {
        name: 'secret path',
        stdin: cursorEdit('/repo/certs/server.pem', [{ old_string: 'a', new_string: SECRET }]),
        rows: [],
      },
      { name: 'prompt', stdin: JSON.stringify({ hook_event_name: 'beforeSubmitPrompt', prompt: 'hi' }), rows: [] },
    ],
  },
  'gemini-cli': {
    envelope: '{"continue":true,"suppressOutput":false}\n',
    cases: [
      {
        name: 'edit (replace)',
        stdin: geminiTool('replace', { file_path: '/repo/a.py', old_string: '# TODO: x\nx = 1', new_string: 'x = 1' }),
        rows: [['Edit', '/repo/a.py', 'bugfix']],
      },
      {
        name: 'write (write_file)',
        stdin: geminiTool('write_file', { file_path: '/repo/b.py', content: 'print(1)\n' }),
        rows: [['Write', '/repo/b.py', 'feature']],
      },
      {
        name: 'write (WriteFile, the name Rust knows)',
        stdin: geminiTool('WriteFile', { file_path: '/repo/c.py', content: 'c' }),
        rows: [['Write', '/repo/c.py', 'feature']],
      },
      { name: 'shell', stdin: geminiTool('run_shell_command', { command: 'ls' }), rows: [] },
      {
        name: 'secret path',
        stdin: geminiTool('write_file', { file_path: '/home/u/.ssh/id_rsa', content: SECRET }),
        rows: [],
      },
      { name: 'before agent', stdin: JSON.stringify({ hook_event_name: 'BeforeAgent', prompt: 'hi' }), rows: [] },
    ],
  },
  windsurf: {
    envelope: '{"continue":true}\n',
    cases: [
      {
        name: 'edit',
        stdin: windsurfAction('post_write_code', {
          file_path: '/repo/a.ts',
          edits: [{ old_string: 'let a=1', new_string: 'let a = 1' }],
        }),
        rows: [['Write', '/repo/a.ts', 'refactor']],
      },
      {
        name: 'write',
        stdin: windsurfAction('post_write_code', { file_path: '/repo/new.ts', content: 'export {}\n' }),
        rows: [['Write', '/repo/new.ts', 'feature']],
      },
      { name: 'shell', stdin: windsurfAction('post_run_command', { command_line: 'ls', cwd: '/repo' }), rows: [] },
      {
        name: 'secret path',
        stdin: windsurfAction('post_write_code', { file_path: '/repo/.env.local', content: `K=${SECRET}` }),
        rows: [],
      },
      { name: 'prompt', stdin: windsurfAction('pre_user_prompt', { user_prompt: 'hi' }), rows: [] },
    ],
  },
};

const GARBAGE: [string, string][] = [
  ['empty stdin', ''],
  ['garbage', 'not json at all {'],
  ['a JSON array', '[1,2]'],
  ['no event name', '{"tool_input":{"file_path":"/repo/.env"}}'],
];

describe.each(Object.entries(AGENTS))('hook %s', (agent, { envelope, cases }) => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const home = tempHome();
    const result = await runCli(['hook', agent], { env: env(home), input: c.stdin });
    expect(result).toMatchObject({ code: 0, stdout: envelope, stderr: '' });
    const rows = payloads(home);
    expect(rows.map((p) => [p.tool, p.file_path, p.obs_type])).toEqual(c.rows);
    for (const p of rows) {
      expect(JSON.stringify(p)).not.toContain(SECRET);
      expect(p.content_hash).toMatch(/^[0-9a-f]{16}$/);
    }
    expect(leftovers(home)).toEqual([]);
    if (c.rows.length === 0) expect(existsSync(join(home, 'logs'))).toBe(false);
  });

  it.each(GARBAGE)('%s: exit 0, the envelope, nothing queued, a warning without the content', async (_, stdin) => {
    const home = tempHome();
    const result = await runCli(['hook', agent], { env: env(home), input: stdin });
    expect(result).toMatchObject({ code: 0, stdout: envelope });
    expect(payloads(home)).toEqual([]);
    const log = readFileSync(join(home, 'logs', 'hook.log'), 'utf8');
    expect(log).toContain(`"src":"hook ${agent}"`);
    expect(log).not.toContain('.env');
  });
});

describe('when the database cannot be written', () => {
  it.each(Object.entries(AGENTS))(
    '%s spills its observation in the Rust format',
    async (agent, { envelope, cases }) => {
      const home = tempHome();
      mkdirSync(home, { recursive: true, mode: 0o700 });
      writeFileSync(join(home, 'data.db'), 'not a database '.repeat(100));
      const result = await runCli(['hook', agent], { env: env(home), input: cases[0]?.stdin ?? '' });
      expect(result).toMatchObject({ code: 0, stdout: envelope });
      const dir = join(home, 'hook-spill', 'observations');
      const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
      expect(files).toHaveLength(1);
      const record = JSON.parse(readFileSync(join(dir, files[0] as string), 'utf8'));
      expect(record).toMatchObject({ version: 1, kind: 'observation' });
      expect(JSON.parse(record.payloadJson).content_hash).toMatch(/^[0-9a-f]{16}$/);
    },
  );
});

describe('hook names', () => {
  it.each([
    ['codex-cli', 'codex'],
    ['cursor-agent', 'cursor'],
    ['gemini', 'gemini-cli'],
    ['gemini_cli', 'gemini-cli'],
    ['claude', 'claude-code'],
  ])('the Rust alias %s runs the %s hook', async (alias, agent) => {
    const home = tempHome();
    const result = await runCli(['hook', alias], { env: env(home), input: '' });
    expect(result).toMatchObject({ code: 0, stdout: AGENTS[agent]?.envelope ?? '{"continue":true}\n' });
    expect(readFileSync(join(home, 'logs', 'hook.log'), 'utf8')).toContain(`"src":"hook ${agent}"`);
  });

  it('Codex: the multi-file patch rows hash as Rust hashes each one-file patch', async () => {
    const home = tempHome();
    const a = PATCH('*** Update File: src/a.ts', '@@', '-a', '+b');
    const c = PATCH('*** Add File: src/c.ts', '+export const c = 1;');
    await runCli(['hook', 'codex'], { env: env(home), input: codexPatch(a) });
    await runCli(['hook', 'codex'], { env: env(home), input: codexPatch(c) });
    const both = PATCH('*** Update File: src/a.ts', '@@', '-a', '+b', '*** Add File: src/c.ts', '+export const c = 1;');
    await runCli(['hook', 'codex'], { env: env(home), input: codexPatch(both) });
    const hashes = payloads(home).map((p) => p.content_hash);
    expect(hashes.slice(2)).toEqual(hashes.slice(0, 2));
  });
});

describe('every agent hook loads only light modules', () => {
  // The list of hook-claude-code.test.ts (no xstate, no write-file-atomic, no HTTP, no machines but the
  // pure payload contracts enqueue checks a row with), and no Clipanion.
  const FORBIDDEN = [
    /\/node_modules\/xstate\//,
    /\/node_modules\/@statelyai\//,
    /\/node_modules\/write-file-atomic\//,
    /^(esm|bundled) node:(http|https|http2|net|tls)$/m,
    /\/node_modules\/undici\//,
    /\/dist\/machines\/(?!contracts\/)/,
    /\/node_modules\/clipanion\//,
  ];

  it.each(Object.entries(AGENTS))('%s, on an edit', async (agent, { envelope, cases }) => {
    const home = tempHome();
    const dir = mkdtempSync(join(tmpdir(), 'difflore-modules-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeModuleRecorder(dir);
    const log = join(dir, 'modules.txt');
    const result = await runProcess(process.execPath, ['--import', join(dir, 'register.mjs'), CLI, 'hook', agent], {
      env: env(home, { DIFFLORE_TEST_MODULE_LOG: log }),
      input: cases[0]?.stdin ?? '',
    });
    expect(result).toMatchObject({ code: 0, stdout: envelope });
    expect(payloads(home)).toHaveLength(1);
    const loaded = readFileSync(log, 'utf8');
    expect(loaded).toContain(`/dist/observation/agents/${agent}.js`);
    // Only this agent's adapter, not the other four.
    const adapters = loaded.split('\n').filter((l) => /\/dist\/observation\/agents\/(?!agent\.js|index\.js)/.test(l));
    expect(new Set(adapters.map((l) => l.replace(/^.*\/agents\//, '')))).toEqual(new Set([`${agent}.js`]));
    for (const pattern of FORBIDDEN) {
      const hit = loaded.split('\n').find((line) => pattern.test(line));
      expect(hit, `the ${agent} hook loaded ${hit}`).toBeUndefined();
    }
  });
});
