/**
 * `difflore daemon stop`: runs the stop protocol (DESIGN §3.2). Timed against `node -e 0` (DESIGN
 * §9), so the fast router runs its plain command lines without Clipanion; the work is in run-stop.ts.
 */
import { defineCommand } from '../command-spec.js';
import { forceOption, graceOption, jsonOption, killTimeoutOption, parseStopDurations } from '../daemon-options.js';
import { EXIT_STOP_FAILED } from '../exit-codes.js';
import { loadEntry } from '../bundle-loader.js';

export default defineCommand({
  paths: [['daemon', 'stop']],
  usage: {
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
  },
  options: {
    grace: graceOption,
    killTimeout: killTimeoutOption,
    force: forceOption,
    json: { ...jsonOption, description: 'Print the outcome as one JSON object' },
  },
  failureCode: EXIT_STOP_FAILED,
  exitAtOnce: true,
  parse: (raw) => ({ ...parseStopDurations(raw.grace, raw.killTimeout), force: raw.force, json: raw.json }),
  async run(args, io) {
    const { runStopCommand } = await loadEntry('cli/run-stop', () => import('../run-stop.js'));
    return runStopCommand(args, io);
  },
});
