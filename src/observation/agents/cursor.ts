/**
 * Cursor (`difflore hook cursor`, alias `cursor-agent`): `afterFileEdit` becomes one edit event
 * (reference/rust-hook-agents.md §3). Tool `tool_name`, or `Edit`; file: top-level `file_path`, then
 * `tool_input.file_path`, then `tool_input.path`; diff and texts from `tool_input` as Rust reads them.
 *
 * Declined Rust quirk: Cursor documents `afterFileEdit` with `file_path` and `edits` at the top level,
 * and Rust reads edits only from `tool_input`, so it records nothing for such an event. When
 * `tool_input` yields no text we read the top-level `edits` the same way. Kept from Rust: the session
 * id stays `""` (Rust does not map `conversation_id`), so a row both binaries make hashes alike.
 */
import { diffContent, diffOldNew, editsDiff, extractEditStrings, stringOrNull } from '../edit-event.js';
import { OBSERVATION_TOOLS } from '../classify.js';
import {
  type AgentHookAdapter,
  editHookAdapter,
  CONTINUE,
  field,
  type HookEventShape,
  ignored,
  loneSurrogate,
  oneEdit,
  wellFormedJson,
} from './agent.js';
import { isJsonRecord, type JsonRecord } from '../../json-record.js';

const SHAPE: HookEventShape = {
  label: 'Cursor',
  stringFields: [
    'hook_event_name',
    'conversation_id',
    'cwd',
    'tool_name',
    'command',
    'output',
    'prompt',
    'query',
    'input',
    'message',
    'file_path',
  ],
  stringListFields: ['workspace_roots'],
  nameField: 'hook_event_name',
  editEvent: 'afterFileEdit',
};

export const cursor: AgentHookAdapter = editHookAdapter({
  name: 'cursor',
  shape: SHAPE,
  noopOutput: CONTINUE,
  read(event) {
    const tool = field(event, 'tool_name') ?? 'Edit';
    if (!OBSERVATION_TOOLS.includes(tool)) return ignored('the tool does not edit files');
    if (!wellFormedJson(event)) return loneSurrogate(SHAPE);
    const input = isJsonRecord(event.tool_input) ? event.tool_input : null;
    const filePath = field(event, 'file_path') ?? stringOrNull(input?.file_path) ?? stringOrNull(input?.path);
    let diff = input === null ? null : editDiff(input);
    let texts = extractEditStrings(input);
    if (diff === null && texts.oldText === null && texts.newText === null && Array.isArray(event.edits)) {
      const topLevel = { edits: event.edits };
      diff = editDiff(topLevel);
      texts = extractEditStrings(topLevel);
    }
    return oneEdit({ toolName: tool, filePath, diff, oldText: texts.oldText, newText: texts.newText, sessionId: null });
  },
  install: {
    scope: 'project',
    configPath: ['.cursor', 'hooks.json'],
    detectDirs: [['.cursor']],
    defaults: { version: 1 },
    shape: 'flat',
    // Cursor reads `timeout` in seconds (Rust writes 5000); 10 s outlasts the 5 s database busy timeout.
    entries: (command) => ({ afterFileEdit: { command, timeout: 10 } }),
  },
});

/** Rust's Cursor `synthesise_edit_diff`: every edit with both strings, else flat old/new, else content. */
function editDiff(input: JsonRecord): string | null {
  const edits = editsDiff(input.edits);
  if (edits !== null) return edits;
  if (typeof input.old_string === 'string' && typeof input.new_string === 'string') {
    return diffOldNew(input.old_string, input.new_string);
  }
  if (typeof input.content === 'string') return diffContent(input.content);
  return null;
}
