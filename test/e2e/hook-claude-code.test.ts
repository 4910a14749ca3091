/**
 * `difflore hook claude-code` as Claude Code runs it: a real process, an event on stdin, a temp home.
 * Autostart is disabled here (DIFFLORE_DISABLE_OUTBOX_DAEMON=1); test/unit/hook-autostart.test.ts
 * covers starting the daemon.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, type CliResult, cleanEnv, makeTempHome, runCli, runProcess } from '../helpers/index.js';
import { writeModuleRecorder } from '../helpers/module-log.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as typeof BetterSqlite3;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function tempHome(): string {
  const { home, cleanup } = makeTempHome('difflore-hook-');
  cleanups.push(cleanup);
  return home;
}

function hookEnv(home: string, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return cleanEnv({ DIFFLORE_HOME: home, DIFFLORE_DISABLE_OUTBOX_DAEMON: '1', ...extra });
}

function runHook(home: string, input: string, extra: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(['hook', 'claude-code'], { env: hookEnv(home, extra), input });
}

interface Row {
  kind: string;
  payload_json: string;
  status: string;
}

function rows(home: string): Row[] {
  const path = join(home, 'data.db');
  if (!existsSync(path)) return [];
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT kind, payload_json, status FROM cloud_outbox ORDER BY id').all() as Row[];
  } finally {
    db.close();
  }
}

function hookLog(home: string): Record<string, unknown>[] {
  const path = join(home, 'logs', 'hook.log');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function spillFiles(home: string): string[] {
  const dir = join(home, 'hook-spill', 'observations');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
}

function postToolUse(tool: string, toolInput: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    session_id: 'e2e-session',
    transcript_path: '/tmp/transcript.jsonl',
    cwd: '/work/app',
    permission_mode: 'default',
    hook_event_name: 'PostToolUse',
    tool_name: tool,
    tool_input: toolInput,
    tool_response: { success: true },
    ...extra,
  });
}

const EVENTS: Record<string, string> = {
  Edit: postToolUse('Edit', { file_path: '/work/app/src/a.ts', old_string: 'let x = 1;', new_string: 'let x = 2;' }),
  MultiEdit: postToolUse('MultiEdit', {
    file_path: '/work/app/src/b.ts',
    edits: [
      { old_string: 'a', new_string: 'b' },
      { old_string: 'c', new_string: 'd' },
    ],
  }),
  Write: postToolUse('Write', { file_path: '/work/app/new.md', content: '# New\n' }),
};

/** Claude Code reads the hook's stdout; the Rust hook answers every event with this line. */
const CONTINUE = '{"continue":true}\n';

