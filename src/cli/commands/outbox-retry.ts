/**
 * `difflore outbox retry`: give abandoned rows another 8 tries.
 */
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { formatByKind, onAbandonedRows, plural } from '../outbox-helpers.js';

export default class OutboxRetryCommand extends BaseCommand {
  static override paths = [['outbox', 'retry']];

  static override usage = Command.Usage({
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
  });

  kind = Option.String('--kind', { description: 'Only rows of this kind' });
  olderThan = Option.String('--older-than', { description: 'Only rows abandoned at least this long ago (<n>d|h|m)' });
  dryRun = Option.Boolean('--dry-run', false, { description: 'Show what would change; change nothing' });
  json = Option.Boolean('--json', false, { description: 'Print the result as one JSON object' });

  protected async run(): Promise<number> {
    const { result, json, scope } = onAbandonedRows(this.context.env, this, (store, filter) =>
      store.retryAbandoned(filter),
    );
    if (this.json) {
      this.printJson(json);
      return 0;
    }
    if (result.total === 0) {
      this.print(`No ${scope ? `matching abandoned rows (${scope})` : 'abandoned rows'}; nothing to retry.`);
    } else if (result.dryRun) {
      this.print(`Would return ${plural(result.total, 'abandoned row')} to pending: ${formatByKind(result.byKind)}.`);
      this.print('Nothing changed (--dry-run). Run again without --dry-run to do it.');
    } else {
      this.print(
        `Returned ${plural(result.total, 'abandoned row')} to pending with tries reset: ${formatByKind(result.byKind)}.`,
      );
    }
    return 0;
  }
}
