/**
 * The dead-code check of `npm run lint` is knip with the project's knip.jsonc. These tests run it on a
 * scratch copy of the tree: the copy as it is passes (so the entries and ignores are right for today's
 * code), and the same copy with a deliberate dead export and an orphan file fails naming both.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const knip = join(root, 'node_modules', '.bin', 'knip');
const copied = ['src', 'test', 'bench', 'sim', 'scripts'];
const files = ['package.json', 'tsconfig.json', 'knip.jsonc', 'vitest.config.ts', '.gitignore'];

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'difflore-knip-'));
  for (const dir of copied) cpSync(join(root, dir), join(scratch, dir), { recursive: true });
  for (const file of files) cpSync(join(root, file), join(scratch, file));
  symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'), 'dir');
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function runKnip(): { status: number | null; report: string } {
  const run = spawnSync(knip, ['--no-progress', '--no-config-hints'], { cwd: scratch, encoding: 'utf8' });
  return { status: run.status, report: `${run.stdout}${run.stderr}` };
}

describe('the dead-code check (knip.jsonc)', () => {
  it('passes on the tree as it is', () => {
    const { status, report } = runKnip();
    expect(report).toBe('');
    expect(status).toBe(0);
  });

  it('fails on an export nobody imports and on a file nothing reaches', () => {
    appendFileSync(join(scratch, 'src', 'errors.ts'), '\nexport const probeNobodyImports = 1;\n');
    writeFileSync(join(scratch, 'src', 'adapters', 'probe-orphan.ts'), 'export const orphan = 2;\n');
    const { status, report } = runKnip();
    expect(status).not.toBe(0);
    expect(report).toMatch(/Unused exports[\s\S]*probeNobodyImports/);
    expect(report).toMatch(/Unused files[\s\S]*src\/adapters\/probe-orphan\.ts/);
  });
});
