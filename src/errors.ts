/**
 * Errors that cross module boundaries. Every error the CLI can show carries a stable `code`;
 * the CLI maps codes to exit codes in one place (cli/exit-codes.ts), so adapters never pick exit codes.
 */

export type ErrorCode =
  /** The command line itself is wrong (unknown flag, bad duration). */
  | 'usage'
  /** The user's input is wrong (bad JSON payload, bad kind, too large). */
  | 'invalid_input'
  /** Configuration is wrong (empty DIFFLORE_HOME, bad URL, token file too open). */
  | 'config'
  /** The database cannot be opened, read or written. */
  | 'db_unavailable'
  /** A file in the data home is unsafe or unreadable (symlink, garbage). */
  | 'unsafe_file'
  /** Some other file-system failure. */
  | 'io'
  /** Another process owns what we wanted (the daemon pid file). */
  | 'conflict'
  | 'internal';

/**
 * Marks every DiffloreError, whichever copy of this module made it: a bundled entry carries its own
 * copy (src/cli/bundle-loader.ts), and its errors must still be DiffloreErrors to the code around it.
 */
const BRAND = Symbol.for('difflore.DiffloreError');

export class DiffloreError extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && BRAND in value;
  }

  readonly [BRAND] = true;
  readonly code: ErrorCode;
  /** What the user can do about it, printed after the message. */
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DiffloreError';
    this.code = code;
    this.hint = options.hint;
  }
}

/** A message for anything thrown, without a stack: what the CLI prints on stderr. */
export function describeError(error: unknown): string {
  if (error instanceof DiffloreError) {
    return error.hint ? `${error.message}\n  hint: ${error.hint}` : error.message;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * `describeError` on one line, for places that show a single line (status and doctor rows,
 * `last_error`, refusal messages): the hint follows as "Fix: …" instead of on a line of its own,
 * which those places would otherwise print as a literal `\u000a`.
 */
export function describeErrorLine(error: unknown): string {
  if (error instanceof DiffloreError && error.hint) return `${error.message} Fix: ${error.hint}`;
  return describeError(error).replace(/\s*\n\s*/g, ' ');
}

/** Node's errno code of a thrown system error, if any (ENOENT, EACCES, ...). */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
