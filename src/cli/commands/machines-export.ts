/**
 * `difflore machines export [daemon|stop] --format mermaid|dot|json|studio`: the statecharts, offline.
 * xstate and the machines are imported inside `run`, so listing this command costs the CLI nothing.
 */
import { usageError } from '../exit-codes.js';
import { defineCommand, positional, value } from '../command-spec.js';

const MACHINES = ['daemon', 'stop'] as const;
const FORMATS = ['mermaid', 'dot', 'json', 'studio', 'svg'] as const;

function isOneOf<T extends string>(values: readonly T[], value: string): value is T {
  return (values as readonly string[]).includes(value);
}

export default defineCommand({
  paths: [['machines', 'export']],
  usage: {
    category: 'Inspection',
    description: 'Print a statechart as Mermaid, Graphviz DOT, JSON, Stately Studio code or SVG',
    details: `
      Prints the \`daemon\` machine (the default) or the \`stop\` machine, rendered offline:

      - \`mermaid\` (default): a \`stateDiagram-v2\`; GitHub and most Markdown viewers draw it.
      - \`dot\`: Graphviz; pipe it to \`dot -Tsvg\`.
      - \`json\`: the machine definition as XState resolves it (targets as state ids).
      - \`svg\`: the drawing \`daemon view\` shows, laid out offline (ELK), with its own styles.
      - \`studio\`: a \`createMachine({...})\` module for Stately Studio's "Import from code" (states, transitions, guards, actions, invoked actors and delays by name).

      Edge labels read \`EVENT [guard]\`, \`after <delay>\`, \`<actor> done\` and \`<actor> error\`.
    `,
    examples: [
      ['Draw the daemon lifecycle in Markdown', '$0 machines export daemon --format mermaid'],
      ['Render the stop protocol as SVG', '$0 machines export stop --format dot | dot -Tsvg > stop.svg'],
      ['Draw the daemon lifecycle without Graphviz', '$0 machines export daemon --format svg > daemon.svg'],
      ['Open the daemon machine in Stately Studio', '$0 machines export daemon --format studio > daemon.ts'],
    ],
  },
  options: {
    machine: positional('daemon|stop', false),
    format: value('--format', 'One of mermaid, dot, json, studio, svg (default: mermaid)', 'mermaid'),
  },

  parse: (raw) => raw,
  async run(args, io) {
    const machine = args.machine ?? 'daemon';
    if (!isOneOf(MACHINES, machine)) {
      usageError(`unknown machine '${machine}'`, `choose one of: ${MACHINES.join(', ')}`);
    }
    if (!isOneOf(FORMATS, args.format)) {
      usageError(`unknown format '${args.format}'`, `choose one of: ${FORMATS.join(', ')}`);
    }
    if (args.format === 'svg') {
      const { machineSvg } = await import('../../view/svg.js');
      io.stdout.write(await machineSvg(machine));
      return 0;
    }
    const { exportMachine } = await import('../../machines/export.js');
    io.stdout.write(exportMachine(machine, args.format));
    return 0;
  },
});
