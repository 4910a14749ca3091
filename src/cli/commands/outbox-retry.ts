/**
 * `difflore outbox retry`: give abandoned rows another 8 tries.
 */
import { formatByKind, onAbandonedRows, plural } from '../outbox-helpers.js';
import { defineCommand, flag, output, value } from '../command-spec.js';

export default defineCommand({
  paths: [['outbox', 'retry']],
  usage: {
    category: 'Outbox',
    description: 'Return abandoned rows to the queue',
    details: `
      Moves abandoned rows back to pending with their tries reset to 0 and their last error cleared,
      so the daemon sends them again. Useful once the cause (an outage, a server bug) is fixed.

      \`--older-than <n>d|h|m\` takes only rows abandoned at least that long ago (rows abandoned by
      the Rust binary, which records no time, count from when they were created).
      \`--dry-run\` shows what would change and changes nothing.
    `,
    examples: [
      ['See what would be retried', '$0 outbox retry --dry-run'],
      ['Retry every abandoned observation', '$0 outbox retry --kind observation'],
      ['Retry rows abandoned more than a day ago', '$0 outbox retry --older-than 1d'],
    ],
  },
  options: {
    kind: value('--kind', 'Only rows of this kind'),
    olderThan: value('--older-than', 'Only rows abandoned at least this long ago (<n>d|h|m)'),
    dryRun: flag('--dry-run', 'Show what would change; change nothing'),
    json: flag('--json', 'Print the result as one JSON object'),
  },

  parse: (raw) => raw,
  async run(args, io) {
    const out = output(io);
    const { result, json, scope } = onAbandonedRows(io.env, args, (store, filter) => store.retryAbandoned(filter));
    if (args.json) {
      out.printJson(json);
      return 0;
    }
    if (result.total === 0) {
      out.print(`No ${scope ? `matching abandoned rows (${scope})` : 'abandoned rows'}; nothing to retry.`);
    } else if (result.dryRun) {
      out.print(`Would return ${plural(result.total, 'abandoned row')} to pending: ${formatByKind(result.byKind)}.`);
      out.print('Nothing changed (--dry-run). Run again without --dry-run to do it.');
    } else {
      out.print(
        `Returned ${plural(result.total, 'abandoned row')} to pending with tries reset: ${formatByKind(result.byKind)}.`,
      );
    }
    return 0;
  },
});
