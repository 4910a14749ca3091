/**
 * The stop protocol's generated paths against real processes (real-stop.ts): for each path run for
 * real, `difflore daemon stop` must journal exactly the transitions the same path journals against
 * the fakes, exit with the outcome's code, and `difflore daemon log --verify` must pass. Writes the
 * real coverage for coverage-report.ts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { STOP_EXIT_CODES, type StopOutcome } from '../../src/machines/stop.js';
import { graphOf, MACHINES, type RunResult, runStopPath, stopSpec } from './harness.js';
import { completedPaths, edgeReason, type Planned, selectForRealRuns, step, writeRealCoverage } from './real-paths.js';
import { planStop, runStopPlan, type StopPlan } from './real-stop.js';

const fakes = new Map<string, RunResult>();
const paths = [];
for (const path of completedPaths(stopSpec)) {
  // A path the fakes cannot drive either (an effect settled twice in one invocation) is no path.
  const fake = await runStopPath(path).catch(() => null);
  if (fake === null) continue;
  fakes.set(path.description, fake);
  paths.push(path);
}
const planned: Planned<StopPlan>[] = paths.map((path) => ({ path, ...planStop(path) }));
const selected = selectForRealRuns(planned, (path) => fakes.get(path.description)?.taken ?? new Set());
const taken = new Set<string>();

describe('stop protocol, generated paths against real processes', () => {
  for (const { path, plan } of selected) {
    it(path.description, async () => {
      if (plan === null) throw new Error('unplanned');
      const fake = fakes.get(path.description);
      const run = await runStopPlan(plan);
      try {
        const records = run.home.journal().filter((r) => r.machine === 'stop' && r.pid === run.cli.pid);
        expect(records.map(step), run.cli.stderr).toEqual(fake?.records.map(step));
        const outcome = path.states.at(-1) as StopOutcome;
        expect(run.exit.code, run.cli.stderr).toBe(STOP_EXIT_CODES[outcome]);
        const verified = await run.home.verify();
        expect(verified.code, `${verified.stdout}${verified.stderr}`).toBe(0);
        for (const edge of fake?.taken ?? []) taken.add(edge);
      } finally {
        await run.home.dispose();
      }
    });
  }
});

afterAll(() => {
  const leftToFakes: Record<string, string> = {};
  const all = graphOf(MACHINES.stop).edges;
  for (const edge of all) {
    if (taken.has(edge)) continue;
    const why = planned.find((p) => p.plan === null && fakes.get(p.path.description)?.taken.has(edge));
    leftToFakes[edge] = edgeReason(edge, why?.reason ?? 'no generated path takes it in a real world');
  }
  writeRealCoverage({ machine: 'stop', taken: [...taken], leftToFakes });
});
