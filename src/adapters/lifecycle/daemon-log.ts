/**
 * The daemon's own log, `logs/daemon.log`: one JSON object per line, size-capped with a single
 * rotation to `daemon.log.1`. Owns: the line format, rotation, and redaction — no line ever carries
 * the cloud token (any string equal to or containing a current secret of scrubbable length, and
 * anything that looks like `Bearer …`, is replaced). The redaction helpers are shared with the
 * recorder and the inspector.
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, renameSync, type Stats, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { errnoCode } from '../../errors.js';
import { replaceSecrets, scrubbableSecrets } from '../../machines/secrets.js';
import type { LogLevel } from '../../machines/types.js';
import { checkHomeEntry, ensureHomeDir, openHomeFile } from '../home/home-files.js';

export type LogFields = Readonly<Record<string, unknown>>;

export interface DaemonLog {
  readonly path: string;
  log(level: LogLevel, message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** Lines that could not be written (disk full, file replaced by a link…). Logging never throws. */
  droppedLines(): number;
  close(): void;
}

export interface DaemonLogOptions {
  /** Rotate to `.1` before a line would take the file past this size. Default 1 MiB. */
  readonly maxBytes?: number;
  /** Current secrets (the cloud token); read on every line, so a changed token is scrubbed at once. */
  readonly secrets?: () => readonly (string | null | undefined)[];
  /** Lines below this level are not written. Default 'info'. */
  readonly minLevel?: LogLevel;
  readonly now?: () => number;
  readonly pid?: number;
}

export const DEFAULT_LOG_MAX_BYTES = 1024 * 1024;
const MAX_LINE_BYTES = 16 * 1024;
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const RESERVED = new Set(['ts', 'level', 'pid', 'msg']);

// ---------------------------------------------------------------------------------------------
// Redaction (shared with the recorder)

const REDACTED = '[redacted]';
const BEARER = /\bBearer\s+[^\s"',;]+/gi;
/** Keys whose string values are credentials whatever they contain. */
const SECRET_KEY = /token|authori[sz]ation|secret|passw(or)?d|cookie|api[-_]?key|credential/i;
/** Keys that carry row payloads or request bodies: dropped from events and logs, never needed there. */
const BODY_KEY = /^(payload|payloadjson|payload_json|body|rawbody|requestbody|headers)$/i;

/**
 * The secrets worth looking for, longest first so overlaps redact fully. Which ones that is (at
 * least 8 characters) is decided in src/machines/secrets.ts, for every scrubber at once.
 */
export function usableSecrets(secrets: readonly (string | null | undefined)[]): string[] {
  return scrubbableSecrets(secrets);
}

/**
 * `text` with every `Bearer …` credential and every occurrence of a secret replaced. Secrets too short
 * to scrub are skipped here as well, so a caller that passes them unfiltered cannot mangle the text.
 */
export function scrubText(text: string, secrets: readonly string[]): string {
  return replaceSecrets(text.replace(BEARER, `Bearer ${REDACTED}`), secrets, REDACTED);
}

export interface ScrubOptions {
  /** Drop payload/body keys (events, log fields). Snapshots keep them, to stay restorable. */
  readonly dropBodies: boolean;
  readonly maxStringChars: number;
  readonly maxDepth: number;
  readonly maxArrayItems: number;
}

const DEFAULT_SCRUB: ScrubOptions = { dropBodies: true, maxStringChars: 2000, maxDepth: 6, maxArrayItems: 100 };

/**
 * A JSON-safe copy of `value` with secrets redacted: strings scrubbed, string values under
 * credential-like keys replaced, Errors reduced to name/message/code, class instances named
 * rather than walked, and depth/length bounded.
 */
export function scrubValue(value: unknown, secrets: readonly string[], options: Partial<ScrubOptions> = {}): unknown {
  const opts = { ...DEFAULT_SCRUB, ...options };
  const seen = new WeakSet<object>();
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') {
      const s = scrubText(v, secrets);
      return s.length > opts.maxStringChars ? `${s.slice(0, opts.maxStringChars)}…` : s;
    }
    if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
    if (typeof v === 'boolean' || v === null) return v;
    if (typeof v === 'bigint') return v.toString();
    if (typeof v !== 'object') return undefined; // undefined, functions, symbols
    if (seen.has(v)) return '[circular]';
    if (depth >= opts.maxDepth) return '[…]';
    seen.add(v);
    try {
      if (v instanceof Error) {
        const out: Record<string, unknown> = { name: v.name, message: walk(v.message, depth + 1) };
        const code = errnoCode(v);
        if (code !== undefined) out.code = code;
        return out;
      }
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
      if (Array.isArray(v)) {
        const items = v.slice(0, opts.maxArrayItems).map((item) => {
          const w = walk(item, depth + 1);
          return w === undefined ? null : w;
        });
        if (v.length > opts.maxArrayItems) items.push(`[+${v.length - opts.maxArrayItems} more]`);
        return items;
      }
      const proto = Object.getPrototypeOf(v) as object | null;
      if (proto !== null && proto !== Object.prototype) {
        return `[${(v as { constructor?: { name?: string } }).constructor?.name ?? 'object'}]`;
      }
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(v)) {
        if (opts.dropBodies && BODY_KEY.test(key)) {
          out[key] = '[omitted]';
        } else if (SECRET_KEY.test(key) && typeof item === 'string') {
          out[key] = REDACTED;
        } else {
          const w = walk(item, depth + 1);
          if (w !== undefined) out[key] = w;
        }
      }
      return out;
    } finally {
      seen.delete(v);
    }
  };
  return walk(value, 0);
}

