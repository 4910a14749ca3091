/**
 * The layering rules live in biome.json (`npm run lint` fails on them). These tests lay deliberate
 * violations into a scratch tree that uses the project's own biome.json and check that Biome refuses
 * each one — and accepts the allowed imports next to them, so a rule that forbids everything fails too.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const biome = join(root, 'node_modules', '.bin', 'biome');
const scratch = mkdtempSync(join(tmpdir(), 'difflore-lint-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let probes = 0;
/** Lints one file at `path` (relative to the scratch tree) holding `source`; returns Biome's report. */
function lint(path: string, source: string): { ok: boolean; report: string } {
  // A fresh sub-tree per probe, so one probe's violation never shows up in another's report.
  const tree = join(scratch, `probe-${probes++}`);
  const file = join(tree, path);
  mkdirSync(dirname(file), { recursive: true });
  copyFileSync(join(root, 'biome.json'), join(tree, 'biome.json'));
  writeFileSync(file, `${source}\n`);
  const run = spawnSync(biome, ['lint', path], { cwd: tree, encoding: 'utf8' });
  return { ok: run.status === 0, report: `${run.stdout}${run.stderr}` };
}

describe('the layering rules in biome.json', () => {
  const refused: Array<[string, string, string]> = [
    ['a machine importing node:*', 'src/machines/probe.ts', "import { readFileSync } from 'node:fs';"],
    ['a machine importing an adapter', 'src/machines/probe.ts', "import { openDatabase } from '../adapters/db.js';"],
    ['a machine importing the CLI', 'src/machines/contracts/probe.ts', "import { plural } from '../../cli/text.js';"],
    ['an adapter importing the CLI', 'src/adapters/probe.ts', "import { plural } from '../cli/text.js';"],
    ['an adapter importing the view', 'src/adapters/auth/probe.ts', "import { x } from '../../view/feed.js';"],
    ['the observation builder importing xstate', 'src/observation/probe.ts', "import { createActor } from 'xstate';"],
    [
      'the observation builder importing node:*',
      'src/observation/agents/probe.ts',
      "import { hash } from 'node:crypto';",
    ],
    ['the hook command importing xstate', 'src/cli/run-hook.ts', "import { createActor } from 'xstate';"],
    ['the fast router importing the inspector', 'src/cli/router.ts', "import { inspect } from '@statelyai/inspect';"],
    ['a fast command spec importing HTTP', 'src/cli/commands/enqueue.ts', "import { request } from 'node:https';"],
    [
      'enqueue importing the HTTP client',
      'src/adapters/outbox/enqueue-core.ts',
      "import { x } from '../delivery/cloud-client.js';",
    ],
  ];
  it.each(refused)('refuses %s', (_what, path, source) => {
    const { ok, report } = lint(path, `${source}\nexport const probe = 1;`);
    expect(ok).toBe(false);
    expect(report).toContain('noRestrictedImports');
  });

  const allowed: Array<[string, string, string]> = [
    ['a machine importing xstate', 'src/machines/probe.ts', "import { setup } from 'xstate';"],
    [
      'a machine importing another machine module',
      'src/machines/probe.ts',
      "import { x } from './delivery-policy.js';",
    ],
    ['an adapter importing a machine module', 'src/adapters/probe.ts', "import { x } from '../machines/secrets.js';"],
    ['an adapter importing node:*', 'src/adapters/probe.ts', "import { readFileSync } from 'node:fs';"],
    ['a CLI command importing xstate', 'src/cli/commands/probe.ts', "import { createActor } from 'xstate';"],
  ];
  it.each(allowed)('allows %s', (_what, path, source) => {
    const { ok, report } = lint(path, `${source}\nexport const probe = 1;`);
    expect(report).not.toContain('noRestrictedImports');
    expect(ok).toBe(true);
  });
});
