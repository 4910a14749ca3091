/**
 * `difflore outbox status`: what is queued, what is stuck, and what waits on disk as spill files.
 */
import { type SpillStats, spillStats } from '../../adapters/outbox/spill.js';
import { type DaemonStatusReport, type DeliveryReport, daemonStatus, readBacklog } from '../daemon-status.js';
import { unknownKindNote } from '../doctor/checks.js';
import { formatBytes, formatDuration, oneLine, plural, withStore } from '../outbox-helpers.js';
import { defineCommand, flag, output } from '../command-spec.js';

export interface OutboxStatusReport {
  readonly database: string;
  readonly databaseExists: boolean;
  readonly pending: number;
  readonly processing: number;
  readonly abandoned: number;
  /** Pending mined candidates that are not sent until a human approves them (counted in pending). */
  readonly awaitingApproval: number;
  /** Pending rows the daemon may send, by kind. */
  readonly byKind: Record<string, number>;
  /** Pending rows of kinds this version does not know (left for a newer difflore), by kind; counted in pending. */
  readonly unknownKinds: Record<string, number>;
  /** Age of the oldest sendable pending row, or null when there is none. */
  readonly oldestPendingAgeMs: number | null;
  /** How long until the next sendable row is due (0 = now), or null when none is pending. */
  readonly nextDueInMs: number | null;
  readonly spill: SpillStats;
  /** The running daemon's delivery summary (see `daemon status`); null when no daemon of ours runs. */
  readonly delivery: DeliveryReport | null;
  /** A daemon of ours runs (false with rows pending: nothing sends them). */
  readonly daemonRunning: boolean;
}

function deliveryOf(report: DaemonStatusReport | null): Pick<OutboxStatusReport, 'delivery' | 'daemonRunning'> {
  return { delivery: report?.delivery ?? null, daemonRunning: report?.status === 'running' };
}

export default defineCommand({
  paths: [['outbox', 'status']],
  usage: {
    category: 'Outbox',
    description: 'Show what is queued for the cloud',
    details: `
      Counts the outbox rows by status (pending, processing, abandoned), lists the pending rows by
      kind, and shows how old the oldest pending row is. Pending \`session_mined_candidate\` rows
      that have not been approved are counted apart: they are never sent until approved.

      Also reports the spill files: rows that could not be written to the database and wait on
      disk under \`hook-spill/\` to be queued.

      \`--json\` prints one object with the keys \`pending\`, \`processing\`, \`abandoned\`,
      \`awaitingApproval\`, \`byKind\`, \`unknownKinds\`, \`oldestPendingAgeMs\`, \`nextDueInMs\`, \`spill\`,
      \`database\`, \`delivery\` (the running daemon's delivery summary, as in \`daemon status --json\`; null
      when none runs) and \`daemonRunning\`. Rows of a kind this version does not know stay pending
      (a newer difflore sends them) and are named under \`unknownKinds\`.
      Looking never creates the database.
    `,
    examples: [
      ['Show the outbox', '$0 outbox status'],
      ['Read it from a script', '$0 outbox status --json | jq .pending'],
    ],
  },
  options: {
    json: flag('--json', 'Print one JSON object'),
  },

  parse: (raw) => raw,
  async run(args, io) {
    const out = output(io);
    const now = Date.now();
    const report = withStore(io.env, (store, paths): OutboxStatusReport => {
      const counts = store?.counts() ?? { pending: 0, processing: 0, abandoned: 0 };
      const oldest = store?.oldestPendingCreatedAt() ?? null;
      const nextDue = store?.nextDueAt() ?? null;
      return {
        database: paths.db,
        databaseExists: store !== null,
        ...counts,
        awaitingApproval: store?.awaitingApproval() ?? 0,
        byKind: Object.fromEntries((store?.pendingByKind() ?? []).map((k) => [k.kind, k.count])),
        unknownKinds: Object.fromEntries((store?.unknownKinds() ?? []).map((k) => [k.kind, k.count])),
        oldestPendingAgeMs: oldest === null ? null : Math.max(0, now - oldest),
        nextDueInMs: nextDue === null ? null : Math.max(0, nextDue - now),
        spill: spillStats(paths),
        ...deliveryOf(store === null ? null : daemonStatus(paths, { env: io.env, now, backlog: readBacklog })),
      };
    });
    if (args.json) {
      out.printJson(report);
      return 0;
    }
    for (const line of describeStatus(report)) out.print(line);
    return 0;
  },
});

function describeStatus(r: OutboxStatusReport): string[] {
  const lines: string[] = [];
  lines.push(`Outbox ${r.database}${r.databaseExists ? '' : ' (not created yet: nothing was ever queued)'}`);
  const unknown = Object.values(r.unknownKinds).reduce((a, b) => a + b, 0);
  const sendable = r.pending - r.awaitingApproval - unknown;
  let pendingNote = '';
  if (r.oldestPendingAgeMs !== null) {
    pendingNote = `oldest queued ${formatDuration(r.oldestPendingAgeMs)} ago`;
    if (r.nextDueInMs !== null && r.nextDueInMs > 0) pendingNote += `; next due in ${formatDuration(r.nextDueInMs)}`;
  }
  if (r.awaitingApproval > 0) {
    pendingNote += `${pendingNote ? '; ' : ''}${r.awaitingApproval} awaiting approval (not sent until approved)`;
  }
  const width = String(Math.max(r.pending, r.processing, r.abandoned)).length;
  const count = (n: number): string => String(n).padStart(width);
  lines.push(`  pending     ${count(r.pending)}${pendingNote ? `  (${pendingNote})` : ''}`);
  lines.push(`  processing  ${count(r.processing)}${r.processing > 0 ? '  (being sent now)' : ''}`);
  lines.push(
    `  abandoned   ${count(r.abandoned)}${
      r.abandoned > 0 ? '  (gave up; see `difflore outbox list --status abandoned`, `outbox retry`)' : ''
    }`,
  );
  if (r.delivery !== null) lines.push(`Delivery: ${r.delivery.summary}`);
  else if (!r.daemonRunning && r.pending - r.awaitingApproval > 0) {
    lines.push('Delivery: no daemon is running, so nothing sends these rows (`difflore daemon start`)');
  }
  const kinds = Object.entries(r.byKind);
  if (kinds.length > 0) {
    lines.push(`Pending by kind (${sendable} ready to send)`);
    const kindWidth = Math.max(...kinds.map(([k]) => k.length));
    for (const [kind, n] of kinds) lines.push(`  ${oneLine(kind, 40).padEnd(kindWidth)}  ${n}`);
  }
  for (const [kind, n] of Object.entries(r.unknownKinds)) lines.push(`Note: ${unknownKindNote(oneLine(kind, 64), n)}`);
  const s = r.spill;
  if (s.count === 0 && s.bad === 0) {
    lines.push(`Spill files: none (${s.path})`);
  } else {
    lines.push(`Spill files in ${s.path}`);
    if (s.count > 0) {
      const age = s.oldestCreatedAtMs === null ? '' : `, oldest from ${new Date(s.oldestCreatedAtMs).toISOString()}`;
      lines.push(`  ${plural(s.count, 'file')} (${formatBytes(s.bytes)}) waiting to be queued${age}`);
      if (s.newestError !== null) lines.push(`  newest error: ${oneLine(s.newestError, 200)}`);
    }
    if (s.bad > 0) lines.push(`  ${plural(s.bad, 'quarantined file')} (.bad): not valid spill records, never queued`);
  }
  return lines;
}
