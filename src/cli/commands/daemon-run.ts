/**
 * `difflore daemon run`: the daemon in the foreground — what `daemon start` spawns, what the systemd
 * unit and the launchd agent run, and what a developer runs to watch it. The work is in
 * daemon-fast.ts (which main.ts also runs without Clipanion) and the composition root.
 */
import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { BaseCommand, usageError } from '../base-command.js';
import { idleBounds, parseTick, runForeground } from '../daemon-fast.js';

export { parseTick };

export const batchValidator = t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(1, 1000)]);

export default class DaemonRunCommand extends BaseCommand {
  static override paths = [['daemon', 'run']];
  static override usage = Command.Usage({
    category: 'Daemon',
    description: 'Run the daemon in the foreground',
    details: `
      Claims the data home (pid file, lifetime lock), then drains the outbox to the cloud: at once
      when any process commits a row, otherwise every \`--tick\`. Stops cleanly on SIGTERM or SIGINT
      (Ctrl-C): a pass in flight is aborted and its rows go back to the queue without spending a try.
      SIGHUP retries delivery at once with the failure breaker reset (e.g. after fixing the token).

      This is what \`difflore daemon start\` spawns in the background and what the service units run.
      It logs JSON lines to \`logs/daemon.log\` in the data home and records every state transition in
      \`daemon-journal.jsonl\` and \`daemon-state.json\`.

      \`--inspect\` streams the state machines to a Stately inspector relay (default
      ws://127.0.0.1:8080, where \`createInspectorServer\` from @statelyai/inspect/server listens; open
      http://localhost:8080 to watch). The cloud token is scrubbed from every frame; an absent relay
      is retried in the background and never keeps the daemon from exiting.

      Exit codes: 0 after a clean stop, and when another daemon already serves the data home (this one
      then has nothing to do: it says so on stderr and exits, so a service manager that restarts on
      failure does not restart it into the same conflict); 1 when the daemon failed.
    `,
    examples: [
      ['Run in the foreground', '$0 daemon run'],
      ['Drain every second, 16 rows per batch', '$0 daemon run --tick 1s --batch 16'],
      ['Watch it in the Stately inspector', '$0 daemon run --inspect'],
      ['Inspector relay on another port', '$0 daemon run --inspect ws://127.0.0.1:9090'],
    ],
  });

  tick = Option.String('--tick', {
    description:
      'Drain at least this often when idle (e.g. 5s, 500ms) (default: a 60 s heartbeat, since commits wake the daemon; 5 s where they cannot)',
  });
  batch = Option.String('--batch', '64', { description: 'Rows claimed per batch (1-1000)', validator: batchValidator });
  inspect = Option.String('--inspect', false, {
    tolerateBoolean: true,
    description: `Stream to a Stately inspector relay (default ${'ws://127.0.0.1:8080'})`,
  });
  /** `--inspect ws://…` with a space: Clipanion hands the URL over as a positional. */
  inspectTarget = Option.String({ required: false, name: 'inspect-url' });

  protected async run(): Promise<number> {
    const bounds = idleBounds(this.tick);
    let inspect: string | null = null;
    if (this.inspectTarget !== undefined) {
      if (this.inspect !== true) usageError(`unexpected argument '${this.inspectTarget}'`);
      inspect = this.inspectTarget;
    } else if (typeof this.inspect === 'string') {
      inspect = this.inspect;
    } else if (this.inspect === true) {
      inspect = '';
    }
    return runForeground(
      { ...bounds, batchSize: this.batch, inspect },
      { stdout: this.context.stdout, stderr: this.context.stderr, env: this.context.env as NodeJS.ProcessEnv },
    );
  }
}