describe('hook claude-code records edits', () => {
  it.each(Object.keys(EVENTS))('turns a PostToolUse %s into one observation row, as Rust builds it', async (tool) => {
    const home = tempHome();
    const result = await runHook(home, EVENTS[tool] as string);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(CONTINUE);
    expect(result.stderr).toBe('');
    const stored = rows(home);
    expect(stored).toHaveLength(1);
    expect(stored[0]?.kind).toBe('observation');
    expect(stored[0]?.status).toBe('pending');
    const payload = JSON.parse(stored[0]?.payload_json ?? '{}');
    // Rust's struct order, scope included, nulls written.
    expect(Object.keys(payload)).toEqual([
      'session_id',
      'ts_ms',
      'obs_type',
      'tool',
      'file_path',
      'scope',
      'title',
      'narrative',
      'diff_excerpt',
      'content_hash',
    ]);
    expect(payload.tool).toBe(tool);
    expect(payload.session_id).toBe('e2e-session');
    expect(payload.file_path.startsWith('/work/app/')).toBe(true); // as Claude Code gave it, not made relative
    expect(typeof payload.ts_ms).toBe('number');
    expect(payload.content_hash).toMatch(/^[0-9a-f]{16}$/);
    expect(['bugfix', 'feature', 'refactor', 'change']).toContain(payload.obs_type);
    expect(hookLog(home)).toEqual([]);
  });

  it('worked example A, through the real process, byte for byte but ts_ms', async () => {
    const home = tempHome();
    const stdin = JSON.stringify({
      session_id: 'sess-123',
      cwd: '/home/dev/proj',
      hook_event_name: 'PostToolUse',
      tool_name: 'Edit',
      tool_input: {
        file_path: '/home/dev/proj/src/auth/login.rs',
        old_string: '// FIXME: handle None\nlet u = user.unwrap();',
        new_string: 'let u = user?;',
      },
      tool_response: { filePath: '/home/dev/proj/src/auth/login.rs' },
    });
    expect(await runHook(home, stdin)).toMatchObject({ code: 0, stdout: CONTINUE });
    const [row] = rows(home);
    expect(row?.payload_json.replace(/"ts_ms":\d+/, '"ts_ms":1714000000000')).toBe(
      '{"session_id":"sess-123","ts_ms":1714000000000,"obs_type":"bugfix","tool":"Edit","file_path":"/home/dev/proj/src/auth/login.rs","scope":{"anchor_kind":"file","anchor_key":"home/dev/proj/src/auth/login.rs","parent_path":"home/dev/proj/src/auth","display_name":"login.rs"},"title":"Edit /home/dev/proj/src/auth/login.rs: remove bug marker","narrative":"-// FIXME: handle None\\n-let u = user.unwrap();\\n+let u = user?;","diff_excerpt":"-// FIXME: handle None\\n-let u = user.unwrap();\\n+let u = user?;\\n","content_hash":"ff7ab81c02025b41"}',
    );
  });

  it('gives the same edit twice the same content_hash', async () => {
    const home = tempHome();
    await runHook(home, EVENTS.Edit as string);
    await runHook(home, EVENTS.Edit as string);
    const [a, b] = rows(home).map((r) => JSON.parse(r.payload_json));
    expect(a.content_hash).toBe(b.content_hash);
  });
});

describe('hook claude-code never ships a secret', () => {
  const SECRET = 'sk-live-123456789';
  const denied = [
    '/work/app/.env',
    '/work/app/config/.env.production',
    'C:\\work\\app\\.ENV',
    '/home/u/.ssh/id_rsa',
    '/work/app/certs/server.pem',
    '/work/app/tls/server.key',
    '/home/u/.aws/credentials',
    '/work/app/prod.secrets.yaml',
  ];

  it.each(denied)('%s: no row, no spill file, nothing in hook.log, even with the database broken', async (path) => {
    for (const broken of [false, true]) {
      const home = tempHome();
      if (broken) {
        mkdirSync(home, { recursive: true, mode: 0o700 });
        writeFileSync(join(home, 'data.db'), 'not a database '.repeat(100));
      }
      const event = postToolUse('Edit', {
        file_path: path,
        old_string: 'API_KEY=old',
        new_string: `API_KEY=${SECRET}`,
      });
      const result = await runHook(home, event);
      expect(result).toMatchObject({ code: 0, stdout: CONTINUE, stderr: '' });
      // The hook never got as far as the database: none is created, a broken one is left alone.
      if (!broken) expect(existsSync(join(home, 'data.db'))).toBe(false);
      expect(spillFiles(home)).toEqual([]);
      expect(existsSync(join(home, 'hook-spill'))).toBe(false);
      expect(existsSync(join(home, 'logs'))).toBe(false);
    }
  });

  it('replaces <private> regions before anything is stored', async () => {
    const home = tempHome();
    const content = `const a = 1;\n<private>\nconst key = "${SECRET}";\n</private>\nconst b = 2;\n`;
    await runHook(home, postToolUse('Write', { file_path: '/work/app/src/k.ts', content }));
    const [row] = rows(home);
    expect(row?.payload_json).not.toContain(SECRET);
    expect(JSON.parse(row?.payload_json ?? '{}').narrative).toBe(
      '+const a = 1;\n+[redacted private content]\n+const b = 2;',
    );
  });
});

