/**
 * What `difflore hook <agent>` does (its spec is commands/hook-agent.ts, which the fast router runs
 * without loading Clipanion and the command registry: start-up is nearly the whole cost of a hook).
 * Imports only node builtins and light modules at load; the agent's adapter, SQLite and the autostart
 * load when an event needs them. Never xstate, HTTP code, the inspector or write-file-atomic.
 *
 * As the Rust hook: it prints the agent's envelope (`{"continue":true}` for Claude Code) on stdout
 * whatever happens and always returns 0. What went wrong goes to `logs/hook.log` as JSON lines — never
 * the event's content, and nothing at all for a path on the privacy deny-list.
 */
import { closeSync, fstatSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isatty } from 'node:tty';
import { MAX_EVENT_BYTES, sha256Hex } from '../adapters/integrations/claude-code-hook.js';
import { type HomePaths, homePaths, resolveHome } from '../adapters/home/home.js';
import { openHomeAppend } from '../adapters/home/home-files.js';
import type { AgentHookAdapter } from '../observation/agents/agent.js';
import { AGENT_HOOKS, findAgent } from '../observation/agents/index.js';
import { serializeObservation } from '../observation/classify.js';
import { observe } from '../observation/edit-event.js';
import { readFdSync } from './fd-writer.js';

/** hook.log is rotated to hook.log.1 past this size, so a misbehaving agent cannot fill the disk. */
const HOOK_LOG_MAX_BYTES = 1024 * 1024;

export type StdinResult = { kind: 'text'; text: string } | { kind: 'none'; reason: string };

