/**
 * Draws a laid-out machine (layout.ts) as one standalone SVG: its own styles, no fonts or images to
 * fetch. Every state is a `<g class="state" data-state="serving.running">` and every arrow a
 * `<g class="edge" data-from=… data-to=… data-events=…>`, so the live page can mark the current state
 * and light up the arrow a journaled transition took, by the same names the journal uses.
 */
import { machineGraph } from '../machines/export.js';
import type { MachineName } from '../machines/types.js';
import { layoutMachine, METRICS, type PlacedEdge, type PlacedGraph, type PlacedState, type Point } from './layout.js';

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
.machine { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
.machine .state > rect { fill: #ffffff; stroke: #8a94a6; stroke-width: 1.2; }
.machine .state.compound > rect { fill: #f5f7fa; stroke: #b4bcc8; stroke-dasharray: 0; }
.machine .state.final > rect.inner { fill: none; stroke: #8a94a6; }
.machine .state text.name { font-size: ${METRICS.stateFont}px; font-weight: 600; fill: #1f2933; }
.machine .state text.detail { font-size: ${METRICS.detailFont}px; fill: #616e7c; }
.machine .state circle.initial { fill: #52606d; }
.machine .edge path { fill: none; stroke: #9aa5b1; stroke-width: 1.2; }
.machine .edge text { font-size: ${METRICS.edgeFont}px; fill: #52606d; }
.machine .start circle { fill: #1f2933; }
.machine .start path { fill: none; stroke: #1f2933; stroke-width: 1.2; }
`;

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

function pathData(points: readonly Point[]): string {
  return points.map((p, i) => `${i === 0 ? 'M' : 'L'}${round(p.x)} ${round(p.y)}`).join(' ');
}

function stateSvg(state: PlacedState): string {
  const classes = ['state', state.compound ? 'compound' : 'leaf', state.final ? 'final' : ''].filter(Boolean);
  const { x, y, width, height } = state;
  const parts = [`<rect x="${round(x)}" y="${round(y)}" width="${round(width)}" height="${round(height)}" rx="9"/>`];
  if (state.final) {
    parts.push(
      `<rect class="inner" x="${round(x + 3)}" y="${round(y + 3)}" width="${round(width - 6)}" height="${round(height - 6)}" rx="7"/>`,
    );
  }
  const cx = round(x + width / 2);
  if (state.compound) {
    parts.push(`<text class="name" x="${round(x + 12)}" y="${round(y + 18)}">${escapeXml(state.key)}</text>`);
  } else if (state.invokes.length > 0) {
    parts.push(`<text class="name" x="${cx}" y="${round(y + 21)}" text-anchor="middle">${escapeXml(state.key)}</text>`);
    const detail = `invokes ${state.invokes.join(', ')}`;
    parts.push(`<text class="detail" x="${cx}" y="${round(y + 38)}" text-anchor="middle">${escapeXml(detail)}</text>`);
  } else {
    parts.push(
      `<text class="name" x="${cx}" y="${round(y + height / 2 + 4.5)}" text-anchor="middle">${escapeXml(state.key)}</text>`,
    );
  }
  // A nested initial state gets a dot on its corner; the machine's own initial has the start arrow.
  if (state.initial && state.depth > 0) parts.push(`<circle class="initial" cx="${round(x)}" cy="${round(y)}" r="4"/>`);
  return `<g class="${classes.join(' ')}" data-state="${escapeXml(state.id)}"><title>${escapeXml(state.id)}</title>${parts.join('')}</g>`;
}

function edgeSvg(edge: PlacedEdge, marker: string): string {
  const attrs = `data-from="${escapeXml(edge.source)}" data-to="${escapeXml(edge.target)}" data-events="${escapeXml(edge.events.join(' '))}"`;
  const parts = [`<path d="${pathData(edge.points)}" marker-end="url(#${marker})"/>`];
  if (edge.label) {
    const { x, y, lines } = edge.label;
    const tspans = lines.map(
      (line, i) =>
        `<tspan x="${round(x)}" y="${round(y + (i + 1) * METRICS.lineHeight - 3)}">${escapeXml(line)}</tspan>`,
    );
    parts.push(`<text>${tspans.join('')}</text>`);
  }
  return `<g class="edge" ${attrs}>${parts.join('')}</g>`;
}

/** The SVG text of a laid-out machine. `idPrefix` keeps marker ids unique when several share a page. */
export function renderSvg(graph: PlacedGraph, idPrefix = graph.machine): string {
  const marker = `${idPrefix}-arrow`;
  const defs =
    `<defs><marker id="${marker}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse">` +
    '<path d="M0 0 L10 5 L0 10 z" fill="#9aa5b1"/></marker>' +
    `<marker id="${marker}-start" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse">` +
    '<path d="M0 0 L10 5 L0 10 z" fill="#1f2933"/></marker></defs>';
  const start = graph.start
    ? `<g class="start"><circle cx="${round(graph.start.at.x)}" cy="${round(graph.start.at.y)}" r="6"/>` +
      `<path d="${pathData(graph.start.points)}" marker-end="url(#${marker}-start)"/></g>`
    : '';
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="machine" data-machine="${graph.machine}" viewBox="0 0 ${graph.width} ${graph.height}" width="${graph.width}" height="${graph.height}">`,
    `<title>${escapeXml(graph.machine)} machine</title>`,
    `<style>${STYLE}</style>`,
    defs,
    ...graph.states.map(stateSvg),
    start,
    ...graph.edges.map((edge) => edgeSvg(edge, marker)),
    '</svg>',
  ].join('\n');
}

/** Lays out and draws one machine. */
export async function machineSvg(name: MachineName): Promise<string> {
  return `${renderSvg(await layoutMachine(machineGraph(name)))}\n`;
}
