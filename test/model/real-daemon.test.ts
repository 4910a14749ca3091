/**
 * The daemon machine's generated paths against a real `difflore daemon run` (real-daemon.ts): for
 * each path run for real, the daemon must journal exactly the transitions the same path journals
 * against the fakes, and `difflore daemon log --verify` must pass. Writes the real coverage for
 * coverage-report.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonWorld } from '../e2e/daemon-harness.js';
import { daemonSpec, graphOf, MACHINES, type RunResult, runDaemonPath } from './harness.js';
import { completedPaths, edgeReason, type Planned, selectForRealRuns, step, writeRealCoverage } from './real-paths.js';
import { type DaemonPlan, planDaemon, recordsOf, runDaemonPlan } from './real-daemon.js';

const planned: Planned<DaemonPlan>[] = completedPaths(daemonSpec).map((path) => ({ path, ...planDaemon(path) }));
// The fakes drive the planned paths (the unplanned ones are the fake suite's): their records are
// what a real run must journal, their edges what it covers.
const fakes = new Map<string, RunResult>();
for (const { path } of planned.filter((p) => p.plan !== null)) {
  const fake = await runDaemonPath(path).catch(() => null);
  if (fake !== null) fakes.set(path.description, fake);
}
const runnable = planned.filter((p) => p.plan === null || fakes.has(p.path.description));
const selected = selectForRealRuns(runnable, (path) => fakes.get(path.description)?.taken ?? new Set());
const taken = new Set<string>();

/** How many records the fake run had after each event: the record of event i, and any WATCHING after it. */
function countsOf(records: readonly { event: { type: string } }[], events: number): number[] {
  const counts: number[] = [];
  let index = 1;
  for (let i = 0; i < events; i += 1) {
    while (records[index]?.event.type === 'WATCHING') index += 1;
    index += 1;
    while (records[index]?.event.type === 'WATCHING') index += 1;
    counts.push(index);
  }
  return counts;
}

let world: DaemonWorld;
let upstream: string;
beforeAll(async () => {
  world = new DaemonWorld();
  upstream = (await world.cloud()).url;
});

describe('daemon machine, generated paths against a real daemon', () => {
  for (const { path, plan } of selected) {
    it(path.description, async () => {
      if (plan === null) throw new Error('unplanned');
      const fake = fakes.get(path.description);
      const expected = fake?.records.map(step) ?? [];
      const run = await runDaemonPlan(plan, countsOf(fake?.records ?? [], path.events.length), upstream);
      try {
        expect(recordsOf(run.home, run.cli.pid).map(step), run.cli.stderr).toEqual(expected);
        const verified = await run.home.verify();
        expect(verified.code, `${verified.stdout}${verified.stderr}`).toBe(0);
        for (const edge of fake?.taken ?? []) taken.add(edge);
      } finally {
        await run.home.dispose();
      }
    });
  }
});

afterAll(async () => {
  await world?.dispose();
  const leftToFakes: Record<string, string> = {};
  for (const edge of graphOf(MACHINES.daemon).edges) {
    if (taken.has(edge)) continue;
    const why = planned.find((p) => p.plan === null && p.reason !== null && fakeTakes(p.path.description, edge));
    leftToFakes[edge] = edgeReason(edge, why?.reason ?? 'no generated path takes it in a real world');
  }
  writeRealCoverage({ machine: 'daemon', taken: [...taken], leftToFakes });
});

function fakeTakes(description: string, edge: string): boolean {
  return fakes.get(description)?.taken.has(edge) ?? false;
}