describe('hook claude-code ignores what is not an edit', () => {
  it.each([
    ['PreToolUse of Edit', JSON.stringify({ hook_event_name: 'PreToolUse', tool_name: 'Edit', tool_input: {} })],
    ['PostToolUse of Read', postToolUse('Read', { file_path: '/work/app/a.ts' })],
    ['PostToolUse of Bash', postToolUse('Bash', { command: 'rm -rf build' })],
    [
      'PostToolUse of NotebookEdit (Rust makes no row for it)',
      postToolUse('NotebookEdit', { notebook_path: '/work/app/nb.ipynb', new_source: 'print(1)' }),
    ],
    ['Stop', JSON.stringify({ hook_event_name: 'Stop', session_id: 's', stop_hook_active: false })],
    ['SessionStart', JSON.stringify({ hook_event_name: 'SessionStart', source: 'startup' })],
  ])('%s: exit 0, nothing written', async (_, input) => {
    const home = tempHome();
    const result = await runHook(home, input);
    expect(result).toMatchObject({ code: 0, stdout: CONTINUE, stderr: '' });
    expect(existsSync(join(home, 'data.db'))).toBe(false);
    expect(hookLog(home)).toEqual([]);
  });
});

describe('hook claude-code never fails the agent', () => {
  it.each([
    ['empty stdin', ''],
    ['non-JSON stdin', 'this is not json'],
    ['truncated JSON', (EVENTS.Edit as string).slice(0, 60)],
    ['a JSON array', '[{"hook_event_name":"PostToolUse"}]'],
    ['JSON without hook_event_name', '{"tool_name":"Edit"}'],
  ])('%s: exit 0, the envelope on stdout, nothing queued, a line in hook.log', async (_, input) => {
    const home = tempHome();
    const result = await runHook(home, input);
    expect(result).toMatchObject({ code: 0, stdout: CONTINUE });
    expect(existsSync(join(home, 'data.db'))).toBe(false);
    expect(spillFiles(home)).toEqual([]);
    const log = hookLog(home);
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ level: 'warn', src: 'hook claude-code' });
    expect(String(log[0]?.reason).length).toBeGreaterThan(0);
  });

  it('an edit without a file path: exit 0, nothing queued, logged', async () => {
    const home = tempHome();
    const result = await runHook(home, postToolUse('Edit', { old_string: 'a', new_string: 'b' }));
    expect(result).toMatchObject({ code: 0, stdout: CONTINUE });
    expect(rows(home)).toEqual([]);
    expect(hookLog(home)[0]).toMatchObject({ msg: 'event ignored', reason: 'no_file_path' });
  });

  it('DIFFLORE_CAPTURE=false: exit 0, nothing queued or spilled', async () => {
    const home = tempHome();
    const result = await runHook(home, EVENTS.Write as string, { DIFFLORE_CAPTURE: 'false' });
    expect(result).toMatchObject({ code: 0, stdout: CONTINUE });
    expect(existsSync(join(home, 'data.db'))).toBe(false);
    expect(spillFiles(home)).toEqual([]);
  });

  it('DIFFLORE_CAPTURE=FALSE is not the off switch (exact match, as in Rust)', async () => {
    const home = tempHome();
    await runHook(home, EVENTS.Write as string, { DIFFLORE_CAPTURE: 'FALSE' });
    expect(rows(home)).toHaveLength(1);
  });

  it('an empty DIFFLORE_HOME: exit 0, the envelope on stdout, the problem on stderr', async () => {
    const result = await runCli(['hook', 'claude-code'], {
      env: cleanEnv({ DIFFLORE_HOME: '', DIFFLORE_DISABLE_OUTBOX_DAEMON: '1' }),
      input: EVENTS.Edit as string,
    });
    expect(result).toMatchObject({ code: 0, stdout: CONTINUE });
    expect(result.stderr).toContain('DIFFLORE_HOME');
  });
});

