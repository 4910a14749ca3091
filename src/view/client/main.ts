/**
 * The `daemon view` page script (bundled by scripts/build-view.mjs into dist/view/client.js and
 * inlined into the page). It renders the snapshot the page carries, then follows the server's event
 * stream: marks the current state in each drawing, lights up the arrow each journaled transition took,
 * and keeps the side panels current. It talks only to the server that served it (the page's CSP says so).
 */
import type { BacklogSample, FeedEvent, PassView, TransitionView, ViewSnapshot } from '../model.js';

const FIRED_MS = 2200;
const LOG_KEPT = 80;
const HOUR_MS = 60 * 60 * 1000;
const PALETTE = ['#1c7ed6', '#e8590c', '#2b8a3e', '#ae3ec9', '#f08c00', '#0c8599', '#c2255c', '#5c940d'];

function byId<T extends HTMLElement | SVGElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element as T;
}

function el(tag: string, attrs: Record<string, string> = {}, text?: string): HTMLElement {
  const element = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) element.setAttribute(k, v);
  if (text !== undefined) element.textContent = text;
  return element;
}

function clock(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function duration(ms: number | null): string {
  if (ms === null) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return s % 60 === 0 ? `${s / 60} min` : `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function facts(list: HTMLElement, rows: readonly (readonly [string, string])[]): void {
  list.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

let snapshot: ViewSnapshot = JSON.parse(byId('initial').textContent ?? '{}') as ViewSnapshot;

// ── the drawings ──────────────────────────────────────────────────────────────────────────────────

function machineSvg(machine: string): SVGSVGElement | null {
  return document.querySelector<SVGSVGElement>(`svg.machine[data-machine="${CSS.escape(machine)}"]`);
}

/** A state and its ancestors: `serving.running` → `serving`, `serving.running`. */
function lineage(state: string): string[] {
  const parts = state.split('.');
  return parts.map((_, i) => parts.slice(0, i + 1).join('.'));
}

function markState(machine: string, state: string | null, kind: 'current' | 'last-known'): void {
  const svg = machineSvg(machine);
  if (svg === null) return;
  for (const node of svg.querySelectorAll('.state.current, .state.last-known, .state.active')) {
    node.classList.remove('current', 'last-known', 'active');
  }
  if (state === null) return;
  const chain = lineage(state);
  for (const id of chain) {
    const node = svg.querySelector(`.state[data-state="${CSS.escape(id)}"]`);
    node?.classList.add(id === state ? kind : 'active');
  }
}

function covers(drawn: string | undefined, state: string | null): boolean {
  return drawn !== undefined && state !== null && (state === drawn || state.startsWith(`${drawn}.`));
}

/** The arrows a transition took: same ends (or their parents), the same event if one says so. */
function firedEdges(t: TransitionView): Element[] {
  const svg = machineSvg(t.machine);
  if (svg === null || t.from === null) return [];
  const candidates = [...svg.querySelectorAll<SVGGElement>('.edge')].filter(
    (edge) => covers(edge.dataset.from, t.from) && covers(edge.dataset.to, t.to),
  );
  const exact = candidates.filter((edge) => (edge.dataset.events ?? '').split(' ').includes(t.event));
  return exact.length > 0 ? exact : candidates;
}

function animate(t: TransitionView): void {
  for (const edge of firedEdges(t)) {
    edge.classList.remove('fired');
    void (edge as SVGGElement).getBBox(); // restart the animation
    edge.classList.add('fired');
    setTimeout(() => edge.classList.remove('fired'), FIRED_MS);
  }
  const svg = machineSvg(t.machine);
  const entered = svg?.querySelector(`.state[data-state="${CSS.escape(t.to)}"]`);
  if (entered) {
    entered.classList.remove('entered');
    entered.classList.add('entered');
    setTimeout(() => entered.classList.remove('entered'), FIRED_MS);
  }
}

// ── panels ────────────────────────────────────────────────────────────────────────────────────────

function renderStatus(): void {
  const { daemon, delivery, lastStop } = snapshot;
  const pill = byId<HTMLElement>('status');
  pill.className = `pill ${daemon.status}`;
  pill.textContent = daemon.status === 'notRunning' ? 'not running' : daemon.status;
  byId('summary').textContent = daemon.summary;
  const live = daemon.state !== null;
  markState('daemon', live ? daemon.state : daemon.lastKnownState, live ? 'current' : 'last-known');
  byId('daemon-where').textContent = live
    ? `now ${daemon.state}`
    : daemon.lastKnownState === null
      ? 'not running; nothing journaled yet'
      : `not running; last journaled ${daemon.lastKnownState}`;
  markState('stop', lastStop?.state ?? null, 'last-known');
  byId('stop-where').textContent = lastStop === null ? 'no run recorded' : `last run ended in ${lastStop.state ?? '?'}`;
  facts(byId('facts'), [
    ['status', daemon.summary],
    ['pid', daemon.pid === null ? '—' : String(daemon.pid)],
    ['state', daemon.state ?? '—'],
    ['up', duration(daemon.uptimeMs)],
    ['heartbeat', daemon.heartbeatAgeMs === null ? '—' : `${duration(daemon.heartbeatAgeMs)} ago`],
  ]);
  // The daemon's own word on delivery first (when its state file has one), then the token and breaker.
  const headline = delivery.details.filter(([k]) => k === 'delivery');
  const rows: (readonly [string, string])[] = [
    ...headline,
    ['token', delivery.token ?? '—'],
    ['token source', delivery.tokenSource ?? 'not recorded'],
    ['breaker', delivery.breaker ?? 'not recorded'],
    ...delivery.details.filter(([k]) => k !== 'delivery'),
  ];
  facts(byId('delivery'), rows);
  renderLastStop();
}

function renderLastStop(): void {
  const box = byId('last-stop');
  const run = snapshot.lastStop;
  if (run === null) {
    box.replaceChildren(el('div', { class: 'empty' }, 'no `daemon stop` recorded in this home'));
    return;
  }
  const head = el('div', {}, `pid ${run.pid} · ended in ${run.state ?? '?'} · ${clock(run.atMs)}`);
  const list = el('ol', { class: 'log' });
  for (const t of run.transitions.slice(-6)) list.append(el('li', {}, `${t.from ?? '∅'} → ${t.to}`));
  box.replaceChildren(head, list);
}

function passRow(p: PassView): HTMLElement {
  const row = el('tr');
  row.append(
    el('td', p.failed ? { class: 'failed' } : {}, `${clock(p.atMs).slice(0, 8)}${p.failed ? ' failed' : ''}`),
    el('td', {}, String(p.attempted)),
    el('td', {}, String(p.confirmed)),
    el('td', {}, String(p.retried)),
    el('td', {}, String(p.abandoned)),
  );
  return row;
}

function renderPasses(): void {
  const body = document.querySelector('#passes tbody');
  if (body === null) return;
  const passes = [...snapshot.passes].reverse().slice(0, 8);
  if (passes.length === 0) {
    const row = el('tr');
    row.append(el('td', { colspan: '5', class: 'empty' }, 'no pass journaled yet'));
    body.replaceChildren(row);
  } else body.replaceChildren(...passes.map(passRow));
}

function logLine(t: TransitionView, fresh: boolean): HTMLElement {
  const li = el('li', { 'data-machine': t.machine, 'data-seq': String(t.seq), class: fresh ? 'new' : '' });
  li.append(
    el('span', { class: 'muted' }, `${clock(t.atMs)} `),
    el('b', {}, t.machine),
    el('span', { class: 'muted' }, ` ${t.pid} #${t.seq}`),
    el('br'),
    document.createTextNode(`${t.from ?? '∅'} → ${t.to} `),
    el('span', { class: 'event' }, t.event),
  );
  li.title = `${t.machine} pid ${t.pid} #${t.seq}: ${t.from ?? '(start)'} → ${t.to} on ${t.event}`;
  return li;
}

