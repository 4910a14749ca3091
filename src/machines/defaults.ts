/**
 * Defaults that the machines, the drain and the CLI's options share, written once. No imports, so the
 * CLI's fast paths can read them without loading a machine.
 */

/** Rows claimed per batch: `daemon run/start/restart --batch`, the daemon machine's input, a drain pass. */
export const DEFAULT_BATCH_SIZE = 64;
