/** formatDuration is the one way the CLI writes a duration for people (status ages, grace periods, the demo). */
import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../src/cli/text.js';

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1234, '1.2s'],
    [4300, '4.3s'],
    [9999, '10s'],
    [10_000, '10s'],
    [65_000, '1m 5s'],
    [3_600_000, '1h'],
    [5 * 3_600_000 + 60_000 + 5000, '5h 1m'],
    [2 * 86_400_000 + 3 * 3_600_000, '2d 3h'],
  ])('%i ms reads %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
