/**
 * The one shape every agent's edit event is turned into (Rust's canonical `HookEvent::PostToolUse`,
 * reference/rust-hook-agents.md §1.3), the diff-synthesis helpers the Rust adapters share (`synth.rs`,
 * §1.8), and `observe`, which picks the target file as the Rust dispatcher does and classifies.
 *
 * Pure: no node:* import, no I/O, no clock.
 */
import { type ClassifyResult, classify, type ObservationDeps } from './classify.js';
import { rustLines, rustTrim } from './rust-text.js';
import { isJsonRecord, type JsonRecord } from '../json-record.js';

export interface EditEvent {
  readonly toolName: string;
  readonly filePath: string | null;
  /** More candidates (multi-file patches); only the first file of the list is observed. */
  readonly targetFiles: readonly string[];
  readonly diff: string | null;
  readonly oldText: string | null;
  readonly newText: string | null;
  readonly sessionId: string | null;
}

/** Rust's `ordered_target_files` then `files[0]` then `classify` (dispatch.rs §2.1). */
export function observe(event: EditEvent, deps: ObservationDeps): ClassifyResult {
  const files: string[] = [];
  for (const candidate of [event.filePath, ...event.targetFiles]) {
    if (candidate === null) continue;
    const trimmed = rustTrim(candidate);
    if (trimmed !== '' && !files.includes(trimmed)) files.push(trimmed);
  }
  return classify(
    {
      tool: event.toolName,
      filePath: files[0] ?? null,
      diff: event.diff,
      newText: event.newText,
      oldText: event.oldText,
      sessionId: event.sessionId,
    },
    deps,
  );
}

export function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function prefixed(prefix: string, text: string): string {
  let out = '';
  for (const line of rustLines(text)) out += `${prefix}${line}\n`;
  return out;
}

/** `diff_old_new`: every old line as `-`, then every new line as `+`; no headers, no context. */
export function diffOldNew(oldText: string, newText: string): string {
  return prefixed('-', oldText) + prefixed('+', newText);
}

/** Every edit of an `edits[]` list that has both strings, as `diff_old_new`, joined; null when none has. */
export function editsDiff(edits: unknown): string | null {
  if (!Array.isArray(edits)) return null;
  let diff = '';
  for (const edit of edits) {
    if (isJsonRecord(edit) && typeof edit.old_string === 'string' && typeof edit.new_string === 'string') {
      diff += diffOldNew(edit.old_string, edit.new_string);
    }
  }
  return diff === '' ? null : diff;
}

/** `diff_content`: every line as `+`. */
export function diffContent(content: string): string {
  return prefixed('+', content);
}

/** `diff_shell`: `$ cmd` then the output as `+` lines; both trimmed; null when both are empty. */
export function diffShell(command: string | null, output: string | null): string | null {
  const cmd = command === null ? '' : rustTrim(command);
  const out = output === null ? '' : rustTrim(output);
  if (cmd === '' && out === '') return null;
  return (cmd === '' ? '' : `$ ${cmd}\n`) + prefixed('+', out);
}

/** `shell_output_text`: a string as is, else the first of output/stdout/stderr/content that is a string. */
export function shellOutputText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (!isJsonRecord(value)) return null;
  for (const key of ['output', 'stdout', 'stderr', 'content']) {
    if (typeof value[key] === 'string') return value[key] as string;
  }
  return null;
}

/**
 * `extract_edit_strings`: with an `edits` array, the old and the new strings joined with `\n\n`
 * (empty → null); otherwise `old_string`, and `new_string` — or `content` only when the
 * `new_string` key is absent.
 */
export function extractEditStrings(input: JsonRecord | null): { oldText: string | null; newText: string | null } {
  if (input === null) return { oldText: null, newText: null };
  if (Array.isArray(input.edits)) {
    let oldAcc = '';
    let newAcc = '';
    for (const edit of input.edits) {
      if (!isJsonRecord(edit)) continue;
      if (typeof edit.old_string === 'string') oldAcc += (oldAcc === '' ? '' : '\n\n') + edit.old_string;
      if (typeof edit.new_string === 'string') newAcc += (newAcc === '' ? '' : '\n\n') + edit.new_string;
    }
    return { oldText: oldAcc === '' ? null : oldAcc, newText: newAcc === '' ? null : newAcc };
  }
  const newValue = 'new_string' in input ? input.new_string : input.content;
  return { oldText: stringOrNull(input.old_string), newText: stringOrNull(newValue) };
}
