/**
 * The doctor's output: one screen of text for people, or one stable JSON object for scripts.
 * JSON shape (version 1): `{ version, home, healthy, problems, checks: [{ name, status, detail,
 * fix?, notes? }] }`; names and statuses are listed in checks.ts and never renamed.
 */
import type { Check } from './checks.js';

export const REPORT_VERSION = 1;

export interface DoctorReport {
  readonly version: number;
  readonly home: string;
  /** True when every check is ok. */
  readonly healthy: boolean;
  /** Checks that warn or fail. */
  readonly problems: number;
  readonly checks: readonly Check[];
}

export function buildReport(home: string, checks: readonly Check[]): DoctorReport {
  const problems = checks.filter((c) => c.status !== 'ok').length;
  return { version: REPORT_VERSION, home, healthy: problems === 0, problems, checks };
}

const LABEL = { ok: 'ok', warn: 'WARN', fail: 'FAIL' } as const;
const COLOUR = { ok: '\x1b[32m', warn: '\x1b[33m', fail: '\x1b[31m' } as const;

export function renderText(report: DoctorReport, options: { colour: boolean }): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const paint = (status: Check['status'], text: string): string =>
    options.colour ? `${COLOUR[status]}${text}\x1b[0m` : text;
  const lines: string[] = [`difflore doctor: ${report.home}`];
  const indent = ' '.repeat(width + 10);
  for (const c of report.checks) {
    lines.push(`  ${paint(c.status, LABEL[c.status].padEnd(4))}  ${c.name.padEnd(width)}  ${c.detail}`);
    for (const note of c.notes ?? []) lines.push(`${indent}${note}`);
    if (c.fix !== undefined) lines.push(`${indent}fix: ${c.fix}`);
  }
  if (report.healthy) {
    lines.push('All checks passed.');
  } else {
    const fails = report.checks.filter((c) => c.status === 'fail').length;
    const warns = report.problems - fails;
    const parts = [fails > 0 ? `${fails} failing` : '', warns > 0 ? `${warns} warning${warns === 1 ? '' : 's'}` : ''];
    lines.push(
      `${report.problems} problem${report.problems === 1 ? '' : 's'} (${parts.filter(Boolean).join(', ')}); each has its fix above.`,
    );
  }
  return `${lines.join('\n')}\n`;
}
