/**
 * `npm run bench -- <name>|all [--json]`: runs benchmarks from bench/<name>.ts. Each module's
 * default export returns one or more figure objects; with --json each is printed as one line.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Figure = { name: string } & Record<string, number | string | boolean | null>;
export type Benchmark = (options: { quick: boolean }) => Promise<Figure[]>;

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
/** Options that take a value (`--rows N`, read by the benchmark itself): the value is no name. */
const VALUE_OPTIONS = new Set(['--rows']);
const names = args.filter((a, i) => !a.startsWith('--') && !VALUE_OPTIONS.has(args[i - 1] ?? ''));
if (names.length === 0) {
  process.stderr.write(
    `usage: npm run bench -- <name>|all [--json] [--quick] [--rows N]\nbenchmarks: ${available.join(', ')}\n`,
  );
  process.exit(2);
}
const selected = names.includes('all') ? available : names;
for (const name of selected) {
  if (!available.includes(name)) {
    process.stderr.write(`unknown benchmark '${name}'; available: ${available.join(', ')}\n`);
    process.exit(2);
  }
}
for (const name of selected) {
  const module = (await import(join(here, `${name}.ts`))) as { default: Benchmark };
  for (const figure of await module.default({ quick })) {
    process.stdout.write(json ? `${JSON.stringify(figure)}\n` : `${formatFigure(figure)}\n`);
  }
}

function formatFigure(figure: Figure): string {
  const { name, ...rest } = figure;
  return `${name}: ${Object.entries(rest)
    .map(([k, v]) => `${k}=${v}`)
    .join('  ')}`;
}
