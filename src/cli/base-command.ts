/**
 * Base for the commands written as Clipanion classes (those built from a spec go through
 * clipanion-command.ts): runs `run()`, turns an error into its message on stderr and its exit code
 * (exit-codes.ts), and gives commands small helpers for output. Overriding Clipanion's `catch` would
 * turn failures into exit 0 (reference/libraries.md §4), so errors are mapped here instead.
 */
import { Command } from 'clipanion';
import { DiffloreError } from '../errors.js';
import { reportFailure } from './exit-codes.js';

export abstract class BaseCommand extends Command {
  protected abstract run(): Promise<number | undefined>;

  async execute(): Promise<number> {
    try {
      return (await this.run()) ?? 0;
    } catch (error) {
      return reportFailure(error, this.context.stderr);
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