function renderLog(): void {
  byId('transitions').replaceChildren(...[...snapshot.transitions].reverse().map((t) => logLine(t, false)));
}

function kindsOf(samples: readonly BacklogSample[]): string[] {
  const kinds = new Set<string>();
  for (const s of samples) for (const k of Object.keys(s.byKind)) kinds.add(k);
  return [...kinds].sort();
}

function renderBacklog(): void {
  const svg = byId<SVGSVGElement>('backlog-chart');
  const samples = snapshot.backlog;
  const legend = byId('backlog-legend');
  if (samples.length === 0) {
    svg.replaceChildren();
    legend.replaceChildren(el('span', { class: 'empty' }, snapshot.backlogError ?? 'no outbox database yet'));
    return;
  }
  const now = samples[samples.length - 1]?.atMs ?? snapshot.atMs;
  // The view keeps what it sampled (an hour at most): the axis spans that, a minute at least.
  const span = Math.min(HOUR_MS, Math.max(60_000, now - (samples[0]?.atMs ?? now)));
  byId('backlog-span').textContent = span >= HOUR_MS ? 'last hour' : `last ${duration(span)}, sampled by this view`;
  const kinds = kindsOf(samples);
  const max = Math.max(1, ...samples.map((s) => Math.max(0, ...Object.values(s.byKind))));
  const x = (ms: number) => 358 - ((now - ms) / span) * 356;
  const y = (n: number) => 116 - (n / max) * 108;
  const ns = 'http://www.w3.org/2000/svg';
  const lines = kinds.map((kind, i) => {
    const path = document.createElementNS(ns, 'polyline');
    path.setAttribute(
      'points',
      samples.map((s) => `${x(s.atMs).toFixed(1)},${y(s.byKind[kind] ?? 0).toFixed(1)}`).join(' '),
    );
    path.setAttribute('fill', 'none');
    path.setAttribute('stroke', PALETTE[i % PALETTE.length] ?? '#000');
    path.setAttribute('stroke-width', '2');
    path.setAttribute('vector-effect', 'non-scaling-stroke');
    return path;
  });
  const axis = document.createElementNS(ns, 'line');
  for (const [k, v] of Object.entries({ x1: '0', x2: '360', y1: '116', y2: '116', stroke: '#d9dee5' }))
    axis.setAttribute(k, v);
  svg.replaceChildren(axis, ...lines);
  const latest = samples[samples.length - 1];
  const items = kinds.map((kind, i) => {
    const item = el('span', {}, `${kind} ${latest?.byKind[kind] ?? 0}`);
    item.prepend(el('i', { style: `background:${PALETTE[i % PALETTE.length]}` }));
    return item;
  });
  if (items.length === 0) items.push(el('span', { class: 'empty' }, 'nothing waiting'));
  items.push(el('span', { class: 'muted' }, `abandoned ${latest?.abandoned ?? 0} · peak ${max}`));
  legend.replaceChildren(...items);
}

