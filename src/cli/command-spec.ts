/**
 * A command described once: its paths, help, options (with their defaults), how the raw option
 * values become the command's arguments, and what it runs. From one spec, clipanion-command.ts builds
 * the Clipanion class (help, `--help`, errors for odd command lines) and router.ts runs the plain
 * command lines of the few commands whose start-up time is their cost. Both end in `runSpec`, so the
 * defaults, the value parsers and the exit codes cannot drift apart.
 *
 * Imports nothing heavy (the enqueue and hook paths load it): no Clipanion, only its types.
 */
import type { Usage } from 'clipanion';
import { reportFailure } from './exit-codes.js';

/** `--name` (or aliases: `-f,--follow`): true when given, false otherwise. */
interface FlagOption {
  readonly kind: 'flag';
  readonly name: string;
  readonly description: string;
}

/** `--name VALUE` or `--name=VALUE`; `default` when left out. */
interface ValueOption {
  readonly kind: 'value';
  readonly name: string;
  readonly description: string;
  readonly default?: string;
}

/** `--name`, `--name=VALUE` or `--name VALUE`: null when left out, '' when given without a value. */
interface OptionalValueOption {
  readonly kind: 'optionalValue';
  readonly name: string;
  readonly description: string;
}

/** A word in order; an optional one may be left out only after every required one. */
interface PositionalOption {
  readonly kind: 'positional';
  readonly name: string;
  readonly required: boolean;
}

export type OptionSpec = FlagOption | ValueOption | OptionalValueOption | PositionalOption;
export type Options = Readonly<Record<string, OptionSpec>>;

type RawOf<O extends OptionSpec> = O extends FlagOption
  ? boolean
  : O extends OptionalValueOption
    ? string | null
    : O extends { readonly default: string }
      ? string
      : O extends { readonly required: true }
        ? string
        : string | undefined;

/** The option values as typed on the command line, defaults filled in, before the spec's parsers. */
export type RawValues<O extends Options> = { readonly [K in keyof O]: RawOf<O[K]> };

export interface Writer {
  write(text: string): unknown;
}

export interface CommandIo {
  /** Where input comes from; absent means fd 0, read without building process.stdin. */
  readonly stdin?: NodeJS.ReadableStream;
  readonly stdout: Writer;
  readonly stderr: Writer;
  readonly env: NodeJS.ProcessEnv;
}

export interface CommandSpec<O extends Options = Options, A = unknown> {
  readonly paths: readonly (readonly string[])[];
  readonly usage: Usage;
  readonly options: O;
  /** The code of a failure that is not a usage error (README "Exit codes"): 1 unless given. */
  readonly failureCode?: number;
  /**
   * When the command returns, main.ts ends the process at once instead of letting Node wind the event
   * loop down: `daemon stop` (timed against `node -e 0`) and `daemon run` (a stop is polling for it).
   */
  readonly exitAtOnce?: boolean;
  /** The arguments from the raw values; throws DiffloreError('usage') naming the bad value. */
  parse(raw: RawValues<O>): A;
  /** Runs the command; `path` is the command path typed (`hook codex`). Returns the exit code. */
  run(args: A, io: CommandIo, path: readonly string[]): Promise<number>;
}

/** Declares a spec; only here so that TypeScript infers the options' exact types. */
export function defineCommand<const O extends Options, A>(spec: CommandSpec<O, A>): CommandSpec<O, A> {
  return spec;
}

export function flag(name: string, description: string): FlagOption {
  return { kind: 'flag', name, description };
}

export function value(
  name: string,
  description: string,
  defaultValue: string,
): ValueOption & { readonly default: string };
export function value(name: string, description: string): ValueOption;
export function value(name: string, description: string, defaultValue?: string): ValueOption {
  return defaultValue === undefined
    ? { kind: 'value', name, description }
    : { kind: 'value', name, description, default: defaultValue };
}

export function optionalValue(name: string, description: string): OptionalValueOption {
  return { kind: 'optionalValue', name, description };
}

