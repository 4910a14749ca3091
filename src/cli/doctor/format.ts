/**
 * The doctor's small text helpers: ages, sizes, counts (from the import-free ../text.ts), error prefixes
 * and shell quoting, so the checks and their unit tests load without the CLI framework or SQLite
 * (outbox-helpers.ts would pull in Clipanion).
 */

export {
  formatBytes as formatSize,
  formatDuration as formatAge,
  plural as count,
} from '../text.js';

/**
 * The part of a `last_error` that rows failing for the same reason share: up to the second colon
 * (`track_mcp_query: 400 Bad Request`, `invalid payload: trajectory`), at most 60 characters.
 */
export function reasonPrefix(lastError: string | null): string {
  if (lastError === null || lastError.trim() === '') return '(no error recorded)';
  const flat = lastError.replace(/\s+/g, ' ').trim();
  const first = flat.indexOf(':');
  const second = first === -1 ? -1 : flat.indexOf(':', first + 1);
  let prefix = second === -1 ? flat : flat.slice(0, second);
  if (prefix.length > 60) prefix = `${prefix.slice(0, 59)}…`;
  return prefix;
}

/** Quotes a path for a shell command line when it needs it. */
export function shellPath(path: string): string {
  return /^[A-Za-z0-9_@%+=:,./~-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}
