/**
 * The Clipanion class of a command spec (command-spec.ts): one Clipanion option per spec option, the
 * spec's help, and an `execute` that collects the values Clipanion parsed and hands them to the same
 * `runSpec` as the fast router. Loaded only on the Clipanion path (registry.ts).
 */
import { type BaseContext, Command, type CommandClass, Option } from 'clipanion';
import { DiffloreError } from '../errors.js';
import {
  type CommandSpec,
  type OptionSpec,
  type Options,
  type RawValues,
  runSpec,
  withDefaults,
} from './command-spec.js';

/** The key of the positional that takes `--inspect URL`'s URL when Clipanion parses it apart. */
const targetKey = (key: string): string => `${key}\u0000target`;

/** A Clipanion class built from a spec, which it keeps for main.ts and the tests. */
export type SpecCommandClass = CommandClass<BaseContext> & { readonly spec: CommandSpec };

function clipanionOptions(key: string, option: OptionSpec): [string, unknown][] {
  switch (option.kind) {
    case 'flag':
      return [[key, Option.Boolean(option.name, false, { description: option.description })]];
    case 'value':
      // No initial value: defaults are the spec's, filled in by withDefaults for both parsers.
      return [[key, Option.String(option.name, { description: option.description })]];
    case 'optionalValue':
      return [
        [key, Option.String(option.name, false, { tolerateBoolean: true, description: option.description })],
        // `--inspect ws://…` with a space: Clipanion hands the URL over as a positional.
        [targetKey(key), Option.String({ required: false, name: `${option.name.slice(2)}-url` })],
      ];
    case 'positional':
      return [[key, Option.String({ name: option.name, required: option.required })]];
  }
}

/** What Clipanion parsed into `command` for the option `key`, in the fast router's terms. */
function parsedValue(command: Record<string, unknown>, key: string, option: OptionSpec): string | boolean | undefined {
  const parsed = command[key];
  if (option.kind !== 'optionalValue') return parsed as string | boolean | undefined;
  const target = command[targetKey(key)] as string | undefined;
  if (target !== undefined) {
    if (parsed !== true) throw new DiffloreError('usage', `unexpected argument '${target}'`);
    return target;
  }
  if (typeof parsed === 'string') return parsed;
  return parsed === true ? '' : undefined;
}

/** The raw values of a parsed command, as parsePlain would give them for the same command line. */
export function rawValuesOf<O extends Options>(spec: CommandSpec<O, unknown>, command: Command): RawValues<O> {
  const fields = command as unknown as Record<string, unknown>;
  return withDefaults(spec.options, (key) => parsedValue(fields, key, spec.options[key] as OptionSpec));
}

export function commandClass<O extends Options, A>(spec: CommandSpec<O, A>): SpecCommandClass {
  class SpecCommand extends Command {
    static override paths = spec.paths.map((path) => [...path]);
    static override usage = Command.Usage(spec.usage);
    static readonly spec: CommandSpec = spec;

    constructor() {
      super();
      // Clipanion finds options as the instance's enumerable fields, in order (positionals by position).
      for (const [key, option] of Object.entries(spec.options)) {
        for (const [field, definition] of clipanionOptions(key, option))
          Object.defineProperty(this, field, {
            value: definition,
            writable: true,
            enumerable: true,
            configurable: true,
          });
      }
    }

    async execute(): Promise<number> {
      const { stdin, stdout, stderr, env } = this.context;
      return runSpec(spec, () => rawValuesOf(spec, this), { stdin, stdout, stderr, env }, this.path);
    }
  }
  return SpecCommand;
}
