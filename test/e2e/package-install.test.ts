/**
 * Installed as a user installs it: `npm pack` of this checkout (the dist/ the suite built), then
 * `npm install -g --prefix <clean dir>` of the tarball, with the registry for the runtime
 * dependencies only (better-sqlite3 may compile from source: minutes, hence the timeouts). The
 * installed `difflore` must work with no dev dependency anywhere: --version, demo, hook install (temp
 * HOME), daemon install --systemd --print naming the installed binary, the SVG export and the view
 * (whose layout engine and page script the build bundled into dist/view).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, mcpQueryPayload, runProcess } from '../helpers/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  devDependencies: Record<string, string>;
};
const INSTALL_TIMEOUT_MS = 12 * 60_000;

let work: string;
let prefix: string;
let installed: string;
let bin: string;

/** npm's own environment from `npm test` (npm_config_*, npm_lifecycle_*) must not steer the install. */
function npmEnv(): NodeJS.ProcessEnv {
  const env = cleanEnv();
  for (const key of Object.keys(env)) if (key.startsWith('npm_') && key !== 'npm_config_cache') delete env[key];
  return env;
}

async function npm(args: readonly string[], cwd: string): Promise<string> {
  const result = await runProcess('npm', args, { cwd, env: npmEnv(), timeoutMs: INSTALL_TIMEOUT_MS });
  if (result.code !== 0) throw new Error(`npm ${args.join(' ')} failed (${result.code}):\n${result.stderr}`);
  return result.stdout;
}

function difflore(args: readonly string[], env: Record<string, string | undefined> = {}) {
  return runProcess(bin, args, { env: cleanEnv(env), cwd: work, timeoutMs: 120_000 });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'difflore-package-'));
  prefix = join(work, 'prefix');
  // dist/ is what the suite's global setup built (tsc + scripts/build-view.mjs), as `prepare` would.
  const packed = JSON.parse(await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], ROOT)) as {
    filename: string;
    files: { path: string }[];
  }[];
  const tarball = join(work, packed[0]?.filename ?? '');
  const files = (packed[0]?.files ?? []).map((f) => f.path);
  expect(files).toContain('dist/cli/main.js');
  expect(files).toContain('dist/cli/main.cjs');
  expect(files).toContain('dist/view/elk.cjs');
  expect(files).toContain('dist/view/client.js');
  // The hot entries' bundles and code caches (scripts/build-entries.mjs), which the CLI loads.
  // Each with its code caches, named after the build that made both and, for the daemon's, its V8
  // flags (bundle-loader.ts): the CLI's, the daemon's, or both for the router both load.
  const caches = { cli: '', daemon: '.daemon' };
  for (const [entry, kinds] of [
    ['cli/fast-entry', [caches.cli, caches.daemon]],
    ['cli/clipanion-entry', [caches.cli]],
    ['cli/run-enqueue', [caches.cli]],
    ['cli/run-hook', [caches.cli]],
    ['cli/run-stop', [caches.cli]],
    ['cli/daemon-launch', [caches.cli]],
    ['cli/run-foreground', [caches.daemon]],
    ['runtime/daemon-runtime', [caches.daemon]],
  ] as const) {
    expect(files).toContain(`dist/entries/${entry}.cjs`);
    const found = files.filter((f) => f.startsWith(`dist/entries/${entry}.`) && f.endsWith('.cache'));
    expect(
      found.map((f) => /^[^.]+\.[0-9a-f]+(\.daemon)?\.cache$/.exec(f.slice(f.lastIndexOf('/') + 1))?.[1] ?? ''),
    ).toEqual(kinds);
  }
  expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
  await npm(['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], work);
  installed = join(prefix, 'lib', 'node_modules', pkg.name);
  bin = join(prefix, 'bin', 'difflore');
}, INSTALL_TIMEOUT_MS + 60_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('npm pack → npm install -g into a clean prefix', () => {
  it('installs a difflore that runs without any dev dependency', async () => {
    expect(existsSync(bin)).toBe(true);
    for (const dev of Object.keys(pkg.devDependencies)) {
      expect(existsSync(join(installed, 'node_modules', dev)), dev).toBe(false);
      expect(existsSync(join(prefix, 'lib', 'node_modules', dev)), dev).toBe(false);
    }
    const version = await difflore(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toBe(pkg.version);
  });

  it('runs the demo end to end', async () => {
    const demo = await difflore(['demo', '--rows', '40']);
    expect(demo.code, demo.stderr).toBe(0);
    expect(demo.stdout).toContain('delivered');
  });

  it('hook install and daemon install --systemd --print point at the installed binary', async () => {
    const home = join(work, 'user-home');
    mkdirSync(home, { mode: 0o700 });
    const env = { HOME: home, DIFFLORE_HOME: join(home, '.difflore') };
    const hook = await difflore(['hook', 'install', 'claude-code', '--user'], env);
    expect(hook.code, hook.stderr).toBe(0);
    const settings = readFileSync(join(home, '.claude', 'settings.json'), 'utf8');
    expect(settings).toContain(`${join(installed, 'dist', 'cli', 'main.cjs')} hook claude-code`);

    const unit = await difflore(['daemon', 'install', '--systemd', '--print'], env);
    expect(unit.code, unit.stderr).toBe(0);
    expect(unit.stdout).toMatch(
      new RegExp(`^ExecStart=.*"${join(installed, 'dist', 'cli', 'main.cjs')}" daemon run`, 'm'),
    );
  });

  it('runs the hot paths from the installed bundles: enqueue, daemon start, daemon stop', async () => {
    const home = join(work, 'bundle-home');
    const env = { DIFFLORE_HOME: home };
    const payload = mcpQueryPayload('a.ts', 0);
    const enqueued = await difflore(['enqueue', 'mcp_query', payload], env);
    expect(enqueued.code, enqueued.stderr).toBe(0);
    const started = await difflore(['daemon', 'start', '--json'], env);
    expect(started.code, started.stderr).toBe(0);
    const { pid } = JSON.parse(started.stdout) as { pid: number };
    try {
      const stopped = await difflore(['daemon', 'stop', '--json'], env);
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(JSON.parse(stopped.stdout)).toMatchObject({ outcome: 'terminated', pid });
    } finally {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // stopped, as it should be
      }
    }
  });

  it('draws the machines (SVG export) and serves the view from the bundled layout engine and page script', async () => {
    const svg = await difflore(['machines', 'export', 'stop', '--format', 'svg']);
    expect(svg.code, svg.stderr).toBe(0);
    expect(svg.stdout).toContain('data-state="polling.waiting"');

    const home = join(work, 'view-home');
    const view = spawn(bin, ['daemon', 'view', '--no-open'], { env: cleanEnv({ DIFFLORE_HOME: home }) });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        view.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          const match = /^view at (\S+)\n/m.exec(out);
          if (match?.[1]) resolve(match[1]);
        });
        view.once('close', (code) => reject(new Error(`daemon view exited with ${code}`)));
      });
      const page = await fetch(url);
      expect(page.status).toBe(200);
      const html = await page.text();
      expect(html).toContain('data-machine="daemon"');
      expect(html).toContain('EventSource');
    } finally {
      view.kill('SIGTERM');
    }
  });
});
