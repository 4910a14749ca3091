/**
 * `difflore daemon run`: the daemon in the foreground — what `daemon start` spawns, what the systemd
 * unit and the launchd agent run, and what a developer runs to watch it. The fast router runs its
 * plain command lines without Clipanion (a `daemon start` waits for it to serve, and the daemon then
 * holds no command module it never runs); the work is in run-foreground.ts and the composition root.
 */
import { loadEntry } from '../bundle-loader.js';
import { defineCommand, optionalValue } from '../command-spec.js';
import { batchOption, DEFAULT_INSPECT_URL, idleBounds, parseBatch, tickOption } from '../daemon-options.js';

export default defineCommand({
  paths: [['daemon', 'run']],
  usage: {
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
  },
  options: {
    tick: tickOption,
    batch: batchOption,
    inspect: optionalValue('--inspect', `Stream to a Stately inspector relay (default ${DEFAULT_INSPECT_URL})`),
  },
  exitAtOnce: true,
  parse: (raw) => ({ ...idleBounds(raw.tick), batchSize: parseBatch(raw.batch), inspect: raw.inspect }),
  async run(args, io) {
    const { runForeground } = await loadEntry('cli/run-foreground', () => import('../run-foreground.js'));
    return runForeground(args, io);
  },
});
