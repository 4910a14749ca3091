/**
 * `difflore outbox purge --status abandoned`: delete rows the daemon gave up on.
 */
import { Command, Option } from 'clipanion';
import { BaseCommand, usageError } from '../base-command.js';
import { formatByKind, onAbandonedRows, plural } from '../outbox-helpers.js';

export default class OutboxPurgeCommand extends BaseCommand {
  static override paths = [['outbox', 'purge']];

  static override usage = Command.Usage({
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
  });

  status = Option.String('--status', { description: 'Which rows to delete; only `abandoned` is accepted' });
  kind = Option.String('--kind', { description: 'Only rows of this kind' });
  olderThan = Option.String('--older-than', { description: 'Only rows abandoned at least this long ago (<n>d|h|m)' });
  dryRun = Option.Boolean('--dry-run', false, { description: 'Show what would be deleted; delete nothing' });
  json = Option.Boolean('--json', false, { description: 'Print the result as one JSON object' });

  protected async run(): Promise<number> {
    if (this.status === undefined) {
      usageError('outbox purge needs --status abandoned', 'only abandoned rows can be purged');
    }
    if (this.status !== 'abandoned') {
      usageError(
        `--status '${this.status}' cannot be purged; only abandoned rows can (--status abandoned)`,
        'pending and processing rows are still being delivered',
      );
    }
    const { result, json, scope } = onAbandonedRows(this.context.env, this, (store, filter) =>
      store.purgeAbandoned(filter),
    );
    if (this.json) {
      this.printJson(json);
      return 0;
    }
    if (result.total === 0) {
      this.print(`No ${scope ? `matching abandoned rows (${scope})` : 'abandoned rows'}; nothing to delete.`);
    } else if (result.dryRun) {
      this.print(`Would delete ${plural(result.total, 'abandoned row')}: ${formatByKind(result.byKind)}.`);
      this.print('Nothing deleted (--dry-run). Run again without --dry-run to do it.');
    } else {
      this.print(`Deleted ${plural(result.total, 'abandoned row')}: ${formatByKind(result.byKind)}.`);
    }
    return 0;
  }
}
