/**
 * `difflore daemon run`: the daemon in the foreground — what `daemon start` spawns, what the systemd
 * unit and the launchd agent run, and what a developer runs to watch it. The work is in the
 * composition root (daemon-root.ts), loaded inside `run()` with xstate, SQLite and HTTP.
 */
import { fstatSync, statSync } from 'node:fs';
import { Command, Option } from 'clipanion';
import { homePaths, resolveHome } from '../../adapters/home.js';
import * as t from 'typanion';
import { BaseCommand, usageError } from '../base-command.js';
import { parseDuration, TIMEOUT_UNITS } from '../durations.js';

/** Longest tick accepted: a daemon that sleeps for hours between ticks is a misconfiguration. */
const MAX_TICK_MS = 3_600_000;

/** Parses --tick; shared with `daemon start`, which passes it on. */
export function parseTick(text: string): number {
  const ms = parseDuration('--tick', text, TIMEOUT_UNITS);
  if (ms < 10 || ms > MAX_TICK_MS) usageError(`--tick '${text}' must be between 10ms and 60m`);
  return ms;
}

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

      Exit codes: 0 after a clean stop; 1 when another daemon owns the data home or the daemon failed.
    `,
    examples: [
      ['Run in the foreground', '$0 daemon run'],
      ['Drain every second, 16 rows per batch', '$0 daemon run --tick 1s --batch 16'],
      ['Watch it in the Stately inspector', '$0 daemon run --inspect'],
      ['Inspector relay on another port', '$0 daemon run --inspect ws://127.0.0.1:9090'],
    ],
  });

  tick = Option.String('--tick', '5s', { description: 'Drain at least this often when idle (e.g. 5s, 500ms)' });
  batch = Option.String('--batch', '64', { description: 'Rows claimed per batch (1-1000)', validator: batchValidator });
  inspect = Option.String('--inspect', false, {
    tolerateBoolean: true,
    description: `Stream to a Stately inspector relay (default ${'ws://127.0.0.1:8080'})`,
  });
  /** `--inspect ws://…` with a space: Clipanion hands the URL over as a positional. */
  inspectTarget = Option.String({ required: false, name: 'inspect-url' });

  protected async run(): Promise<number> {
    const tickMs = parseTick(this.tick);
    let inspectUrl: string | null = null;
    if (this.inspectTarget !== undefined) {
      if (this.inspect !== true) usageError(`unexpected argument '${this.inspectTarget}'`);
      inspectUrl = this.inspectTarget;
    } else if (typeof this.inspect === 'string') {
      inspectUrl = this.inspect;
    } else if (this.inspect === true) {
      inspectUrl = (await import('../inspect.js')).DEFAULT_INSPECT_URL;
    }
    if (inspectUrl !== null) (await import('../inspect.js')).checkInspectUrl(inspectUrl);

    const { runDaemon } = await import('../daemon-root.js');
    const env = this.context.env as NodeJS.ProcessEnv;
    // Under `daemon start` and the autostart, stderr is logs/daemon.log, which gets JSON lines only.
    const quiet = stderrIsDaemonLog(env);
    const output = await runDaemon({
      env,
      tickMs,
      batchSize: this.batch,
      inspectUrl,
      ...(quiet ? {} : { report: (line: string) => this.warn(line) }),
    });
    if (output.reason !== 'stopped' && !quiet)
      this.warn(`difflore: daemon ${output.reason}: ${output.detail ?? 'no detail'}`);
    // Nothing may keep a stopped daemon alive (its lock and pid file are already released): if some
    // handle still holds the event loop a moment from now, leave anyway.
    setTimeout(() => process.exit(output.exitCode), 2_000).unref();
    return output.exitCode;
  }
}

/** True when fd 2 is the daemon's own log file (spawned by `daemon start` or a hook's autostart). */
function stderrIsDaemonLog(env: NodeJS.ProcessEnv): boolean {
  try {
    const err = fstatSync(2);
    const logFile = statSync(homePaths(resolveHome(env)).daemonLog);
    return err.ino === logFile.ino && err.dev === logFile.dev;
  } catch {
    return false;
  }
}
