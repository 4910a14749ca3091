/**
 * `difflore enqueue <kind> [payload]`: queue one row for the daemon. The work is in enqueue-fast.ts,
 * which main.ts also runs without Clipanion; this class gives it its help, and parses the argument
 * lists the fast path leaves to Clipanion.
 */
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { runEnqueue } from '../enqueue-fast.js';

export default class EnqueueCommand extends BaseCommand {
  static override paths = [['enqueue']];

  static override usage = Command.Usage({
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
  });

  kind = Option.String({ name: 'kind' });
  payload = Option.String({ name: 'payload', required: false });
  json = Option.Boolean('--json', false, { description: 'Print the result as one JSON object' });

  protected async run(): Promise<number> {
    return runEnqueue({ kind: this.kind, payload: this.payload, json: this.json }, this.context);
  }
}
