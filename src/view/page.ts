/**
 * The `daemon view` page: one HTML document with everything inline — styles, both machine drawings
 * (svg.ts, laid out once per server), the first snapshot as JSON, and the page script that the build
 * bundles into dist/view/client.js. Nothing on it refers to another origin.
 */
import { readFileSync } from 'node:fs';
import { DiffloreError } from '../errors.js';
import { escapeXml } from './svg.js';
import type { ViewSnapshot } from './model.js';

const STYLE = `
:root { color-scheme: light; --ink: #1f2933; --muted: #616e7c; --line: #d9dee5; --accent: #0b7285; --fire: #e8590c; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink); background: #fbfcfd; }
header { display: flex; gap: 14px; align-items: baseline; padding: 10px 18px; border-bottom: 1px solid var(--line); background: #fff; }
header h1 { font-size: 17px; margin: 0; }
header .home, header .conn { color: var(--muted); }
header .conn { margin-left: auto; }
.pill { padding: 2px 10px; border-radius: 999px; font-weight: 600; background: #e4e7eb; }
.pill.running { background: #d3f9d8; color: #2b8a3e; }
.pill.notRunning, .pill.stale { background: #ffe3e3; color: #c92a2a; }
.pill.unverified, .pill.unknown { background: #fff3bf; color: #8f6400; }
main { display: grid; grid-template-columns: minmax(0, 1fr) 360px; gap: 16px; padding: 14px 18px; }
.machines { display: flex; flex-direction: column; gap: 14px; min-width: 0; }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 10px 14px; }
.panel h2, .panel h3 { margin: 0 0 8px; font-size: 14px; }
.panel h2 .where, .panel h3 .where { font-weight: 400; color: var(--muted); margin-left: 8px; }
aside { display: flex; flex-direction: column; gap: 12px; min-width: 0; }
svg.machine { width: 100%; height: auto; display: block; }
.machine .state.active > rect { stroke: var(--accent); }
.machine .state.current > rect { fill: #e3fafc; stroke: var(--accent); stroke-width: 3; }
.machine .state.current text.name { fill: var(--accent); }
.machine .state.last-known > rect { stroke: var(--accent); stroke-width: 2; stroke-dasharray: 5 4; }
.machine .state.entered > rect { animation: enter 1.2s ease-out; }
.machine .edge.fired path { stroke: var(--fire); stroke-width: 3; animation: fire 1.6s ease-out; }
.machine .edge.fired text { fill: var(--fire); font-weight: 600; }
@keyframes fire { from { stroke-width: 7; } to { stroke-width: 3; } }
@keyframes enter { from { fill: #ffd8a8; } to { fill: #e3fafc; } }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 12px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: right; padding: 2px 4px; border-bottom: 1px solid #eef1f4; }
th { font-size: 11px; font-weight: 600; color: var(--muted); }
th:first-child, td:first-child { text-align: left; }
td.failed { color: #c92a2a; }
ol.log { list-style: none; margin: 0; padding: 0; max-height: 320px; overflow: auto; font: 12px/1.5 ui-monospace, SFMono-Regular, Menlo, monospace; }
ol.log li { padding: 2px 0; border-bottom: 1px solid #f1f3f5; overflow-wrap: anywhere; }
ol.log li.new { animation: newline 2s ease-out; }
@keyframes newline { from { background: #ffe8cc; } to { background: transparent; } }
ol.log .event, .muted { color: var(--muted); }
#backlog-chart { width: 100%; height: 120px; display: block; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 12px; margin-top: 4px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
.empty { color: var(--muted); font-style: italic; }
`;

let clientScript: string | undefined;

/** The bundled page script (dist/view/client.js, made by scripts/build-view.mjs). */
function client(): string {
  if (clientScript !== undefined) return clientScript;
  try {
    clientScript = readFileSync(new URL('./client.js', import.meta.url), 'utf8');
  } catch (error) {
    throw new DiffloreError('internal', 'the view page script is not built (dist/view/client.js is missing)', {
      hint: 'run `npm run build` in the checkout',
      cause: error,
    });
  }
  return clientScript;
}

/** JSON that can sit inside a <script> element: no `</script>`, no `<!--`. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

export interface PageParts {
  readonly daemonSvg: string;
  readonly stopSvg: string;
}

/** Checks now, at start, that the page can be built: a missing bundle is an error before serving. */
export function preparePage(): void {
  client();
}

export function renderPage(parts: PageParts, snapshot: ViewSnapshot, nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>difflore daemon view</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>difflore daemon</h1>
  <span id="status" class="pill">…</span>
  <span id="summary"></span>
  <span class="home">${escapeXml(snapshot.home)}</span>
  <span id="conn" class="conn">connecting…</span>
</header>
<main>
  <div class="machines">
    <section class="panel" id="daemon-panel"><h2>daemon<span class="where" id="daemon-where"></span></h2>${parts.daemonSvg}</section>
    <section class="panel" id="stop-panel"><h2>stop protocol<span class="where" id="stop-where"></span></h2>${parts.stopSvg}</section>
  </div>
  <aside>
    <section class="panel"><h3>Daemon</h3><dl id="facts"></dl></section>
    <section class="panel"><h3>Last passes</h3>
      <table id="passes"><thead><tr><th>finished</th><th>attempted</th><th>confirmed</th><th>retried</th><th>abandoned</th></tr></thead><tbody></tbody></table>
    </section>
    <section class="panel"><h3>Backlog by kind<span class="where" id="backlog-span">last hour</span></h3>
      <svg id="backlog-chart" viewBox="0 0 360 120" preserveAspectRatio="none"></svg><div class="legend" id="backlog-legend"></div>
    </section>
    <section class="panel"><h3>Delivery</h3><dl id="delivery"></dl></section>
    <section class="panel"><h3>Last stop run</h3><div id="last-stop"></div></section>
    <section class="panel"><h3>Transitions<span class="where">newest first</span></h3><ol class="log" id="transitions"></ol></section>
  </aside>
</main>
<script type="application/json" id="initial">${scriptJson(snapshot)}</script>
<script nonce="${nonce}">${client()}</script>
</body>
</html>
`;
}
