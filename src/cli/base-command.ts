/**
 * Base for every command: runs `run()`, turns a DiffloreError into its message on stderr and its
 * exit code, and gives commands small helpers for output. Overriding Clipanion's `catch` would turn
 * failures into exit 0 (reference/libraries.md §4), so errors are mapped here instead.
 */
import { Command } from 'clipanion';
import { DiffloreError, describeError, exitCodeFor } from '../errors.js';

export abstract class BaseCommand extends Command {
  protected abstract run(): Promise<number | undefined>;

  async execute(): Promise<number> {
    try {
      return (await this.run()) ?? 0;
    } catch (error) {
      if (error instanceof DiffloreError) {
        this.context.stderr.write(`difflore: ${describeError(error)}\n`);
        return exitCodeFor(error.code);
      }
      throw error;
    }
  }

  protected print(line = ''): void {
    this.context.stdout.write(`${line}\n`);
  }

  protected printJson(value: unknown): void {
    this.context.stdout.write(`${JSON.stringify(value)}\n`);
  }

  protected warn(line: string): void {
    this.context.stderr.write(`${line}\n`);
  }
}

/** Throws a usage error (exit 2) with a message that names the problem. */
export function usageError(message: string, hint?: string): never {
  throw new DiffloreError('usage', message, hint === undefined ? {} : { hint });
}
