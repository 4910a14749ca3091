/**
 * `difflore outbox purge --status abandoned`: delete rows the daemon gave up on.
 */
import { usageError } from '../exit-codes.js';
import { formatByKind, onAbandonedRows, plural } from '../outbox-helpers.js';
import { defineCommand, flag, output, value } from '../command-spec.js';

export default defineCommand({
  paths: [['outbox', 'purge']],
  usage: {
    category: 'Outbox',
    description: 'Delete abandoned rows',
    details: `
      Deletes abandoned rows for good. Only abandoned rows can be purged, and you must say so with
      \`--status abandoned\`: pending and processing rows still have a chance to be delivered.

      \`--older-than <n>d|h|m\` keeps rows abandoned more recently than that (rows abandoned by the
      Rust binary, which records no time, count from when they were created). \`--dry-run\` shows what
      would be deleted and deletes nothing.
    `,
    examples: [
      ['See what would be deleted', '$0 outbox purge --status abandoned --dry-run'],
      ['Delete rows abandoned more than 30 days ago', '$0 outbox purge --status abandoned --older-than 30d'],
    ],
  },
  options: {
    status: value('--status', 'Which rows to delete; only `abandoned` is accepted'),
    kind: value('--kind', 'Only rows of this kind'),
    olderThan: value('--older-than', 'Only rows abandoned at least this long ago (<n>d|h|m)'),
    dryRun: flag('--dry-run', 'Show what would be deleted; delete nothing'),
    json: flag('--json', 'Print the result as one JSON object'),
  },

  parse: (raw) => raw,
  async run(args, io) {
    const out = output(io);
    if (args.status === undefined) {
      usageError('outbox purge needs --status abandoned', 'only abandoned rows can be purged');
    }
    if (args.status !== 'abandoned') {
      usageError(
        `--status '${args.status}' cannot be purged; only abandoned rows can (--status abandoned)`,
        'pending and processing rows are still being delivered',
      );
    }
    const { result, json, scope } = onAbandonedRows(io.env, args, (store, filter) => store.purgeAbandoned(filter));
    if (args.json) {
      out.printJson(json);
      return 0;
    }
    if (result.total === 0) {
      out.print(`No ${scope ? `matching abandoned rows (${scope})` : 'abandoned rows'}; nothing to delete.`);
    } else if (result.dryRun) {
      out.print(`Would delete ${plural(result.total, 'abandoned row')}: ${formatByKind(result.byKind)}.`);
      out.print('Nothing deleted (--dry-run). Run again without --dry-run to do it.');
    } else {
      out.print(`Deleted ${plural(result.total, 'abandoned row')}: ${formatByKind(result.byKind)}.`);
    }
    return 0;
  },
});
