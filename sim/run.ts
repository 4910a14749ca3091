/**
 * `npm run simulate -- fleet [--daemons N] [--outage-s S] [--duration-s D] [--seed K] [--json] [--svg FILE]`
 * Runs the fleet simulation (sim/fleet.ts) and prints both policies' figures; --json prints one line.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FLEET_DEFAULTS, type FleetOptions, type FleetReport, PEAK_WINDOW_S, simulateFleet } from './fleet.js';
import { fleetSvg } from './svg.js';

const USAGE = `usage: npm run simulate -- fleet [--daemons N] [--outage-s S] [--duration-s D] [--seed K]
                                [--rows-per-hour R] [--capacity RPS] [--outage-start-s S]
                                [--outage-answer refused|503] [--json] [--svg FILE]
defaults: ${FLEET_DEFAULTS.daemons} daemons, ${FLEET_DEFAULTS.outageS} s outage starting at ${FLEET_DEFAULTS.outageStartS} s, ${FLEET_DEFAULTS.durationS} s in all, ${FLEET_DEFAULTS.rowsPerHour} rows/h per daemon, capacity 2x the mean arrival rate
`;

class UsageError extends Error {}

const NUMBER_FLAGS = {
  daemons: 'daemons',
  'outage-s': 'outageS',
  'duration-s': 'durationS',
  seed: 'seed',
  'rows-per-hour': 'rowsPerHour',
  capacity: 'capacityRps',
  'outage-start-s': 'outageStartS',
} as const satisfies Record<string, keyof FleetOptions>;

function parse(argv: readonly string[]): { options: Partial<FleetOptions>; json: boolean; svg: string | null } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        ...Object.fromEntries(Object.keys(NUMBER_FLAGS).map((k) => [k, { type: 'string' as const }])),
        'outage-answer': { type: 'string' },
        json: { type: 'boolean' },
        svg: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (positionals.length !== 1 || positionals[0] !== 'fleet') {
    throw new UsageError(`expected the simulation's name, 'fleet'; got ${positionals.join(' ') || 'nothing'}`);
  }
  const options: { -readonly [K in keyof FleetOptions]?: FleetOptions[K] } = {};
  for (const [flag, key] of Object.entries(NUMBER_FLAGS)) {
    const text = values[flag];
    if (typeof text !== 'string') continue;
    const value = Number(text);
    const integer = key === 'daemons' || key === 'seed';
    if (text.trim() === '' || !Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
      throw new UsageError(`--${flag} needs a ${integer ? 'whole ' : ''}number ≥ 0; got '${text}'`);
    }
    options[key] = value;
  }
  const answer = values['outage-answer'];
  if (answer !== undefined) {
    if (answer !== 'refused' && answer !== '503')
      throw new UsageError(`--outage-answer is refused or 503; got '${answer}'`);
    options.outageAnswer = answer;
  }
  const merged = { ...FLEET_DEFAULTS, ...options };
  if (merged.daemons < 1 || merged.rowsPerHour <= 0 || merged.durationS <= merged.outageStartS + merged.outageS) {
    throw new UsageError(
      'need at least 1 daemon, a positive --rows-per-hour, and the outage to end before --duration-s',
    );
  }
  if (merged.outageStartS < 10)
    throw new UsageError('--outage-start-s must leave at least 10 s of steady load to compare with');
  const svg = typeof values.svg === 'string' ? values.svg : null;
  return { options, json: values.json === true, svg };
}

function text(report: FleetReport): string {
  const { options } = report;
  const row = (label: string, pick: (r: FleetReport['ours']) => string): string =>
    `  ${label.padEnd(42)}${pick(report.ours).padStart(14)}${pick(report.rust).padStart(14)}`;
  const n = (v: number): string => Math.round(v).toLocaleString('en-US');
  return [
    `fleet: ${n(options.daemons)} daemons, ${options.rowsPerHour} rows/h each (Poisson), cloud capacity ${n(report.capacityRps)} req/s,`,
    `       down (${options.outageAnswer}) from ${options.outageStartS} s for ${options.outageS} s, ${options.durationS} s simulated, seed ${options.seed}`,
    `  ${''.padEnd(42)}${'ours'.padStart(14)}${'Rust'.padStart(14)}`,
    row('steady requests/s', (r) => r.steadyRps.toFixed(1)),
    row(`peak requests/s (${PEAK_WINDOW_S / 60} min after recovery)`, (r) => r.peakRps.toFixed(1)),
    row('peak ÷ steady', (r) => r.peakRatio.toFixed(2)),
    row('drain time after recovery (s)', (r) => (r.drainS === null ? 'not in run' : r.drainS.toFixed(0))),
    row('requests sent', (r) => n(r.requests)),
    row('  refused: outage', (r) => n(r.refusedDown)),
    row('  refused: overload (503)', (r) => n(r.refusedOverload)),
    row('rows enqueued', (r) => n(r.enqueued)),
    row('rows abandoned', (r) => n(r.abandoned)),
    row('p99 delivery delay (s)', (r) => r.p99DelayS.toFixed(1)),
    `wall time ${report.wallS.toFixed(1)} s`,
  ].join('\n');
}

function main(): void {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`simulate: ${error.message}\n${USAGE}`);
    process.exit(2);
  }
  const report = simulateFleet(args.options);
  if (args.svg !== null) {
    try {
      writeFileSync(args.svg, fleetSvg(report));
    } catch (error) {
      process.stderr.write(`simulate: cannot write the picture to ${args.svg}: ${(error as Error).message}\n`);
      process.exitCode = 1;
    }
  }
  if (args.json) {
    const round = (v: number | null, digits = 2): number | null => (v === null ? null : Number(v.toFixed(digits)));
    const line = {
      name: 'fleet',
      daemons: report.options.daemons,
      outage_s: report.options.outageS,
      steady_rps: round(report.ours.steadyRps, 1),
      peak_rps: round(report.ours.peakRps, 1),
      peak_ratio: round(report.ours.peakRatio),
      drain_s: round(report.ours.drainS, 0),
      abandoned: report.ours.abandoned,
      rust_peak_ratio: round(report.rust.peakRatio),
      rust_drain_s: round(report.rust.drainS, 0),
      wall_s: round(report.wallS, 1),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  } else {
    process.stdout.write(`${text(report)}\n`);
  }
}

main();
