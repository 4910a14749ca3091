/**
 * `daemon stop` is timed against `node -e 0` (DESIGN §9), so it must load only what stopping needs:
 * the stop machine and its probes — not Clipanion and the command registry, not SQLite, not the HTTP
 * client or the drain pass, not the inspector. A preloaded module hook lists every module the
 * process resolves (ESM) and, at exit, every CommonJS module in require.cache.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, runProcess } from '../helpers/index.js';
import { writeModuleRecorder } from '../helpers/module-log.js';
import { DaemonWorld } from './daemon-harness.js';

const DIST = dirname(dirname(CLI));

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
  /^(esm|bundled) node:(http|https|http2|net|tls)$/m,
  /\/node_modules\/undici\//,
  /\/dist\/adapters\/(\w+\/)?(drain-pass|cloud-client|db|outbox-store|wake-watcher)\.js/,
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

/**
 * The daemon runs its machines and actors from one bundle (dist/entries/runtime/daemon-runtime.cjs,
 * scripts/build-entries.mjs), which holds one copy of xstate: the machines' `setup`, the actors of
 * `createActor` and the inspector all use it. Two copies (say the ESM build for one importer and the
 * CommonJS build for another) would make actors that do not know each other's machines.
 */
describe('the daemon has one xstate', () => {
  it('the runtime bundle holds one xstate core, and the daemon loads xstate from nowhere else', async () => {
    const bundleInputs = JSON.parse(
      readFileSync(join(DIST, 'entries', 'runtime', 'daemon-runtime.inputs.json'), 'utf8'),
    ) as {
      atLoad: string[];
      deferred: Record<string, string>;
    };
    const held = [...bundleInputs.atLoad, ...Object.values(bundleInputs.deferred)];
    const xstate = held.filter((name) => name.startsWith('node_modules/xstate/'));
    // The core (machines, actors, createActor) is the raise-<hash> chunk: exactly one build of it.
    expect(xstate.filter((name) => /\/raise-[0-9a-f]+\./.test(name))).toHaveLength(1);
    expect(new Set(xstate.map((name) => name.replace(/^.*\.(esm|cjs)\.m?js$/, '$1'))).size).toBe(1);
    // The inspector, when loaded, is in the same bundle and so imports that same xstate.
    expect(held).toContain('node_modules/@statelyai/inspect/dist/index.mjs');

    const log = join(hooks, 'modules.txt');
    const daemon = world.spawn(
      process.execPath,
      ['--import', join(hooks, 'register.mjs'), CLI, 'daemon', 'run'],
      world.env({ DIFFLORE_TEST_MODULE_LOG: log }),
    );
    const pid = daemon.pid as number;
    await world.idle(pid);
    const exited = new Promise((resolve) => daemon.once('exit', resolve));
    const stopped = await world.cli(['daemon', 'stop']);
    expect(stopped.code, stopped.stderr).toBe(0);
    await exited;
    const modules = readFileSync(log, 'utf8').split('\n');
    // It ran the daemon machine and the drain from the bundle …
    expect(modules).toContain(`bundled ${join(DIST, 'machines', 'daemon.js')}`);
    expect(modules).toContain(`bundled ${join(DIST, 'adapters', 'delivery', 'drain-pass.js')}`);
    // … and xstate only from inside it: never as a module of its own, ESM or CommonJS.
    expect(modules.filter((l) => /^(esm|cjs) .*\/node_modules\/xstate\//.test(l))).toEqual([]);
    expect(modules.filter((l) => /^bundled .*\/node_modules\/xstate\//.test(l)).length).toBeGreaterThan(0);
  });
});
