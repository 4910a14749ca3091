#!/usr/bin/env node
/**
 * Entry point of the `difflore` binary. Usage errors go to stderr with exit code 2 (Clipanion
 * would print them on stdout with code 1). Colours only on a TTY and never under NO_COLOR.
 *
 * `difflore enqueue` and `difflore hook <agent>` run from hooks, where start-up time is the whole
 * cost, and `daemon stop|start|run` are timed against `node -e 0` and `pm2`: the fast router
 * (router.ts) runs their plain forms from their specs without Clipanion and the command registry;
 * everything else, `enqueue --help` and any unusual argument list included, goes through Clipanion. Clipanion and the registry
 * are therefore imported dynamically, after that check.
 *
 * The only module that ends the process: exit codes come back from the commands (exit-codes.ts).
 */
import type { SpecCommandClass } from './clipanion-command.js';
import { loadEntry } from './bundle-loader.js';

/** How a command ended: its code, and whether its spec asks to end the process at once. */
interface CliOutcome {
  readonly code: number;
  readonly exitAtOnce: boolean;
}

/**
 * Ends the process at once with `code` where that loses nothing, instead of letting Node wind the
 * event loop down and tear the heap apart: a few milliseconds with xstate loaded, against the stop
 * budget of 1.5 × `node -e 0` (DESIGN §9), and a stopped daemon, whose lock, pid file and last record
 * are released, must vanish while `daemon stop` polls for it. At once only on Linux, where writes to
 * stdout and stderr (files, pipes, TTYs) are synchronous; elsewhere a pipe may still be draining, so
 * the process ends by itself or, if some handle still holds the event loop, 2 s later.
 */
function exitAtOnce(code: number): void {
  if (process.platform === 'linux') process.exit(code);
  setTimeout(() => process.exit(code), 2_000).unref();
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

async function main(argv: string[]): Promise<CliOutcome> {
  ignoreUserSignals();
  // The router, the fast commands' specs and the exit-code policy come as one bundle (fast-entry.ts).
  const { EXIT_USAGE, fdWriter, route, runRoute } = await loadEntry('cli/fast-entry', () => import('./fast-entry.js'));
  const routed = await route(argv);
  if (routed !== undefined) {
    // No stdin stream and direct fd writes: creating process.stdin/stdout costs milliseconds.
    const code = await runRoute(routed, { stdout: fdWriter(1), stderr: fdWriter(2), env: process.env });
    return { code, exitAtOnce: routed.spec.exitAtOnce === true };
  }
  quietBrokenPipes();
  const { Builtins, Cli, loadCommands, VERSION } = await loadEntry(
    'cli/clipanion-entry',
    () => import('./clipanion-entry.js'),
  );
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
    return { code: EXIT_USAGE, exitAtOnce: false };
  }
  const spec = (command.constructor as Partial<SpecCommandClass>).spec;
  const code = await cli.run(command, context);
  return { code, exitAtOnce: spec?.exitAtOnce === true && !command.help };
}

main(process.argv.slice(2)).then(
  ({ code, exitAtOnce: now }) => {
    process.exitCode = code;
    if (now) exitAtOnce(code);
  },
  (error: unknown) =>
    loadEntry('cli/fast-entry', () => import('./fast-entry.js')).then(({ reportFailure }) => {
      process.exitCode = reportFailure(error, process.stderr);
    }),
);
