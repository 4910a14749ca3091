#!/usr/bin/env node
/**
 * The hot entries as single code-cached scripts (run by `npm run build` after tsc, and by the test
 * suite's global setup). A command whose start-up is its cost (`enqueue`, `hook <agent>`, `daemon
 * stop`, `daemon start` and the `daemon run` it spawns) spends most of a bare `node` start again on
 * resolving and compiling dozens of small ES modules. For each entry below this writes, into
 * dist/entries/:
 * - NAME.cjs: the entry and everything it imports (xstate included, once) as one CommonJS script;
 *   native addons stay outside (they load their own .node files). Each source file's
 *   `import.meta.url` is the URL of its tsc twin in dist/, so paths computed from it (the CLI entry
 *   for service units, worker scripts, createRequire) are the same as in the unbundled build;
 * - NAME.<build id>.cache: V8's code cache for it, made in a child node with the flags the entry runs
 *   under (V8 rejects a cache made under other flags or another Node version; the loader then compiles);
 * - NAME.inputs.json: the dist/ twins and packages inside it, for the tests that check what a path loads.
 * src/cli/bundle-loader.ts loads them; without dist/entries (a tsc-only build) the CLI imports the
 * ES modules as before.
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');
const out = join(dist, 'entries');

/** Marks this build's bundles and names their code caches (src/cli/bundle-loader.ts, cacheFile). */
const BUILD_ID = randomBytes(8).toString('hex');

const { DAEMON_NODE_FLAGS } = await import(pathToFileURL(join(dist, 'adapters', 'lifecycle', 'daemon-node-flags.js')).href);

/**
 * name → the node flags it runs under (a code cache for each). Names are the dist/ modules the
 * bundles stand in for.
 */
const CLI = [[]];
const DAEMON = [DAEMON_NODE_FLAGS];
const ENTRIES = {
  // main.ts's fast router with the specs of the commands it runs, its fd writers and exit codes, in
  // every command and in the daemon `daemon start` spawns …
  'cli/fast-entry': [[], DAEMON_NODE_FLAGS],
  // Clipanion, the registry and every command's spec, for the command lines the router leaves to it.
  'cli/clipanion-entry': CLI,
  // … and what those commands run, each loaded by its spec (or by Clipanion's copy of it).
  'cli/run-enqueue': CLI,
  'cli/run-hook': CLI,
  'cli/run-stop': CLI,
  'cli/daemon-launch': CLI,
  // `daemon run`: the foreground wrapper (its --inspect check, readiness pipe), then the runtime.
  'cli/run-foreground': DAEMON,
  'runtime/daemon-runtime': DAEMON,
};

/** Packages with native addons load their own binaries: they stay outside every bundle. */
const NATIVE = ['better-sqlite3', 'fs-ext-extra-prebuilt', '@napi-rs/keyring', 'bufferutil', 'utf-8-validate'];

/** The bundle's name for a source file's twin in dist/ ('cli/main.js'). */
const twin = (path) => relative(src, path).replace(/\.ts$/, '.js');

/**
 * Each source file's import.meta.url, .filename and .dirname become those of its tsc twin, computed
 * from the bundle's place (the path ones without a URL round trip: ~0.4 ms of a command's start-up).
 */
const metaUrlOfTwin = {
  name: 'import-meta-url-of-twin',
  setup(b) {
    b.onLoad({ filter: /\.ts$/, namespace: 'file' }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('import.meta.')) return { contents: text, loader: 'ts' };
      const file = twin(args.path);
      const contents = text
        .replaceAll('import.meta.url', `__difflore_twin_url(${JSON.stringify(file)})`)
        .replaceAll('import.meta.filename', `__difflore_twin_path(${JSON.stringify(file)})`)
        .replaceAll('import.meta.dirname', `__difflore_twin_path(${JSON.stringify(dirname(file))})`);
      return { contents, loader: 'ts' };
    });
  },
};

/**
 * A bundle holds no other entry: a dynamic import of one (the fallback a `loadEntry` call names, for
 * a build without bundles) becomes a require of its tsc twin, never run while the bundles exist. In
 * the Clipanion bundle only the registry's imports of the command specs are bundled: what a command
 * runs is imported when it runs, from its tsc twin (require of an ES module, Node ≥ 20.19), as in
 * the unbundled build, so the bundle stays the size of Clipanion and the specs.
 */
