/**
 * Windsurf (`difflore hook windsurf`): `post_write_code` becomes one `Write` edit event
 * (reference/rust-hook-agents.md §5): file `tool_info.file_path`; texts from `tool_info` as Rust's
 * `extract_edit_strings`, falling back to `old_code`/`new_code`; diff from `edits[]`, else `content`
 * (flat `old_string`/`new_string` give texts but no diff, as in Rust — Windsurf documents `edits[]`);
 * session `trajectory_id`, else `execution_id`.
 */
import { diffContent, editsDiff, extractEditStrings, stringOrNull } from '../edit-event.js';
import { rustTrim } from '../rust-text.js';
import {
  type AgentHookAdapter,
  editHookAdapter,
  CONTINUE,
  field,
  type HookEventShape,
  loneSurrogate,
  oneEdit,
  wellFormedJson,
} from './agent.js';
import { isJsonRecord, type JsonRecord } from '../../json-record.js';

const SHAPE: HookEventShape = {
  label: 'Windsurf',
  stringFields: ['agent_action_name', 'trajectory_id', 'execution_id'],
  nameField: 'agent_action_name',
  editEvent: 'post_write_code',
};

export const windsurf: AgentHookAdapter = editHookAdapter({
  name: 'windsurf',
  shape: SHAPE,
  noopOutput: CONTINUE,
  read(event) {
    if (!wellFormedJson(event)) return loneSurrogate(SHAPE);
    const info = isJsonRecord(event.tool_info) ? event.tool_info : null;
    let { oldText, newText } = extractEditStrings(info);
    if (oldText === null && newText === null && info !== null) {
      oldText = stringOrNull(info.old_code);
      newText = stringOrNull(info.new_code) ?? stringOrNull(info.content);
    }
    return oneEdit({
      toolName: 'Write',
      filePath: stringOrNull(info?.file_path),
      diff: info === null ? null : writeDiff(info),
      oldText,
      newText,
      sessionId: sessionOf(event),
    });
  },
  install: {
    scope: 'user',
    configPath: ['.codeium', 'windsurf', 'hooks.json'],
    detectDirs: [['.codeium', 'windsurf'], ['.codeium']],
    shape: 'flat',
    // Windsurf hooks have no timeout field.
    entries: (command) => ({ post_write_code: { command, show_output: false } }),
  },
});

function sessionOf(event: JsonRecord): string | null {
  for (const key of ['trajectory_id', 'execution_id']) {
    const id = field(event, key);
    if (id !== null && rustTrim(id) !== '') return id;
  }
  return null;
}

/** Rust's `synthesise_write_diff`: `-`/`+` lines of every edit with both strings, else `content`. */
function writeDiff(info: JsonRecord): string | null {
  const edits = editsDiff(info.edits);
  if (edits !== null) return edits;
  return typeof info.content === 'string' ? diffContent(info.content) : null;
}
