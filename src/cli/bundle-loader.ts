/**
 * Loads a hot entry (enqueue, hook, daemon stop / start / run) from its bundle in dist/entries/ with
 * V8's code cache, instead of resolving and compiling its few dozen ES modules one by one: on this
 * path start-up is nearly the whole cost (README benchmarks). scripts/build-entries.mjs writes the
 * bundles and caches at build time; nothing here ever writes a file. Without the bundle (a tsc-only
 * build, or running from src/ under tsx) the caller's own `import()` loads the ES modules as before.
 *
 * A bundle is one CommonJS module, registered in require.cache under its path like any other, and
 * loaded at most once per process: the process then has one copy of its code — one xstate, one
 * `DiffloreError` — which is why each process loads at most one bundle that holds the machines.
 */
import { readFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import { DAEMON_NODE_FLAGS } from '../adapters/lifecycle/daemon-node-flags.js';

/** The entries scripts/build-entries.mjs bundles, named after the dist/ module each stands in for. */
export type BundledEntry =
  | 'cli/fast-entry'
  | 'cli/clipanion-entry'
  | 'cli/run-enqueue'
  | 'cli/run-hook'
  | 'cli/run-stop'
  | 'cli/daemon-launch'
  | 'cli/run-foreground'
  | 'runtime/daemon-runtime';

const ENTRIES_DIR = join(import.meta.dirname, '..', 'entries');

/** The bundle's file. */
function bundleFile(name: BundledEntry): string {
  return join(ENTRIES_DIR, `${name}.cjs`);
}

/**
 * Each build marks its bundles with an id on their first line and names their caches after it
 * (NAME.<id>.cache): V8 checks a cache against the source's length only, so a cache must never meet
 * a bundle of another build. A bundle without the mark gets no cache. V8 also refuses a cache made
 * under other V8 flags, and the daemon runs under its own (daemon-node-flags.ts): its caches are
 * NAME.<id>.daemon.cache, so a bundle both load (the fast router) has one of each.
 */
function cacheFile(name: BundledEntry, source: string): string | undefined {
  const id = /^\/\* difflore bundle ([0-9a-f]+) \*\//.exec(source)?.[1];
  const daemon = DAEMON_NODE_FLAGS.every((flag) => process.execArgv.includes(flag));
  return id === undefined ? undefined : join(ENTRIES_DIR, `${name}.${id}${daemon ? '.daemon' : ''}.cache`);
}

/** The text V8 compiles (and caches): the bundle inside CommonJS's own wrapper. */
function compile(file: string, source: string, cachedData: Buffer | undefined): Script {
  return new Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n})`, {
    filename: file,
    ...(cachedData === undefined ? {} : { cachedData }),
  });
}

/** Runs a compiled bundle as the CommonJS module `file`; returns its exports. */
function evaluate(script: Script, file: string): unknown {
  const require = createRequire(file);
  const module = new Module(file);
  module.filename = file;
  require.cache[file] = module;
  const body = script.runInThisContext() as (...args: unknown[]) => void;
  body.call(module.exports, module.exports, require, module, file, dirname(file));
  module.loaded = true;
  return module.exports;
}

function readCache(file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch {
    return undefined; // no cache: compile
  }
}

/**
 * The exports of the bundled `name`, or of `unbundled()` when this build has no bundle for it.
 * `unbundled` names the module's own import, which types the result.
 */
export async function loadEntry<T>(name: BundledEntry, unbundled: () => Promise<T>): Promise<T> {
  const file = bundleFile(name);
  const loaded = createRequire(file).cache[file];
  if (loaded !== undefined) return loaded.exports as T;
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (error) {
    // No dependency on errors.ts: main.ts loads this module and nothing else before a bundle.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return unbundled();
    throw error;
  }
  // A cache V8 rejects (another Node version or other V8 flags) only costs the compile.
  return evaluate(compile(file, source, readCache(cacheFile(name, source))), file) as T;
}

/**
 * For the build (scripts/build-entries.mjs, in a node run with the entry's flags): compiles the
 * bundle, runs it, then `exercise` with its exports (a harmless run of the command, in a throwaway
 * home), so that the functions a real run compiles are in the cache too, and returns V8's code cache.
 * The build imports it from dist/ by URL, where knip cannot follow.
 * @public
 */
export async function makeCodeCache(
  name: BundledEntry,
  exercise: (exports: unknown) => Promise<unknown> = async () => undefined,
): Promise<{ readonly file: string; readonly data: Buffer }> {
  const file = bundleFile(name);
  const source = readFileSync(file, 'utf8');
  const cache = cacheFile(name, source);
  if (cache === undefined) throw new Error(`${file} has no build mark`);
  const script = compile(file, source, undefined);
  try {
    await exercise(evaluate(script, file));
  } catch {
    // A run that fails still compiled what it reached; the cache only makes loading faster.
  }
  return { file: cache, data: script.createCachedData() };
}
