/**
 * `difflore hook install|uninstall codex|cursor|gemini-cli|windsurf` against real config files that
 * already hold the user's hooks (and the Rust binary's): install, install again, run the installed
 * command as the agent would, uninstall — the file byte-identical at the end; malformed configs
 * refused untouched; an agent that is not installed reported, nothing created; `--print`; doctor.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, type CliResult, cleanEnv, runCli, runProcess } from '../helpers/index.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as typeof BetterSqlite3;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

interface Box {
  root: string;
  home: string;
  project: string;
  data: string;
}

function sandbox(): Box {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'difflore-agent-install-')));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const box = { root, home: join(root, 'home'), project: join(root, 'project'), data: join(root, 'data') };
  mkdirSync(box.home);
  mkdirSync(box.project);
  return box;
}

/** No agent binary on PATH, so only the directories say whether an agent is installed. */
const run = (args: string[], box: Box, extra: Record<string, string> = {}): Promise<CliResult> =>
  runCli(args, {
    env: cleanEnv({ HOME: box.home, PATH: '/usr/bin:/bin', DIFFLORE_HOME: box.data, ...extra }),
    cwd: box.project,
  });

const pretty = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

interface AgentCase {
  /** The agent's directory (relative to HOME, or the project for Cursor). */
  readonly dir: (box: Box) => string;
  readonly config: (box: Box) => string;
  readonly existing: string;
  readonly event: string;
  readonly ourEvent: string;
}

const AGENTS: Record<string, AgentCase> = {
  codex: {
    dir: (b) => join(b.home, '.codex'),
    config: (b) => join(b.home, '.codex', 'hooks.json'),
    existing: pretty({
      hooks: {
        PostToolUse: [
          { matcher: 'Bash', hooks: [{ type: 'command', command: 'audit.sh', timeout: 5 }] },
          {
            matcher: 'apply_patch|Bash|Write|Edit|MultiEdit',
            hooks: [{ type: 'command', command: '"/usr/local/bin/difflore-hook" --client codex', timeout: 5000 }],
          },
        ],
        Stop: [{ hooks: [{ type: 'command', command: 'notify-send done' }] }],
      },
    }),
    event: JSON.stringify({
      session_id: 's',
      hook_event_name: 'PostToolUse',
      tool_name: 'apply_patch',
      tool_input: { command: '*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch' },
    }),
    ourEvent: 'PostToolUse',
  },
  cursor: {
    dir: (b) => join(b.project, '.cursor'),
    config: (b) => join(b.project, '.cursor', 'hooks.json'),
    existing: pretty({
      version: 1,
      hooks: {
        afterFileEdit: [{ command: './hooks/format.sh' }],
        stop: [{ command: 'hooks/audit.sh', timeout: 3 }],
      },
    }),
    event: JSON.stringify({
      hook_event_name: 'afterFileEdit',
      workspace_roots: ['/repo'],
      file_path: '/repo/a.ts',
      edits: [{ old_string: 'a', new_string: 'b' }],
    }),
    ourEvent: 'afterFileEdit',
  },
  'gemini-cli': {
    dir: (b) => join(b.home, '.gemini'),
    config: (b) => join(b.home, '.gemini', 'settings.json'),
    existing: pretty({
      theme: 'GitHub',
      mcpServers: { local: { command: 'mcp-server' } },
      hooks: {
        AfterTool: [{ matcher: 'write_file', hooks: [{ name: 'fmt', type: 'command', command: 'prettier --write' }] }],
      },
    }),
    event: JSON.stringify({
      session_id: 'g',
      hook_event_name: 'AfterTool',
      tool_name: 'write_file',
      tool_input: { file_path: '/repo/b.py', content: 'print(1)\n' },
    }),
    ourEvent: 'AfterTool',
  },
  windsurf: {
    dir: (b) => join(b.home, '.codeium', 'windsurf'),
    config: (b) => join(b.home, '.codeium', 'windsurf', 'hooks.json'),
    existing: pretty({
      hooks: {
        post_write_code: [{ command: 'lint.sh', show_output: true }],
        pre_user_prompt: [{ command: 'audit.sh' }],
      },
    }),
    event: JSON.stringify({
      agent_action_name: 'post_write_code',
      trajectory_id: 't',
      tool_info: { file_path: '/repo/c.ts', content: 'export {}\n' },
    }),
    ourEvent: 'post_write_code',
  },
};

