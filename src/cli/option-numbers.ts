/**
 * Parsing the numbers users type (`--port 8080`, `--limit 50`, `--fail-rate 0.2`): a usage error that
 * names the option, the value and the range accepted.
 */
import { DiffloreError } from '../errors.js';

interface NumberRule {
  /** Only whole numbers. */
  readonly whole: boolean;
  readonly min: number;
  readonly max?: number;
}

function range(rule: NumberRule): string {
  const what = rule.whole ? 'a whole number' : 'a number';
  return rule.max === undefined ? `${what} of at least ${rule.min}` : `${what} from ${rule.min} to ${rule.max}`;
}

export function parseNumber(option: string, text: string, rule: NumberRule): number {
  const shape = rule.whole ? /^\d+$/ : /^\d+(\.\d+)?$|^\.\d+$/;
  const n = shape.test(text.trim()) ? Number(text) : Number.NaN;
  if (
    !Number.isFinite(n) ||
    n < rule.min ||
    (rule.max !== undefined && n > rule.max) ||
    (rule.whole && !Number.isSafeInteger(n))
  ) {
    throw new DiffloreError('usage', `${option} '${text}' must be ${range(rule)}`);
  }
  return n;
}

/** `--port`: a TCP port (0 asks for a free one). */
export function parsePort(text: string): number {
  return parseNumber('--port', text, { whole: true, min: 0, max: 65535 });
}

/** Parses an optional value with `parse`, keeping undefined. */
export function optional<T>(text: string | undefined, parse: (text: string) => T): T | undefined {
  return text === undefined ? undefined : parse(text);
}
