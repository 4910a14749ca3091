/**
 * The exit-code policy (README "Exit codes"), the one place an error becomes an exit code, for the
 * Clipanion commands and the fast router alike. Usage errors and bad input are 2 whatever the
 * command; any other failure is the command's own failure code (1, or 3 for `daemon stop`, whose 2
 * means "would not die"). Adapters never pick exit codes: they throw DiffloreErrors with a code.
 */
import { DiffloreError, describeError } from '../errors.js';

/** A failure, for commands that document no other code for it. */
const EXIT_FAILURE = 1;
/** A usage error or invalid input: a bad flag, duration, kind or payload. */
export const EXIT_USAGE = 2;
/** `daemon stop` refused to signal, or failed (README "Exit codes"; STOP_EXIT_CODES.failed, pinned by a test). */
export const EXIT_STOP_FAILED = 3;

/** The exit code of `error` in a command whose failure code is `failureCode`. */
export function exitCodeForError(error: unknown, failureCode: number = EXIT_FAILURE): number {
  if (error instanceof DiffloreError && (error.code === 'usage' || error.code === 'invalid_input')) return EXIT_USAGE;
  return failureCode;
}

/** Says what went wrong on stderr, without a stack, and returns the exit code. */
export function reportFailure(
  error: unknown,
  stderr: { write(text: string): unknown },
  failureCode: number = EXIT_FAILURE,
): number {
  stderr.write(`difflore: ${describeError(error)}\n`);
  return exitCodeForError(error, failureCode);
}

/** Throws a usage error (exit 2) with a message that names the problem. */
export function usageError(message: string, hint?: string): never {
  throw new DiffloreError('usage', message, hint === undefined ? {} : { hint });
}
