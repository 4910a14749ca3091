/**
 * What `difflore enqueue` does (its spec is commands/enqueue.ts, which the fast router runs without
 * loading Clipanion: ~15–25 ms of a ~65 ms process). Owns reading the payload and what the command
 * prints. Imports only light modules; keep it that way.
 */
import { loadContract, MAX_PAYLOAD_BYTES, tryInsert, validateKind } from '../adapters/outbox/enqueue-core.js';
import type { EnqueueResult } from '../adapters/outbox/enqueue.js';
import { DiffloreError } from '../errors.js';
import type { CommandIo } from './command-spec.js';
import { readFdSync } from './fd-writer.js';

export interface EnqueueArgs {
  readonly kind: string;
  /** The payload text, `-` or undefined for stdin. */
  readonly payload: string | undefined;
  readonly json: boolean;
}

/** Runs the command; input problems throw DiffloreError('invalid_input'), everything else returns a code. */
export async function runEnqueue(args: EnqueueArgs, io: CommandIo): Promise<number> {
  validateKind(args.kind); // before waiting on stdin for a payload that could not be queued anyway
  await loadContract(args.kind);
  const raw = args.payload === undefined || args.payload === '-' ? await readStdin(io) : args.payload;
  // Surrounding whitespace (echo's newline) is not part of the JSON value; dropping it keeps the
  // stored text, and so the idempotency key, the same however the payload arrived.
  const payload = raw.trim();
  const attempt = tryInsert(args.kind, payload, { env: io.env });
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
 * Reads the whole of stdin, refusing more than the payload cap. Synchronous reads avoid building
 * process.stdin's stream machinery; a non-blocking stdin (EAGAIN) falls back to the stream.
 */
async function readStdin(io: CommandIo): Promise<string> {
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