// ---------------------------------------------------------------------------------------------
// The log file

/** Opens the log for appending under the home-files rule (never a link, FIFO or someone else's file). */
function openAppend(path: string): number {
  // Never undefined with O_CREAT.
  return openHomeFile(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT) as number;
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.ino === b.ino && a.dev === b.dev;
}

/** One scrubbed JSON log line: `head`, the message, then the fields (reserved names prefixed). */
function logLine(
  head: { readonly ts: string; readonly level: LogLevel; readonly pid: number },
  message: string,
  fields: LogFields | undefined,
  known: readonly string[],
): string {
  const record: Record<string, unknown> = { ...head, msg: scrubValue(message, known, { maxStringChars: 4000 }) };
  if (fields) {
    const clean = scrubValue(fields, known) as Record<string, unknown>;
    for (const [key, value] of Object.entries(clean)) record[RESERVED.has(key) ? `field.${key}` : key] = value;
  }
  const line = JSON.stringify(record);
  if (Buffer.byteLength(line) <= MAX_LINE_BYTES) return line;
  // Keep the line, lose the bulk: a log line must stay small enough to grep and to read back.
  return JSON.stringify({ ...head, msg: String(record.msg).slice(0, 2000), truncated: true });
}

/**
 * Opens (creating 0600, its directory 0700) the log at `path`. Throws `unsafe_file` if the log or
 * its directory breaks the home-files rule (a link, a FIFO, not ours); after that, writing never throws.
 */
export function openDaemonLog(path: string, options: DaemonLogOptions = {}): DaemonLog {
  const maxBytes = Math.max(1024, options.maxBytes ?? DEFAULT_LOG_MAX_BYTES);
  const minLevel = LEVELS[options.minLevel ?? 'info'];
  const now = options.now ?? Date.now;
  const pid = options.pid ?? process.pid;
  const secrets = options.secrets ?? (() => []);
  const dir = dirname(path);
  if (checkHomeEntry(dir, 'directory') === 'missing') mkdirSync(dir, { recursive: true, mode: 0o700 });
  ensureHomeDir(dir);
  let fd: number | undefined = openAppend(path);
  let dropped = 0;
  let closed = false;

  /** The fd to append to: reopened if someone rotated or removed the file under us. */
  const currentFd = (): number => {
    if (fd !== undefined) {
      let onDisk: Stats | undefined;
      try {
        onDisk = lstatSync(path);
      } catch {
        onDisk = undefined;
      }
      if (onDisk && sameFile(onDisk, fstatSync(fd))) return fd;
      closeSync(fd);
      fd = undefined;
    }
    fd = openAppend(path);
    return fd;
  };

  const write = (line: string): void => {
    let target = currentFd();
    const size = fstatSync(target).size;
    if (size > 0 && size + Buffer.byteLength(line) > maxBytes) {
      checkHomeEntry(`${path}.1`);
      renameSync(path, `${path}.1`);
      closeSync(target);
      fd = undefined;
      target = currentFd();
    }
    writeSync(target, line);
  };

  const log = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (LEVELS[level] < minLevel || closed) return;
    try {
      const head = { ts: new Date(now()).toISOString(), level, pid };
      write(`${logLine(head, message, fields, usableSecrets(secrets()))}\n`);
    } catch {
      dropped += 1;
    }
  };

  return {
    path,
    log,
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
    droppedLines: () => dropped,
    close: () => {
      if (closed) return;
      closed = true;
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
