/**
 * `difflore daemon start`: spawns `daemon run` in the background and waits until it serves. Timed
 * against `pm2 start`, so the fast router runs its plain command lines without Clipanion; the work is
 * in daemon-launch.ts (shared with `daemon restart`).
 */
import { defineCommand } from '../command-spec.js';
import { batchOption, jsonOption, parseLaunchArgs, tickOption, timeoutOption } from '../daemon-options.js';
import { loadEntry } from '../bundle-loader.js';

export default defineCommand({
  paths: [['daemon', 'start']],
  usage: {
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
  },
  options: { tick: tickOption, batch: batchOption, timeout: timeoutOption, json: jsonOption },
  parse: (raw) => ({ launch: parseLaunchArgs(raw), json: raw.json }),
  async run(args, io) {
    const { launchDaemon, printLaunch } = await loadEntry('cli/daemon-launch', () => import('../daemon-launch.js'));
    return printLaunch(await launchDaemon(args.launch, io.env), args.json, io);
  },
});
