/**
 * Gemini CLI (`difflore hook gemini-cli`, aliases `gemini`, `gemini_cli`): `AfterTool` becomes one edit
 * event (reference/rust-hook-agents.md §4): file from `tool_input.file_path|path|file`, diff from flat
 * `old_string`/`new_string`, else `content`, else a `command`; texts as Rust's `extract_edit_strings`.
 *
 * Declined Rust quirk: Rust renames only `WriteFile`, but Gemini CLI's built-in tools are `write_file`
 * and `replace` (its documented tool names), which Rust passes through verbatim and so never records.
 * We map `write_file` → `Write` and `replace` → `Edit` as well; `WriteFile`, `Edit`, `Write` and
 * `MultiEdit` behave as in Rust.
 */
import { diffContent, diffOldNew, diffShell, extractEditStrings, stringOrNull } from '../edit-event.js';
import { OBSERVATION_TOOLS } from '../classify.js';
import {
  type AgentHookAdapter,
  editHookAdapter,
  field,
  type HookEventShape,
  ignored,
  loneSurrogate,
  oneEdit,
  wellFormedJson,
} from './agent.js';
import { isJsonRecord, type JsonRecord } from '../../json-record.js';

const SHAPE: HookEventShape = {
  label: 'Gemini CLI',
  stringFields: ['hook_event_name', 'session_id', 'cwd', 'transcript_path', 'tool_name', 'prompt', 'prompt_response'],
  nameField: 'hook_event_name',
  editEvent: 'AfterTool',
};
const TOOL_NAMES: Readonly<Record<string, string>> = { WriteFile: 'Write', write_file: 'Write', replace: 'Edit' };

export const geminiCli: AgentHookAdapter = editHookAdapter({
  name: 'gemini-cli',
  shape: SHAPE,
  noopOutput: '{"continue":true,"suppressOutput":false}',
  read(event) {
    if (!wellFormedJson(event)) return loneSurrogate(SHAPE);
    const raw = field(event, 'tool_name') ?? '';
    const tool = TOOL_NAMES[raw] ?? raw;
    // Shell and every other tool: Rust's dispatcher does nothing with them here (NonMutatingTool).
    if (!OBSERVATION_TOOLS.includes(tool)) return ignored('the tool does not edit files');
    const input = isJsonRecord(event.tool_input) ? event.tool_input : null;
    const filePath = stringOrNull(input?.file_path) ?? stringOrNull(input?.path) ?? stringOrNull(input?.file);
    const { oldText, newText } = extractEditStrings(input);
    return oneEdit({
      toolName: tool,
      filePath,
      diff: input === null ? null : toolDiff(input, event.tool_response),
      oldText,
      newText,
      sessionId: field(event, 'session_id'),
    });
  },
  install: {
    scope: 'user',
    configPath: ['.gemini', 'settings.json'],
    detectDirs: [['.gemini']],
    detectCommand: 'gemini',
    shape: 'group',
    // Gemini CLI reads `timeout` in milliseconds; 10 s outlasts the 5 s database busy timeout.
    entries: (command) => ({
      AfterTool: {
        matcher: 'write_file|replace',
        hooks: [{ name: 'difflore', type: 'command', command, timeout: 10000 }],
      },
    }),
  },
});

function toolDiff(input: JsonRecord, response: unknown): string | null {
  if (typeof input.old_string === 'string' && typeof input.new_string === 'string') {
    return diffOldNew(input.old_string, input.new_string);
  }
  if (typeof input.content === 'string') return diffContent(input.content);
  if (typeof input.command === 'string') {
    const output = isJsonRecord(response) && typeof response.output === 'string' ? stripAnsi(response.output) : null;
    return diffShell(input.command, output);
  }
  return null;
}

/**
 * Rust's `strip_ansi`: CSI (`ESC [` or U+009B) through a final 0x40–0x7E; OSC/DCS/PM/APC (`ESC ] P ^ _`)
 * through BEL or `ESC \`; any other ESC with the unit after it.
 */
export function stripAnsi(text: string): string {
  if (!text.includes('\u001b') && !text.includes('\u009b')) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '\u009b' || (c === '\u001b' && text[i + 1] === '[')) {
      i += c === '\u009b' ? 1 : 2;
      while (i < text.length && !(text.charCodeAt(i) >= 0x40 && text.charCodeAt(i) <= 0x7e)) i++;
      i++;
    } else if (c === '\u001b' && ']P^_'.includes(text[i + 1] ?? '\u0000')) {
      i += 2;
      while (i < text.length && text[i] !== '\u0007' && !(text[i] === '\u001b' && text[i + 1] === '\\')) i++;
      i += text[i] === '\u0007' ? 1 : 2;
    } else if (c === '\u001b') {
      i += 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
