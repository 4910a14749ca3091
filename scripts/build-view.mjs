#!/usr/bin/env node
/**
 * The build step tsc cannot do (run by `npm run build` after tsc, and by the test suite's global setup):
 * - dist/view/elk.cjs: elkjs bundled and minified, so the installed package lays out the machines
 *   (daemon view, machines export --format svg) with no dev dependency at run time;
 * - dist/view/client.js: the live page's script (src/view/client/), one browser IIFE the server inlines
 *   into the page, so the page loads nothing from anywhere.
 */
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'view');

await Promise.all([
  build({
    stdin: { contents: "module.exports = require('elkjs/lib/elk.bundled.js');", resolveDir: root, loader: 'js' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    minify: true,
    // elkjs is EPL-2.0 OR GPL-3.0-or-later: its notices travel with the bundle.
    legalComments: 'inline',
    outfile: join(out, 'elk.cjs'),
    logLevel: 'warning',
  }),
  build({
    entryPoints: [join(root, 'src', 'view', 'client', 'main.ts')],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    minify: true,
    outfile: join(out, 'client.js'),
    logLevel: 'warning',
  }),
]);
