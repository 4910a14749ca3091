/**
 * Small text helpers for people, shared by the light paths (daemon status and stop, the doctor's checks)
 * and the Clipanion commands: ages, sizes, counts, and escaping control characters. No imports, so any
 * module may use them without loading the CLI framework, SQLite or xstate.
 */

/**
 * Milliseconds on a monotonic clock, for the elapsed times commands report. Not `performance.now()`:
 * its first call loads perf_hooks, ~0.5 ms of a `daemon start` or `daemon stop` timed against pm2 and
 * `node -e 0` (README benchmarks).
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * "3d 4h", "12m 5s", "4.3s", "800ms": the two largest units are enough to read an age at a glance;
 * under 10 s a tenth still matters (a demo's delivery time, a stop's grace).
 */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1).replace(/\.0$/, '')}s`;
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
    if (n > 0 || parts.length > 0) parts.push(`${n}${name}`);
    rest -= n * size;
    if (parts.length === 2) break;
  }
  return parts.filter((p, i) => i === 0 || !p.startsWith('0')).join(' ');
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** "1 file", "3 files". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Text with C0, DEL and C1 control characters (newlines included) shown as \uXXXX escapes. */
export function printable(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.charCodeAt(0);
    out += code < 0x20 || (code >= 0x7f && code <= 0x9f) ? `\\u${code.toString(16).padStart(4, '0')}` : ch;
  }
  return out;
}
