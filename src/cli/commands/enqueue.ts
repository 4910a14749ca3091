/**
 * `difflore enqueue <kind> [payload]`: queue one row for the daemon. The fast router runs its plain
 * command lines without Clipanion (hooks call it, start-up is its cost); the work is in run-enqueue.ts.
 */
import { defineCommand, flag, positional } from '../command-spec.js';
import { loadEntry } from '../bundle-loader.js';

export default defineCommand({
  paths: [['enqueue']],
  usage: {
    category: 'Outbox',
    description: 'Queue one row for the daemon to deliver to the cloud',
    details: `
      Writes one row into the local outbox (\`data.db\` in the data home) and prints its id. The
      daemon sends it to the cloud. The payload is a JSON value, given as an argument or, when it is
      \`-\` or left out, read from stdin.

      The kind must start with a lowercase letter and contain only \`a-z\`, \`0-9\` and \`_\`; the payload
      must be valid JSON of at most 1 MiB and, for a kind the Rust binary queues (\`observation\`,
      \`mcp_query\`, \`accepted_edit\`, …), a payload the Rust binary could send (its payload contract:
      see the README). Otherwise the command exits with code 2 and writes nothing. A kind this version
      does not know is queued as it is and waits for a newer difflore.

      When the database cannot be written (locked, read-only, corrupt), the row is saved as a spill
      file instead, the command says where on stderr, and exits 0; the daemon queues it later.

      With \`DIFFLORE_CAPTURE=false\` nothing is queued; the command says so and exits 0.

      \`--json\` prints \`{"id":N}\`, or \`{"spilled":"<path>"}\`, or \`{"captureDisabled":true}\`.
    `,
    examples: [
      [
        'Queue an observation',
        `$0 enqueue observation '{"session_id":"s1","ts_ms":1760000000000,"obs_type":"change","tool":"Edit","file_path":"src/a.ts","title":"Edited src/a.ts","content_hash":"0123456789abcdef"}'`,
      ],
      ['Read the payload from stdin', `jq -c . event.json | $0 enqueue trajectory -`],
      ['Print the result as JSON', `$0 enqueue review_metrics '{"review_id":"r1","req":{"inputTokens":1200}}' --json`],
    ],
  },
  options: {
    kind: positional('kind', true),
    payload: positional('payload', false),
    json: flag('--json', 'Print the result as one JSON object'),
  },
  parse: (raw) => raw,
  async run(args, io) {
    const { runEnqueue } = await loadEntry('cli/run-enqueue', () => import('../run-enqueue.js'));
    return runEnqueue(args, io);
  },
});
