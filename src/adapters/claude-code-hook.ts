/**
 * Turning one Claude Code hook event (the JSON Claude Code writes on a hook's stdin) into the
 * `observation` payload the cloud expects (reference/difflore-behaviour.md §2.9, snake_case
 * `{session_id, ts_ms, obs_type, tool, file_path, title, narrative, diff_excerpt, content_hash}`).
 * Owns: parsing, deciding which events are observations, the capped diff excerpt and the content hash.
 * Pure apart from hashing: no files, no clock (the caller passes `nowMs`), so the hook path stays light
 * and every case is unit-testable.
 */
import { createHash } from 'node:crypto';
import { isAbsolute, relative, sep } from 'node:path';

/** The tools whose PostToolUse events change files; everything else is ignored. */
export const OBSERVED_TOOLS = ['Edit', 'MultiEdit', 'Write', 'NotebookEdit'] as const;
export type ObservedTool = (typeof OBSERVED_TOOLS)[number];

/** The matcher `hook install` writes; it must name exactly OBSERVED_TOOLS. */
export const OBSERVED_TOOLS_MATCHER = OBSERVED_TOOLS.join('|');

/** Cap of `diff_excerpt` in UTF-8 bytes: enough to show an edit, small enough for 64-row batches. */
export const DIFF_EXCERPT_MAX_BYTES = 4096;
/** Cap of `title` in characters. */
export const TITLE_MAX_CHARS = 200;
/** A hook event larger than this is not read (the Rust shim uses the same 16 MiB bound). */
export const MAX_EVENT_BYTES = 16 * 1024 * 1024;

export interface Observation {
  readonly session_id: string;
  readonly ts_ms: number;
  readonly obs_type: 'edit' | 'write' | 'notebook_edit';
  readonly tool: ObservedTool;
  readonly file_path: string;
  readonly title: string;
  readonly narrative: string;
  readonly diff_excerpt: string;
  readonly content_hash: string;
}

/** The fields of a hook event we read; the rest of the event is ignored. */
export interface HookEvent {
  readonly hookEventName: string;
  readonly sessionId: string | undefined;
  readonly cwd: string | undefined;
  readonly toolName: string | undefined;
  readonly toolInput: Record<string, unknown> | undefined;
  readonly toolResponse: unknown;
}

export type ParseResult = { kind: 'event'; event: HookEvent } | { kind: 'invalid'; reason: string };

export type BuildResult = { kind: 'observation'; observation: Observation } | { kind: 'ignored'; reason: string };

/** Parses the text Claude Code wrote on stdin. Never throws. */
export function parseHookEvent(text: string): ParseResult {
  if (text.trim() === '') return { kind: 'invalid', reason: 'empty stdin: no hook event' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { kind: 'invalid', reason: `stdin is not JSON (truncated?): ${(error as Error).message}` };
  }
  if (!isRecord(value)) return { kind: 'invalid', reason: 'the hook event is not a JSON object' };
  const hookEventName = value.hook_event_name;
  if (typeof hookEventName !== 'string' || hookEventName === '') {
    return { kind: 'invalid', reason: 'the hook event has no hook_event_name' };
  }
  return {
    kind: 'event',
    event: {
      hookEventName,
      sessionId: stringOrUndefined(value.session_id),
      cwd: stringOrUndefined(value.cwd),
      toolName: stringOrUndefined(value.tool_name),
      toolInput: isRecord(value.tool_input) ? value.tool_input : undefined,
      toolResponse: value.tool_response,
    },
  };
}

/** Cheap test the hook runs before anything else, so ignored events cost almost nothing. */
export function isObservedTool(name: string | undefined): name is ObservedTool {
  return (OBSERVED_TOOLS as readonly (string | undefined)[]).includes(name);
}

