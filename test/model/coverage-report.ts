/**
 * Last step of `npm run test:model`: drives every generated path of both machines (the same paths and
 * fakes as the model tests, see harness.ts) and prints one line per machine,
 * `{"machine":"daemon","states":"N/N","transitions":"M/M","real":"R/M"}`, computed against
 * `toDirectedGraph`. `real` counts the transitions that paths run against real processes took
 * (real-stop.test.ts, real-daemon.test.ts write them when they pass); every transition left to the
 * fakes follows, with the reason no real world takes it.
 * Exits 1 when the fakes miss a state or transition, or real processes cover under 80 % of a machine.
 */
import { coverageLine, graphOf, MACHINES, runAll } from './harness.js';
import { takeRealCoverage } from './real-paths.js';

const REAL_MINIMUM = 0.8;
/** The machines whose generated paths run against real processes (and must reach REAL_MINIMUM). */
const REAL_MACHINES: readonly string[] = ['daemon', 'stop'];

const coverages = await runAll();
let complete = true;
for (const coverage of coverages) {
  const edges = graphOf(MACHINES[coverage.machine]).edges;
  // Consumed: a report run again without the real-process tests must not show an old run's coverage.
  const real = takeRealCoverage(coverage.machine);
  const taken = [...edges].filter((edge) => real?.taken.includes(edge));
  const line = JSON.parse(coverageLine(coverage)) as Record<string, string>;
  process.stdout.write(`${JSON.stringify({ ...line, real: `${taken.length}/${edges.size}` })}\n`);
  for (const edge of [...edges].filter((e) => !taken.includes(e))) {
    const why = real?.leftToFakes[edge] ?? 'no real run recorded (run the real-process model tests first)';
    process.stdout.write(`  left to fakes: ${edge}: ${why}\n`);
  }
  for (const missing of [...coverage.states.missing, ...coverage.transitions.missing]) {
    complete = false;
    process.stderr.write(`not covered in ${coverage.machine}: ${missing}\n`);
  }
  if (REAL_MACHINES.includes(coverage.machine) && taken.length < REAL_MINIMUM * edges.size) {
    complete = false;
    process.stderr.write(`real processes take ${taken.length} of ${edges.size} ${coverage.machine} transitions\n`);
  }
}
process.exitCode = complete ? 0 : 1;