export interface HookIo {
  /** How to read the event; fd 0 without building process.stdin by default. */
  readonly readStdin?: () => Promise<StdinResult>;
  /** Where the envelope goes; fd 1 by default. */
  readonly stdout?: { write(text: string): unknown };
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs the hook of the agent named `name` (a canonical name or a Rust alias) on one event. Always 0. */
export async function runAgentHook(name: string, io: HookIo = {}): Promise<0> {
  const env = io.env ?? process.env;
  const row = findAgent(name) ?? (AGENT_HOOKS[0] as (typeof AGENT_HOOKS)[number]);
  const log = new HookLog(env, `hook ${row.names[0]}`);
  let adapter: AgentHookAdapter | undefined;
  try {
    adapter = await row.load();
    await handleEvent(adapter, await (io.readStdin ?? (() => readFd0(MAX_EVENT_BYTES)))(), env, log);
  } catch (error) {
    log.write('error', 'hook failed', { error: (error as Error).message ?? String(error) });
  }
  printEnvelope(adapter?.noopOutput ?? '{"continue":true}', io.stdout);
  return 0;
}

function printEnvelope(line: string, out: HookIo['stdout']): void {
  try {
    if (out) out.write(`${line}\n`);
    else writeSync(1, `${line}\n`);
  } catch {
    // stdout closed (the agent gave up on us): nothing to tell it, and the exit code stays 0
  }
}

async function handleEvent(
  adapter: AgentHookAdapter,
  input: StdinResult,
  env: NodeJS.ProcessEnv,
  log: HookLog,
): Promise<void> {
  if (input.kind !== 'text') {
    log.write('warn', 'no hook event read', { reason: input.reason });
    return;
  }
  const parsed = adapter.parse(input.text);
  if (parsed.kind === 'ignored') {
    // Events that are simply not edits are the common case and say nothing; malformed input is logged.
    if (parsed.malformed) {
      log.write('warn', 'hook input ignored', { reason: parsed.reason, bytes: Buffer.byteLength(input.text) });
    }
    return;
  }
  const payloads: string[] = [];
  const nowMs = Date.now();
  for (const event of parsed.events) {
    const result = observe(event, { sha256Hex, nowMs });
    if (result.kind === 'observation') payloads.push(serializeObservation(result.payload));
    // A denied path leaves no trace at all, not even that something was denied.
    else if (result.why !== 'denied') log.write('info', 'event ignored', { reason: result.why });
  }
  // Exactly `false`, as in Rust; enqueue checks it too, this only skips the work.
  if (payloads.length === 0 || env.DIFFLORE_CAPTURE === 'false') return;

  const { enqueue, loadContract } = await import('../adapters/outbox/enqueue.js');
  await loadContract('observation');
  let queued = false;
  for (const payload of payloads) {
    const result = enqueue('observation', payload, { env });
    if (result.kind === 'capture_disabled') continue;
    queued = true;
    if (result.kind === 'spilled') {
      log.write('warn', 'database unavailable; observation spilled', { path: result.path, reason: result.reason });
    }
  }
  const paths = log.paths;
  if (!queued || !paths) return;
  const { ensureDaemonRunning } = await import('../adapters/integrations/daemon-autostart.js');
  const started = await ensureDaemonRunning(paths, env);
  if (started.kind === 'spawned') log.write('info', 'daemon started', { pid: started.pid });
  else if (started.kind === 'failed') log.write('error', 'could not start the daemon', { reason: started.reason });
}

/**
 * Reads all of fd 0, up to `maxBytes`, with synchronous reads (building process.stdin costs
 * milliseconds). A non-blocking stdin (EAGAIN) continues on the stream. A terminal is not read:
 * agents always pipe the event, and a person running the hook by hand should not see it hang.
 */
export async function readFd0(maxBytes: number): Promise<StdinResult> {
  if (isatty(0)) return { kind: 'none', reason: 'stdin is a terminal; the agent pipes the event on stdin' };
  let read: ReturnType<typeof readFdSync>;
  try {
    read = readFdSync(0, maxBytes);
  } catch (error) {
    return { kind: 'none', reason: `cannot read stdin: ${(error as Error).message}` };
  }
  if (read.kind === 'tooLarge') return { kind: 'none', reason: `the event is larger than ${maxBytes} bytes` };
  if (read.kind === 'done') return decodeUtf8(read.data);
  const rest = await readStreamBytes(process.stdin, maxBytes - read.data.length);
  if (!Buffer.isBuffer(rest)) return rest;
  return decodeUtf8(Buffer.concat([read.data, rest]));
}

/**
 * Strict UTF-8, BOM kept: Rust's `read_to_string` fails on invalid UTF-8 (and the hook then does
 * nothing), where Buffer#toString would put U+FFFD in the payload and hash.
 */
function decodeUtf8(bytes: Buffer): StdinResult {
  try {
    return { kind: 'text', text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes) };
  } catch {
    return { kind: 'none', reason: 'stdin is not UTF-8' };
  }
}

/** Reads a stream to its end, up to `maxBytes`; a larger event is not read further. */
export async function readStream(stream: NodeJS.ReadableStream, maxBytes: number): Promise<StdinResult> {
  const bytes = await readStreamBytes(stream, maxBytes);
  return Buffer.isBuffer(bytes) ? decodeUtf8(bytes) : bytes;
}

async function readStreamBytes(stream: NodeJS.ReadableStream, maxBytes: number): Promise<Buffer | StdinResult> {
  if ((stream as NodeJS.ReadableStream & { isTTY?: boolean }).isTTY) {
    return { kind: 'none', reason: 'stdin is a terminal; the agent pipes the event on stdin' };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > maxBytes) return { kind: 'none', reason: `the event is larger than ${maxBytes} bytes` };
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * JSON lines in `<home>/logs/hook.log`. Its own file, not daemon.log: the daemon rotates and caps its
 * log on its own schedule, and hooks are many short-lived writers. If the home itself is unusable
 * (DIFFLORE_HOME empty, no permission) the line goes to stderr, which agents show to the user at most
 * and never parse.
 */
class HookLog {
  readonly paths: HomePaths | undefined;
  private readonly homeError: string | undefined;

  constructor(
    env: NodeJS.ProcessEnv,
    private readonly src: string,
  ) {
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
    const record = { ts: new Date().toISOString(), level, src: this.src, pid: process.pid, msg, ...fields };
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
