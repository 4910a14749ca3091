/**
 * Records which modules a process loads, for the tests that keep light paths light: a preload that
 * appends every module the process resolves (`esm <url>`, builtins included) and, at exit, every
 * CommonJS module in require.cache (`cjs <path>`) to the file named by $DIFFLORE_TEST_MODULE_LOG.
 *
 * A hot entry loads as one bundle (dist/entries/NAME.cjs, scripts/build-entries.mjs): for each bundle
 * in require.cache the log also gets, as `bundled <path>`, the modules inside it that ran — those run
 * when the bundle loads, and the deferred ones the bundle noted as they ran — named by their dist/
 * twin or node_modules path, and `bundled node:<name>` for the builtins those modules import.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes the preload (hooks.mjs, register.mjs) into `dir`; returns the path for `node --import`. */
export function writeModuleRecorder(dir: string): string {
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
let out;
export function initialize(data) { out = data.out; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(out, 'esm ' + result.url + '\\n');
  return result;
}
`,
  );
  const register = join(dir, 'register.mjs');
  writeFileSync(
    register,
    `import { appendFileSync, readFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { dirname, join } from 'node:path';
const out = process.env.DIFFLORE_TEST_MODULE_LOG;
register(new URL('./hooks.mjs', import.meta.url), { data: { out } });
const require = createRequire(import.meta.url);
function ranInBundle(file) {
  const match = /^(.*\\/dist)\\/(?:entries\\/.+|cli\\/main)\\.cjs$/.exec(file);
  if (match === null) return [];
  const distDir = match[1];
  const inputs = JSON.parse(readFileSync(file.replace(/\\.cjs$/, '.inputs.json'), 'utf8'));
  const inits = globalThis[Symbol.for('difflore.bundle.inits')] ?? new Set();
  const ran = [...inputs.atLoad, ...Object.entries(inputs.deferred).filter(([key]) => inits.has(key)).map(([, name]) => name)];
  const builtins = ran.flatMap((name) => inputs.builtins[name] ?? []);
  const path = (name) => (name.startsWith('node_modules/') ? join(dirname(distDir), name) : join(distDir, name));
  return [...ran.map((name) => 'bundled ' + path(name)), ...builtins.map((name) => 'bundled ' + name)];
}
process.on('exit', () => {
  const files = Object.keys(require.cache);
  appendFileSync(out, [...files.map((k) => 'cjs ' + k), ...files.flatMap(ranInBundle)].map((l) => l + '\\n').join(''));
});
`,
  );
  return register;
}
