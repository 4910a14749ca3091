/**
 * `difflore demo [--rows N] [--home DIR] [--keep]`: the product's main job in one command, on a
 * temporary home and a local reference cloud. The orchestration loads inside `run`.
 */
import { parseNumber } from '../option-numbers.js';
import { defineCommand, flag, value } from '../command-spec.js';

const DEADLINE_MS = 60_000;

export default defineCommand({
  paths: [['demo']],
  usage: {
    category: 'Getting started',
    description: 'Watch the daemon deliver a queue of rows to a local cloud, failures included',
    details: `
      Runs the whole product locally in a temporary data home, then removes everything it started:

      - the reference cloud (\`difflore cloud serve\`) on a free 127.0.0.1 port, answering 503 with Retry-After at first and rejecting one poison row with 400;
      - a mixed workload (2,000 rows by default) across every kind the daemon delivers, with the poison row, a few exact repeats and a few legacy rows;
      - the daemon (\`difflore daemon start\`), with live progress until every deliverable row is acknowledged;
      - \`difflore daemon status\`, the last transitions (\`difflore daemon log\`) and where the state diagram is;
      - \`difflore daemon stop\` and its outcome; then the cloud stops, the home goes, and a summary follows.

      \`--home DIR\` uses that data home instead (it must have an empty outbox and no daemon; it is
      not removed). \`--keep\` keeps the temporary home and prints where it is.

      Ctrl-C at any point stops the daemon and the cloud and removes the temporary home.

      Exit codes: 0 when every deliverable row was acknowledged and everything stopped; 1 otherwise,
      with the reason (e.g. nothing left the outbox within 60 s: what was left is listed).
    `,
    examples: [
      ['Run the demo', '$0 demo'],
      ['A smaller run', '$0 demo --rows 200'],
      ['Keep the data home to look around afterwards', '$0 demo --keep'],
    ],
  },
  options: {
    rows: value('--rows', 'Rows to queue (10 to 200000, default 2000)', '2000'),
    home: value('--home', 'Use this data home instead of a temporary one'),
    keep: flag('--keep', 'Keep the temporary data home at the end'),
  },

  parse: (raw) => ({ ...raw, rows: parseNumber('--rows', raw.rows, { whole: true, min: 10, max: 200_000 }) }),
  async run(args, io) {
    const { runDemo } = await import('../demo/run.js');
    const env = io.env;
    // Not a fast command: Clipanion runs it, and its context streams are real streams.
    const out = io.stdout as NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
    const tty = out.isTTY === true;
    return runDemo(
      {
        rows: args.rows,
        keep: args.keep,
        deadlineMs: DEADLINE_MS,
        ...(args.home === undefined ? {} : { home: args.home }),
      },
      { out, err: io.stderr as NodeJS.WritableStream, env, tty, colour: tty && !env.NO_COLOR },
    );
  },
});