export function positional<const R extends boolean>(
  name: string,
  required: R,
): PositionalOption & { readonly required: R } {
  return { kind: 'positional', name, required };
}

/** Line-wise output for a command's run. */
export function output(io: CommandIo): {
  print(line?: string): void;
  printJson(value: unknown): void;
  warn(line: string): void;
} {
  return {
    print: (line = '') => io.stdout.write(`${line}\n`),
    printJson: (value) => io.stdout.write(`${JSON.stringify(value)}\n`),
    warn: (line) => io.stderr.write(`${line}\n`),
  };
}

/** Parses and runs: the one place both the Clipanion class and the fast router go through. */
export async function runSpec<O extends Options, A>(
  spec: CommandSpec<O, A>,
  raw: () => RawValues<O>,
  io: CommandIo,
  path: readonly string[],
): Promise<number> {
  try {
    return await spec.run(spec.parse(raw()), io, path);
  } catch (error) {
    return reportFailure(error, io.stderr, spec.failureCode);
  }
}

/** The spec's path that `argv` starts with, if any. */
export function matchPath(spec: CommandSpec, argv: readonly string[]): readonly string[] | undefined {
  return spec.paths.find((path) => path.length <= argv.length && path.every((word, i) => argv[i] === word));
}

/**
 * The fast router's grammar: the raw values of `args` (what follows the path) when they are a plain
 * use of the command — each option at most once, values not starting with `-`, the positionals'
 * count in range — and undefined for anything else (`--help`, `--`, unknown or repeated options,
 * odd arity), which Clipanion then parses and words its own help or error for.
 */
export function parsePlain<O extends Options>(
  spec: CommandSpec<O, unknown>,
  args: readonly string[],
): RawValues<O> | undefined {
  const entries = Object.entries(spec.options);
  const byName = new Map<string, string>();
  for (const [key, option] of entries) {
    if (option.kind !== 'positional') for (const alias of option.name.split(',')) byName.set(alias, key);
  }
  const positionalKeys = entries.filter(([, o]) => o.kind === 'positional').map(([key]) => key);
  const found = new Map<string, string | boolean>();
  const words: string[] = [];
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] as string;
    if (arg === '-' || !arg.startsWith('-')) {
      words.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const key = byName.get(name);
    if (key === undefined || found.has(key)) return undefined;
    const option = spec.options[key] as OptionSpec;
    if (option.kind === 'flag') {
      if (inline !== undefined) return undefined;
      found.set(key, true);
    } else if (option.kind === 'value') {
      const given = inline ?? args[++i];
      if (given === undefined || given.startsWith('-')) return undefined;
      found.set(key, given);
    } else {
      let given = inline ?? '';
      const next = args[i + 1];
      if (inline === undefined && next !== undefined && !next.startsWith('-')) {
        given = next;
        i += 1;
      }
      found.set(key, given);
    }
  }
  const required = positionalKeys.filter((key) => (spec.options[key] as PositionalOption).required).length;
  if (words.length < required || words.length > positionalKeys.length) return undefined;
  for (const [i, word] of words.entries()) found.set(positionalKeys[i] as string, word);
  return withDefaults(spec.options, (key) => found.get(key));
}

/** Raw values from what a parser found per option key (undefined: not given), defaults filled in. */
export function withDefaults<O extends Options>(
  options: O,
  given: (key: string) => string | boolean | undefined,
): RawValues<O> {
  const raw: Record<string, string | boolean | null | undefined> = {};
  for (const [key, option] of Object.entries(options)) {
    const value = given(key);
    if (option.kind === 'flag') raw[key] = value === true;
    else if (option.kind === 'optionalValue') raw[key] = typeof value === 'string' ? value : null;
    else if (option.kind === 'value') raw[key] = typeof value === 'string' ? value : option.default;
    else raw[key] = typeof value === 'string' ? value : undefined;
  }
  return raw as RawValues<O>;
}