/** Decides whether `event` is an observation and builds it. */
export function buildObservation(event: HookEvent, nowMs: number): BuildResult {
  if (event.hookEventName !== 'PostToolUse') {
    return { kind: 'ignored', reason: `event ${event.hookEventName} is not observed` };
  }
  const tool = event.toolName;
  if (!isObservedTool(tool)) return { kind: 'ignored', reason: `tool ${tool ?? '(none)'} is not observed` };
  const input = event.toolInput;
  if (!input) return { kind: 'ignored', reason: `${tool} event has no tool_input` };
  if (reportsFailure(event.toolResponse)) return { kind: 'ignored', reason: `${tool} reported a failure` };
  const rawPath = tool === 'NotebookEdit' ? input.notebook_path : input.file_path;
  if (typeof rawPath !== 'string' || rawPath === '') {
    return { kind: 'ignored', reason: `${tool} event has no file path` };
  }
  const filePath = displayPath(rawPath, event.cwd);
  const change = describeChange(tool, input, event.toolResponse, filePath);
  const sessionId = event.sessionId && event.sessionId !== '' ? event.sessionId : 'unknown';
  const obsType = tool === 'Write' ? 'write' : tool === 'NotebookEdit' ? 'notebook_edit' : 'edit';
  const title = capChars(change.title, TITLE_MAX_CHARS);
  // The hash covers the whole change, not the capped excerpt: two large edits that share their first
  // 4 KiB must not collapse into one when the cloud deduplicates on content_hash.
  const contentHash = sha256Hex(
    JSON.stringify(['difflore.observation.v1', sessionId, obsType, tool, filePath, change.fullDiff]),
  );
  return {
    kind: 'observation',
    observation: {
      session_id: sessionId,
      ts_ms: nowMs,
      obs_type: obsType,
      tool,
      file_path: filePath,
      title,
      narrative: change.narrative,
      diff_excerpt: capDiff(change.fullDiff, DIFF_EXCERPT_MAX_BYTES),
      content_hash: contentHash,
    },
  };
}

interface Change {
  readonly title: string;
  readonly narrative: string;
  readonly fullDiff: string;
}

function describeChange(tool: ObservedTool, input: Record<string, unknown>, response: unknown, path: string): Change {
  const header = `--- a/${path}\n+++ b/${path}\n`;
  switch (tool) {
    case 'Edit': {
      const hunk = replacementHunk(asText(input.old_string), asText(input.new_string));
      const all = input.replace_all === true ? ' (all occurrences)' : '';
      return {
        title: `Edit ${path}`,
        narrative: `Claude Code edited ${path}${all}: ${countPhrase(hunk)}.`,
        fullDiff: header + hunk.text,
      };
    }
    case 'MultiEdit': {
      const edits = Array.isArray(input.edits) ? input.edits.filter(isRecord) : [];
      const hunks = edits.map((e) => replacementHunk(asText(e.old_string), asText(e.new_string)));
      const total = hunks.reduce((acc, h) => ({ added: acc.added + h.added, removed: acc.removed + h.removed }), {
        added: 0,
        removed: 0,
      });
      const n = edits.length;
      return {
        title: `MultiEdit ${path} (${n} edit${n === 1 ? '' : 's'})`,
        narrative: `Claude Code made ${n} edit${n === 1 ? '' : 's'} to ${path}: ${countPhrase(total)}.`,
        fullDiff: header + hunks.map((h) => h.text).join(''),
      };
    }
    case 'Write': {
      const content = asText(input.content);
      const lines = splitLines(content);
      // Claude Code's tool_response says whether the file was created or overwritten; older
      // versions do not, and then we do not guess.
      const kind = isRecord(response) ? response.type : undefined;
      const verb = kind === 'create' ? 'created' : kind === 'update' ? 'overwrote' : 'wrote';
      return {
        title: `Write ${path}`,
        narrative: `Claude Code ${verb} ${path} (${lines.length} line${lines.length === 1 ? '' : 's'}).`,
        fullDiff: `${header}@@ -0,0 +1,${lines.length} @@\n${prefixLines('+', lines)}`,
      };
    }
    case 'NotebookEdit': {
      const mode = typeof input.edit_mode === 'string' ? input.edit_mode : 'replace';
      const cell =
        typeof input.cell_id === 'string'
          ? input.cell_id
          : typeof input.cell_number === 'number'
            ? String(input.cell_number)
            : '?';
      const cellType = typeof input.cell_type === 'string' ? input.cell_type : 'cell';
      const lines = mode === 'delete' ? [] : splitLines(asText(input.new_source));
      const verb = mode === 'insert' ? 'inserted' : mode === 'delete' ? 'deleted' : 'replaced';
      return {
        title: `NotebookEdit ${path} (${mode} cell ${cell})`,
        narrative: `Claude Code ${verb} ${cellType} cell ${cell} in ${path}${mode === 'delete' ? '' : ` (${lines.length} line${lines.length === 1 ? '' : 's'})`}.`,
        fullDiff: `${header}@@ cell ${cell} (${cellType}, ${mode}) @@\n${prefixLines('+', lines)}`,
      };
    }
  }
}

