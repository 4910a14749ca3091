/**
 * The machines' SVG drawing (`machines export --format svg`, and the `daemon view` page): every state
 * and every edge of each machine is drawn, under the names the journal uses, laid out by the ELK the
 * build bundles into dist/ (so an installed package needs no dev dependency to draw).
 */
import { describe, expect, it } from 'vitest';
import { machineGraph } from '../../src/machines/export.js';
import { runCli } from '../helpers/index.js';
import { graphOf, MACHINES } from '../model/harness.js';

const NAMES = ['daemon', 'stop'] as const;

function attributes(svg: string, element: string, attribute: string): string[] {
  const pattern = new RegExp(`<g class="${element}[^"]*"[^>]*\\b${attribute}="([^"]*)"`, 'g');
  return [...svg.matchAll(pattern)].map((m) => m[1] ?? '');
}

describe('machines export --format svg', () => {
  for (const name of NAMES) {
    it(`${name}: draws every state and every pair of states an edge joins, with its events`, async () => {
      const result = await runCli(['machines', 'export', name, '--format', 'svg']);
      expect(result.code).toBe(0);
      const svg = result.stdout;
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
      expect(svg).toContain(`data-machine="${name}"`);
      // No reference to anything outside the file.
      expect(svg).not.toMatch(/(href|src)=|@import|url\((?!#)/);

      const graph = graphOf(MACHINES[name]);
      const drawnStates = attributes(svg, 'state', 'data-state');
      expect(new Set(drawnStates)).toEqual(new Set([...graph.states].map((id) => id.slice(name.length + 1))));

      const edges = machineGraph(name).edges;
      const pairs = new Set(edges.map((e) => `${e.source} -> ${e.target}`));
      const froms = attributes(svg, 'edge', 'data-from');
      const tos = attributes(svg, 'edge', 'data-to');
      expect(new Set(froms.map((from, i) => `${from} -> ${tos[i]}`))).toEqual(pairs);
      expect(froms).toHaveLength(pairs.size);
      const events = attributes(svg, 'edge', 'data-events').flatMap((e) => e.split(' '));
      for (const edge of edges) expect(events).toContain(edge.event);
      // Laid out: every arrow has a path with at least two points.
      const paths = [...svg.matchAll(/<g class="edge"[^>]*><path d="([^"]*)"/g)].map((m) => m[1] ?? '');
      expect(paths).toHaveLength(pairs.size);
      for (const d of paths) expect(d).toMatch(/^M[\d.-]+ [\d.-]+ L/);
    });
  }
});
