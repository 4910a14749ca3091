/**
 * Last step of `npm run test:model`: drives every generated path of both machines (the same paths and
 * fakes as the model tests, see harness.ts) and prints one line per machine,
 * `{"machine":"daemon","states":"N/N","transitions":"M/M"}`, computed against `toDirectedGraph`.
 * Exits 1 when either machine is below 100 %, naming what was missed on stderr.
 */
import { coverageLine, runAll } from './harness.js';

const coverages = await runAll();
let complete = true;
for (const coverage of coverages) {
  process.stdout.write(`${coverageLine(coverage)}\n`);
  for (const missing of [...coverage.states.missing, ...coverage.transitions.missing]) {
    complete = false;
    process.stderr.write(`not covered in ${coverage.machine}: ${missing}\n`);
  }
}
process.exitCode = complete ? 0 : 1;
