/**
 * Renders the machines for people and tools, offline (DESIGN §7, `difflore machines export`):
 * - `mermaid`: a stateDiagram-v2 from `toDirectedGraph` (GitHub renders it);
 * - `dot`:     Graphviz from `toDirectedGraph`, compound states as clusters;
 * - `json`:    the engine's machine definition (`machine.toJSON()`), targets resolved to ids;
 * - `studio`:  a `createMachine({...})` module that Stately Studio's "import from code" accepts: states,
 *              transitions, guards, actions, invoked actor names and delays by name, with descriptions
 *              and the default context. Implementations stay out: they are the composition root's.
 * - `machineGraph`: states and labelled edges as plain data, for the SVG drawing (src/view) that lays
 *   them out; this module stays pure and synchronous.
 * Edge labels read `EVENT [guard]`, `after <delay>`, `<actor> done` / `<actor> error`.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { type DirectedGraphEdge, type DirectedGraphNode, toDirectedGraph } from 'xstate/graph';
import { machine as daemonMachine, initialDaemonContext } from './daemon.js';
import { initialStopContext, machine as stopMachine } from './stop.js';
import type { MachineName } from './types.js';

export const EXPORT_FORMATS = ['mermaid', 'dot', 'json', 'studio'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

interface Exportable {
  readonly machine: AnyStateMachine;
  /** The context a run starts with under default input; shown in Studio. */
  readonly defaultContext: object;
}

function exportable(name: MachineName): Exportable {
  return name === 'daemon'
    ? { machine: daemonMachine, defaultContext: initialDaemonContext(undefined) }
    : { machine: stopMachine, defaultContext: initialStopContext(undefined) };
}

export function exportMachine(name: MachineName, format: ExportFormat): string {
  const { machine, defaultContext } = exportable(name);
  switch (format) {
    case 'mermaid':
      return toMermaid(machine);
    case 'dot':
      return toDot(machine);
    case 'json':
      return `${JSON.stringify(machine.toJSON(), null, 2)}\n`;
    case 'studio':
      return toStudio(machine, defaultContext);
  }
}

// ── labels ────────────────────────────────────────────────────────────────────────────────────────

type TransitionKind =
  | { readonly kind: 'event'; readonly event: string }
  | { readonly kind: 'after'; readonly delay: string }
  | { readonly kind: 'done' | 'error'; readonly actor: string };

function classify(eventType: string, delay?: unknown): TransitionKind {
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (after) return { kind: 'after', delay: typeof delay === 'string' ? delay : (after[1] ?? '') };
  const actor = /^xstate\.(done|error)\.actor\.(.+)$/.exec(eventType);
  if (actor) return { kind: actor[1] === 'done' ? 'done' : 'error', actor: actor[2] ?? '' };
  return { kind: 'event', event: eventType };
}

function namedRef(ref: unknown): string | null {
  if (typeof ref === 'string') return ref;
  if (typeof ref === 'object' && ref !== null && 'type' in ref && typeof ref.type === 'string') return ref.type;
  if (typeof ref === 'function') return ref.name === '' ? 'inline' : ref.name;
  return null;
}

function guardName(t: AnyTransitionDefinition): string | null {
  return t.guard === undefined ? null : namedRef(t.guard);
}

function actionNames(actions: readonly unknown[]): string[] {
  return actions.map(namedRef).filter((n): n is string => n !== null);
}

/** Entry/exit actions we wrote; XState's own (scheduling and cancelling `after` timers) are functions. */
function declaredActionNames(actions: readonly unknown[]): string[] {
  return actionNames(actions.filter((a) => typeof a !== 'function'));
}

function delayOf(t: AnyTransitionDefinition): unknown {
  return 'delay' in t ? t.delay : undefined;
}

function edgeLabel(t: AnyTransitionDefinition): string {
  const k = classify(t.eventType, delayOf(t));
  const base =
    k.kind === 'event'
      ? k.event
      : k.kind === 'after'
        ? `after ${k.delay}`
        : `${k.actor} ${k.kind === 'done' ? 'done' : 'error'}`;
  const guard = guardName(t);
  const targetless = t.target === undefined || t.target.length === 0;
  const actions = targetless ? actionNames(t.actions) : [];
  return `${base}${guard ? ` [${guard}]` : ''}${actions.length > 0 ? ` / ${actions.join(', ')}` : ''}`;
}

function invokedActors(node: AnyStateNode): string[] {
  return node.invoke.map((inv) => (typeof inv.src === 'string' ? inv.src : inv.id));
}

function allNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap((child) => allNodes(child))];
}

function isCompound(node: AnyStateNode): boolean {
  return Object.keys(node.states).length > 0;
}

/** Diagram ids: the key when it is unique in the machine, else the path joined with `_`. */
function diagramIds(machine: AnyStateMachine): Map<AnyStateNode, string> {
  const nodes = allNodes(machine.root).slice(1);
  const counts = new Map<string, number>();
  for (const n of nodes) counts.set(n.key, (counts.get(n.key) ?? 0) + 1);
  return new Map(nodes.map((n) => [n, counts.get(n.key) === 1 ? n.key : n.path.join('_')]));
}

