/**
 * `difflore outbox list`: the rows themselves, oldest first, filtered by status and kind.
 */
import type { OutboxRow } from '../../adapters/outbox/outbox-store.js';
import { checkKind, checkLimit, checkStatus, formatDuration, oneLine, STATUSES, withStore } from '../outbox-helpers.js';
import { defineCommand, flag, output, value } from '../command-spec.js';

const DEFAULT_LIMIT = 50;

export default defineCommand({
  paths: [['outbox', 'list']],
  usage: {
    category: 'Outbox',
    description: 'List outbox rows',
    details: `
      Lists outbox rows oldest first: id, kind, status, tries used (of 8), age, when the next try is
      due (\`now\`, \`in 37s\` while a row backs off, \`sending\` while claimed, \`never\` once abandoned),
      and the last error or a preview of the payload. At most \`--limit\` rows (default ${DEFAULT_LIMIT}).

      \`--status\` is one of ${STATUSES.join(', ')}. \`--json\` prints a JSON array of rows with their
      full payloads.
    `,
    examples: [
      ['The oldest 50 rows', '$0 outbox list'],
      ['Rows the daemon gave up on', '$0 outbox list --status abandoned'],
      [
        'The first 10 pending observations as JSON',
        '$0 outbox list --status pending --kind observation --limit 10 --json',
      ],
    ],
  },
  options: {
    status: value('--status', `Only rows with this status (${STATUSES.join(', ')})`),
    kind: value('--kind', 'Only rows of this kind'),
    limit: value('--limit', `At most this many rows (default ${DEFAULT_LIMIT})`),
    json: flag('--json', 'Print a JSON array'),
  },

  parse: (raw) => raw,
  async run(args, io) {
    const out = output(io);
    const status = checkStatus(args.status);
    const kind = checkKind(args.kind);
    const limit = checkLimit(args.limit, DEFAULT_LIMIT);
    const rows = withStore(io.env, (store) => {
      if (store === null) return [];
      const filter: { status?: string; kind?: string; limit: number } = { limit };
      if (status !== undefined) filter.status = status;
      if (kind !== undefined) filter.kind = kind;
      return store.list(filter);
    });
    if (args.json) {
      out.printJson(rows);
      return 0;
    }
    if (rows.length === 0) {
      const what = [status, kind].filter((x) => x !== undefined).join(' ');
      out.print(`No ${what ? `${what} ` : ''}rows in the outbox.`);
      return 0;
    }
    for (const line of table(rows, Date.now())) out.print(line);
    if (rows.length === limit) out.print(`(showing the first ${limit}; use --limit to see more)`);
    return 0;
  },
});

/** When the daemon tries the row next, as the claim sees it (due at next_attempt_at, else at once). */
function nextTry(row: OutboxRow, now: number): string {
  if (row.status === 'abandoned') return 'never';
  if (row.status === 'processing') return 'sending';
  const due = row.nextAttemptAt ?? row.createdAt;
  return due <= now ? 'now' : `in ${formatDuration(due - now)}`;
}

function table(rows: readonly OutboxRow[], now: number): string[] {
  const cells = rows.map((r) => [
    String(r.id),
    oneLine(r.kind, 40),
    r.status,
    `${r.retryCount}/8`,
    formatDuration(now - r.createdAt),
    nextTry(r, now),
    r.lastError === null ? oneLine(r.payloadJson, 60) : `error: ${oneLine(r.lastError, 60)}`,
  ]);
  const header = ['ID', 'KIND', 'STATUS', 'TRIES', 'AGE', 'NEXT TRY', 'LAST ERROR / PAYLOAD'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const format = (c: readonly string[]): string =>
    c
      .map((cell, i) =>
        i === c.length - 1 ? cell : i === 0 ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0),
      )
      .join('  ');
  return [format(header), ...cells.map(format)];
}