describe('hook claude-code spills when the database cannot be written', () => {
  function expectSpilled(home: string, tool: string): void {
    const files = spillFiles(home);
    expect(files).toHaveLength(1);
    const record = JSON.parse(readFileSync(join(home, 'hook-spill', 'observations', files[0] as string), 'utf8'));
    expect(record).toMatchObject({ version: 1, kind: 'observation' });
    expect(typeof record.createdAtMs).toBe('number');
    expect(typeof record.lastError).toBe('string');
    expect(JSON.parse(record.payloadJson).tool).toBe(tool);
    expect(hookLog(home).some((l) => l.msg === 'database unavailable; observation spilled')).toBe(true);
  }

  it('a corrupt data.db', async () => {
    const home = tempHome();
    mkdirSync(home, { recursive: true, mode: 0o700 });
    writeFileSync(join(home, 'data.db'), 'this is not a database, only bytes. '.repeat(200));
    const result = await runHook(home, EVENTS.Edit as string);
    expect(result).toMatchObject({ code: 0, stdout: CONTINUE });
    expectSpilled(home, 'Edit');
  });

  it('a data.db locked by another writer past the busy timeout', async () => {
    const home = tempHome();
    // A first hook creates the database; then this process holds its write lock while a second one runs.
    await runHook(home, EVENTS.Write as string);
    expect(rows(home)).toHaveLength(1);
    const db = new Database(join(home, 'data.db'));
    db.exec('BEGIN IMMEDIATE');
    try {
      const result = await runHook(home, EVENTS.Edit as string);
      expect(result).toMatchObject({ code: 0, stdout: CONTINUE });
    } finally {
      db.exec('ROLLBACK');
      db.close();
    }
    expect(rows(home)).toHaveLength(1); // only the first
    expectSpilled(home, 'Edit');
  });
});

/**
 * The hook path must stay light. A preloaded module hook records every module the hook process
 * resolves (ESM, builtins included) and, at exit, every CommonJS module in require.cache.
 */
describe('hook claude-code loads only light modules', () => {
  function recorder(): { dir: string; log: string } {
    const dir = mkdtempSync(join(tmpdir(), 'difflore-modules-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeModuleRecorder(dir);
    return { dir, log: join(dir, 'modules.txt') };
  }

  const FORBIDDEN = [
    /\/node_modules\/xstate\//,
    /\/node_modules\/@statelyai\//,
    /\/node_modules\/write-file-atomic\//,
    /^(esm|bundled) node:(http|https|http2|net|tls)$/m,
    /\/node_modules\/undici\//,
    // The machines, but not the pure payload contracts (enqueue checks a row by its kind's contract).
    /\/dist\/machines\/(?!contracts\/)/,
  ];

  it.each([
    ['an observed edit', EVENTS.Edit as string],
    ['an ignored event', postToolUse('Read', { file_path: '/a' })],
  ])('%s', async (_, input) => {
    const home = tempHome();
    const { dir, log } = recorder();
    const result = await runProcess(
      process.execPath,
      ['--import', join(dir, 'register.mjs'), CLI, 'hook', 'claude-code'],
      {
        env: hookEnv(home, { DIFFLORE_TEST_MODULE_LOG: log }),
        input,
      },
    );
    expect(result).toMatchObject({ code: 0, stdout: CONTINUE });
    const loaded = readFileSync(log, 'utf8');
    // The recorder works: it saw the hook's own modules.
    expect(loaded).toContain('/dist/adapters/integrations/claude-code-hook.js');
    for (const pattern of FORBIDDEN) {
      const hit = loaded.split('\n').find((line) => pattern.test(line));
      expect(hit, `the hook loaded ${hit}`).toBeUndefined();
    }
  });
});
