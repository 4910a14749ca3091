/**
 * The fast router against Clipanion: for every command line the router takes, Clipanion — built
 * from the same specs — selects the same command and path with the same option values, and so the
 * same arguments or the same exit code for a bad value. Command lines are generated from each fast
 * command's own words and from noise (repeats, `=`, `--`, `-`, help, unknown options, stray words).
 * Also the exit-code policy itself.
 */
import { Builtins, Cli, type Command } from 'clipanion';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rawValuesOf, type SpecCommandClass } from '../../src/cli/clipanion-command.js';
import type { CommandSpec, RawValues } from '../../src/cli/command-spec.js';
import daemonRun from '../../src/cli/commands/daemon-run.js';
import daemonStart from '../../src/cli/commands/daemon-start.js';
import daemonStop from '../../src/cli/commands/daemon-stop.js';
import enqueue from '../../src/cli/commands/enqueue.js';
import hookAgent from '../../src/cli/commands/hook-agent.js';
import { EXIT_STOP_FAILED, EXIT_USAGE, exitCodeForError } from '../../src/cli/exit-codes.js';
import { loadCommands } from '../../src/cli/registry.js';
import { type FastRoute, route } from '../../src/cli/router.js';
import { DiffloreError, describeError } from '../../src/errors.js';
import { STOP_EXIT_CODES } from '../../src/machines/stop.js';
import { AGENT_HOOKS } from '../../src/observation/agents/index.js';

const cli = new Cli({ binaryName: 'difflore' });
for (const command of await loadCommands()) cli.register(command);
cli.register(Builtins.HelpCommand);
cli.register(Builtins.VersionCommand);

type Reading = {
  readonly spec: CommandSpec;
  readonly path: readonly string[];
  readonly raw: RawValues<CommandSpec['options']>;
};

/** How Clipanion reads `argv`: the spec command it selects and its values, or why not. */
function clipanionReading(argv: readonly string[]): Reading | { readonly refused: string } {
  let command: Command;
  try {
    command = cli.process([...argv]);
  } catch (error) {
    return { refused: describeError(error) };
  }
  const spec = (command.constructor as Partial<SpecCommandClass>).spec;
  if (spec === undefined) return { refused: `not a spec command: ${command.constructor.name}` };
  if (command.help) return { refused: 'help' };
  return { spec, path: command.path, raw: rawValuesOf(spec, command) };
}

/** What the command would be given: its arguments, or the exit code and message of a bad value. */
function outcome(reading: Reading): unknown {
  try {
    return { args: reading.spec.parse(reading.raw) };
  } catch (error) {
    return { code: exitCodeForError(error, reading.spec.failureCode), message: describeError(error) };
  }
}

const noise = fc.oneof(
  fc.constantFrom('--', '-', '-h', '--help', '--unknown', '--json=1', '--no-json', '--force=', '-x', '', ' ', 'extra'),
  fc.string({ maxLength: 6 }),
);

/** Command lines for `path` from the spec's own words (both spellings, plausible and bad values) and noise. */
function commandLines(paths: fc.Arbitrary<readonly string[]>, words: fc.Arbitrary<string>): fc.Arbitrary<string[]> {
  return fc
    .tuple(
      paths,
      fc.array(fc.oneof({ weight: 4, arbitrary: words }, { weight: 1, arbitrary: noise }), { maxLength: 6 }),
    )
    .map(([path, rest]) => [...path, ...rest]);
}

const durations = fc.constantFrom('3s', '10s', '500ms', '1m', '5', 'soon', '0s', '-5s', '', '2h');
const stopWords = fc.oneof(
  fc.constantFrom('--grace', '--kill-timeout', '--force', '--json'),
  durations.map((d) => `--grace=${d}`),
  durations.map((d) => `--kill-timeout=${d}`),
  durations,
);
const startWords = fc.oneof(
  fc.constantFrom(
    '--tick',
    '--batch',
    '--timeout',
    '--json',
    '--inspect',
    '--inspect=ws://127.0.0.1:9',
    'ws://127.0.0.1:1',
  ),
  fc.constantFrom('64', '0', '1001', 'x', '16').map((n) => `--batch=${n}`),
  durations.map((d) => `--tick=${d}`),
  durations.map((d) => `--timeout=${d}`),
  durations,
  fc.constantFrom('64', '0', '1001', 'x', '16'),
);
const enqueueWords = fc.oneof(
  fc.constantFrom('--json', '-', 'observation', 'mcp_query', 'Bad-Kind', '{}', '{"x":1}', '{oops', '[1]'),
  fc.string({ maxLength: 8 }),
);
const agentNames = AGENT_HOOKS.flatMap((row) => row.names);