function initialChild(node: AnyStateNode): AnyStateNode | undefined {
  return node.initial?.target[0];
}

// ── graph (for the SVG drawing) ───────────────────────────────────────────────────────────────────

/** One state; `id` is its dotted path, as the journal and the state file name states. */
export interface GraphState {
  readonly id: string;
  readonly key: string;
  readonly invokes: readonly string[];
  readonly final: boolean;
  /** The initial state of its parent. */
  readonly initial: boolean;
  readonly children: readonly GraphState[];
}

export interface GraphEdge {
  readonly id: string;
  readonly source: string;
  readonly target: string;
  readonly label: string;
  /** The engine's event type (`STOP`, `xstate.done.actor.claim`, `xstate.after.tick.…`), as journaled. */
  readonly event: string;
}

export interface MachineGraph {
  readonly machine: MachineName;
  readonly states: readonly GraphState[];
  readonly edges: readonly GraphEdge[];
}

function graphState(node: AnyStateNode): GraphState {
  const parentInitial = node.parent === undefined ? undefined : initialChild(node.parent);
  return {
    id: node.path.join('.'),
    key: node.key,
    invokes: invokedActors(node),
    final: node.type === 'final',
    initial: parentInitial === node,
    children: Object.values(node.states).map(graphState),
  };
}

/** Both machines' structure as plain data: every state and every edge `toDirectedGraph` finds. */
export function machineGraph(name: MachineName): MachineGraph {
  const { machine } = exportable(name);
  const edges: GraphEdge[] = [];
  const walk = (graph: DirectedGraphNode) => {
    for (const child of graph.children) {
      for (const edge of child.edges) {
        edges.push({
          id: `e${edges.length}`,
          source: edge.source.path.join('.'),
          target: edge.target.path.join('.'),
          label: edgeLabel(edge.transition),
          event: edge.transition.eventType,
        });
      }
      walk(child);
    }
  };
  walk(toDirectedGraph(machine));
  return { machine: name, states: Object.values(machine.root.states).map(graphState), edges };
}

// ── mermaid ───────────────────────────────────────────────────────────────────────────────────────

