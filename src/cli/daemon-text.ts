/**
 * Text for people from what the daemon's files hold: state names, journal lines, and `printable`,
 * which escapes control characters (a garbage pid file, a tampered journal, an error message quoting
 * bytes) so nothing read from a file can drive the terminal or forge a line (it lives in the import-free
 * text.ts). Light: no I/O, no other imports.
 */
import { storedStateName, type TransitionRecord } from '../machines/types.js';
import { printable } from './text.js';

export { printable };

function asRecord(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

/** Dotted name of a stored state value (`{serving:'running'}` → `serving.running`). */
export const stateLabel = storedStateName;

function stateText(value: unknown): string {
  if (value === null || value === undefined) return '∅';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') {
    const [key, child] = Object.entries(value as Record<string, unknown>)[0] ?? [];
    if (key !== undefined) {
      const rest = stateText(child);
      return rest === '∅' ? key : `${key}.${rest}`;
    }
  }
  return String(value);
}

/** `xstate.done.actor.claim` → `claim done (claimed)`; `xstate.after.untilTick.…` → `after untilTick`. */
export function eventText(event: TransitionRecord['event']): string {
  const type = event.type;
  const output =
    typeof event.output === 'object' && event.output !== null ? (event.output as Record<string, unknown>) : null;
  let match = /^xstate\.done\.actor\.([^.]+)/.exec(type);
  if (match) {
    const kind =
      typeof output?.kind === 'string'
        ? output.kind
        : typeof output?.alive === 'boolean'
          ? output.alive
            ? 'alive'
            : 'gone'
          : null;
    return `${match[1]} done${kind === null ? '' : ` (${kind})`}`;
  }
  match = /^xstate\.error\.actor\.([^.]+)/.exec(type);
  if (match) return `${match[1]} failed`;
  match = /^xstate\.after\.([^.]+)\./.exec(type);
  if (match) return `after ${match[1]}`;
  if (type === 'xstate.init') return 'start';
  if (type === 'STOP' && typeof event.signal === 'string') return `STOP (${event.signal})`;
  return type;
}

export function formatRecord(record: TransitionRecord): string {
  const time = new Date(record.atMs).toISOString();
  const from = record.from === null ? '' : `${stateText(record.from)} → `;
  return printable(
    `${time}  ${record.machine.padEnd(6)} pid ${String(record.pid).padEnd(7)} #${String(record.seq).padEnd(4)} ${from}${stateText(record.to)}  [${eventText(record.event)}]`,
  );
}

/**
 * A line of its own for a record whose transition changed the daemon's delivery state, e.g.
 * `… daemon pid 4242    delivery never-tried → unreachable (ENOTFOUND)`; null when the state did not
 * change. `previous` is the state the same run's earlier records left (null at a run's start).
 */
export function formatDeliveryChange(record: TransitionRecord, previous: string | null): string | null {
  const delivery = asRecord(record.delivery);
  const state = typeof delivery?.state === 'string' ? delivery.state : null;
  if (state === null || state === previous) return null;
  const code = typeof delivery?.errorCode === 'string' ? ` (${delivery.errorCode})` : '';
  const time = new Date(record.atMs).toISOString();
  const from = previous === null ? '' : `${previous} → `;
  return printable(
    `${time}  ${record.machine.padEnd(6)} pid ${String(record.pid).padEnd(7)} delivery ${from}${state}${code}`,
  );
}

/** Prints journal records for people, each delivery change on its own line after its transition. */
export function journalPrinter(
  print: (line: string) => void,
  lastState: Map<number, string> = new Map(),
): (record: TransitionRecord) => void {
  return (record) => {
    print(formatRecord(record));
    const key = record.pid;
    const previous = record.event.type === 'xstate.init' ? null : (lastState.get(key) ?? null);
    const change = formatDeliveryChange(record, previous);
    const delivery = asRecord(record.delivery);
    if (typeof delivery?.state === 'string') lastState.set(key, delivery.state);
    // A run's start says only where delivery begins (never-tried): not a change worth a line.
    if (change !== null && previous !== null) print(change);
  };
}
