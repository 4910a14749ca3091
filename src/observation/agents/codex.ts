/**
 * Codex (`difflore hook codex`, alias `codex-cli`): `PostToolUse` of `apply_patch` carries the patch
 * text in `tool_input.command` (reference/rust-hook-agents.md §2). A one-file patch becomes the edit
 * event the Rust adapter makes, byte for byte: `Write` for an added file, `Edit` otherwise (`MultiEdit`
 * when one file has several headers), the raw trimmed patch as the diff, the `-`/`+` lines as the old
 * and new text.
 *
 * Declined Rust quirk: Rust makes ONE observation of a multi-file patch, for the first file, with the
 * whole patch as its diff — so a patch touching `src/a.ts` and `.env` ships the `.env` lines in the
 * excerpt of `src/a.ts`. We split the patch per file and observe each file as Rust would observe a
 * patch of that file alone (same hash as Rust's one-file patch), the deny-list applying per file.
 */

import type { EditEvent } from '../edit-event.js';
import { rustLines, rustTrim } from '../rust-text.js';
import {
  type AgentHookAdapter,
  editHookAdapter,
  CONTINUE,
  field,
  type HookEventShape,
  ignored,
  loneSurrogate,
  wellFormedJson,
} from './agent.js';
import { isJsonRecord } from '../../json-record.js';

const SHAPE: HookEventShape = {
  label: 'Codex',
  stringFields: ['hook_event_name', 'session_id', 'transcript_path', 'cwd', 'prompt', 'tool_name'],
  nameField: 'hook_event_name',
  editEvent: 'PostToolUse',
};
const HEADERS = ['*** Update File: ', '*** Add File: ', '*** Delete File: '] as const;
const END_PATCH = '*** End Patch';

export const codex: AgentHookAdapter = editHookAdapter({
  name: 'codex',
  shape: SHAPE,
  noopOutput: CONTINUE,
  read(event) {
    // A direct Edit/Write/MultiEdit carries no text in Codex (Rust: no observation); Bash is recall.
    if (field(event, 'tool_name') !== 'apply_patch') return ignored('the tool is not apply_patch');
    if (!wellFormedJson(event)) return loneSurrogate(SHAPE);
    const input = isJsonRecord(event.tool_input) ? event.tool_input : {};
    const patch = typeof input.command === 'string' ? input.command : '';
    const sessionId = field(event, 'session_id');
    const files = patchFiles(patch);
    if (files.length <= 1) return { kind: 'edits', events: [patchEvent(patch, sessionId)] };
    return { kind: 'edits', events: files.map((file) => patchEvent(filePatch(patch, file), sessionId)) };
  },
  install: {
    scope: 'user',
    configPath: ['.codex', 'hooks.json'],
    detectDirs: [['.codex']],
    detectCommand: 'codex',
    shape: 'group',
    // Codex reads `timeout` in seconds (Rust writes 5000); 10 s outlasts the 5 s database busy timeout.
    entries: (command) => ({
      PostToolUse: { matcher: 'apply_patch', hooks: [{ type: 'command', command, timeout: 10 }] },
    }),
    note: 'Codex runs a new hook only once you trust it (/hooks in codex).',
  },
});

function headerPath(line: string): string | null {
  for (const prefix of HEADERS) if (line.startsWith(prefix)) return rustTrim(line.slice(prefix.length));
  return null;
}

/** Rust's `patch_file_paths`: header paths, trimmed, non-empty, first occurrence order. */
function patchFiles(patch: string): string[] {
  const files: string[] = [];
  for (const line of rustLines(patch)) {
    const path = headerPath(line);
    if (path !== null && path !== '' && !files.includes(path)) files.push(path);
  }
  return files;
}

/** The edit event Rust's Codex adapter makes of a patch with at most one file. */
function patchEvent(patch: string, sessionId: string | null): EditEvent {
  const lines = rustLines(patch);
  const files = patchFiles(patch);
  const headers = lines.filter((line) => headerPath(line) !== null).length;
  const tool = headers > 1 ? 'MultiEdit' : lines.some((line) => line.startsWith('*** Add File: ')) ? 'Write' : 'Edit';
  let oldText: string | null = null;
  let newText: string | null = null;
  for (const line of lines) {
    if (line.startsWith('***') || line.startsWith('@@')) continue;
    if (line.startsWith('-')) oldText = oldText === null ? line.slice(1) : `${oldText}\n${line.slice(1)}`;
    else if (line.startsWith('+')) newText = newText === null ? line.slice(1) : `${newText}\n${line.slice(1)}`;
  }
  const diff = rustTrim(patch);
  return {
    toolName: tool,
    filePath: files[0] ?? null,
    targetFiles: files,
    diff: diff === '' ? null : diff,
    oldText: oldText === '' ? null : oldText,
    newText: newText === '' ? null : newText,
    sessionId,
  };
}

/** The patch Codex would have sent for `file` alone: its sections between Begin and End Patch. */
function filePatch(patch: string, file: string): string {
  const out = ['*** Begin Patch'];
  let inFile = false;
  for (const line of rustLines(patch)) {
    const path = headerPath(line);
    if (path !== null) inFile = path === file;
    else if (line.startsWith(END_PATCH)) inFile = false;
    if (inFile) out.push(line);
  }
  out.push(END_PATCH);
  return out.join('\n');
}