const read = (path: string) => readFileSync(path, 'utf8');
const backups = (path: string) => readdirSync(dirname(path)).filter((f) => f.includes('.bak-'));

/** Every command in the config that runs `… hook <agent>`. */
function ourCommands(config: unknown, agent: string): { event: string; command: string }[] {
  const hooks = (config as { hooks?: Record<string, unknown[]> }).hooks ?? {};
  return Object.entries(hooks).flatMap(([event, list]) =>
    list.flatMap((e) => {
      const el = e as { command?: string; hooks?: { command?: string }[] };
      return [el.command, ...(el.hooks ?? []).map((h) => h.command)]
        .filter((c): c is string => typeof c === 'string' && c.endsWith(` hook ${agent}`))
        .map((command) => ({ event, command }));
    }),
  );
}

function rowCount(data: string): number {
  const db = new Database(join(data, 'data.db'), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM cloud_outbox').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe.each(Object.entries(AGENTS))('hook install %s', (agent, c) => {
  it("merges with the user's hooks, twice, runs as the agent runs it, and uninstalls byte for byte", async () => {
    const box = sandbox();
    const path = c.config(box);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, c.existing);

    const first = await run(['hook', 'install', agent], box);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(path);
    const installed = read(path);
    const config = JSON.parse(installed);
    const ours = ourCommands(config, agent);
    expect(ours).toEqual([
      { event: c.ourEvent, command: `DIFFLORE_HOME=${box.data} ${process.execPath} ${CLI} hook ${agent}` },
    ]);
    // The user's entries are all still there, first.
    const before = JSON.parse(c.existing);
    for (const [event, list] of Object.entries(before.hooks as Record<string, unknown[]>)) {
      expect(config.hooks[event].slice(0, list.length)).toEqual(list);
    }
    expect(backups(path)).toHaveLength(1);

    const again = await run(['hook', 'install', agent], box);
    expect(again).toMatchObject({ code: 0, stderr: '' });
    expect(again.stdout).toContain('already installed');
    expect(read(path)).toBe(installed);
    expect(backups(path)).toHaveLength(1);

    // The agent runs the command through a shell, with the event on stdin and its own environment.
    const result = await runProcess('/bin/sh', ['-c', ours[0]?.command as string], {
      env: cleanEnv({ HOME: box.home, DIFFLORE_DISABLE_OUTBOX_DAEMON: '1' }),
      input: c.event,
      cwd: box.project,
    });
    expect(result.code).toBe(0);
    expect(result.stdout.startsWith('{"continue":true')).toBe(true);
    expect(rowCount(box.data)).toBe(1);

    const removed = await run(['hook', 'uninstall', agent], box);
    expect(removed).toMatchObject({ code: 0, stderr: '' });
    expect(removed.stdout).toContain('Removed 1 difflore hook entry');
    expect(read(path)).toBe(c.existing);
    const none = await run(['hook', 'uninstall', agent], box);
    expect(none.stdout).toContain('nothing changed');
    expect(read(path)).toBe(c.existing);
  });

  it('refuses a malformed config with a clear error and writes nothing', async () => {
    for (const broken of ['{ "hooks": {', '[1, 2]', '{"hooks": []}', `{"hooks": {"${c.ourEvent}": {}}}`]) {
      const box = sandbox();
      const path = c.config(box);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, broken);
      for (const verb of ['install', 'uninstall']) {
        const result = await run(['hook', verb, agent], box);
        if (verb === 'uninstall' && broken === `{"hooks": {"${c.ourEvent}": {}}}`) continue;
        expect(result.code, `${verb} ${broken}`).toBe(2);
        expect(result.stderr).toContain(path);
        expect(result.stderr).toMatch(/not valid JSON|not a JSON object|not an array|does not hold a JSON object/);
        expect(read(path)).toBe(broken);
        expect(backups(path)).toEqual([]);
      }
    }
  });

  it('reports an agent that is not installed and creates nothing; --print still shows the entry', async () => {
    const box = sandbox();
    const result = await run(['hook', 'install', agent], box);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('does not look installed');
    expect(existsSync(c.dir(box))).toBe(false);
    expect(readdirSync(box.home)).toEqual([]);

    const printed = await run(['hook', 'install', agent, '--print'], box);
    expect(printed.code).toBe(0);
    expect(ourCommands(JSON.parse(printed.stdout), agent)).toHaveLength(1);
    expect(existsSync(c.dir(box))).toBe(false);
  });

  it('--print and --dry-run write nothing', async () => {
    const box = sandbox();
    const path = c.config(box);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, c.existing);
    const printed = await run(['hook', 'install', agent, '--print'], box);
    expect(printed.code).toBe(0);
    expect(ourCommands(JSON.parse(printed.stdout), agent)).toHaveLength(1);
    const diff = await run(['hook', 'install', agent, '--dry-run'], box);
    expect(diff.stdout).toMatch(new RegExp(`^\\+.*hook ${agent}`, 'm'));
    expect(read(path)).toBe(c.existing);
    expect(backups(path)).toEqual([]);
  });
});