function mermaidText(text: string): string {
  // `:` separates a label, `;` ends a statement and `#` starts an entity in Mermaid.
  return text.replace(/[:;#]/g, ' ');
}

export function toMermaid(machine: AnyStateMachine): string {
  const ids = diagramIds(machine);
  const id = (n: AnyStateNode) => ids.get(n) ?? n.key;
  const out = ['stateDiagram-v2'];
  const walk = (graph: DirectedGraphNode, indent: string) => {
    const first = initialChild(graph.stateNode);
    if (first) out.push(`${indent}[*] --> ${id(first)}`);
    for (const child of graph.children) {
      const node = child.stateNode;
      if (ids.get(node) !== node.key) out.push(`${indent}state "${node.key}" as ${id(node)}`);
    }
    for (const child of graph.children) {
      const node = child.stateNode;
      // Mermaid shows descriptions on simple states only.
      const actors = invokedActors(node);
      if (actors.length > 0 && !isCompound(node)) out.push(`${indent}${id(node)} : invokes ${actors.join(', ')}`);
      if (isCompound(node)) {
        out.push(`${indent}state ${id(node)} {`);
        walk(child, `${indent}  `);
        out.push(`${indent}}`);
      }
      if (node.type === 'final') out.push(`${indent}${id(node)} --> [*]`);
      for (const edge of child.edges) {
        out.push(`${indent}${id(edge.source)} --> ${id(edge.target)} : ${mermaidText(edgeLabel(edge.transition))}`);
      }
    }
  };
  walk(toDirectedGraph(machine), '  ');
  return `${out.join('\n')}\n`;
}

// ── dot ───────────────────────────────────────────────────────────────────────────────────────────

function dotString(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The leaf an edge to or from a compound state is drawn at (its initial descendant). */
function anchorLeaf(node: AnyStateNode): AnyStateNode {
  const first = initialChild(node);
  return first ? anchorLeaf(first) : node;
}

export function toDot(machine: AnyStateMachine): string {
  const out = [
    `digraph ${dotString(machine.id)} {`,
    '  compound=true;',
    '  rankdir=LR;',
    '  node [shape=box, style=rounded, fontname="Helvetica"];',
    '  edge [fontname="Helvetica", fontsize=10];',
    '  "__start" [shape=point, label=""];',
  ];
  const root = machine.root;
  const rootFirst = initialChild(root);
  if (rootFirst) out.push(`  "__start" -> ${dotString(anchorLeaf(rootFirst).id)};`);
  const edges: DirectedGraphEdge[] = [];
  const walk = (graph: DirectedGraphNode, indent: string) => {
    for (const child of graph.children) {
      const node = child.stateNode;
      const actors = invokedActors(node);
      const label = actors.length > 0 ? `${node.key}\\ninvokes ${actors.join(', ')}` : node.key;
      if (isCompound(node)) {
        out.push(`${indent}subgraph ${dotString(`cluster_${node.id}`)} {`);
        out.push(`${indent}  label="${label.replace(/"/g, '\\"')}";`);
        out.push(`${indent}  style=rounded;`);
        walk(child, `${indent}  `);
        out.push(`${indent}}`);
      } else {
        const shape = node.type === 'final' ? ', peripheries=2' : '';
        out.push(`${indent}${dotString(node.id)} [label="${label.replace(/"/g, '\\"')}"${shape}];`);
      }
      edges.push(...child.edges);
    }
  };
  walk(toDirectedGraph(machine), '  ');
  for (const edge of edges) {
    const from = anchorLeaf(edge.source);
    const to = anchorLeaf(edge.target);
    const attrs = [`label=${dotString(edgeLabel(edge.transition))}`];
    if (from !== edge.source) attrs.push(`ltail=${dotString(`cluster_${edge.source.id}`)}`);
    if (to !== edge.target) attrs.push(`lhead=${dotString(`cluster_${edge.target.id}`)}`);
    out.push(`  ${dotString(from.id)} -> ${dotString(to.id)} [${attrs.join(', ')}];`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}

// ── studio ────────────────────────────────────────────────────────────────────────────────────────

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** A target as Studio reads it: a sibling's key, else `#id`. */
function studioTarget(source: AnyStateNode, target: AnyStateNode): string {
  return target.parent !== undefined && target.parent === source.parent ? target.key : `#${target.id}`;
}

function studioTransition(source: AnyStateNode, t: AnyTransitionDefinition): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  const targets = t.target ?? [];
  if (targets.length === 1 && targets[0]) out.target = studioTarget(source, targets[0]);
  else if (targets.length > 1) out.target = targets.map((target) => studioTarget(source, target));
  if (t.reenter) out.reenter = true;
  const guard = guardName(t);
  if (guard) out.guard = guard;
  const actions = actionNames(t.actions);
  if (actions.length > 0) out.actions = actions;
  if (t.description) out.description = t.description;
  return out;
}

function oneOrMany(items: { [key: string]: Json }[]): Json {
  return items.length === 1 && items[0] ? items[0] : items;
}

function studioState(node: AnyStateNode): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  if (node.description) out.description = node.description;
  if (node.type === 'final') out.type = 'final';
  const first = initialChild(node);
  if (first) out.initial = first.key;
  const entry = declaredActionNames(node.entry);
  if (entry.length > 0) out.entry = entry;
  const exit = declaredActionNames(node.exit);
  if (exit.length > 0) out.exit = exit;

  const on: { [key: string]: Json } = {};
  const after: { [key: string]: Json } = {};
  const done = new Map<string, { [key: string]: Json }[]>();
  const error = new Map<string, { [key: string]: Json }[]>();
  for (const [eventType, transitions] of node.transitions) {
    const rendered = transitions.map((t) => studioTransition(node, t));
    const first = transitions[0];
    const k = classify(eventType, first ? delayOf(first) : undefined);
    if (k.kind === 'event') on[k.event] = oneOrMany(rendered);
    else if (k.kind === 'after') after[k.delay] = oneOrMany(rendered);
    else (k.kind === 'done' ? done : error).set(k.actor, rendered);
  }
  if (node.invoke.length > 0) {
    out.invoke = oneOrMany(
      node.invoke.map((inv) => {
        const invoke: { [key: string]: Json } = { id: inv.id, src: typeof inv.src === 'string' ? inv.src : inv.id };
        const onDone = done.get(inv.id);
        if (onDone) invoke.onDone = oneOrMany(onDone);
        const onError = error.get(inv.id);
        if (onError) invoke.onError = oneOrMany(onError);
        return invoke;
      }),
    );
  }
  if (Object.keys(after).length > 0) out.after = after;
  if (Object.keys(on).length > 0) out.on = on;
  if (isCompound(node)) {
    const states: { [key: string]: Json } = {};
    for (const [key, child] of Object.entries(node.states)) states[key] = studioState(child);
    out.states = states;
  }
  return out;
}

function toJson(value: unknown): Json {
  return JSON.parse(JSON.stringify(value)) as Json;
}

export function toStudio(machine: AnyStateMachine, defaultContext: object): string {
  const config: { [key: string]: Json } = {
    id: machine.id,
    ...studioState(machine.root),
    context: toJson(defaultContext),
  };
  const name = `${machine.id}Machine`;
  return [
    `// The ${machine.id} machine's structure for Stately Studio (Import from code). Effects are named here;`,
    '// their implementations live in the difflore composition root.',
    "import { createMachine } from 'xstate';",
    '',
    `export const ${name} = createMachine(${JSON.stringify(config, null, 2)});`,
    '',
  ].join('\n');
}
