/**
 * The daemon CLI's pure pieces: the fast router's argument grammar (what it takes, and what it leaves
 * to Clipanion), tick/batch parsing, the journal's human lines, and the status report read from a
 * temp home without a daemon (LSB codes, stale and garbage pid files, token hints).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { homePaths } from '../../src/adapters/home/home.js';
import { parsePlain } from '../../src/cli/command-spec.js';
import daemonRun from '../../src/cli/commands/daemon-run.js';
import daemonStop from '../../src/cli/commands/daemon-stop.js';
import { parseBatch, parseTick } from '../../src/cli/daemon-options.js';
import { daemonStatus, formatStatus, readBacklog, STATUS_EXIT_CODES } from '../../src/cli/daemon-status.js';
import { eventText, formatRecord, printable, stateLabel } from '../../src/cli/daemon-text.js';
import { makeTempHome } from '../helpers/index.js';

describe('the fast router grammar', () => {
  it('takes plain option lists in both spellings, defaults filled in', () => {
    expect(parsePlain(daemonStop, [])).toEqual({ grace: '10s', killTimeout: '5s', force: false, json: false });
    expect(parsePlain(daemonStop, ['--grace', '3s', '--kill-timeout=1s', '--force', '--json'])).toEqual({
      grace: '3s',
      killTimeout: '1s',
      force: true,
      json: true,
    });
    expect(parsePlain(daemonRun, ['--inspect'])?.inspect).toBe('');
    expect(parsePlain(daemonRun, [])?.inspect).toBeNull();
    expect(parsePlain(daemonRun, ['--inspect', 'ws://127.0.0.1:9000'])?.inspect).toBe('ws://127.0.0.1:9000');
    expect(parsePlain(daemonRun, ['--inspect=ws://127.0.0.1:1', '--tick', '1s'])?.inspect).toBe('ws://127.0.0.1:1');
    expect(parsePlain(daemonRun, ['--inspect', '--tick', '1s'])).toEqual({ inspect: '', tick: '1s', batch: '64' });
  });

  it('leaves everything else to Clipanion', () => {
    for (const args of [
      ['--help'],
      ['-h'],
      ['--grace'],
      ['--grace', '--json'],
      ['--json', '--json'],
      ['stray'],
      ['--json=1'],
      ['--unknown'],
    ]) {
      expect(parsePlain(daemonStop, args), args.join(' ')).toBeUndefined();
    }
  });

  it('parses --tick and --batch with usage errors', () => {
    expect(parseTick('5s')).toBe(5000);
    expect(parseTick('250ms')).toBe(250);
    expect(() => parseTick('5')).toThrow(/missing a unit/);
    expect(() => parseTick('2h')).toThrow();
    expect(() => parseTick('5ms')).toThrow(/between 10ms and 60m/);
    expect(parseBatch('64')).toBe(64);
    expect(() => parseBatch('0')).toThrow(/1 to 1000/);
    expect(() => parseBatch('1001')).toThrow(/1 to 1000/);
    expect(() => parseBatch('x')).toThrow(/1 to 1000/);
  });
});

describe('journal lines', () => {
  it('names events the way people read them', () => {
    expect(eventText({ type: 'xstate.done.actor.claim', output: { kind: 'claimed' } })).toBe('claim done (claimed)');
    expect(eventText({ type: 'xstate.done.actor.checkAlive', output: { alive: false, at: 1 } })).toBe(
      'checkAlive done (gone)',
    );
    expect(eventText({ type: 'xstate.error.actor.drainPass' })).toBe('drainPass failed');
    expect(eventText({ type: 'xstate.after.untilTick.daemon.serving.running' })).toBe('after untilTick');
    expect(eventText({ type: 'xstate.init', input: {} })).toBe('start');
    expect(eventText({ type: 'STOP', signal: 'SIGTERM' })).toBe('STOP (SIGTERM)');
    expect(eventText({ type: 'WAKE' })).toBe('WAKE');
    const line = formatRecord({
      machine: 'daemon',
      seq: 3,
      atMs: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
      pid: 4242,
      from: 'serving.running',
      event: { type: 'WAKE' },
      to: 'serving.draining',
    });
    expect(line).toBe('2026-01-02T03:04:05.006Z  daemon pid 4242    #3    serving.running → serving.draining  [WAKE]');
    expect(printable('a\u001b[31mb\nc\u0007\u009bd→')).toBe('a\\u001b[31mb\\u000ac\\u0007\\u009bd→');
  });
});

describe('daemon status without a daemon', () => {
  let temp: { home: string; cleanup: () => void };
  beforeEach(() => {
    temp = makeTempHome('difflore-status-');
    mkdirSync(temp.home, { recursive: true, mode: 0o700 });
  });
  afterEach(() => temp.cleanup());

  it('maps each situation to its LSB code and says what to do', () => {
    const paths = homePaths(temp.home);
    const env = { DIFFLORE_HOME: temp.home };
    const none = daemonStatus(paths, { env, backlog: readBacklog });
    expect(none).toMatchObject({ status: 'notRunning', exitCode: 3, backlog: null, stateFile: 'missing' });
    expect(none.tokenProblem).toContain('no cloud token');
    expect(formatStatus(none).join('\n')).toContain('backlog      empty (no outbox database yet)');

    writeFileSync(paths.pidFile, '0');
    const zero = daemonStatus(paths, { env });
    expect(zero).toMatchObject({ status: 'stale', exitCode: 1, pid: null, staleReason: 'invalidPid' });
    expect(zero.summary).toContain("daemon.pid names '0', which is not a valid pid");

    // A pid that cannot be alive (above pid_max on Linux): dead.
    writeFileSync(paths.pidFile, '2147483646');
    expect(daemonStatus(paths, { env })).toMatchObject({ status: 'stale', staleReason: 'dead', pid: 2147483646 });

    writeFileSync(paths.stateFile, 'garbage');
    const garbage = daemonStatus(paths, { env });
    expect(garbage.stateFile).toBe('garbage');
    expect(formatStatus(garbage).join('\n')).toMatch(/state file +unusable/);

    // Whatever a file holds is shown escaped: it can neither drive the terminal nor forge a line.
    writeFileSync(paths.pidFile, '\u001b[31mRED\nforged');
    const shown = formatStatus(daemonStatus(paths, { env })).join('\n');
    expect(shown).toContain('\\u001b[31mRED\\u000aforged');
    expect([...shown].filter((ch) => ch.charCodeAt(0) < 0x20 && ch !== '\n')).toEqual([]);

    expect(STATUS_EXIT_CODES).toEqual({ running: 0, stale: 1, notRunning: 3, unverified: 4, unknown: 4 });
    expect(stateLabel({ serving: 'running' })).toBe('serving.running');
    expect(stateLabel('stopped')).toBe('stopped');
  });
});
