/**
 * One exit-code policy, whichever parser reads the command line: a plain command line goes through
 * the fast router, the same one with a repeated flag through Clipanion, and both must answer with
 * the same code and the same words (README "Exit codes"). `daemon stop` with an empty DIFFLORE_HOME
 * used to exit 3 on the fast path and 1 through Clipanion.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanEnv, makeTempHome, runCli } from '../helpers/index.js';

let temp: { home: string; cleanup: () => void };
beforeEach(() => {
  temp = makeTempHome('difflore-exit-codes-');
});
afterEach(() => temp.cleanup());

/** Runs `args --json` (plain: the fast router takes it) and `args --json --json` (left to Clipanion). */
async function both(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  const fast = await runCli([...args, '--json'], { env });
  const slow = await runCli([...args, '--json', '--json'], { env });
  expect({ code: slow.code, stderr: slow.stderr }, args.join(' ')).toEqual({ code: fast.code, stderr: fast.stderr });
  return { code: fast.code, stderr: fast.stderr };
}

describe('the same exit code through the fast router and through Clipanion', () => {
  it('daemon stop with an empty DIFFLORE_HOME: 3 (refused or failed)', async () => {
    const result = await both(['daemon', 'stop'], cleanEnv({ DIFFLORE_HOME: '' }));
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/DIFFLORE_HOME is set but empty/);
  });

  it('daemon stop with a bad duration: 2 (usage)', async () => {
    const result = await both(['daemon', 'stop', '--grace', 'soon'], cleanEnv({ DIFFLORE_HOME: temp.home }));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--grace 'soon' is not a duration/);
  });

  it('daemon start: 1 when it cannot start, 2 for a bad --batch, the same words as daemon run', async () => {
    expect((await both(['daemon', 'start'], cleanEnv({ DIFFLORE_HOME: '' }))).code).toBe(1);
    const env = cleanEnv({ DIFFLORE_HOME: temp.home });
    const start = await runCli(['daemon', 'start', '--batch', '0'], { env });
    const run = await runCli(['daemon', 'run', '--batch', '0'], { env });
    for (const result of [start, run]) {
      expect(result.code).toBe(2);
      expect(result.stderr).toBe("difflore: --batch '0' must be a whole number from 1 to 1000\n");
    }
  });

  it('enqueue with an empty DIFFLORE_HOME: 1', async () => {
    const result = await both(['enqueue', 'some_future_kind', '{}'], cleanEnv({ DIFFLORE_HOME: '' }));
    expect(result.code).toBe(1);
  });
});