describe('hook install, across agents', () => {
  it('keeps a file without a final newline (as Rust writes it) byte for byte through install and uninstall', async () => {
    const box = sandbox();
    const path = AGENTS.codex?.config(box) as string;
    mkdirSync(dirname(path), { recursive: true });
    const rustStyle = JSON.stringify({ hooks: { Stop: [{ hooks: [{ command: 'x', type: 'command' }] }] } }, null, 2);
    writeFileSync(path, rustStyle);
    expect((await run(['hook', 'install', 'codex'], box)).code).toBe(0);
    expect(read(path).endsWith('}')).toBe(true);
    expect((await run(['hook', 'uninstall', 'codex'], box)).code).toBe(0);
    expect(read(path)).toBe(rustStyle);
  });

  it('creates the config when only the agent directory exists, and takes it out again', async () => {
    const box = sandbox();
    mkdirSync(join(box.home, '.gemini'));
    expect((await run(['hook', 'install', 'gemini'], box)).code).toBe(0);
    const path = join(box.home, '.gemini', 'settings.json');
    expect(ourCommands(JSON.parse(read(path)), 'gemini-cli')).toHaveLength(1);
    expect((await run(['hook', 'uninstall', 'gemini-cli'], box)).code).toBe(0);
    expect(JSON.parse(read(path))).toEqual({});
  });

  it('refuses an unknown agent and the wrong scope flags', async () => {
    const box = sandbox();
    const unknown = await run(['hook', 'install', 'vim'], box);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('codex');
    expect((await run(['hook', 'install', 'codex', '--project', box.project], box)).code).toBe(2);
    expect((await run(['hook', 'install', 'cursor', '--user'], box)).code).toBe(2);
  });

  it('doctor lists every agent, says which run this difflore, and warns about a stale hook', async () => {
    const box = sandbox();
    mkdirSync(join(box.home, '.codex'));
    mkdirSync(join(box.home, '.codeium', 'windsurf'), { recursive: true });
    expect((await run(['hook', 'install', 'codex'], box)).code).toBe(0);
    writeFileSync(
      join(box.home, '.codeium', 'windsurf', 'hooks.json'),
      pretty({ hooks: { post_write_code: [{ command: '/old/node /old/dist/cli/main.js hook windsurf' }] } }),
    );
    const result = await run(['doctor', '--json'], box);
    const report = JSON.parse(result.stdout) as {
      checks: { name: string; status: string; detail: string; notes?: string[]; fix?: string }[];
    };
    const agents = report.checks.find((ch) => ch.name === 'agents');
    expect(agents?.status).toBe('warn');
    expect(agents?.fix).toBe('difflore hook install windsurf');
    const notes = agents?.notes ?? [];
    expect(notes).toHaveLength(5);
    expect(notes.find((n) => n.startsWith('codex:'))).toMatch(/installed .*runs this difflore/);
    expect(notes.find((n) => n.startsWith('windsurf:'))).toContain('runs another difflore');
    expect(notes.find((n) => n.startsWith('cursor:'))).toContain('not installed here');
    expect(notes.find((n) => n.startsWith('gemini-cli:'))).toContain('no difflore hook');
  });
});
