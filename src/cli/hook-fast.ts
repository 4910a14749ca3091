/**
 * What `difflore hook claude-code` does, shared by the Clipanion command and by a fast path in
 * main.ts that can run it without loading Clipanion and the command registry (start-up is nearly the
 * whole cost of a hook). Imports only node builtins and light adapters at load; SQLite and the
 * autostart load when an event needs them. Never xstate, HTTP code, the inspector or write-file-atomic.
 *
 * It must never fail or slow the agent: it always returns 0, writes nothing on stdout (Claude Code
 * reads a hook's stdout), and appends what went wrong to `logs/hook.log` as JSON lines.
 */
import { closeSync, fstatSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isatty } from 'node:tty';
import { buildObservation, isObservedTool, MAX_EVENT_BYTES, parseHookEvent } from '../adapters/claude-code-hook.js';
import { type HomePaths, homePaths, resolveHome } from '../adapters/home.js';
import { openHomeAppend } from '../adapters/home-files.js';
import { readFdSync } from './fd-writer.js';

/** hook.log is rotated to hook.log.1 past this size, so a misbehaving agent cannot fill the disk. */
const HOOK_LOG_MAX_BYTES = 1024 * 1024;

export type StdinResult = { kind: 'text'; text: string } | { kind: 'none'; reason: string };

export interface HookIo {
  /** How to read the event; fd 0 without building process.stdin by default. */
  readonly readStdin?: () => Promise<StdinResult>;
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs the hook on one event. Always resolves to 0. */
export async function runClaudeCodeHook(io: HookIo = {}): Promise<0> {
  const env = io.env ?? process.env;
  const log = new HookLog(env);
  try {
    await handleEvent(await (io.readStdin ?? (() => readFd0(MAX_EVENT_BYTES)))(), env, log);
  } catch (error) {
    log.write('error', 'hook failed', { error: (error as Error).message ?? String(error) });
  }
  return 0;
}

/**
 * The fast path for main.ts: `hook claude-code` with no further arguments runs here; anything else
 * (`--help`, stray options) returns undefined so Clipanion parses it and prints its own help or error.
 */
export async function fastHookClaudeCode(argsAfterHookClaudeCode: readonly string[]): Promise<number | undefined> {
  if (argsAfterHookClaudeCode.length !== 0) return undefined;
  return runClaudeCodeHook();
}

async function handleEvent(input: StdinResult, env: NodeJS.ProcessEnv, log: HookLog): Promise<void> {
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

  const { enqueue } = await import('../adapters/enqueue.js');
  const result = enqueue('observation', JSON.stringify(built.observation), { env });
  if (result.kind === 'capture_disabled') return;
  if (result.kind === 'spilled') {
    log.write('warn', 'database unavailable; observation spilled', { path: result.path, reason: result.reason });
  }

  const paths = log.paths;
  if (!paths) return;
  const { ensureDaemonRunning } = await import('../adapters/daemon-autostart.js');
  const started = await ensureDaemonRunning(paths, env);
  if (started.kind === 'spawned') log.write('info', 'daemon started', { pid: started.pid });
  else if (started.kind === 'failed') log.write('error', 'could not start the daemon', { reason: started.reason });
}

/**
 * Reads all of fd 0, up to `maxBytes`, with synchronous reads (building process.stdin costs
 * milliseconds). A non-blocking stdin (EAGAIN) continues on the stream. A terminal is not read:
 * Claude Code always pipes the event, and a person running the hook by hand should not see it hang.
 */
export async function readFd0(maxBytes: number): Promise<StdinResult> {
  if (isatty(0)) return { kind: 'none', reason: 'stdin is a terminal; Claude Code pipes the event on stdin' };
  let read: ReturnType<typeof readFdSync>;
  try {
    read = readFdSync(0, maxBytes);
  } catch (error) {
    return { kind: 'none', reason: `cannot read stdin: ${(error as Error).message}` };
  }
  if (read.kind === 'tooLarge') return { kind: 'none', reason: `the event is larger than ${maxBytes} bytes` };
  if (read.kind === 'done') return { kind: 'text', text: read.data.toString('utf8') };
  const rest = await readStream(process.stdin, maxBytes - read.data.length);
  if (rest.kind === 'none') return rest;
  return { kind: 'text', text: Buffer.concat([read.data, Buffer.from(rest.text)]).toString('utf8') };
}

/** Reads a stream to its end, up to `maxBytes`; a larger event is not read further. */
export async function readStream(stream: NodeJS.ReadableStream, maxBytes: number): Promise<StdinResult> {
  if ((stream as NodeJS.ReadableStream & { isTTY?: boolean }).isTTY) {
    return { kind: 'none', reason: 'stdin is a terminal; Claude Code pipes the event on stdin' };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > maxBytes) return { kind: 'none', reason: `the event is larger than ${maxBytes} bytes` };
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
    const record = { ts: new Date().toISOString(), level, src: 'hook claude-code', pid: process.pid, msg, ...fields };
    const line = `${JSON.stringify(record)}\n`;
    if (this.paths) {
      try {
        appendLine(this.paths, line);
        return;
      } catch {
        // fall through to stderr
      }
    }
    const why = this.homeError ? ` (cannot log in the data home: ${this.homeError})` : '';
    try {
      writeSync(2, `difflore hook: ${msg}${why}: ${line}`);
    } catch {
      // stderr closed: nowhere left to say it, and the agent must not fail for it
    }
  }
}

function appendLine(paths: HomePaths, line: string): void {
  const path = join(paths.logsDir, 'hook.log');
  // The home-files rule: a link, FIFO (it would hang the agent) or directory at the log is refused.
  // O_APPEND keeps concurrent hooks' lines whole.
  let fd = openHomeAppend(path);
  try {
    if (fstatSync(fd).size > HOOK_LOG_MAX_BYTES) {
      closeSync(fd);
      fd = -1;
      // rename(2) moves the entry itself; a link at `.1` is replaced, never followed.
      renameSync(path, `${path}.1`);
      fd = openHomeAppend(path);
    }
    writeSync(fd, line);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}
