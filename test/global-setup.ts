/** Builds dist/ once before the suite, so process-level tests run the code under test. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export default function setup(): void {
  const root = join(import.meta.dirname, '..');
  execFileSync(
    process.execPath,
    [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  // The view's page script and the bundled layout engine (what `npm run build` adds after tsc).
  execFileSync(process.execPath, [join(root, 'scripts', 'build-view.mjs')], { cwd: root, stdio: 'inherit' });
  // The hot entries as code-cached bundles, which the CLI loads when they exist (as the package ships).
  execFileSync(process.execPath, [join(root, 'scripts', 'build-entries.mjs')], { cwd: root, stdio: 'inherit' });
}
