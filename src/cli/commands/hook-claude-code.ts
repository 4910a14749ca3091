/**
 * `difflore hook claude-code`: the command Claude Code runs after every matching tool call. The work
 * lives in hook-fast.ts, which main.ts can also run without Clipanion; this class gives it help text
 * and a place in the CLI.
 */
import { Command } from 'clipanion';
import { MAX_EVENT_BYTES } from '../../adapters/claude-code-hook.js';
import { BaseCommand } from '../base-command.js';
import { readStream, runClaudeCodeHook } from '../hook-fast.js';

export default class HookClaudeCodeCommand extends BaseCommand {
  static override paths = [['hook', 'claude-code']];

  static override usage = Command.Usage({
    category: 'Hooks',
    description: 'Record a Claude Code edit (run by Claude Code, not by you)',
    details: `
      Reads one Claude Code hook event (JSON) on stdin. A \`PostToolUse\` event of \`Edit\`, \`MultiEdit\`,
      \`Write\` or \`NotebookEdit\` becomes an \`observation\` row in the outbox (spilled to
      \`hook-spill/observations/\` when the database cannot be written); every other event is ignored.
      Then, unless \`DIFFLORE_DISABLE_OUTBOX_DAEMON\` is set (and not \`0\` or \`false\`), it starts the
      daemon in the background if none runs.

      It always exits 0 and prints nothing, so it can never break the agent. Problems are appended to
      \`logs/hook.log\` in the data home. \`DIFFLORE_CAPTURE=false\` turns recording off.

      Install it with \`difflore hook install claude-code\`.
    `,
    examples: [
      [
        'Feed it an event by hand',
        `echo '{"hook_event_name":"PostToolUse","tool_name":"Write","tool_input":{"file_path":"/tmp/a.txt","content":"hi"}}' | $0 hook claude-code`,
      ],
    ],
  });

  protected async run(): Promise<number> {
    return runClaudeCodeHook({ readStdin: () => readStream(this.context.stdin, MAX_EVENT_BYTES), env: process.env });
  }
}
