/**
 * `difflore doctor [--json]`: one screen of health for the data home, each problem with its fix.
 * The checks load inside `run`, so listing this command costs the CLI nothing.
 */
import { defineCommand, flag, output, value } from '../command-spec.js';

export default defineCommand({
  paths: [['doctor']],
  usage: {
    category: 'Inspection',
    description: 'Check the daemon, the outbox and the data home, and say how to fix what is wrong',
    details: `
      Looks, changes nothing, and prints one line per check:

      - \`daemon\`: running (pid, machine state, uptime, heartbeat age), not running, or a stale pid file;
      - \`delivery\`: whether the running daemon's rows get out (ok, idle, unreachable, failing,
        auth-rejected, waiting-for-token, never-tried), since when, the last error and the next try;
        fails once delivery has been blocked for longer than \`--grace\` (default 60s);
      - \`backlog\`: pending rows by kind, rows being sent, how old the oldest is (fails past 15 minutes);
      - \`abandoned\`: rows that gave up, grouped by the start of their last error (fails when any gave up
        in the last 24 hours, warns for older ones);
      - \`spill\`: rows waiting on disk to be queued (count, bytes, newest error) and quarantined \`.bad\` files;
      - \`token\`: whether a cloud token is there and where it comes from (DIFFLORE_CLOUD_TOKEN, the
        Rust login with its key from the OS keyring, the keyseed or DIFFLORE_MASTER_KEY, or the token
        file); the token itself is never printed;
      - \`cloud_url\`: the URL the daemon uses, and whether it would refuse it;
      - \`home\`, \`files\`: the data home is 0700 and ours, private files are 0600, no symbolic links where pid, lock or state files belong;
      - \`database\`: \`data.db\` opens and its schema version.

      Each problem comes with a \`fix:\` line: the command that fixes it.

      \`--json\` prints one object: \`{ version, home, healthy, problems, checks: [{ name, status,
      detail, fix?, notes? }] }\` with status \`ok\`, \`warn\` or \`fail\`.

      Exit codes: 0 when every check is ok; 1 when any check warns or fails.
    `,
    examples: [
      ['Check everything', '$0 doctor'],
      ['Fail as soon as delivery is blocked (scripts, CI)', '$0 doctor --grace 1s'],
      ['List the problems from a script', '$0 doctor --json | jq \'.checks[] | select(.status != "ok")\''],
    ],
  },
  options: {
    json: flag('--json', 'Print one JSON object'),
    grace: value('--grace', 'How long delivery may be blocked before the delivery check fails (e.g. 60s, 5m)', '60s'),
  },

  parse: (raw) => raw,
  async run(args, io) {
    const out = output(io);
    const env = io.env;
    const [
      { homePaths, resolveHome },
      { resolveCloudToken },
      { gatherFacts },
      { runChecks },
      { buildReport, renderText },
      { parseDuration, TIMEOUT_UNITS },
    ] = await Promise.all([
      import('../../adapters/home/home.js'),
      import('../../adapters/delivery/cloud-config.js'),
      import('../doctor/facts.js'),
      import('../doctor/checks.js'),
      import('../doctor/report.js'),
      import('../durations.js'),
    ]);
    const graceMs = parseDuration('--grace', args.grace, TIMEOUT_UNITS);
    const home = resolveHome(env);
    // Looked up first: the Rust login's key may come from the OS keyring, which answers asynchronously.
    const token = await resolveCloudToken(homePaths(home), env);
    const { agentHooksCheck } = await import('../doctor/agents.js');
    const checks = runChecks(gatherFacts(home, env, Date.now(), token, graceMs));
    const report = buildReport(home, [...checks, await agentHooksCheck(env, process.cwd())]);
    if (args.json) {
      out.printJson(report);
    } else {
      // Not a fast command: Clipanion runs it, and its context streams are real streams.
      const tty = (io.stdout as NodeJS.WritableStream & { isTTY?: boolean }).isTTY === true;
      io.stdout.write(renderText(report, { colour: tty && !env.NO_COLOR }));
    }
    return report.healthy ? 0 : 1;
  },
});
