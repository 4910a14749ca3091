/**
 * `difflore hook claude-code`: the command Claude Code runs after every matching tool call.
 *
 * It must never fail or slow the agent: it always exits 0, prints nothing on stdout (Claude Code reads
 * a hook's stdout), and writes what went wrong to `logs/hook.log` as JSON lines. Ignored events return
 * before the database or the daemon is touched; SQLite and the autostart load lazily, and nothing on
 * this path imports xstate, HTTP code, the inspector or write-file-atomic.
 */
import { closeSync, constants, mkdirSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Command } from 'clipanion';
import { buildObservation, isObservedTool, MAX_EVENT_BYTES, parseHookEvent } from '../../adapters/claude-code-hook.js';
import { type HomePaths, homePaths, resolveHome } from '../../adapters/home.js';
import { BaseCommand } from '../base-command.js';

/** hook.log is rotated to hook.log.1 past this size, so a misbehaving agent cannot fill the disk. */
const HOOK_LOG_MAX_BYTES = 1024 * 1024;

export default class HookClaudeCodeCommand extends BaseCommand {
  static override paths = [['hook', 'claude-code']];

  static override usage = Command.Usage({
    category: 'Hooks',
    description: 'Record a Claude Code edit (run by Claude Code, not by you)',
    details: `
      Reads one Claude Code hook event (JSON) on stdin. A \`PostToolUse\` event of \`Edit\`, \`MultiEdit\`,
      \`Write\` or \`NotebookEdit\` becomes an \`observation\` row in the outbox (spilled to
      \`hook-spill/observations/\` when the database cannot be written); every other event is ignored.
      Then, unless \`DIFFLORE_DISABLE_OUTBOX_DAEMON\` is set (and not \`0\` or \`false\`), it starts the
      daemon in the background if none runs.

      It always exits 0 and prints nothing, so it can never break the agent. Problems are appended to
      \`logs/hook.log\` in the data home. \`DIFFLORE_CAPTURE=false\` turns recording off.

      Install it with \`difflore hook install claude-code\`.
    `,
    examples: [
      [
        'Feed it an event by hand',
        `echo '{"hook_event_name":"PostToolUse","tool_name":"Write","tool_input":{"file_path":"/tmp/a.txt","content":"hi"}}' | $0 hook claude-code`,
      ],
    ],
  });

  protected async run(): Promise<number> {
    const env = process.env;
    const log = new HookLog(env);
    try {
      await handleEvent(this.context.stdin, env, log);
    } catch (error) {
      log.write('error', 'hook failed', { error: (error as Error).message ?? String(error) });
    }
    return 0;
  }
}

async function handleEvent(stdin: Readable, env: NodeJS.ProcessEnv, log: HookLog): Promise<void> {
  const input = await readStdin(stdin, MAX_EVENT_BYTES);
  if (input.kind !== 'text') {
    log.write('warn', 'no hook event read', { reason: input.reason });
    return;
  }
  const parsed = parseHookEvent(input.text);
  if (parsed.kind === 'invalid') {
    log.write('warn', 'hook input ignored', { reason: parsed.reason, bytes: Buffer.byteLength(input.text) });
    return;
  }
  const event = parsed.event;
  // The common case (a Read, a Bash, a non-edit event) leaves here, before any hashing or I/O.
  if (event.hookEventName !== 'PostToolUse' || !isObservedTool(event.toolName)) return;
  // Exactly `false`, as in Rust (reference §2.12); enqueue checks it too, this only skips the work.
  if (env.DIFFLORE_CAPTURE === 'false') return;

  const built = buildObservation(event, Date.now());
  if (built.kind === 'ignored') {
    log.write('info', 'event ignored', { reason: built.reason });
    return;
  }

  const { enqueue } = await import('../../adapters/enqueue.js');
  const result = enqueue('observation', JSON.stringify(built.observation), { env });
  if (result.kind === 'capture_disabled') return;
  if (result.kind === 'spilled') {
    log.write('warn', 'database unavailable; observation spilled', { path: result.path, reason: result.reason });
  }

  const paths = log.paths;
  if (!paths) return;
  const { ensureDaemonRunning } = await import('../../adapters/daemon-autostart.js');
  const started = await ensureDaemonRunning(paths, env);
  if (started.kind === 'spawned') log.write('info', 'daemon started', { pid: started.pid });
  else if (started.kind === 'failed') log.write('error', 'could not start the daemon', { reason: started.reason });
}

type StdinResult = { kind: 'text'; text: string } | { kind: 'none'; reason: string };

/** Reads all of stdin, up to `maxBytes`; a larger event is not read further and not processed. */
async function readStdin(stdin: Readable, maxBytes: number): Promise<StdinResult> {
  if ((stdin as Readable & { isTTY?: boolean }).isTTY) {
    return { kind: 'none', reason: 'stdin is a terminal; Claude Code pipes the event on stdin' };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > maxBytes) {
      stdin.destroy();
      return { kind: 'none', reason: `the event is larger than ${maxBytes} bytes` };
    }
    chunks.push(buffer);
  }
  return { kind: 'text', text: Buffer.concat(chunks).toString('utf8') };
}

/**
 * JSON lines in `<home>/logs/hook.log`. Its own file, not daemon.log: the daemon rotates and caps its
 * log on its own schedule, and hooks are many short-lived writers. If the home itself is unusable
 * (DIFFLORE_HOME empty, no permission) the line goes to stderr, which Claude Code shows only in its
 * transcript view and never parses.
 */
class HookLog {
  readonly paths: HomePaths | undefined;
  private readonly homeError: string | undefined;

  constructor(env: NodeJS.ProcessEnv) {
    let paths: HomePaths | undefined;
    let homeError: string | undefined;
    try {
      paths = homePaths(resolveHome(env));
    } catch (error) {
      homeError = (error as Error).message;
    }
    this.paths = paths;
    this.homeError = homeError;
  }

  write(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
    const line = `${JSON.stringify({ ts: new Date().toISOString(), level, src: 'hook claude-code', pid: process.pid, msg, ...fields })}\n`;
    if (this.paths) {
      try {
        appendLine(join(this.paths.logsDir, 'hook.log'), this.paths, line);
        return;
      } catch {
        // fall through to stderr
      }
    }
    const why = this.homeError ? ` (cannot log in the data home: ${this.homeError})` : '';
    process.stderr.write(`difflore hook: ${msg}${why}: ${line}`);
  }
}

function appendLine(path: string, paths: HomePaths, line: string): void {
  mkdirSync(paths.logsDir, { recursive: true, mode: 0o700 });
  try {
    if (statSync(path).size > HOOK_LOG_MAX_BYTES) renameSync(path, `${path}.1`);
  } catch {
    // no log yet
  }
  // O_APPEND keeps concurrent hooks' lines whole; O_NOFOLLOW refuses a planted symlink.
  const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, line);
  } finally {
    closeSync(fd);
  }
}
