/**
 * What `difflore enqueue` does, shared by the Clipanion command and by main.ts's fast path, which
 * runs it without loading Clipanion (~15–25 ms of a ~65 ms process). Owns reading the payload and
 * what the command prints. Imports only light modules; keep it that way.
 */
import { loadContract, MAX_PAYLOAD_BYTES, tryInsert, validateKind } from '../adapters/outbox/enqueue-core.js';
import type { EnqueueResult } from '../adapters/outbox/enqueue.js';
import { DiffloreError, describeError, exitCodeFor } from '../errors.js';
import { readFdSync } from './fd-writer.js';

export interface EnqueueArgs {
  readonly kind: string;
  /** The payload text, `-` or undefined for stdin. */
  readonly payload: string | undefined;
  readonly json: boolean;
}

export interface EnqueueIo {
  /** Where the payload comes from; absent means fd 0, read without building process.stdin. */
  readonly stdin?: NodeJS.ReadableStream;
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs the command; input problems throw DiffloreError('invalid_input'), everything else returns a code. */
export async function runEnqueue(args: EnqueueArgs, io: EnqueueIo): Promise<number> {
  validateKind(args.kind); // before waiting on stdin for a payload that could not be queued anyway
  await loadContract(args.kind);
  const raw = args.payload === undefined || args.payload === '-' ? await readStdin(io) : args.payload;
  // Surrounding whitespace (echo's newline) is not part of the JSON value; dropping it keeps the
  // stored text, and so the idempotency key, the same however the payload arrived.
  const payload = raw.trim();
  const attempt = tryInsert(args.kind, payload, io.env === undefined ? {} : { env: io.env });
  let result: EnqueueResult;
  if (attempt.kind === 'db_failed') {
    // Loaded only now: a healthy enqueue never pays for the spill module.
    const { spillRow } = await import('../adapters/outbox/spill.js');
    const path = spillRow(attempt.paths, args.kind, payload, attempt.reason, attempt.now);
    result = { kind: 'spilled', path, reason: attempt.reason };
  } else {
    result = attempt;
  }
  switch (result.kind) {
    case 'inserted':
      io.stdout.write(args.json ? `${JSON.stringify({ id: result.id })}\n` : `${result.id}\n`);
      return 0;
    case 'spilled':
      if (args.json) io.stdout.write(`${JSON.stringify({ spilled: result.path })}\n`);
      io.stderr.write(
        `difflore: could not write the outbox database (${firstLine(result.reason)});\n` +
          `  the row was saved to ${result.path} and will be queued when the database is writable again\n`,
      );
      return 0;
    case 'capture_disabled':
      if (args.json) io.stdout.write(`${JSON.stringify({ captureDisabled: true })}\n`);
      io.stderr.write('difflore: capture is disabled (DIFFLORE_CAPTURE=false); nothing was queued\n');
      return 0;
  }
}

/**
 * The fast path: handles `enqueue` argument lists whose meaning is unambiguous (one or two
 * positionals, `-` as a positional, at most one `--json`) exactly as the Clipanion command would,
 * and returns undefined for anything else (`--help`, `--`, unknown options, wrong arity, a payload
 * starting with `-`) so Clipanion parses it and prints its own help or error.
 */
export async function fastEnqueue(argsAfterEnqueue: readonly string[], io: EnqueueIo): Promise<number | undefined> {
  const positionals: string[] = [];
  let json = false;
  for (const arg of argsAfterEnqueue) {
    if (arg === '--json' && !json) json = true;
    else if (arg === '-' || !arg.startsWith('-')) positionals.push(arg);
    else return undefined;
  }
  if (positionals.length < 1 || positionals.length > 2) return undefined;
  try {
    return await runEnqueue({ kind: positionals[0] as string, payload: positionals[1], json }, io);
  } catch (error) {
    return reportError(error, io);
  }
}

/** Prints an error the way BaseCommand does and returns its exit code. */
export function reportError(error: unknown, io: EnqueueIo): number {
  io.stderr.write(`difflore: ${describeError(error)}\n`);
  return error instanceof DiffloreError ? exitCodeFor(error.code) : 1;
}

/**
 * Reads the whole of stdin, refusing more than the payload cap. Synchronous reads avoid building
 * process.stdin's stream machinery; a non-blocking stdin (EAGAIN) falls back to the stream.
 */
async function readStdin(io: EnqueueIo): Promise<string> {
  const fd0 = io.stdin === undefined || io.stdin === process.stdin;
  // node:tty is imported only here: it pulls in node:net, which the usual (argument) path never needs.
  if (fd0 && (await import('node:tty')).isatty(0))
    io.stderr.write('difflore: reading the payload from stdin (end with Ctrl-D)\n');
  const tooLarge = (): DiffloreError =>
    new DiffloreError('invalid_input', `the payload is too large: over ${MAX_PAYLOAD_BYTES} bytes, the limit is 1 MiB`);
  const chunks: Buffer[] = [];
  let total = 0;
  const add = (chunk: Buffer): void => {
    chunks.push(chunk);
    total += chunk.length;
    if (total > MAX_PAYLOAD_BYTES) throw tooLarge();
  };
  let useStream = !fd0;
  if (fd0) {
    let read: ReturnType<typeof readFdSync>;
    try {
      read = readFdSync(0, MAX_PAYLOAD_BYTES);
    } catch (error) {
      throw new DiffloreError('io', `cannot read the payload from stdin: ${(error as Error).message}`);
    }
    if (read.kind === 'tooLarge') throw tooLarge();
    add(read.data);
    useStream = read.kind === 'wouldBlock';
  }
  if (useStream) {
    for await (const chunk of io.stdin ?? process.stdin) {
      add(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    }
  }
  return decodeUtf8(Buffer.concat(chunks));
}

/**
 * The payload as text, refusing bytes that are not UTF-8: replacing them with U+FFFD would queue
 * something other than what the producer wrote, and nobody would ever know (exit 2 instead).
 */
function decodeUtf8(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new DiffloreError('invalid_input', 'the payload on stdin is not valid UTF-8; nothing was queued', {
      hint: 're-encode it (iconv -t UTF-8) or pass JSON with \\u escapes for binary content',
    });
  }
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
