/**
 * What `difflore daemon stop` does and prints, for its spec (commands/daemon-stop.ts) and `daemon
 * restart`. Imports only light modules at the top; the stop machine and its adapters load in
 * `runStopCommand`.
 */
import type { CommandIo } from './command-spec.js';
import { printable } from './daemon-text.js';
import { formatDuration, monotonicMs } from './text.js';

export interface StopArgs {
  readonly graceMs: number;
  readonly killTimeoutMs: number;
  readonly force: boolean;
  readonly json: boolean;
}

/** Runs the stop protocol and prints its outcome; returns the exit code (DESIGN §8). */
export async function runStopCommand(args: StopArgs, io: CommandIo): Promise<number> {
  const { runStop } = await import('../runtime/stop-runtime.js');
  const started = monotonicMs();
  const { output } = await runStop({
    env: io.env,
    graceMs: args.graceMs,
    killTimeoutMs: args.killTimeoutMs,
    force: args.force,
    onLog: (level, message) => {
      if (level !== 'debug') io.stderr.write(`difflore: ${message}\n`);
    },
  });
  const elapsedMs = Math.round(monotonicMs() - started);
  if (args.json) {
    io.stdout.write(`${JSON.stringify({ ...output, elapsedMs })}\n`);
    return output.exitCode;
  }
  const pid = output.pid;
  const target = pid === null ? 'the daemon' : `the daemon (pid ${pid})`;
  switch (output.outcome) {
    case 'notRunning':
      io.stdout.write('not running\n');
      break;
    case 'staleCleaned':
      io.stdout.write(
        pid === null
          ? 'not running; removed an unreadable pid file\n'
          : `not running; removed a stale pid file (pid ${pid} was not a live daemon)\n`,
      );
      break;
    case 'terminated':
      io.stdout.write(`stopped ${target}\n`);
      break;
    case 'killed':
      io.stdout.write(`killed ${target}: it did not exit within ${formatDuration(args.graceMs)} of SIGTERM\n`);
      break;
    case 'wouldNotDie':
      io.stderr.write(
        `difflore: ${target} would not die: still alive ${formatDuration(args.killTimeoutMs)} after SIGKILL (stuck in the kernel?)\n`,
      );
      break;
    case 'refused':
      if (output.refusal === 'notPermitted') {
        io.stderr.write(`difflore: not permitted to signal pid ${pid} (another user's process); nothing was sent\n`);
      } else if (pid === null) {
        io.stderr.write(
          'difflore: a daemon holds daemon.lock but no pid file names it; there is no process to signal\n' +
            '  hint: find it with: fuser daemon.lock (in the data home)\n',
        );
      } else {
        io.stderr.write(
          `difflore: refusing to signal pid ${pid}: difflore cannot prove it is its daemon ` +
            '(a Rust daemon, or a process that reused the pid); nothing was sent\n' +
            `  hint: if pid ${pid} is a difflore daemon, run: difflore daemon stop --force\n`,
        );
      }
      break;
    case 'failed':
      io.stderr.write(`difflore: could not stop the daemon: ${printable(output.detail ?? 'unknown error')}\n`);
      break;
  }
  return output.exitCode;
}
