/**
 * `difflore outbox drain`: one foreground drain pass until nothing is due (or --limit rows), with a
 * progress bar on a TTY and the summary as text or JSON. The HTTP client and the pass load lazily.
 */
import type { describeTokenSource as Describe } from '../../adapters/delivery/cloud-config.js';
import type { DrainProgress, DrainPassReport } from '../../adapters/delivery/drain-pass.js';
import type { HomePaths } from '../../adapters/home/home.js';
import { ProgressReporter } from '../drain-progress.js';
import { formatDuration } from '../text.js';
import { optional, parseNumber } from '../option-numbers.js';
import { defineCommand, flag, output, value } from '../command-spec.js';

export default defineCommand({
  paths: [['outbox', 'drain']],
  usage: {
    category: 'Outbox',
    description: 'Deliver queued rows to the cloud now, in the foreground.',
    details: `
      Runs one drain pass: replays spill files, then sends every row that is due (or at most
      \`--limit\` rows) and stops. Failed rows wait for their backoff; rows the cloud rejects for good
      are abandoned with the reason (see \`difflore outbox list --status abandoned\`).

      The cloud URL comes from DIFFLORE_CLOUD_URL (default https://difflore.dev/api) and the token from
      DIFFLORE_CLOUD_TOKEN, else the Rust login (\`cloud-auth.db\`, written by \`difflore cloud login\`
      of the Rust binary; refreshed on a 401), else the mode-600 file \`cloud-token\` in the data home.
      The summary names the source (\`tokenSource\` in --json), never the token.

      Exit codes: 0 when the pass ran (even if rows were retried); 1 when it could not run: a bad URL,
      an unreadable database, or no token the cloud accepts (rows stay queued). Ctrl-C returns the
      claimed rows to the queue without spending a try.
    `,
    examples: [
      ['Send everything that is due', '$0 outbox drain'],
      ['Send at most 100 rows and print the summary as JSON', '$0 outbox drain --limit 100 --json'],
      ['Drain to a local reference cloud', 'DIFFLORE_CLOUD_URL=http://127.0.0.1:8787 $0 outbox drain'],
    ],
  },
  options: {
    limit: value('--limit', 'Attempt at most this many rows'),
    json: flag('--json', 'Print the summary as one JSON object'),
  },

  parse: (raw) => ({
    ...raw,
    limit: optional(raw.limit, (text) => parseNumber('--limit', text, { whole: true, min: 1 })),
  }),
  async run(args, io) {
    const out = output(io);
    const env = io.env;
    const [
      { ensureHome, resolveHome },
      { openDatabase },
      { OutboxStore, leaseOwnerFor },
      { runDrainPass, closeSharedCloudClient },
      { selfIdentity },
      { describeTokenSource },
    ] = await Promise.all([
      import('../../adapters/home/home.js'),
      import('../../adapters/outbox/db.js'),
      import('../../adapters/outbox/outbox-store.js'),
      import('../../adapters/delivery/drain-pass.js'),
      import('../../adapters/lifecycle/process-identity.js'),
      import('../../adapters/delivery/cloud-config.js'),
    ]);
    const paths = ensureHome(resolveHome(env));
    const db = openDatabase(paths.db);
    const controller = new AbortController();
    const onSignal = (): void => controller.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // Not a fast command: Clipanion runs it, and its context streams are real streams.
    const progress = args.json ? undefined : new ProgressReporter(io.stderr as NodeJS.WritableStream);
    // Leases that name this process, as the daemon's do. Nobody hands them back early (only a daemon
    // that claims the home releases its dead predecessor's); it keeps the lease ids telling.
    const owner = leaseOwnerFor(selfIdentity());
    let summary: DrainPassReport;
    try {
      summary = await runDrainPass({
        store: new OutboxStore(db, owner === null ? {} : { leaseOwner: owner }),
        paths,
        env,
        signal: controller.signal,
        ...(args.limit === undefined ? {} : { limit: args.limit }),
        ...(progress ? { onProgress: (e: DrainProgress) => progress.on(e), countWaiting: true } : {}),
      });
    } finally {
      progress?.end();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      closeSharedCloudClient();
      db.close();
    }
    if (args.json) out.printJson(summary);
    else printSummary(out, summary, paths, describeTokenSource);
    return summary.waitingForAuth ? 1 : 0;
  },
});

function printSummary(
  out: ReturnType<typeof output>,
  s: DrainPassReport,
  paths: HomePaths,
  describeTokenSource: DescribeSource,
): void {
  out.print(
    `${s.cancelled ? 'cancelled' : 'drained'}: attempted ${s.attempted}, confirmed ${s.confirmed}, retried ${s.retried}, abandoned ${s.abandoned}`,
  );
  if (s.spill && s.spill.replayed + s.spill.quarantined > 0) {
    out.print(`spill: replayed ${s.spill.replayed}, quarantined ${s.spill.quarantined}`);
  }
  if (s.tokenSource !== null) out.print(`token from: ${describeTokenSource(s.tokenSource, paths)}`);
  if (s.tokenRefreshed !== null) {
    out.print(
      s.tokenRefreshed === 'server'
        ? 'the cloud refused the token: refreshed the Rust login and wrote it back to cloud-auth.db'
        : 'the cloud refused the token: another process had refreshed the Rust login; using its token',
    );
  }
  if (s.authProblem) out.print(`waiting for a token: ${s.authProblem}`);
  if (s.breaker.state === 'open' && s.breaker.openUntil !== null) {
    out.print(`the cloud is failing: paused until ${new Date(s.breaker.openUntil).toISOString()}`);
  }
  if (s.nextDueAt !== null) {
    const wait = s.nextDueAt - Date.now();
    out.print(wait > 0 ? `next row due in ${formatDuration(wait)}` : 'more rows are due');
  }
  if (s.lastError && !s.authProblem) out.print(`last error: ${s.lastError}`);
}

type DescribeSource = typeof Describe;
