/**
 * The one secret-length rule (src/machines/secrets.ts) as every scrubber applies it: the daemon log,
 * the journal and state file (recorder), inspector frames and `last_error` all leave a secret shorter
 * than 8 characters out of ordinary text, and all redact one of 8 or more.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDaemonLog, scrubText, scrubValue, usableSecrets } from '../../src/adapters/lifecycle/daemon-log.js';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import { createRecorder } from '../../src/adapters/lifecycle/recorder.js';
import { scrubFrame } from '../../src/cli/inspect.js';
import { formatLastError, REDACTED, redact } from '../../src/machines/delivery-policy.js';
import { isScrubbable, MIN_SECRET_CHARS, replaceSecrets, scrubbableSecrets } from '../../src/machines/secrets.js';
import { makeTempHome } from '../helpers/index.js';

let paths: HomePaths;
let cleanup: () => void;

beforeEach(() => {
  const temp = makeTempHome();
  cleanup = temp.cleanup;
  paths = ensureHome(temp.home);
});
afterEach(() => cleanup());

const TEXT = 'xstate.init: claim done (claimed) for tok_live_abcdefgh';

describe('the rule', () => {
  it('scrubs secrets of at least 8 characters (after trimming), as the Rust client does', () => {
    expect(MIN_SECRET_CHARS).toBe(8);
    expect(isScrubbable('abcdefgh')).toBe(true);
    expect(isScrubbable('abcdefg')).toBe(false);
    expect(isScrubbable('x')).toBe(false);
    expect(isScrubbable('   abc   ')).toBe(false);
    expect(isScrubbable('')).toBe(false);
    expect(isScrubbable(null)).toBe(false);
    expect(isScrubbable(undefined)).toBe(false);
    expect(scrubbableSecrets(['x', 'abcdefgh', null, 'abcdefghij', 'abcdefgh', ''])).toEqual([
      'abcdefghij',
      'abcdefgh',
    ]);
    expect(replaceSecrets('x abcdefgh', ['x', 'abcdefgh'], '#')).toBe('x #');
  });

  it('a short secret never changes any text', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ maxLength: MIN_SECRET_CHARS - 1 }), (text, secret) => {
        return scrubText(text, [secret]) === scrubText(text, []) && redact(text, [secret]) === redact(text, []);
      }),
    );
  });
});

describe('every scrubber applies it', () => {
  it('the daemon log', () => {
    const log = openDaemonLog(paths.daemonLog, { secrets: () => ['x', 'tok_live_abcdefgh'] });
    log.info(TEXT, { event: 'xstate.init' });
    log.close();
    const line = JSON.parse(readFileSync(paths.daemonLog, 'utf8')) as Record<string, unknown>;
    expect(line).toMatchObject({ msg: 'xstate.init: claim done (claimed) for [redacted]', event: 'xstate.init' });
    expect(usableSecrets(['x', 'tok_live_abcdefgh'])).toEqual(['tok_live_abcdefgh']);
    expect(scrubValue({ note: TEXT }, ['x'])).toEqual({ note: TEXT });
  });

  it('the journal and the state file', () => {
    const recorder = createRecorder(paths, { role: 'daemon', fsync: false, secrets: () => ['x', 'tok_live_abcdefgh'] });
    recorder.record(
      {
        machine: 'daemon',
        seq: 1,
        atMs: 1_000,
        pid: process.pid,
        from: null,
        event: { type: 'xstate.init', note: TEXT },
        to: 'claiming',
      },
      { snapshot: { context: { lastError: TEXT } } },
    );
    const journal = readFileSync(paths.journal, 'utf8');
    expect(JSON.parse(journal)).toMatchObject({ event: { type: 'xstate.init' }, to: 'claiming' });
    for (const text of [journal, readFileSync(paths.stateFile, 'utf8')]) {
      expect(text).toContain('xstate.init');
      expect(text).not.toContain('tok_live_abcdefgh');
    }
  });

  it('inspector frames', () => {
    const frame = { type: '@xstate.event', event: { type: 'xstate.init' }, definition: JSON.stringify({ note: TEXT }) };
    const scrubbed = JSON.stringify(scrubFrame(frame, ['x', 'tok_live_abcdefgh']));
    expect(scrubbed).toContain('"type":"xstate.init"');
    expect(scrubbed).not.toContain('tok_live_abcdefgh');
  });

  it('last_error', () => {
    expect(formatLastError(TEXT, ['x', 'tok_live_abcdefgh'])).toBe(`xstate.init: claim done (claimed) for ${REDACTED}`);
    // A short token still never survives after `Bearer`, whatever its length.
    expect(redact('Authorization: Bearer x', ['x'])).toBe(`Authorization: Bearer ${REDACTED}`);
    expect(scrubText('Authorization: Bearer x', ['x'])).toBe('Authorization: Bearer [redacted]');
  });
});
