/**
 * Parsing the durations users type: `--older-than 30d|12h|45m` and `--grace 10s|500ms`.
 */
import { DiffloreError } from '../errors.js';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;

/**
 * Parses `<n><unit>` with n a positive integer and unit one of `units`. Throws a usage error
 * that says what was wrong and what is accepted.
 */
export function parseDuration(option: string, text: string, units: readonly Unit[]): number {
  const match = /^(\d+)([a-z]*)$/.exec(text.trim());
  const accepted = units.join(', ');
  if (!match) {
    throw new DiffloreError(
      'usage',
      `${option} '${text}' is not a duration; use <n><unit> with a unit in (${accepted}), e.g. 30${units.at(-1)}`,
    );
  }
  const [, digits = '', unit = ''] = match;
  if (unit === '') {
    throw new DiffloreError('usage', `${option} '${text}' is missing a unit (${accepted})`);
  }
  if (!(units as readonly string[]).includes(unit)) {
    throw new DiffloreError('usage', `${option} '${text}' has an unknown unit '${unit}'; use one of (${accepted})`);
  }
  const n = Number(digits);
  if (n <= 0 || !Number.isSafeInteger(n)) {
    throw new DiffloreError('usage', `${option} '${text}' must be greater than zero`);
  }
  return n * UNIT_MS[unit as Unit];
}

/** The units `--older-than` accepts, as in Rust's doctor --drain-abandoned. */
export const AGE_UNITS: readonly Unit[] = ['m', 'h', 'd'];
/** The units timeouts accept (`--grace 10s`, `--tick 500ms`). */
export const TIMEOUT_UNITS: readonly Unit[] = ['ms', 's', 'm'];
