/**
 * Claude Code (`difflore hook claude-code`): a `PostToolUse` event of `Edit`, `Write` or `MultiEdit`
 * becomes one edit event, exactly as the Rust Claude Code adapter reads it (reference/rust-hook.md §1,
 * §2.5). Bash (Rust's error recall) and every other tool and event produce nothing.
 */
import { diffContent, diffOldNew, diffShell, extractEditStrings, shellOutputText } from '../edit-event.js';
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
import { isJsonRecord } from '../../json-record.js';

const SHAPE: HookEventShape = {
  label: 'Claude Code',
  stringFields: ['hook_event_name', 'session_id', 'cwd', 'tool_name', 'transcript_path', 'prompt'],
  nameField: 'hook_event_name',
  editEvent: 'PostToolUse',
};

export const claudeCode: AgentHookAdapter = editHookAdapter({
  name: 'claude-code',
  shape: SHAPE,
  noopOutput: CONTINUE,
  read(event) {
    const tool = field(event, 'tool_name') ?? '';
    if (!OBSERVATION_TOOLS.includes(tool)) return ignored('the tool does not edit files');
    if (!wellFormedJson(event)) return loneSurrogate(SHAPE);
    const input = isJsonRecord(event.tool_input) ? event.tool_input : null;
    const present = event.tool_input !== undefined && event.tool_input !== null;
    const filePath = input !== null && typeof input.file_path === 'string' ? input.file_path : null;
    const { oldText, newText } = extractEditStrings(input);
    return oneEdit({
      toolName: tool,
      filePath,
      diff: present ? synthesiseDiff(input ?? {}, event.tool_response) : null,
      oldText,
      newText,
      sessionId: field(event, 'session_id'),
    });
  },
});

/** Rust's Claude `synthesise_diff`: a `command` string wins, then old/new strings, then `content`. */
function synthesiseDiff(input: { readonly [key: string]: unknown }, response: unknown): string | null {
  if (typeof input.command === 'string') return diffShell(input.command, shellOutputText(response));
  if (typeof input.old_string === 'string' && typeof input.new_string === 'string') {
    return diffOldNew(input.old_string, input.new_string);
  }
  if (typeof input.content === 'string') return diffContent(input.content);
  return null;
}
