/**
 * What one coding agent's hook adapter provides: how its stdin becomes edit events, and what it
 * prints back. Adding an agent is one file implementing this and one row in ./index.ts.
 *
 * Pure: no node:* import, no I/O.
 */
import type { EditEvent } from '../edit-event.js';
import { isWellFormed, rustTrim } from '../rust-text.js';
import type { JsonRecord } from '../../json-record.js';

/** Why an event produced nothing. Reasons never quote the event: it may name a secret file. */
export type ParsedHook =
  | { readonly kind: 'edits'; readonly events: readonly EditEvent[] }
  | { readonly kind: 'ignored'; readonly reason: string; readonly malformed: boolean };

export interface AgentHookAdapter {
  /** Canonical wire name, as Rust's `ClientId` prints it (`claude-code`, `codex`, …). */
  readonly name: string;
  /** For messages: `Claude Code`, `Codex`, … */
  readonly label: string;
  /** Turns stdin into the edit events to observe, or says why there are none. */
  parse(text: string): ParsedHook;
  /** The line printed on stdout whatever happened (Rust's `format_output(noop)`). */
  readonly noopOutput: string;
  /** How `hook install` writes it; absent for Claude Code, whose settings have their own installer. */
  readonly install?: AgentInstallSpec;
}

export const CONTINUE = '{"continue":true}';

export function ignored(reason: string): ParsedHook {
  return { kind: 'ignored', reason, malformed: false };
}

export function malformed(reason: string): ParsedHook {
  return { kind: 'ignored', reason, malformed: true };
}

/** What an adapter's stdin must look like before it is read as an edit. */
export interface HookEventShape {
  /** For messages: `Claude Code`, `Codex`, … */
  readonly label: string;
  /** Fields Rust types as strings (or null/absent): another type fails the whole event. */
  readonly stringFields: readonly string[];
  /** Fields Rust types as lists of strings (or null/absent). */
  readonly stringListFields?: readonly string[];
  /** The string field naming the event… */
  readonly nameField: string;
  /** …and the one event name that is an edit. */
  readonly editEvent: string;
}

type Envelope = { ok: true; value: JsonRecord } | { ok: false; result: ParsedHook };

/**
 * The shared first step of every Rust adapter (`parse_stdin_default`): trim with Rust's `str::trim`,
 * parse, require an object, and require that the typed fields have their type (or are null/absent),
 * since a typed serde field of another type fails the whole event. Then the event name: none is
 * malformed, another than the edit event is ignored.
 */
export function parseEnvelope(text: string, shape: HookEventShape): Envelope {
  const { label } = shape;
  const trimmed = rustTrim(text);
  if (trimmed === '') return { ok: false, result: malformed(`empty stdin: no ${label} hook event`) };
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    // JSON.parse quotes the text in its message; the text may name a secret file, so it is not repeated.
    return { ok: false, result: malformed(`stdin is not a JSON ${label} hook event (${trimmed.length} chars)`) };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, result: malformed(`the ${label} hook event is not a JSON object`) };
  }
  const object = value as JsonRecord;
  const mistyped = mistypedField(object, shape);
  if (mistyped !== null) return { ok: false, result: malformed(`the ${label} hook event's ${mistyped}`) };
  const name = field(object, shape.nameField);
  if (name === null) return { ok: false, result: malformed(`the ${label} hook event has no ${shape.nameField}`) };
  if (name !== shape.editEvent) return { ok: false, result: ignored(`${name} is not an edit`) };
  return { ok: true, value: object };
}

/** The first typed field that is not of its type, as `<field> is not …`; null when all are. */
function mistypedField(object: JsonRecord, shape: HookEventShape): string | null {
  for (const key of shape.stringFields) {
    const v = object[key];
    if (v !== undefined && v !== null && typeof v !== 'string') return `${key} is not a string`;
  }
  for (const key of shape.stringListFields ?? []) {
    const v = object[key];
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.every((item) => typeof item === 'string'))) {
      return `${key} is not a list of strings`;
    }
  }
  return null;
}

/** An agent's adapter as its file writes it: `read` sees only an event parseEnvelope let through. */
export interface EditHookSpec {
  readonly name: string;
  readonly shape: HookEventShape;
  readonly noopOutput: string;
  readonly read: (event: JsonRecord) => ParsedHook;
  readonly install?: AgentInstallSpec;
}

export function editHookAdapter(spec: EditHookSpec): AgentHookAdapter {
  const { read, shape, ...adapter } = spec;
  return {
    ...adapter,
    label: shape.label,
    parse(text) {
      const envelope = parseEnvelope(text, shape);
      return envelope.ok ? read(envelope.value) : envelope.result;
    },
  };
}

/** Serde rejects a lone surrogate escape anywhere in the event (JSON.parse does not): the event fails. */
export function loneSurrogate(shape: HookEventShape): ParsedHook {
  return malformed(`the ${shape.label} hook event holds a lone surrogate escape`);
}

/** One edit event of one file (only Codex's patches name several). */
export function oneEdit(edit: Omit<EditEvent, 'targetFiles'>): ParsedHook {
  return { kind: 'edits', events: [{ ...edit, targetFiles: [] }] };
}

/** Every string (keys included) in a parsed JSON value is well-formed UTF-16. */
export function wellFormedJson(value: unknown): boolean {
  if (typeof value === 'string') return isWellFormed(value);
  if (Array.isArray(value)) return value.every(wellFormedJson);
  if (typeof value === 'object' && value !== null) {
    for (const [key, v] of Object.entries(value)) if (!isWellFormed(key) || !wellFormedJson(v)) return false;
  }
  return true;
}

/** A string field that parseEnvelope has checked: the string, or null. */
export function field(object: JsonRecord, key: string): string | null {
  const v = object[key];
  return typeof v === 'string' ? v : null;
}

/**
 * Where and how `difflore hook install <agent>` writes the agent's hook config (a JSON file with a
 * `hooks` object of event → array). Claude Code has its own installer (settings-merge.ts).
 */
export interface AgentInstallSpec {
  /** `user`: relative to $HOME; `project`: relative to the project directory. */
  readonly scope: 'user' | 'project';
  readonly configPath: readonly string[];
  /** The agent counts as installed when one of these directories exists (same base as configPath)… */
  readonly detectDirs: readonly (readonly string[])[];
  /** …or when this program is on PATH (then the config's directory is created). */
  readonly detectCommand?: string;
  /** Top-level keys set when absent (Cursor's `version`). */
  readonly defaults?: JsonRecord;
  /** `group`: `{matcher?, hooks: [{command, …}]}` elements (Claude Code's shape); `flat`: `{command, …}`. */
  readonly shape: 'group' | 'flat';
  /** The events our entry goes under, each with the element to add. */
  readonly entries: (command: string) => Readonly<Record<string, JsonRecord>>;
  /** For messages: how the agent reads `timeout`, when it has one. */
  readonly note?: string;
}
