/**
 * `difflore daemon restart`: `daemon stop`, then `daemon start` — only if the stop left nothing running.
 */
import { defineCommand } from '../command-spec.js';
import {
  batchOption,
  forceOption,
  graceOption,
  jsonOption,
  killTimeoutOption,
  parseLaunchArgs,
  parseStopDurations,
  tickOption,
  timeoutOption,
} from '../daemon-options.js';

export default defineCommand({
  paths: [['daemon', 'restart']],
  usage: {
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
  },
  options: {
    grace: graceOption,
    killTimeout: killTimeoutOption,
    force: forceOption,
    tick: tickOption,
    batch: batchOption,
    timeout: { ...timeoutOption, description: 'How long to wait for the new daemon to be serving' },
    json: { ...jsonOption, description: 'Print one JSON object per step' },
  },
  parse: (raw) => ({
    stop: { ...parseStopDurations(raw.grace, raw.killTimeout), force: raw.force, json: raw.json },
    launch: parseLaunchArgs(raw),
    json: raw.json,
  }),
  async run(args, io) {
    const [{ runStopCommand }, { launchDaemon, printLaunch }] = await Promise.all([
      import('../run-stop.js'),
      import('../daemon-launch.js'),
    ]);
    const stopped = await runStopCommand(args.stop, io);
    if (stopped !== 0) {
      io.stderr.write('difflore: not starting a new daemon because the old one was not stopped\n');
      return stopped;
    }
    return printLaunch(await launchDaemon(args.launch, io.env), args.json, io);
  },
});