function renderAll(): void {
  renderStatus();
  renderPasses();
  renderBacklog();
  renderLog();
}

// ── the stream ────────────────────────────────────────────────────────────────────────────────────

function onEvent(event: FeedEvent): void {
  switch (event.type) {
    case 'snapshot':
      snapshot = event.data;
      renderAll();
      return;
    case 'status':
      snapshot = { ...snapshot, ...event.data };
      renderStatus();
      return;
    case 'transition': {
      const t = event.data;
      snapshot = { ...snapshot, transitions: [...snapshot.transitions, t].slice(-LOG_KEPT) };
      if (t.machine === 'daemon' && snapshot.daemon.pid === t.pid) markState('daemon', t.to, 'current');
      if (t.machine === 'stop') markState('stop', t.to, 'current');
      byId('transitions').prepend(logLine(t, true));
      animate(t);
      return;
    }
    case 'pass':
      snapshot = { ...snapshot, passes: [...snapshot.passes, event.data].slice(-12) };
      renderPasses();
      return;
    case 'backlog':
      if ('error' in event.data) snapshot = { ...snapshot, backlogError: event.data.error };
      else
        snapshot = {
          ...snapshot,
          backlog: [...snapshot.backlog, event.data].filter((s) => s.atMs > Date.now() - HOUR_MS),
        };
      renderBacklog();
      return;
  }
}

function connect(): void {
  const key = new URLSearchParams(location.search).get('key') ?? '';
  const source = new EventSource(`/events?key=${encodeURIComponent(key)}`);
  const conn = byId('conn');
  source.onopen = () => {
    conn.textContent = 'live';
  };
  source.onerror = () => {
    conn.textContent = source.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting…';
  };
  for (const type of ['snapshot', 'status', 'transition', 'pass', 'backlog'] as const) {
    source.addEventListener(type, (message) => {
      onEvent({ type, data: JSON.parse((message as MessageEvent<string>).data) } as FeedEvent);
    });
  }
}

renderAll();
connect();
