/**
 * `difflore hook <agent>`: the command an agent runs on every hook event. The fast router runs it
 * without Clipanion (start-up is nearly its whole cost); the work is in run-hook.ts. One path per
 * agent name and Rust alias, from the agent table.
 */
import { AGENT_HOOKS } from '../../observation/agents/index.js';
import { defineCommand } from '../command-spec.js';
import { loadEntry } from '../bundle-loader.js';

export default defineCommand({
  paths: AGENT_HOOKS.flatMap((row) => row.names.map((name) => ['hook', name])),
  usage: {
    category: 'Hooks',
    description: 'Record an agent edit as an observation (run by the agent, not by you)',
    details: `
      Reads one hook event (JSON) of the named agent on stdin — \`${AGENT_HOOKS.map((r) => r.names[0]).join('`, `')}\`
      (the Rust binary's aliases work too). An edit becomes an \`observation\` row in the outbox, built
      exactly as the Rust hook builds it (spilled to \`hook-spill/observations/\` when the database cannot
      be written); a file on the privacy deny-list (\`.env\`, \`*.pem\`, \`*.key\`, \`id_rsa\`,
      \`credentials\`, \`*.secrets*\`) produces nothing anywhere, and \`<private>\`, \`<secret>\` and
      \`<sensitive>\` regions are replaced before anything is stored. Every other event is ignored. Then,
      unless \`DIFFLORE_DISABLE_OUTBOX_DAEMON\` is set (and not \`0\` or \`false\`), it starts the daemon in
      the background if none runs.

      It always exits 0 and prints the agent's envelope (\`{"continue":true}\`), so it can never break the
      agent. Problems are appended to \`logs/hook.log\` in the data home. \`DIFFLORE_CAPTURE=false\` turns
      recording off.

      Install it with \`difflore hook install <agent>\`.
    `,
    examples: [
      [
        'Feed it an event by hand',
        `echo '{"hook_event_name":"PostToolUse","tool_name":"Write","tool_input":{"file_path":"/tmp/a.txt","content":"hi"}}' | $0 hook claude-code`,
      ],
    ],
  },
  options: {},
  parse: () => ({}),
  async run(_args, io, path) {
    const [{ MAX_EVENT_BYTES }, { readStream, runAgentHook }] = await Promise.all([
      import('../../adapters/integrations/claude-code-hook.js'),
      loadEntry('cli/run-hook', () => import('../run-hook.js')),
    ]);
    const stdin = io.stdin;
    return runAgentHook(path[1] ?? 'claude-code', {
      // Under Clipanion, its stdin stream; on the fast path, fd 0 read directly (run-hook.ts).
      ...(stdin === undefined ? {} : { readStdin: () => readStream(stdin, MAX_EVENT_BYTES) }),
      stdout: io.stdout,
      env: io.env,
    });
  },
});
