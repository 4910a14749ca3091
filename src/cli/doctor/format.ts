/**
 * The doctor's small text helpers: ages, sizes, counts, error prefixes and shell quoting. No imports,
 * so the checks and their unit tests load without the CLI framework or SQLite (outbox-helpers.ts
 * would pull in Clipanion).
 */

/** "3d 4h", "12m 5s", "800ms": the two largest units read at a glance. */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const units: readonly [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  const parts: string[] = [];
  let rest = ms;
  for (const [name, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (parts.length === 0 && n === 0) continue;
    if (n > 0) parts.push(`${n}${name}`);
    if (parts.length === 2 || (parts.length === 1 && n === 0)) break;
  }
  return parts.join(' ');
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

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
