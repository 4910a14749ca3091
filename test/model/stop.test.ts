/**
 * Model-based tests of the stop protocol: every generated path (see harness.ts) driven against fake
 * adapters; then every state and transition of the machine's graph must have been taken.
 */
import { describe, expect, it } from 'vitest';
import { machine } from '../../src/machines/stop.js';
import { coverageOf, stopPaths, type RunResult, runStopPath } from './harness.js';

describe('stop protocol, model-based', () => {
  const paths = stopPaths();
  const runs: RunResult[] = [];

  it('generates paths', () => {
    expect(paths.length).toBeGreaterThan(20);
  });

  for (const path of paths) {
    it(path.description, async () => {
      runs.push(await runStopPath(path));
    });
  }

  it('covers every state and every transition of toDirectedGraph', () => {
    const coverage = coverageOf('stop', machine, runs);
    expect(coverage.states.missing).toEqual([]);
    expect(coverage.transitions.missing).toEqual([]);
  });
});
