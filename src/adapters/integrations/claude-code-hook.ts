/**
 * The I/O side of the observation builder (src/observation/), shared by every agent's hook: SHA-256
 * from node:crypto, and the limits and matcher the hook and its installer use. The builder itself is
 * pure and takes the hash as a function, so that it needs no node:* import; node:crypto is native and
 * already loaded by Node, which a pure-JS SHA-256 would not beat. (The module keeps its name from when
 * it held the whole Claude Code hook; the hook's module-load test looks for it.)
 */
import { createHash } from 'node:crypto';
import { OBSERVATION_TOOLS } from '../../observation/classify.js';

/** A hook event larger than this is not read (the Rust shim's 16 MiB bound). */
export const MAX_EVENT_BYTES = 16 * 1024 * 1024;

/**
 * The PostToolUse matcher `hook install claude-code` writes: the tools that can become observations.
 * Rust also matches Bash for its error recall, which we do not do, so Bash would only cost a process.
 */
export const OBSERVED_TOOLS_MATCHER = OBSERVATION_TOOLS.join('|');

/** Lowercase hex SHA-256 of the UTF-8 bytes of `text`. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