const cases: [string, fc.Arbitrary<string[]>][] = [
  ['daemon stop', commandLines(fc.constant(['daemon', 'stop']), stopWords)],
  ['daemon start', commandLines(fc.constant(['daemon', 'start']), startWords)],
  ['daemon run', commandLines(fc.constant(['daemon', 'run']), startWords)],
  ['enqueue', commandLines(fc.constant(['enqueue']), enqueueWords)],
  [
    'hook <agent>',
    commandLines(
      fc.constantFrom(...agentNames, 'install', 'uninstall', 'nobody').map((name) => ['hook', name]),
      fc.constantFrom('--json', 'extra', 'claude-code'),
    ),
  ],
];

describe('the fast router reads a command line exactly as Clipanion does', () => {
  it.each(cases)('%s', async (_name, lines) => {
    let taken = 0;
    await fc.assert(
      fc.asyncProperty(lines, async (argv) => {
        const fast: FastRoute | undefined = await route(argv);
        if (fast === undefined) return;
        taken += 1;
        const slow = clipanionReading(argv);
        expect(slow, argv.join(' ')).not.toHaveProperty('refused');
        const reading = slow as Reading;
        expect(reading.spec).toBe(fast.spec);
        expect(reading.path).toEqual(fast.path);
        expect(reading.raw).toEqual(fast.raw);
        expect(outcome(reading)).toEqual(outcome(fast));
      }),
      { numRuns: 400 },
    );
    // The property must not hold only because the router refused everything.
    expect(taken).toBeGreaterThan(40);
  });

  it('routes only enqueue, hook <agent> and daemon stop|start|run', async () => {
    expect((await route(['enqueue', 'observation', '{}']))?.spec).toBe(enqueue);
    expect((await route(['hook', 'claude-code']))?.spec).toBe(hookAgent);
    expect((await route(['daemon', 'stop', '--json']))?.spec).toBe(daemonStop);
    expect((await route(['daemon', 'start', '--tick', '1s']))?.spec).toBe(daemonStart);
    expect((await route(['daemon', 'run', '--inspect']))?.spec).toBe(daemonRun);
    for (const argv of [
      ['daemon', 'restart'],
      ['daemon', 'status'],
      ['daemon', 'constructor'],
      ['constructor'],
      ['hook', 'install', 'codex'],
      ['outbox', 'status'],
      [],
    ]) {
      expect(await route(argv), argv.join(' ')).toBeUndefined();
    }
  });
});

describe('the exit-code policy', () => {
  it('gives usage errors and bad input 2 in every command, and other failures the command its own code', () => {
    expect(exitCodeForError(new DiffloreError('usage', 'x'))).toBe(EXIT_USAGE);
    expect(exitCodeForError(new DiffloreError('invalid_input', 'x'), EXIT_STOP_FAILED)).toBe(EXIT_USAGE);
    expect(exitCodeForError(new DiffloreError('config', 'x'))).toBe(1);
    expect(exitCodeForError(new DiffloreError('config', 'x'), EXIT_STOP_FAILED)).toBe(3);
    expect(exitCodeForError(new Error('boom'), EXIT_STOP_FAILED)).toBe(3);
    // A stop that throws fails as the stop machine's own failure does (it cannot import the machine:
    // the policy is on the enqueue path, which never loads xstate).
    expect(daemonStop.failureCode).toBe(EXIT_STOP_FAILED);
    expect(STOP_EXIT_CODES.failed).toBe(EXIT_STOP_FAILED);
  });
});
