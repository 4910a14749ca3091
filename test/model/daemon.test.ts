/**
 * Model-based tests of the daemon machine: every generated path (see harness.ts) driven against fake
 * adapters; then every state and transition of the machine's graph must have been taken.
 */
import { describe, expect, it } from 'vitest';
import { machine } from '../../src/machines/daemon.js';
import { coverageOf, daemonPaths, type RunResult, runDaemonPath } from './harness.js';

describe('daemon machine, model-based', () => {
  const paths = daemonPaths();
  const runs: RunResult[] = [];

  it('generates paths', () => {
    expect(paths.length).toBeGreaterThan(20);
  });

  for (const path of paths) {
    it(path.description, async () => {
      runs.push(await runDaemonPath(path));
    });
  }

  it('covers every state and every transition of toDirectedGraph', () => {
    const coverage = coverageOf('daemon', machine, runs);
    expect(coverage.states.missing).toEqual([]);
    expect(coverage.transitions.missing).toEqual([]);
  });
});
