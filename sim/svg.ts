/**
 * Draws a fleet run as a hand-written SVG: requests/s (top) and rows waiting (bottom) over time, our
 * policy and the Rust one on the same axes, the outage shaded and the cloud's capacity dashed.
 */
import { type FleetReport, WINDOW_S } from './fleet.js';

const WIDTH = 900;
const PANEL_HEIGHT = 220;
const LEFT = 70;
const RIGHT = 20;
const TOP = 80;
const GAP = 60;
const OURS = '#1f77b4';
const RUST = '#d62728';

interface Panel {
  readonly title: string;
  readonly top: number;
  readonly max: number;
  readonly ours: readonly number[];
  readonly rust: readonly number[];
  readonly unit: string;
}

export function fleetSvg(report: FleetReport): string {
  const { options } = report;
  const plotWidth = WIDTH - LEFT - RIGHT;
  const x = (seconds: number): number => LEFT + (seconds / options.durationS) * plotWidth;
  // Four gridlines at round values: the axis top is four nice steps.
  const rpsMax = 4 * niceCeiling(Math.max(report.capacityRps, ...report.ours.rps, ...report.rust.rps) / 4);
  const backlogMax = 4 * niceCeiling(Math.max(1, ...report.ours.backlog, ...report.rust.backlog) / 4);
  const panels: Panel[] = [
    {
      title: 'requests/s reaching the cloud',
      top: TOP,
      max: rpsMax,
      ours: report.ours.rps,
      rust: report.rust.rps,
      unit: '',
    },
    {
      title: 'rows waiting in the outboxes (whole fleet)',
      top: TOP + PANEL_HEIGHT + GAP,
      max: backlogMax,
      ours: report.ours.backlog,
      rust: report.rust.backlog,
      unit: '',
    },
  ];
  const height = TOP + 2 * PANEL_HEIGHT + GAP + 50;
  const outage = `<rect x="${x(options.outageStartS).toFixed(1)}" width="${(x(options.outageStartS + options.outageS) - x(options.outageStartS)).toFixed(1)}"`;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="${LEFT}" y="20" font-size="15" font-weight="bold">${options.daemons.toLocaleString('en-US')} daemons, ${options.outageS / 60}-minute cloud outage (shaded), ${options.rowsPerHour} rows/h per daemon</text>`,
    legend(LEFT, 46, report),
  ];
  for (const panel of panels) {
    parts.push(`${outage} y="${panel.top}" height="${PANEL_HEIGHT}" fill="#eee"/>`);
    parts.push(...axes(panel, options.durationS, x));
    if (panel.top === TOP) {
      const y = yOf(panel, report.capacityRps);
      parts.push(
        `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y}" y2="${y}" stroke="#555" stroke-dasharray="6 4"/>`,
        `<text x="${WIDTH - RIGHT - 4}" y="${y - 4}" text-anchor="end" fill="#555">cloud capacity ${report.capacityRps}/s</text>`,
      );
      const goal = yOf(panel, 1.5 * report.ours.steadyRps);
      parts.push(
        `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${goal}" y2="${goal}" stroke="#2ca02c" stroke-dasharray="2 3"/>`,
        `<text x="${LEFT + 6}" y="${goal - 4}" fill="#2ca02c">1.5× steady (the goal after recovery)</text>`,
      );
    }
    parts.push(polyline(panel, panel.rust, RUST, x), polyline(panel, panel.ours, OURS, x));
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function legend(left: number, y: number, report: FleetReport): string {
  const item = (dx: number, color: string, text: string): string =>
    `<line x1="${left + dx}" x2="${left + dx + 24}" y1="${y - 4}" y2="${y - 4}" stroke="${color}" stroke-width="3"/><text x="${left + dx + 30}" y="${y}">${text}</text>`;
  const describe = (name: string, r: FleetReport['ours']): string =>
    `${name}: peak ${r.peakRatio.toFixed(2)}× steady, drained ${r.drainS === null ? 'not in run' : `${Math.round(r.drainS)} s`}, ${r.abandoned.toLocaleString('en-US')} abandoned`;
  return item(0, OURS, describe('ours', report.ours)) + item(420, RUST, describe('Rust', report.rust));
}

function axes(panel: Panel, durationS: number, x: (s: number) => number): string[] {
  const bottom = panel.top + PANEL_HEIGHT;
  const out = [
    `<text x="${LEFT}" y="${panel.top - 8}" font-weight="bold">${panel.title}</text>`,
    `<line x1="${LEFT}" x2="${LEFT}" y1="${panel.top}" y2="${bottom}" stroke="#000"/>`,
    `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${bottom}" y2="${bottom}" stroke="#000"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const value = (panel.max * i) / 4;
    const y = yOf(panel, value);
    out.push(
      `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${LEFT - 6}" y="${y + 4}" text-anchor="end">${compact(value)}${panel.unit}</text>`,
    );
  }
  const stepMin = durationS > 3600 ? 10 : 5;
  for (let m = 0; m * 60 <= durationS; m += stepMin) {
    out.push(`<text x="${x(m * 60)}" y="${bottom + 16}" text-anchor="middle">${m} min</text>`);
  }
  return out;
}

function polyline(panel: Panel, values: readonly number[], color: string, x: (s: number) => number): string {
  const points = values.map((v, i) => `${x((i + 0.5) * WINDOW_S).toFixed(1)},${yOf(panel, v).toFixed(1)}`);
  return `<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${points.join(' ')}"/>`;
}

function yOf(panel: Panel, value: number): number {
  return panel.top + PANEL_HEIGHT - (Math.min(value, panel.max) / panel.max) * PANEL_HEIGHT;
}

/** The smallest 1, 2 or 5 × 10^k at or above `value`. */
function niceCeiling(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function compact(value: number): string {
  if (value >= 1_000_000) return `${(value / 1_000_000).toFixed(value % 1_000_000 === 0 ? 0 : 1)}M`;
  if (value >= 1_000) return `${(value / 1_000).toFixed(value % 1_000 === 0 ? 0 : 1)}k`;
  return String(Math.round(value));
}
