/**
 * `difflore daemon status`: is the daemon running, and how is it doing. Exit codes follow LSB init
 * scripts, so `difflore daemon status >/dev/null && …` works in shell scripts.
 */
import { defineCommand, flag, output } from '../command-spec.js';

export default defineCommand({
  paths: [['daemon', 'status']],
  usage: {
    category: 'Daemon',
    description: 'Show whether the daemon runs and what it is doing',
    details: `
      Says whether the daemon runs (checked with its lifetime lock, its pid file and the process
      identity recorded when it started), and if so its pid, uptime, last heartbeat, the state of its
      state machine, its last drain pass, and whether its rows get out: the delivery line says, in
      plain words, what the cloud last answered (ok, unreachable, failing, auth-rejected,
      waiting-for-token, never-tried, idle), since when, the last error, when the next try or probe
      is due and how many rows wait. Also counts the outbox backlog (read-only; if the database
      cannot be read it says so).

      States and exit codes (LSB): 0 running; 1 not running but a stale pid file is left (its process
      is dead, or the pid now belongs to another process); 3 not running; 4 unknown — a live process
      owns the pid file but cannot be verified as the daemon (e.g. the Rust daemon), or the files
      could not be read.

      \`--json\` prints one object: status, exitCode, summary, pid, uptimeMs, heartbeatAgeMs,
      machineState, lastPass, backlog, waitingForToken, tokenProblem, tokenSource (env, file,
      rust-login:keyring, rust-login:keyseed or rust-login:master-key-env; never the token),
      stateFile, delivery ({ state, since, lastError, errorCode, lastSuccessAtMs, nextAttemptAtMs,
      breaker: { open, until }, cloudUrl, rowsWaiting, dueNow, backingOff, oldestPendingAgeMs,
      summary }; null when no daemon of ours runs), and more.
    `,
    examples: [
      ['Show the status', '$0 daemon status'],
      ['In a script', '$0 daemon status --json | jq .status'],
      ['Is it running?', '$0 daemon status >/dev/null && echo running'],
    ],
  },
  options: {
    json: flag('--json', 'Print one JSON object'),
  },

  parse: (raw) => raw,
  async run(args, io) {
    const out = output(io);
    const [{ homePaths, resolveHome }, { daemonStatus, formatStatus, readBacklog }, { resolveCloudToken }] =
      await Promise.all([
        import('../../adapters/home/home.js'),
        import('../daemon-status.js'),
        import('../../adapters/delivery/cloud-config.js'),
      ]);
    const env = io.env;
    const now = Date.now();
    const paths = homePaths(resolveHome(env));
    // Looked up first: the Rust login's key may come from the OS keyring, which answers asynchronously.
    const token = await resolveCloudToken(paths, env);
    const report = daemonStatus(paths, { env, now, backlog: readBacklog, token });
    if (args.json) out.printJson(report);
    else for (const line of formatStatus(report, now)) out.print(line);
    return report.exitCode;
  },
});