function twinsOutside(name) {
  return {
    name: 'twins-outside',
    setup(b) {
      b.onResolve({ filter: /^\./ }, (args) => {
        if (args.kind !== 'dynamic-import') return undefined;
        const target = twin(join(args.resolveDir, args.path));
        const isEntry = Object.hasOwn(ENTRIES, target.replace(/\.js$/, ''));
        const fromRegistry = twin(args.importer) === 'cli/registry.js';
        if (!isEntry && (name !== 'cli/clipanion-entry' || fromRegistry)) return undefined;
        return { path: target, namespace: 'twin' };
      });
      b.onLoad({ filter: /.*/, namespace: 'twin' }, (args) => ({
        contents: `module.exports = require(require('node:url').fileURLToPath(__difflore_twin_url(${JSON.stringify(args.path)})));`,
        loader: 'js',
      }));
    },
  };
}

/** NAME.cjs sits in dist/entries/ (at any depth given by the name): the twins are that many levels up. */
function banner(name, up = name.split('/').map(() => '..')) {
  return [
    // This build's mark: the loader takes the code cache of the same build only (bundle-loader.ts).
    `/* difflore bundle ${BUILD_ID} */`,
    // Source files are ES modules, strict: the directive must open the script (esbuild's comes after this banner).
    '"use strict";',
    `const __difflore_twin_path = (twin) => require('node:path').join(__dirname, ${up
      .map((u) => JSON.stringify(u))
      .join(', ')}, twin);`,
    "const __difflore_twin_url = (twin) => require('node:url').pathToFileURL(__difflore_twin_path(twin)).href;",
    NOTE_INITS,
  ].join('\n');
}

/** A bundle input as the tests name loaded modules: its dist/ twin ('cli/main.js') or 'node_modules/…'. */
function testName(input) {
  const path = join(root, input);
  return path.startsWith(`${src}/`) ? twin(path) : path.slice(path.lastIndexOf('node_modules/'));
}

/**
 * Module bodies esbuild defers (`__esm`, `__commonJS`: what is imported dynamically or required) are
 * noted in a process-wide set as they run, by source path, so that what a process ran can be told
 * from what its bundle merely holds (the module-load tests read it; the cost is a Set.add per module).
 */
const NOTE_INITS = [
  'const __difflore_inits = (globalThis[Symbol.for("difflore.bundle.inits")] ??= new Set());',
  'const __difflore_noted = (wrapped) => { const [key] = Object.keys(wrapped); const body = wrapped[key];',
  '  return { [key](...args) { __difflore_inits.add(key); return body(...args); } }; };',
  // esbuild's own helpers, defined below this banner and called only after that.
  'const __difflore_esm = (wrapped) => __esm(__difflore_noted(wrapped));',
  'const __difflore_commonJS = (wrapped) => __commonJS(__difflore_noted(wrapped));',
].join('\n');

/** Routes each deferred module body of `code` through the noting helpers; returns the code and their keys. */
function noteDeferred(code) {
  const deferred = [];
  const noted = code.replace(/\b(__esm|__commonJS)\(\{(\s*)"([^"]+)"/g, (_, helper, space, key) => {
    deferred.push(key);
    return `__difflore_${helper.slice(2)}({${space}"${key}"`;
  });
  return { code: noted, deferred };
}

/**
 * NAME.inputs.json: the modules a bundle holds, for the module-load tests (test/helpers/module-log.ts):
 * `atLoad` run whenever the bundle loads, `deferred` only once noted in the set above; `builtins`
 * gives the node: modules each imports.
 */
function inputsOf(metafile, deferred) {
  const [output] = Object.values(metafile.outputs);
  // Only what reached the output: esbuild also lists modules it read and then shook out entirely.
  const held = Object.entries(output.inputs)
    .filter(([input, { bytesInOutput }]) => bytesInOutput > 0 && !input.includes(':'))
    .map(([input]) => input);
  const builtins = {};
  for (const input of held) {
    const imports = metafile.inputs[input].imports.filter((i) => i.external && i.path.startsWith('node:'));
    if (imports.length > 0) builtins[input] = [...new Set(imports.map((i) => i.path))].sort();
  }
  return {
    atLoad: held.filter((input) => !deferred.includes(input)).map(testName).sort(),
    deferred: Object.fromEntries(held.filter((input) => deferred.includes(input)).map((i) => [i, testName(i)])),
    builtins: Object.fromEntries(Object.entries(builtins).map(([input, list]) => [testName(input), list])),
  };
}

