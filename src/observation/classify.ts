/**
 * The observation the Rust hook builds from one edit (reference/rust-hook.md §2–§5): the
 * classification rules in their order, the title, narrative and excerpt with Rust's limits and
 * counting, the scope, the content-hash input and the payload with Rust's key order and nulls.
 *
 * Pure: no node:* import, no I/O, no clock. SHA-256 and the time come in from the caller (`deps`), so
 * that this module can run anywhere and the hook adapter picks the hash implementation (node:crypto).
 */
import { isPrivacyDenied, stripPrivateTaggedRegions } from './privacy.js';
import { rustLines, stripWhitespace, truncateChars, utf8Length, utf8Prefix } from './rust-text.js';

export const TITLE_MAX_CHARS = 120;
export const NARRATIVE_MAX_CHARS = 500;
export const NARRATIVE_MAX_LINES = 6;
export const DIFF_EXCERPT_MAX_BYTES = 1024;
export const EXCERPT_TRUNCATION_MARKER = '\n…[truncated]';
/** Only these tools become observations (case-sensitive), as in Rust's classifier and dispatcher. */
export const OBSERVATION_TOOLS: readonly string[] = ['Edit', 'MultiEdit', 'Write'];

export type ObsType = 'bugfix' | 'feature' | 'refactor' | 'change';

/** Rust's `ClassifyInput` (minus `ts_ms`, which the caller passes as `nowMs`). */
export interface ClassifyInput {
  readonly tool: string;
  readonly filePath: string | null;
  readonly diff: string | null;
  readonly newText: string | null;
  readonly oldText: string | null;
  readonly sessionId: string | null;
}

export interface ObservationScope {
  readonly anchor_kind: 'file';
  readonly anchor_key: string;
  readonly parent_path?: string;
  readonly display_name?: string;
}

/** The payload, keys in Rust's struct order; `scope` is absent when Rust omits it. */
export interface ObservationPayload {
  readonly session_id: string;
  readonly ts_ms: number;
  readonly obs_type: ObsType;
  readonly tool: string;
  readonly file_path: string | null;
  readonly scope?: ObservationScope;
  readonly title: string;
  readonly narrative: string | null;
  readonly diff_excerpt: string | null;
  readonly content_hash: string;
}

export interface ObservationDeps {
  /** Lowercase hex SHA-256 of the UTF-8 bytes of `text`. */
  readonly sha256Hex: (text: string) => string;
  readonly nowMs: number;
}

/** Why no observation was built. `denied` must never be logged with the path. */
export type NoObservation = 'not_an_edit_tool' | 'no_file_path' | 'denied' | 'no_content';

export type ClassifyResult =
  | { kind: 'observation'; payload: ObservationPayload }
  | { kind: 'none'; why: NoObservation };

/** Rust's `classify`, early returns in Rust's order. */
export function classify(input: ClassifyInput, deps: ObservationDeps): ClassifyResult {
  if (!OBSERVATION_TOOLS.includes(input.tool)) return { kind: 'none', why: 'not_an_edit_tool' };
  if (input.filePath === null) return { kind: 'none', why: 'no_file_path' };
  if (isPrivacyDenied(input.filePath)) return { kind: 'none', why: 'denied' };
  if (input.diff === null && input.newText === null) return { kind: 'none', why: 'no_content' };

  const obsType = determineObsType(input);
  const title = buildTitle(input.tool, input.filePath, obsType);
  const stripped = input.diff === null ? null : stripPrivateTaggedRegions(input.diff);
  const narrative = stripped === null ? null : buildNarrative(stripped);
  const sessionId = input.sessionId ?? '';
  const scope = deriveScope(input.filePath);
  const payload: ObservationPayload = {
    session_id: sessionId,
    ts_ms: deps.nowMs,
    obs_type: obsType,
    tool: input.tool,
    file_path: input.filePath,
    ...(scope === undefined ? {} : { scope }),
    title,
    narrative,
    diff_excerpt: stripped === null ? null : buildExcerpt(stripped),
    content_hash: contentHash(hashInput(sessionId, input.filePath, title, narrative), deps.sha256Hex),
  };
  return { kind: 'observation', payload };
}

/** The compact JSON Rust's serde writes: struct key order, `null` for absent narrative/excerpt. */
export function serializeObservation(payload: ObservationPayload): string {
  // JSON.stringify keeps insertion order, writes null, drops undefined and escapes as serde_json does
  // for well-formed strings (the adapters refuse events with lone surrogates, as serde does).
  return JSON.stringify(payload);
}

/** `session_id|file_path|title|narrative`, a missing narrative as `""` (§4). */
export function hashInput(sessionId: string, filePath: string, title: string, narrative: string | null): string {
  return `${sessionId}|${filePath}|${title}|${narrative ?? ''}`;
}

