/**
 * `difflore daemon start`: spawns `daemon run` in the background and waits until it serves. The work
 * is in daemon-launch.ts (shared with `daemon restart` and main.ts's fast path); this class gives it
 * its help and parses the argument lists the fast path leaves to Clipanion.
 */
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { parseDuration, TIMEOUT_UNITS } from '../durations.js';
import { launchDaemon, printLaunch } from '../daemon-launch.js';
import { batchValidator, parseTick } from './daemon-run.js';

export default class DaemonStartCommand extends BaseCommand {
  static override paths = [['daemon', 'start']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Start the daemon in the background',
    details: `
      Runs \`difflore daemon run\` detached from this terminal (its own session; output goes to
      \`logs/daemon.log\` in the data home) and waits until it has claimed the data home and is serving,
      then prints its pid. If a daemon already runs, says so and prints its pid instead.

      Exit codes: 0 when a daemon runs (started now, or already running); 1 when it could not start —
      the reason is printed, e.g. a live process that cannot be verified owns the pid file.
      \`--json\` prints {"status":"started"|"alreadyRunning"|"failed","pid",…}.
    `,
    examples: [
      ['Start the daemon', '$0 daemon start'],
      ['Drain at least every second', '$0 daemon start --tick 1s'],
      ['For scripts', '$0 daemon start --json'],
    ],
  });

  tick = Option.String('--tick', {
    description:
      'Drain at least this often when idle (e.g. 5s, 500ms) (default: a 60 s heartbeat, since commits wake the daemon; 5 s where they cannot)',
  });
  batch = Option.String('--batch', '64', { description: 'Rows claimed per batch (1-1000)', validator: batchValidator });
  timeout = Option.String('--timeout', '10s', { description: 'How long to wait for the daemon to be serving' });
  json = Option.Boolean('--json', false, { description: 'Print the result as one JSON object' });

  protected async run(): Promise<number> {
    if (this.tick !== undefined) parseTick(this.tick);
    const timeoutMs = parseDuration('--timeout', this.timeout, TIMEOUT_UNITS);
    const result = await launchDaemon(
      { tick: this.tick, batch: this.batch, timeoutMs },
      this.context.env as NodeJS.ProcessEnv,
    );
    return printLaunch(result, this.json, { print: (l) => this.print(l), warn: (l) => this.warn(l) });
  }
}
