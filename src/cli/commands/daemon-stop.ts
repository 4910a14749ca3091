/**
 * `difflore daemon stop`: runs the stop protocol (DESIGN §3.2). The work is in daemon-stop-fast.ts,
 * which main.ts also runs without Clipanion; this class gives it its help and parses the argument
 * lists the fast path leaves to Clipanion.
 */
import { Command, Option } from 'clipanion';
import { BaseCommand } from '../base-command.js';
import { DEFAULT_GRACE, DEFAULT_KILL_TIMEOUT, parseStopDurations, runStopCommand } from '../daemon-stop-fast.js';

export default class DaemonStopCommand extends BaseCommand {
  static override paths = [['daemon', 'stop']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Stop the daemon',
    details: `
      Sends SIGTERM to the daemon, so it aborts a pass in flight, returns its rows to the queue
      without spending a try, and removes its pid file; waits for it to exit (checking after 5 ms,
      then backing off to every 100 ms); after \`--grace\` sends SIGKILL and confirms the process is gone.

      It never signals a process it cannot prove is the daemon: a stale pid file (its process is dead,
      or the pid now belongs to someone else) is removed without any signal, and a live process whose
      identity was never recorded (e.g. the Rust daemon) is left alone unless \`--force\` is given.

      Exit codes: 0 when no daemon runs at the end (stopped, killed, stale pid file removed, or not
      running); 2 when it would not die even after SIGKILL; 3 when it refused to signal or failed.
      \`--json\` prints {"outcome","exitCode","pid","refusal","detail","elapsedMs"}.
    `,
    examples: [
      ['Stop the daemon', '$0 daemon stop'],
      ['Give it 30 s before SIGKILL', '$0 daemon stop --grace 30s'],
      ['Stop a daemon whose identity cannot be verified', '$0 daemon stop --force'],
      ['For scripts', '$0 daemon stop --json'],
    ],
  });

  grace = Option.String('--grace', DEFAULT_GRACE, { description: 'Time allowed after SIGTERM (e.g. 10s, 500ms)' });
  killTimeout = Option.String('--kill-timeout', DEFAULT_KILL_TIMEOUT, {
    description: 'Time allowed for the process to vanish after SIGKILL',
  });
  force = Option.Boolean('--force', false, { description: 'Signal a live process even if its identity is unverified' });
  json = Option.Boolean('--json', false, { description: 'Print the outcome as one JSON object' });

  protected async run(): Promise<number> {
    const durations = parseStopDurations(this.grace, this.killTimeout);
    return runStopCommand(
      { ...durations, force: this.force, json: this.json },
      { stdout: this.context.stdout, stderr: this.context.stderr, env: this.context.env as NodeJS.ProcessEnv },
    );
  }
}