/** The first 8 bytes of SHA-256 as 16 lowercase hex chars. */
export function contentHash(input: string, sha256Hex: (text: string) => string): string {
  return sha256Hex(input).slice(0, 16);
}

function determineObsType(input: ClassifyInput): ObsType {
  const { tool, oldText, newText, diff } = input;
  if (tool === 'Write' && oldText === null) return 'feature';
  if (oldText !== null && removesBugMarker(oldText, newText ?? '')) return 'bugfix';
  if (diff !== null && diffIsWhitespaceOnly(diff)) return 'refactor';
  if (diff !== null && diffHasChangeLines(diff)) return 'change';
  if (oldText !== null && newText !== null && oldText !== newText) {
    if (stripWhitespace(oldText) === stripWhitespace(newText)) return 'refactor';
  }
  return 'change';
}

const BUG_MARKERS = ['FIXME', 'BUG', 'TODO'] as const;

function removesBugMarker(oldText: string, newText: string): boolean {
  return BUG_MARKERS.some((marker) => countMarker(oldText, marker) > countMarker(newText, marker));
}

/** ASCII `[A-Za-z0-9_]`; any non-ASCII byte (and so any non-ASCII UTF-16 unit) is a boundary. */
function isWordUnit(code: number): boolean {
  return (
    (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || code === 0x5f
  );
}

/** Non-overlapping, word-bounded occurrences (Rust scans bytes; the marker is ASCII, so units match). */
function countMarker(text: string, marker: string): number {
  let count = 0;
  let from = 0;
  for (;;) {
    const at = text.indexOf(marker, from);
    if (at < 0) return count;
    const end = at + marker.length;
    const before = at === 0 || !isWordUnit(text.charCodeAt(at - 1));
    const after = end >= text.length || !isWordUnit(text.charCodeAt(end));
    if (before && after) {
      count++;
      from = end;
    } else {
      from = at + 1;
    }
  }
}

function isHeader(line: string): boolean {
  return line.startsWith('---') || line.startsWith('+++');
}

function diffIsWhitespaceOnly(diff: string): boolean {
  let removed = '';
  let added = '';
  let sawChange = false;
  for (const line of rustLines(diff)) {
    if (isHeader(line)) continue;
    if (line.startsWith('-')) {
      removed += `${line.slice(1)}\n`;
      sawChange = true;
    } else if (line.startsWith('+')) {
      added += `${line.slice(1)}\n`;
      sawChange = true;
    }
  }
  return sawChange && stripWhitespace(removed) === stripWhitespace(added);
}

function diffHasChangeLines(diff: string): boolean {
  return rustLines(diff).some((line) => !isHeader(line) && (line.startsWith('-') || line.startsWith('+')));
}

const TITLE_HINTS: Record<ObsType, string> = {
  feature: 'new file',
  bugfix: 'remove bug marker',
  refactor: 'whitespace/rename',
  change: 'edit',
};

function buildTitle(tool: string, filePath: string, obsType: ObsType): string {
  return truncateChars(`${tool} ${filePath}: ${TITLE_HINTS[obsType]}`, TITLE_MAX_CHARS);
}

/** The first six lines of the (stripped) diff; leading empty lines vanish; empty → null. */
function buildNarrative(stripped: string): string | null {
  let out = '';
  for (const line of rustLines(stripped).slice(0, NARRATIVE_MAX_LINES)) {
    if (out !== '') out += '\n';
    out += line;
  }
  return out === '' ? null : truncateChars(out, NARRATIVE_MAX_CHARS);
}

/** At most 1,024 UTF-8 bytes cut on a char boundary, plus the marker when cut. */
function buildExcerpt(stripped: string): string {
  // A UTF-16 unit is at most 3 UTF-8 bytes, so a short text needs no byte count.
  if (stripped.length * 3 <= DIFF_EXCERPT_MAX_BYTES || utf8Length(stripped) <= DIFF_EXCERPT_MAX_BYTES) return stripped;
  return utf8Prefix(stripped, DIFF_EXCERPT_MAX_BYTES) + EXCERPT_TRUNCATION_MARKER;
}

/** Rust's `derive_scope`: `/` trimmed from both ends, split on `/`, empty segments dropped. */
export function deriveScope(filePath: string): ObservationScope | undefined {
  const parts = filePath.split('/').filter((part) => part !== '');
  if (parts.length === 0) return undefined;
  const displayName = parts[parts.length - 1] as string;
  if (parts.length === 1) return { anchor_kind: 'file', anchor_key: parts.join('/'), display_name: displayName };
  return {
    anchor_kind: 'file',
    anchor_key: parts.join('/'),
    parent_path: parts.slice(0, -1).join('/'),
    display_name: displayName,
  };
}
