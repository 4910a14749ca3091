/**
 * `daemon stop` is timed against `node -e 0` (DESIGN §9), so it must load only what stopping needs:
 * the stop machine and its probes — not Clipanion and the command registry, not SQLite, not the HTTP
 * client or the drain pass, not the inspector. A preloaded module hook lists every module the
 * process resolves (ESM) and, at exit, every CommonJS module in require.cache.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, runProcess } from '../helpers/index.js';
import { writeModuleRecorder } from '../helpers/module-log.js';
import { DaemonWorld } from './daemon-harness.js';

let world: DaemonWorld;
let hooks: string;

beforeEach(() => {
  world = new DaemonWorld();
  hooks = mkdtempSync(join(tmpdir(), 'difflore-daemon-modules-'));
  writeModuleRecorder(hooks);
});
afterEach(async () => {
  await world.dispose();
  rmSync(hooks, { recursive: true, force: true });
});

const FORBIDDEN = [
  /\/node_modules\/clipanion\//,
  /\/dist\/cli\/registry\.js/,
  /\/node_modules\/better-sqlite3\//,
  /\/node_modules\/@statelyai\//,
  /^esm node:(http|https|http2|net|tls)$/m,
  /\/node_modules\/undici\//,
  /\/dist\/adapters\/(drain-pass|cloud-client|db|outbox-store|wake-watcher)\.js/,
];

describe('daemon stop loads only what stopping needs', () => {
  it('stopping a running daemon', async () => {
    const pid = await world.start();
    await world.idle(pid);
    const log = join(hooks, 'modules.txt');
    const result = await runProcess(
      process.execPath,
      ['--import', join(hooks, 'register.mjs'), CLI, 'daemon', 'stop'],
      {
        env: world.env({ DIFFLORE_TEST_MODULE_LOG: log }),
      },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`stopped the daemon (pid ${pid})`);
    const modules = readFileSync(log, 'utf8');
    // It did run the stop machine.
    expect(modules).toMatch(/\/dist\/machines\/stop\.js/);
    for (const pattern of FORBIDDEN) expect(modules).not.toMatch(pattern);
  });
});