interface Hunk {
  readonly text: string;
  readonly added: number;
  readonly removed: number;
}

/** Lines of context kept around a replacement, as in `diff -U1`. */
const CONTEXT_LINES = 1;

/**
 * A unified-style hunk for replacing `oldText` by `newText`. Lines the two share at the start and the
 * end are trimmed down to a line of context, so a one-word change in a 200-line `old_string` shows as
 * the line that changed rather than 400 lines of noise.
 */
function replacementHunk(oldText: string, newText: string): Hunk {
  const a = splitLines(oldText);
  const b = splitLines(newText);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) {
    tail++;
  }
  const before = a.slice(Math.max(0, head - CONTEXT_LINES), head);
  const after = a.slice(a.length - tail, Math.min(a.length, a.length - tail + CONTEXT_LINES));
  const removed = a.slice(head, a.length - tail);
  const added = b.slice(head, b.length - tail);
  const text =
    `@@ -${removed.length} +${added.length} @@\n` +
    prefixLines(' ', before) +
    prefixLines('-', removed) +
    prefixLines('+', added) +
    prefixLines(' ', after);
  return { text, added: added.length, removed: removed.length };
}

function countPhrase(counts: { added: number; removed: number }): string {
  if (counts.added === 0 && counts.removed === 0) return 'no line changed';
  return `+${counts.added} -${counts.removed} lines`;
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

function prefixLines(prefix: string, lines: readonly string[]): string {
  let out = '';
  for (const line of lines) out += `${prefix}${line}\n`;
  return out;
}

/**
 * Cuts `diff` to at most `maxBytes` UTF-8 bytes, at a line end when one is near, and says how much
 * was cut, so a reader of the excerpt knows it is partial.
 */
export function capDiff(diff: string, maxBytes: number): string {
  const total = Buffer.byteLength(diff, 'utf8');
  if (total <= maxBytes) return diff;
  const marker = (cut: number) => `… (${cut} more bytes)\n`;
  // One byte more for the newline that may close a cut line.
  const budget = maxBytes - Buffer.byteLength(marker(total), 'utf8') - 1;
  let text = capBytes(diff, Math.max(0, budget));
  const lastNewline = text.lastIndexOf('\n');
  if (lastNewline >= text.length / 2) text = text.slice(0, lastNewline + 1);
  else text += '\n';
  return text + marker(total - Buffer.byteLength(text, 'utf8'));
}

/** The longest prefix of `text` whose UTF-8 encoding fits in `maxBytes`, never splitting a character. */
function capBytes(text: string, maxBytes: number): string {
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += ch.length;
  }
  return text.slice(0, end);
}

function capChars(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/**
 * The path as the cloud sees it: relative to the session's cwd when inside it, with `/` separators.
 * A relative path keeps usernames and checkout locations out of the payload and lets the same edit
 * in two clones of a repository hash alike.
 */
function displayPath(filePath: string, cwd: string | undefined): string {
  if (cwd && isAbsolute(filePath) && isAbsolute(cwd)) {
    const rel = relative(cwd, filePath);
    if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)) return rel.split(sep).join('/');
  }
  return filePath.split(sep).join('/');
}

/** Claude Code does not run PostToolUse for a failed tool, but a response that says so is skipped anyway. */
function reportsFailure(response: unknown): boolean {
  if (!isRecord(response)) return false;
  return response.success === false || response.is_error === true;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function asText(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