/**
 * What the cache maker runs once the bundle is loaded (an async function of its exports, as source, run
 * with `home`, an empty temporary data home, in scope): what a real run of the command does first, so
 * that V8 compiles it and the cache holds it. Nothing here touches anything outside `home`.
 */
const quiet = `{ stdout: { write() {} }, stderr: { write() {} }, env: { DIFFLORE_HOME: home } }`;
const OBSERVATION = JSON.stringify({
  session_id: 'build',
  ts_ms: 1_760_000_000_000,
  obs_type: 'change',
  tool: 'Edit',
  file_path: 'a.ts',
  title: 'Edited a.ts',
  content_hash: '0123456789abcdef',
});
const EXERCISE = {
  'cli/fast-entry': `async (m) => {
    for (const argv of [['enqueue', 'x', '{}'], ['hook', 'claude-code'], ['daemon', 'stop'], ['daemon', 'start'], ['daemon', 'run']]) {
      await m.route(argv);
    }
  }`,
  'cli/run-enqueue': `async (m) => {
    await m.runEnqueue({ kind: 'observation', payload: ${JSON.stringify(OBSERVATION)}, json: false }, ${quiet});
  }`,
  // No daemon runs in an empty home: the stop machine probes, finds none and records nothing.
  'cli/run-stop': `async (m) => {
    await m.runStopCommand({ graceMs: 10000, killTimeoutMs: 5000, force: false, json: true }, ${quiet});
  }`,
  'cli/clipanion-entry': `async (m) => {
    const cli = new m.Cli({ binaryName: 'difflore', binaryVersion: m.VERSION });
    for (const command of await m.loadCommands()) cli.register(command);
    for (const argv of [['daemon', 'start', '--json'], ['daemon', 'run'], ['daemon', 'status']]) cli.process(argv);
  }`,
};

/** Makes NAME.cache in a child node run with the entry's flags (src/cli/bundle-loader.ts, makeCodeCache). */
function makeCodeCache(name, flags) {
  const loader = pathToFileURL(join(dist, 'cli', 'bundle-loader.js')).href;
  const home = mkdtempSync(join(tmpdir(), 'difflore-build-'));
  const child = `const { makeCodeCache } = await import(${JSON.stringify(loader)});
    const { writeFileSync } = await import('node:fs');
    const home = ${JSON.stringify(join(home, 'home'))};
    const cache = await makeCodeCache(${JSON.stringify(name)}, ${EXERCISE[name] ?? 'undefined'});
    writeFileSync(cache.file, cache.data);`;
  try {
    execFileSync(process.execPath, [...flags, '--input-type=module', '-e', child], {
      stdio: 'inherit',
      env: { ...process.env, NODE_OPTIONS: '', DIFFLORE_HOME: join(home, 'home') },
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/**
 * Bundles src/NAME.ts into `file` (a CommonJS script whose twins are `up` directories above it) and
 * writes NAME.inputs.json beside it.
 */
async function bundle(name, file, up) {
  const result = await build({
    entryPoints: [join(src, `${name}.ts`)],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // import() of a builtin or a package becomes require(): a script compiled from a code cache has
    // no dynamic-import callback on Node 20 (ESM-only packages load through require(esm), Node ≥ 20.19).
    supported: { 'dynamic-import': false },
    external: NATIVE,
    plugins: [metaUrlOfTwin, twinsOutside(name)],
    banner: { js: banner(name, up) },
    outfile: file,
    metafile: true,
    logLevel: 'warning',
  });
  const { code, deferred } = noteDeferred(readFileSync(file, 'utf8'));
  writeFileSync(file, code);
  writeFileSync(file.replace(/\.cjs$/, '.inputs.json'), `${JSON.stringify(inputsOf(result.metafile, deferred), null, 1)}\n`);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await Promise.all(
  Object.entries(ENTRIES).map(async ([name, flagSets]) => {
    await bundle(name, join(out, `${name}.cjs`));
    for (const flags of flagSets) makeCodeCache(name, flags);
  }),
);

/**
 * The `difflore` binary (package.json "bin"): main.ts with the bundle loader, as CommonJS beside its
 * tsc twin. Node starts a CommonJS main without its ES module loader, which costs every command about
 * 4 ms (README benchmarks); main.js stays the ES module build of the same source. No code cache: the
 * file is a few kilobytes, and everything heavier comes from the cached entries above.
 */
const bin = join(dist, 'cli', 'main.cjs');
await bundle('cli/main', bin, ['..']);
chmodSync(bin, 0o755);
