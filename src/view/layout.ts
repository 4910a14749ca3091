/**
 * Lays a machine's graph (machines/export.ts `machineGraph`) out with ELK's layered algorithm, in this
 * process, so the page and `machines export --format svg` get the same drawing with no browser-side
 * layout and nothing fetched. elkjs is a build-time dependency: `npm run build` bundles it into
 * `dist/view/elk.cjs` (scripts/build-view.mjs), so an installed package needs no dev dependency; a
 * checkout running the sources uses the dev dependency itself.
 *
 * Edges between the same two states are drawn once, their labels stacked: a state with five guarded
 * `probe done` branches to two targets reads better as two arrows than as five.
 */
import { createRequire } from 'node:module';
import type { ELK, ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import type { GraphEdge, GraphState, MachineGraph } from '../machines/export.js';
import type { MachineName } from '../machines/types.js';

export interface Point {
  readonly x: number;
  readonly y: number;
}

export interface PlacedState {
  readonly id: string;
  readonly key: string;
  readonly invokes: readonly string[];
  readonly final: boolean;
  readonly initial: boolean;
  readonly compound: boolean;
  readonly depth: number;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface PlacedLabel extends Point {
  readonly lines: readonly string[];
  readonly width: number;
  readonly height: number;
}

export interface PlacedEdge {
  readonly id: string;
  readonly source: string;
  readonly target: string;
  /** Every engine event type this arrow stands for (`STOP`, `xstate.done.actor.claim`, …). */
  readonly events: readonly string[];
  readonly points: readonly Point[];
  readonly label: PlacedLabel | null;
}

export interface PlacedGraph {
  readonly machine: MachineName;
  readonly width: number;
  readonly height: number;
  /** Parents before their children, so drawing in order puts children on top. */
  readonly states: readonly PlacedState[];
  readonly edges: readonly PlacedEdge[];
  /** Where the initial-state marker sits, and the arrow from it. */
  readonly start: { readonly at: Point; readonly points: readonly Point[] } | null;
}

/** Sizes used both to ask ELK for room and to draw; the SVG uses the same fonts. */
export const METRICS = {
  stateFont: 13,
  detailFont: 10.5,
  edgeFont: 10.5,
  lineHeight: 13,
  compoundHeader: 26,
  charWidth: 0.6,
} as const;

const START_ID = '__start';

function textWidth(text: string, fontSize: number): number {
  return Math.ceil(text.length * fontSize * METRICS.charWidth);
}

function leafSize(state: GraphState): { width: number; height: number } {
  const detail = state.invokes.length > 0 ? `invokes ${state.invokes.join(', ')}` : '';
  const width = Math.max(textWidth(state.key, METRICS.stateFont), textWidth(detail, METRICS.detailFont)) + 28;
  return { width: Math.max(width, 90), height: detail === '' ? 36 : 50 };
}

function elkState(state: GraphState): ElkNode {
  if (state.children.length === 0) return { id: state.id, ...leafSize(state) };
  return {
    id: state.id,
    layoutOptions: {
      'elk.padding': `[top=${METRICS.compoundHeader + 8},left=14,bottom=14,right=14]`,
      'elk.nodeSize.constraints': 'MINIMUM_SIZE',
      'elk.nodeSize.minimum': `(${textWidth(state.key, METRICS.stateFont) + 40}, 60)`,
    },
    children: state.children.map(elkState),
  };
}

interface MergedEdge {
  readonly id: string;
  readonly source: string;
  readonly target: string;
  readonly events: string[];
  readonly lines: string[];
}

function mergeEdges(edges: readonly GraphEdge[]): MergedEdge[] {
  const byEnds = new Map<string, MergedEdge>();
  for (const edge of edges) {
    const key = `${edge.source}\u0000${edge.target}`;
    let merged = byEnds.get(key);
    if (merged === undefined) {
      merged = { id: `edge${byEnds.size}`, source: edge.source, target: edge.target, events: [], lines: [] };
      byEnds.set(key, merged);
    }
    if (!merged.events.includes(edge.event)) merged.events.push(edge.event);
    if (!merged.lines.includes(edge.label)) merged.lines.push(edge.label);
  }
  return [...byEnds.values()];
}

function elkEdge(edge: MergedEdge): ElkExtendedEdge {
  const width = Math.max(...edge.lines.map((line) => textWidth(line, METRICS.edgeFont)));
  return {
    id: edge.id,
    sources: [edge.source],
    targets: [edge.target],
    labels: [
      { id: `${edge.id}-label`, text: edge.lines.join('\n'), width, height: edge.lines.length * METRICS.lineHeight },
    ],
  };
}

function elkGraph(graph: MachineGraph, merged: readonly MergedEdge[]): ElkNode {
  const first = graph.states.find((s) => s.initial);
  const children: ElkNode[] = graph.states.map(elkState);
  const edges = merged.map(elkEdge);
  if (first) {
    children.unshift({ id: START_ID, width: 12, height: 12 });
    edges.unshift({ id: `${START_ID}-edge`, sources: [START_ID], targets: [first.id] });
  }
  return {
    id: graph.machine,
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.layered.spacing.nodeNodeBetweenLayers': '34',
      'elk.spacing.nodeNode': '28',
      'elk.spacing.edgeLabel': '4',
      'elk.spacing.edgeEdge': '12',
      'elk.edgeLabels.inline': 'false',
      'elk.layered.edgeLabels.sideSelection': 'SMART_DOWN',
      'elk.padding': '[top=16,left=16,bottom=16,right=16]',
      'elk.json.shapeCoords': 'ROOT',
      'elk.json.edgeCoords': 'ROOT',
    },
    children,
    edges,
  };
}

type ElkConstructor = new () => ELK;

let elkInstance: ELK | undefined;

/** The bundled ELK of a build, else the dev dependency of a checkout. */
function elk(): ELK {
  if (elkInstance) return elkInstance;
  const require = createRequire(import.meta.url);
  let Elk: ElkConstructor;
  try {
    Elk = require('./elk.cjs') as ElkConstructor;
  } catch {
    Elk = require('elkjs/lib/elk.bundled.js') as ElkConstructor;
  }
  elkInstance = new Elk();
  return elkInstance;
}

function placeStates(node: ElkNode, source: readonly GraphState[], depth: number, out: PlacedState[]): void {
  const byId = new Map(source.map((s) => [s.id, s]));
  for (const child of node.children ?? []) {
    const state = byId.get(child.id);
    if (state === undefined) continue;
    out.push({
      id: state.id,
      key: state.key,
      invokes: state.invokes,
      final: state.final,
      initial: state.initial,
      compound: state.children.length > 0,
      depth,
      x: child.x ?? 0,
      y: child.y ?? 0,
      width: child.width ?? 0,
      height: child.height ?? 0,
    });
    placeStates(child, state.children, depth + 1, out);
  }
}

/** Every laid-out edge, wherever ELK put it in the hierarchy (coordinates are absolute: edgeCoords ROOT). */
function laidOutEdges(node: ElkNode): ElkExtendedEdge[] {
  return [...(node.edges ?? []), ...(node.children ?? []).flatMap(laidOutEdges)];
}

function edgePoints(edge: ElkExtendedEdge): Point[] {
  const section = edge.sections?.[0];
  if (section === undefined) return [];
  return [section.startPoint, ...(section.bendPoints ?? []), section.endPoint].map(({ x, y }) => ({ x, y }));
}

export async function layoutMachine(graph: MachineGraph): Promise<PlacedGraph> {
  const merged = mergeEdges(graph.edges);
  const laid = await elk().layout(elkGraph(graph, merged));
  const states: PlacedState[] = [];
  placeStates(laid, graph.states, 0, states);
  const edgesById = new Map(laidOutEdges(laid).map((e) => [e.id, e]));
  const edges: PlacedEdge[] = merged.map((m) => {
    const placed = edgesById.get(m.id);
    const label = placed?.labels?.[0];
    return {
      id: m.id,
      source: m.source,
      target: m.target,
      events: m.events,
      points: placed ? edgePoints(placed) : [],
      label: label
        ? { x: label.x ?? 0, y: label.y ?? 0, width: label.width ?? 0, height: label.height ?? 0, lines: m.lines }
        : null,
    };
  });
  const startNode = laid.children?.find((c) => c.id === START_ID);
  const startEdge = edgesById.get(`${START_ID}-edge`);
  return {
    machine: graph.machine,
    width: Math.ceil(laid.width ?? 0),
    height: Math.ceil(laid.height ?? 0),
    states,
    edges,
    start:
      startNode && startEdge
        ? { at: { x: (startNode.x ?? 0) + 6, y: (startNode.y ?? 0) + 6 }, points: edgePoints(startEdge) }
        : null,
  };
}
