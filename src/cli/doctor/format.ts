/**
 * Words for numbers in the doctor's lines. Kept apart from outbox-helpers.ts, which pulls in the
 * CLI framework, so the checks stay importable (and testable) on their own.
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
