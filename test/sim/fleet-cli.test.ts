/**
 * `npm run simulate -- fleet` as a person or a script runs it: the one JSON line with its named fields,
 * the picture, and usage errors (exit 2, what was wrong). A small fleet keeps it quick.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const run = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(root, 'sim', 'run.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
  });
const dir = mkdtempSync(join(tmpdir(), 'fleet-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run simulate -- fleet', () => {
  it('--json prints exactly one line with the named figures, and --svg draws both policies', () => {
    const svg = join(dir, 'fleet.svg');
    const result = run('fleet', '--daemons', '500', '--outage-s', '300', '--seed', '4', '--json', '--svg', svg);
    expect(result.status, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const figures = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(Object.keys(figures)).toEqual([
      'name',
      'daemons',
      'outage_s',
      'steady_rps',
      'peak_rps',
      'peak_ratio',
      'drain_s',
      'abandoned',
      'rust_peak_ratio',
      'rust_drain_s',
      'wall_s',
    ]);
    expect(figures).toMatchObject({ name: 'fleet', daemons: 500, outage_s: 300 });
    const picture = readFileSync(svg, 'utf8');
    expect(picture).toMatch(/^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(picture.match(/<polyline /g)).toHaveLength(4); // requests/s and backlog, ours and Rust's
  });

  it('prints both policies side by side without --json', () => {
    const result = run('fleet', '--daemons', '200', '--duration-s', '900');
    expect(result.status, result.stderr).toBe(0);
    for (const label of ['peak ÷ steady', 'drain time after recovery', 'rows abandoned', 'p99 delivery delay']) {
      expect(result.stdout).toContain(label);
    }
    expect(result.stdout).toMatch(/ours\s+Rust/);
  });

  it.each([
    [['fleet', '--daemons', 'many'], "--daemons needs a whole number ≥ 0; got 'many'"],
    [['fleet', '--outage-s', '900', '--duration-s', '600'], 'the outage to end before --duration-s'],
    [['fleets'], "expected the simulation's name, 'fleet'"],
    [['fleet', '--outage-answer', 'timeout'], '--outage-answer is refused or 503'],
  ])('%j is a usage error (exit 2) that says what is wrong', (args, message) => {
    const result = run(...args);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).toContain('usage: npm run simulate -- fleet');
    expect(result.stdout).toBe('');
  });
});
