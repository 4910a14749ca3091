/**
 * The fast router: runs the plain command lines of the commands a benchmark times, from their specs,
 * without loading Clipanion and the command registry — `enqueue` and `hook <agent>` (run by hooks on
 * every event), `daemon stop` (against `node -e 0`, DESIGN §9), and `daemon start` with the `daemon
 * run` it spawns (against `pm2 start`: through Clipanion both would pay 150–300 ms more, and the
 * daemon would hold every command module, ~11 MB). Anything else, and any command line of theirs that
 * is not plain (`--help`, unknown or repeated options, odd arity), is left to Clipanion, which builds
 * the same commands from the same specs; a property test checks that both read every command line
 * the router takes the same way.
 */
import type { CommandIo, CommandSpec, RawValues } from './command-spec.js';
import { matchPath, parsePlain, runSpec } from './command-spec.js';

type SpecModule = { readonly default: CommandSpec };

const DAEMON: Readonly<Record<string, () => Promise<SpecModule>>> = {
  stop: () => import('./commands/daemon-stop.js'),
  start: () => import('./commands/daemon-start.js'),
  run: () => import('./commands/daemon-run.js'),
};

/** The fast commands by first word: only the spec of the command typed is loaded. */
const FAST: Readonly<Record<string, (second: string | undefined) => Promise<SpecModule> | undefined>> = {
  enqueue: () => import('./commands/enqueue.js'),
  // `hook install|uninstall` are not paths of this spec: matchPath leaves them to Clipanion.
  hook: () => import('./commands/hook-agent.js'),
  daemon: (second) => own(DAEMON, second)?.(),
};

/** `table[key]` for the table's own keys only (`constructor` or `__proto__` typed as a command is no route). */
function own<T>(table: Readonly<Record<string, T>>, key: string | undefined): T | undefined {
  return key !== undefined && Object.hasOwn(table, key) ? table[key] : undefined;
}

export interface FastRoute {
  readonly spec: CommandSpec;
  readonly path: readonly string[];
  readonly raw: RawValues<CommandSpec['options']>;
}

/** Where `argv` goes on the fast path, with its raw values; undefined: to Clipanion. */
function routeWith(spec: CommandSpec, argv: readonly string[]): FastRoute | undefined {
  const path = matchPath(spec, argv);
  if (path === undefined) return undefined;
  const raw = parsePlain(spec, argv.slice(path.length));
  return raw === undefined ? undefined : { spec, path, raw };
}

/** The route of `argv`, loading only the spec of the command typed; undefined: to Clipanion. */
export async function route(argv: readonly string[]): Promise<FastRoute | undefined> {
  const load = own(FAST, argv[0])?.(argv[1]);
  if (load === undefined) return undefined;
  return routeWith((await load).default, argv);
}

/** Runs a routed command line; returns its exit code. */
export function runRoute(routed: FastRoute, io: CommandIo): Promise<number> {
  return runSpec(routed.spec, () => routed.raw, io, routed.path);
}
