#!/usr/bin/env node
/**
 * Entry point of the `difflore` binary. Usage errors go to stderr with exit code 2 (Clipanion
 * would print them on stdout with code 1). Colours only on a TTY and never under NO_COLOR.
 *
 * `difflore enqueue` and `difflore hook <agent>` run from hooks, where start-up time is the whole
 * cost, so their plain forms skip Clipanion and the command registry entirely (enqueue-fast.ts, hook-fast.ts); everything else, `enqueue
 * --help` and any unusual `enqueue` argument list included, goes through Clipanion. Clipanion and
 * the registry are therefore imported dynamically, after that check.
 */
import { describeError } from '../errors.js';
import { loadEntry } from './bundle-loader.js';
import { fdWriter } from './fd-writer.js';

/**
 * Ends the process at once with `code` where that loses nothing, instead of letting Node wind the
 * event loop down and tear the heap apart (a few milliseconds with xstate loaded, against the stop
 * budget of 1.5 × `node -e 0`, DESIGN §9; no measurable gain for enqueue, which keeps its natural
 * exit). Only on Linux, where writes to stdout and stderr (files, pipes, TTYs) are synchronous;
 * elsewhere a pipe may still be draining, and the code is returned.
 */
function exitNow(code: number): number {
  if (process.platform === 'linux') process.exit(code);
  return code;
}

/**
 * SIGUSR1 would open Node's inspector on 127.0.0.1:9229 inside a process that may hold the cloud
 * token, and SIGUSR2 would kill a daemon without a clean stop. Neither means anything to difflore, so
 * a listener replaces both default actions from the first moment (`node --inspect` still works);
 * the daemon also logs them (adapters/lifecycle/signals.ts).
 */
function ignoreUserSignals(): void {
  for (const signal of ['SIGUSR1', 'SIGUSR2'] as const) {
    try {
      process.on(signal, () => undefined);
    } catch {
      // Not a signal on this platform (Windows).
    }
  }
}

/**
 * A reader that goes away early (`difflore daemon status | head -1`) is not a failure of the
 * command: without a listener, the EPIPE that Node reports on the stream would crash the process
 * with a stack trace and exit 1 instead of the command's own status. Further output is dropped; the
 * command finishes and exits with its code. Only for paths that use the streams at all (the fast
 * paths write through fd writers, which already drop EPIPE).
 */
function quietBrokenPipes(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
      // Anything else is a real failure to write: no output can be trusted, so fail.
      process.exitCode = 1;
    });
  }
}

async function main(argv: string[]): Promise<number> {
  ignoreUserSignals();
  if (argv[0] === 'enqueue') {
    const { fastEnqueue } = await loadEntry('cli/enqueue-fast', () => import('./enqueue-fast.js'));
    // No stdin stream and direct fd writes: creating process.stdin/stdout costs milliseconds.
    const code = await fastEnqueue(argv.slice(1), { stdout: fdWriter(1), stderr: fdWriter(2) });
    if (code !== undefined) return code;
  }
  if (argv[0] === 'hook' && argv[1] !== undefined && argv[1] !== 'install' && argv[1] !== 'uninstall') {
    // `hook <agent>` runs on every tool call of the agent: same reason as enqueue.
    const { fastHook } = await loadEntry('cli/hook-fast', () => import('./hook-fast.js'));
    const code = await fastHook(argv.slice(1));
    if (code !== undefined) return code;
  }
  if (argv[0] === 'daemon' && (argv[1] === 'run' || argv[1] === 'start' || argv[1] === 'stop')) {
    // `daemon stop` is timed against `node -e 0` (DESIGN §9) and `daemon start` pays for itself and
    // for the `daemon run` it spawns: their plain forms skip Clipanion too.
    const { fastDaemon } = await import('./daemon-fast.js');
    // `daemon stop` writes a line or two and exits at once (exitNow): plain fd writes, no streams.
    if (argv[1] !== 'stop') quietBrokenPipes();
    const io =
      argv[1] === 'stop'
        ? { stdout: fdWriter(1), stderr: fdWriter(2), env: process.env }
        : { stdout: process.stdout, stderr: process.stderr, env: process.env };
    const code = await fastDaemon(argv.slice(1), io);
    // `daemon stop` is done once it has printed (its records are synced, its log closed).
    if (code !== undefined) return argv[1] === 'stop' ? exitNow(code) : code;
  }
  quietBrokenPipes();
  const [{ Builtins, Cli }, { loadCommands }, { VERSION }] = await Promise.all([
    import('clipanion'),
    import('./registry.js'),
    import('../version.js'),
  ]);
  const enableColors = process.stdout.isTTY === true && !process.env.NO_COLOR;
  const cli = new Cli({ binaryLabel: 'difflore', binaryName: 'difflore', binaryVersion: VERSION, enableColors });
  for (const command of await loadCommands()) cli.register(command);
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  const context = { ...Cli.defaultContext, colorDepth: enableColors ? Cli.defaultContext.colorDepth : 1 };
  let command: ReturnType<typeof cli.process>;
  try {
    command = cli.process(argv, context);
  } catch (error) {
    process.stderr.write(cli.error(error, { colored: false }));
    process.stderr.write(`Run 'difflore --help' for the list of commands.\n`);
    return 2;
  }
  try {
    return await cli.run(command, context);
  } catch (error) {
    process.stderr.write(`difflore: ${describeError(error)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`difflore: ${describeError(error)}\n`);
    process.exitCode = 1;
  },
);
