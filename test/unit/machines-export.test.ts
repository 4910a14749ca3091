/**
 * `difflore machines export`: every format renders every state and transition, the Studio code is a
 * machine XState itself accepts with the same graph, and the command stays light and validates input.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AnyStateMachine, createMachine } from 'xstate';
import { toDirectedGraph } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import { EXPORT_FORMATS, exportMachine } from '../../src/machines/export.js';
import { runCli } from '../helpers/index.js';
import { graphOf, MACHINES } from '../model/harness.js';

const NAMES = ['daemon', 'stop'] as const;

function edgeCount(machine: AnyStateMachine): number {
  return graphOf(machine).edges.size;
}

describe('machines export', () => {
  for (const name of NAMES) {
    const machine = MACHINES[name];
    const graph = graphOf(machine);

    it(`${name}: mermaid draws every state and edge`, () => {
      const text = exportMachine(name, 'mermaid');
      const lines = text.trim().split('\n');
      expect(lines[0]).toBe('stateDiagram-v2');
      expect(lines.filter((l) => / --> /.test(l) && / : /.test(l))).toHaveLength(graph.edges.size);
      for (const id of graph.states) {
        const key = id.split('.').at(-1) ?? '';
        expect(text).toContain(key);
      }
      expect(text).not.toMatch(/[;#]/);
    });

    it(`${name}: dot draws every state and edge and is balanced`, () => {
      const text = exportMachine(name, 'dot');
      expect(text.startsWith(`digraph "${name}" {`)).toBe(true);
      expect(text.split('{').length).toBe(text.split('}').length);
      // Edges plus the start marker.
      expect(text.split('\n').filter((l) => l.includes(' -> '))).toHaveLength(graph.edges.size + 1);
    });

    it(`${name}: json is the machine definition`, () => {
      const json = JSON.parse(exportMachine(name, 'json')) as { id: string; states: Record<string, unknown> };
      expect(json.id).toBe(name);
      expect(Object.keys(json.states)).toEqual(Object.keys(machine.root.states));
    });

    it(`${name}: studio code is a createMachine XState accepts, with the same graph`, () => {
      const code = exportMachine(name, 'studio');
      expect(code).toContain("import { createMachine } from 'xstate';");
      const body = code
        .split('\n')
        .filter((l) => !l.startsWith('import '))
        .join('\n')
        .replace(/export const \w+ = /, 'return ');
      const imported = new Function('createMachine', body)(createMachine) as AnyStateMachine;
      expect(imported.id).toBe(name);
      expect(graphOf(imported).states).toEqual(graph.states);
      expect(edgeCount(imported)).toBe(graph.edges.size);
      expect(JSON.stringify(toDirectedGraph(imported))).toBe(JSON.stringify(toDirectedGraph(machine)));
      // Effects appear by name only.
      expect(code).toContain(name === 'daemon' ? '"src": "drainPass"' : '"src": "checkAlive"');
      expect(code).toContain(name === 'daemon' ? '"untilTick"' : '"nextPoll"');
    });
  }

  it('renders every format', () => {
    expect(EXPORT_FORMATS).toEqual(['mermaid', 'dot', 'json', 'studio']);
  });
});

/** The built CLI (dist/, built by the global setup), as a user runs it. */
async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(args);
}

describe('difflore machines export (command)', () => {
  it('prints the daemon machine as mermaid by default', async () => {
    const { code, stdout } = await run(['machines', 'export']);
    expect(code).toBe(0);
    expect(stdout).toBe(exportMachine('daemon', 'mermaid'));
  });

  it('prints the chosen machine in the chosen format', async () => {
    const { code, stdout } = await run(['machines', 'export', 'stop', '--format', 'dot']);
    expect(code).toBe(0);
    expect(stdout).toBe(exportMachine('stop', 'dot'));
  });

  it('rejects an unknown machine or format as a usage error (exit 2)', async () => {
    const badMachine = await run(['machines', 'export', 'nope']);
    expect(badMachine.code).toBe(2);
    expect(badMachine.stderr).toContain("unknown machine 'nope'");
    const badFormat = await run(['machines', 'export', '--format', 'png']);
    expect(badFormat.code).toBe(2);
    expect(badFormat.stderr).toContain("unknown format 'png'");
  });

  it('does not import xstate or the machines at module load', () => {
    const source = readFileSync(join(import.meta.dirname, '../../src/cli/commands/machines-export.ts'), 'utf8');
    const staticImports = source.split('\n').filter((l) => l.startsWith('import '));
    expect(staticImports.some((l) => l.includes('xstate') || l.includes('machines/'))).toBe(false);
  });
});
