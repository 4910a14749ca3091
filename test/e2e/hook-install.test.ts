/**
 * `difflore hook install|uninstall claude-code` against real settings files in temp directories.
 */
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, type CliResult, cleanEnv, runCli, runProcess } from '../helpers/index.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as typeof BetterSqlite3;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A scratch directory holding a fake $HOME, a project and a data home. */
function sandbox(): { root: string; home: string; project: string; dataHome: string } {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'difflore-hook-install-')));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const home = join(root, 'home');
  const project = join(root, 'project');
  mkdirSync(home);
  mkdirSync(project);
  return { root, home, project, dataHome: join(root, 'data') };
}

function run(args: string[], box: { home: string }, options: { cwd?: string; env?: Record<string, string> } = {}) {
  return runCli(args, {
    env: cleanEnv({ HOME: box.home, DIFFLORE_DISABLE_OUTBOX_DAEMON: '1', ...options.env }),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
}

const settingsOf = (dir: string) => join(dir, '.claude', 'settings.json');
const read = (path: string) => readFileSync(path, 'utf8');
const backups = (path: string) => readdirSync(join(path, '..')).filter((f) => f.startsWith('settings.json.bak-'));

const EXISTING = `${JSON.stringify(
  {
    model: 'opus',
    permissions: { allow: ['Bash(npm test:*)'], deny: [] },
    hooks: {
      PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: 'audit.sh' }] }],
      PostToolUse: [{ matcher: 'Write', hooks: [{ type: 'command', command: 'prettier --write' }] }],
    },
  },
  null,
  2,
)}\n`;

function ourEntries(settings: unknown): { matcher: unknown; command: string }[] {
  const post = (settings as { hooks?: { PostToolUse?: { matcher?: unknown; hooks?: { command?: string }[] }[] } }).hooks
    ?.PostToolUse;
  return (post ?? []).flatMap((g) =>
    (g.hooks ?? [])
      .filter((h) => typeof h.command === 'string' && h.command.endsWith('hook claude-code'))
      .map((h) => ({ matcher: g.matcher, command: h.command as string })),
  );
}

function expectOk(result: CliResult): void {
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
}

describe('hook install claude-code', () => {
  it('creates the project settings with an absolute command for this node and this CLI', async () => {
    const box = sandbox();
    const result = await run(['hook', 'install', 'claude-code', '--project', box.project], box);
    expectOk(result);
    const path = settingsOf(box.project);
    expect(result.stdout).toContain(path);
    const entries = ourEntries(JSON.parse(read(path)));
    expect(entries).toEqual([
      { matcher: 'Edit|MultiEdit|Write', command: `${process.execPath} ${CLI} hook claude-code` },
    ]);
    expect(backups(path)).toEqual([]);
  });

  it('defaults to the project in the current directory', async () => {
    const box = sandbox();
    expectOk(await run(['hook', 'install', 'claude-code'], box, { cwd: box.project }));
    expect(ourEntries(JSON.parse(read(settingsOf(box.project))))).toHaveLength(1);
  });

  it('--user writes $HOME/.claude/settings.json', async () => {
    const box = sandbox();
    expectOk(await run(['hook', 'install', 'claude-code', '--user'], box, { cwd: box.project }));
    expect(ourEntries(JSON.parse(read(settingsOf(box.home))))).toHaveLength(1);
    expect(existsSync(settingsOf(box.project))).toBe(false);
  });

  it('keeps what is there, backs up the old file, and is idempotent', async () => {
    const box = sandbox();
    const path = settingsOf(box.project);
    mkdirSync(join(box.project, '.claude'));
    writeFileSync(path, EXISTING);

    expectOk(await run(['hook', 'install', 'claude-code', '--project', box.project], box));
    const after = JSON.parse(read(path));
    const before = JSON.parse(EXISTING);
    expect(after.model).toBe(before.model);
    expect(after.permissions).toEqual(before.permissions);
    expect(after.hooks.PreToolUse).toEqual(before.hooks.PreToolUse);
    expect(after.hooks.PostToolUse[0]).toEqual(before.hooks.PostToolUse[0]);
    expect(ourEntries(after)).toHaveLength(1);
    expect(read(path)).toMatch(/^\{\n {2}"model": "opus",\n/); // 2-space JSON, key order kept
    const [backup] = backups(path);
    expect(backup).toBeDefined();
    expect(read(join(box.project, '.claude', backup as string))).toBe(EXISTING);

    const installed = read(path);
    const again = await run(['hook', 'install', 'claude-code', '--project', box.project], box);
    expectOk(again);
    expect(again.stdout).toContain('already installed');
    expect(read(path)).toBe(installed);
    expect(backups(path)).toHaveLength(1);
  });

  it('keeps the indent of a file that uses 4 spaces', async () => {
    const box = sandbox();
    const path = settingsOf(box.project);
    mkdirSync(join(box.project, '.claude'));
    writeFileSync(path, `${JSON.stringify({ model: 'opus' }, null, 4)}\n`);
    expectOk(await run(['hook', 'install', 'claude-code', '--project', box.project], box));
    expect(read(path)).toMatch(/^\{\n {4}"model"/);
  });

  it('--dry-run prints the change and writes nothing', async () => {
    const box = sandbox();
    const path = settingsOf(box.project);
    mkdirSync(join(box.project, '.claude'));
    writeFileSync(path, EXISTING);
    const result = await run(['hook', 'install', 'claude-code', '--project', box.project, '--dry-run'], box);
    expectOk(result);
    expect(result.stdout).toContain(`--- ${path}`);
    expect(result.stdout).toMatch(/^\+.*hook claude-code/m);
    expect(result.stdout).toContain('dry run');
    expect(read(path)).toBe(EXISTING);
    expect(backups(path)).toEqual([]);
  });

  it('refuses a settings.json that is not valid JSON and writes nothing', async () => {
    const box = sandbox();
    const path = settingsOf(box.project);
    mkdirSync(join(box.project, '.claude'));
    const broken = '{ "model": "opus", \n';
    writeFileSync(path, broken);
    const result = await run(['hook', 'install', 'claude-code', '--project', box.project], box);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(path);
    expect(result.stderr).toContain('not valid JSON');
    expect(read(path)).toBe(broken);
    expect(backups(path)).toEqual([]);
  });

  it('refuses --project with --user, and a project directory that does not exist', async () => {
    const box = sandbox();
    const both = await run(['hook', 'install', 'claude-code', '--project', box.project, '--user'], box);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--user');
    const missing = await run(['hook', 'install', 'claude-code', '--project', join(box.root, 'nope')], box);
    expect(missing.code).toBe(2);
    expect(existsSync(join(box.root, 'nope'))).toBe(false);
  });

  it('writes through a symlinked settings.json to its target and keeps the link', async () => {
    const box = sandbox();
    const dotfiles = join(box.root, 'dotfiles');
    mkdirSync(dotfiles);
    writeFileSync(join(dotfiles, 'settings.json'), EXISTING);
    mkdirSync(join(box.home, '.claude'));
    symlinkSync(join(dotfiles, 'settings.json'), settingsOf(box.home));
    expectOk(await run(['hook', 'install', 'claude-code', '--user'], box));
    expect(lstatSync(settingsOf(box.home)).isSymbolicLink()).toBe(true);
    expect(ourEntries(JSON.parse(read(join(dotfiles, 'settings.json'))))).toHaveLength(1);
  });

  it('pins DIFFLORE_HOME into the command, and the installed command records an edit when run by a shell', async () => {
    const box = sandbox();
    expectOk(
      await run(['hook', 'install', 'claude-code', '--project', box.project], box, {
        env: { DIFFLORE_HOME: box.dataHome },
      }),
    );
    const [entry] = ourEntries(JSON.parse(read(settingsOf(box.project))));
    expect(entry?.command.startsWith(`DIFFLORE_HOME=${box.dataHome} `)).toBe(true);
    // Run it the way Claude Code does: through sh, with the event on stdin, without DIFFLORE_HOME set.
    const event = JSON.stringify({
      session_id: 's',
      cwd: box.project,
      hook_event_name: 'PostToolUse',
      tool_name: 'Write',
      tool_input: { file_path: join(box.project, 'a.txt'), content: 'hello\n' },
    });
    const result = await runProcess('/bin/sh', ['-c', entry?.command as string], {
      env: cleanEnv({ HOME: box.home, DIFFLORE_DISABLE_OUTBOX_DAEMON: '1' }),
      input: event,
      cwd: box.project,
    });
    expect(result).toMatchObject({ code: 0, stdout: '{"continue":true}\n' });
    const db = new Database(join(box.dataHome, 'data.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT kind, payload_json FROM cloud_outbox').all() as {
        kind: string;
        payload_json: string;
      }[];
      expect(rows).toHaveLength(1);
      expect(JSON.parse(rows[0]?.payload_json as string)).toMatchObject({
        tool: 'Write',
        file_path: join(box.project, 'a.txt'), // as Claude Code gave it, as in Rust
        obs_type: 'feature',
      });
    } finally {
      db.close();
    }
  });

  it('replaces a stale entry from another install location instead of adding a second one', async () => {
    const box = sandbox();
    const path = settingsOf(box.project);
    mkdirSync(join(box.project, '.claude'));
    writeFileSync(
      path,
      JSON.stringify({
        hooks: {
          PostToolUse: [
            {
              matcher: 'Edit|MultiEdit|Write|NotebookEdit',
              hooks: [{ type: 'command', command: '/old/node /old/dist/cli/main.js hook claude-code' }],
            },
          ],
        },
      }),
    );
    expectOk(await run(['hook', 'install', 'claude-code', '--project', box.project], box));
    const entries = ourEntries(JSON.parse(read(path)));
    expect(entries).toHaveLength(1);
    expect(entries[0]?.command).toContain(CLI);
  });
});

describe('hook uninstall claude-code', () => {
  it('removes exactly what install added: the file comes back byte for byte', async () => {
    const box = sandbox();
    const path = settingsOf(box.project);
    mkdirSync(join(box.project, '.claude'));
    writeFileSync(path, EXISTING);
    expectOk(await run(['hook', 'install', 'claude-code', '--project', box.project], box));
    const result = await run(['hook', 'uninstall', 'claude-code', '--project', box.project], box);
    expectOk(result);
    expect(result.stdout).toContain('Removed 1 difflore hook entry');
    expect(read(path)).toBe(EXISTING);
    expect(backups(path)).toHaveLength(2); // one per write
  });

  it('leaves other hooks in a group it shares, and hooks of other tools', async () => {
    const box = sandbox();
    const path = settingsOf(box.project);
    mkdirSync(join(box.project, '.claude'));
    const shared = {
      hooks: {
        PostToolUse: [{ matcher: 'Edit|MultiEdit|Write', hooks: [{ type: 'command', command: 'lint.sh' }] }],
      },
    };
    writeFileSync(path, `${JSON.stringify(shared, null, 2)}\n`);
    expectOk(await run(['hook', 'install', 'claude-code', '--project', box.project], box));
    expect(JSON.parse(read(path)).hooks.PostToolUse[0].hooks).toHaveLength(2);
    expectOk(await run(['hook', 'uninstall', 'claude-code', '--project', box.project], box));
    expect(JSON.parse(read(path))).toEqual(shared);
  });

  it('changes nothing when there is nothing of ours, or no file', async () => {
    const box = sandbox();
    const none = await run(['hook', 'uninstall', 'claude-code', '--project', box.project], box);
    expectOk(none);
    expect(none.stdout).toContain('nothing to remove');
    expect(existsSync(settingsOf(box.project))).toBe(false);

    const path = settingsOf(box.project);
    mkdirSync(join(box.project, '.claude'));
    writeFileSync(path, EXISTING);
    const result = await run(['hook', 'uninstall', '--project', box.project], box);
    expectOk(result);
    expect(result.stdout).toContain('nothing changed');
    expect(read(path)).toBe(EXISTING);
    expect(backups(path)).toEqual([]);
  });

  it('--dry-run shows the removal and writes nothing', async () => {
    const box = sandbox();
    expectOk(await run(['hook', 'install', 'claude-code', '--user'], box));
    const installed = read(settingsOf(box.home));
    const result = await run(['hook', 'uninstall', 'claude-code', '--user', '--dry-run'], box);
    expectOk(result);
    expect(result.stdout).toMatch(/^-.*hook claude-code/m);
    expect(read(settingsOf(box.home))).toBe(installed);
  });

  it('refuses a settings.json that is not valid JSON', async () => {
    const box = sandbox();
    const path = settingsOf(box.project);
    mkdirSync(join(box.project, '.claude'));
    writeFileSync(path, 'nope');
    const result = await run(['hook', 'uninstall', 'claude-code', '--project', box.project], box);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('not valid JSON');
    expect(read(path)).toBe('nope');
  });
});
