/**
 * `difflore daemon restart`: `daemon stop`, then `daemon start` — only if the stop left nothing running.
 */
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { DEFAULT_GRACE, DEFAULT_KILL_TIMEOUT, parseStopDurations, runStopCommand } from '../daemon-stop-fast.js';
import { parseDuration, TIMEOUT_UNITS } from '../durations.js';
import { launchDaemon, printLaunch } from '../daemon-launch.js';
import { batchValidator, parseTick } from './daemon-run.js';

export default class DaemonRestartCommand extends BaseCommand {
  static override paths = [['daemon', 'restart']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Stop the daemon (if it runs), then start it again',
    details: `
      Runs \`difflore daemon stop\` and, when no daemon runs any more, \`difflore daemon start\`. Takes
      the options of both. If the stop refuses or fails (exit 2 or 3), nothing is started and that
      exit code is returned; otherwise the exit code is start's: 0 running, 1 failed to start.
    `,
    examples: [
      ['Restart the daemon', '$0 daemon restart'],
      ['Restart with a shorter tick', '$0 daemon restart --tick 1s'],
    ],
  });

  grace = Option.String('--grace', DEFAULT_GRACE, { description: 'Time allowed after SIGTERM' });
  killTimeout = Option.String('--kill-timeout', DEFAULT_KILL_TIMEOUT, { description: 'Time allowed after SIGKILL' });
  force = Option.Boolean('--force', false, { description: 'Signal a live process even if its identity is unverified' });
  tick = Option.String('--tick', {
    description:
      'Drain at least this often when idle (default: a 60 s heartbeat, since commits wake the daemon; 5 s where they cannot)',
  });
  batch = Option.String('--batch', '64', { description: 'Rows claimed per batch (1-1000)', validator: batchValidator });
  timeout = Option.String('--timeout', '10s', { description: 'How long to wait for the new daemon to be serving' });
  json = Option.Boolean('--json', false, { description: 'Print one JSON object per step' });

  protected async run(): Promise<number> {
    const durations = parseStopDurations(this.grace, this.killTimeout);
    if (this.tick !== undefined) parseTick(this.tick);
    const timeoutMs = parseDuration('--timeout', this.timeout, TIMEOUT_UNITS);
    const env = this.context.env as NodeJS.ProcessEnv;
    const stopped = await runStopCommand(
      { ...durations, force: this.force, json: this.json },
      { stdout: this.context.stdout, stderr: this.context.stderr, env },
    );
    if (stopped !== 0) {
      this.warn('difflore: not starting a new daemon because the old one was not stopped');
      return stopped;
    }
    const result = await launchDaemon({ tick: this.tick, batch: this.batch, timeoutMs }, env);
    return printLaunch(result, this.json, { print: (l) => this.print(l), warn: (l) => this.warn(l) });
  }
}
