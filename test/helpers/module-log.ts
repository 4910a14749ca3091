/**
 * Records which modules a process loads, for the tests that keep light paths light: a preload that
 * appends every module the process resolves (`esm <url>`, builtins included) and, at exit, every
 * CommonJS module in require.cache (`cjs <path>`) to the file named by $DIFFLORE_TEST_MODULE_LOG.
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
    `import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
const out = process.env.DIFFLORE_TEST_MODULE_LOG;
register(new URL('./hooks.mjs', import.meta.url), { data: { out } });
const require = createRequire(import.meta.url);
process.on('exit', () => {
  appendFileSync(out, Object.keys(require.cache).map((k) => 'cjs ' + k + '\\n').join(''));
});
`,
  );
  return register;
}
