import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type DaemonLog, openDaemonLog, scrubText, scrubValue } from '../../src/adapters/lifecycle/daemon-log.js';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import { makeTempHome } from '../helpers/index.js';

let paths: HomePaths;
let cleanup: () => void;
const logs: DaemonLog[] = [];

beforeEach(() => {
  const temp = makeTempHome();
  cleanup = temp.cleanup;
  paths = ensureHome(temp.home);
});

afterEach(() => {
  for (const log of logs.splice(0)) log.close();
  cleanup();
});

function open(options: Parameters<typeof openDaemonLog>[1] = {}): DaemonLog {
  const log = openDaemonLog(paths.daemonLog, options);
  logs.push(log);
  return log;
}

function lines(path = paths.daemonLog): Record<string, unknown>[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('daemon log', () => {
  it('writes one JSON object per line with time, level, pid, message and fields; 0600 in a 0700 logs dir', () => {
    const log = open({ now: () => Date.UTC(2026, 0, 2, 3, 4, 5), pid: 77 });
    log.info('claimed', { state: 'serving.running', rows: 3 });
    log.error('pass failed', { error: Object.assign(new Error('boom'), { code: 'ECONNRESET' }) });
    log.debug('not written at the default level');
    expect(lines()).toEqual([
      { ts: '2026-01-02T03:04:05.000Z', level: 'info', pid: 77, msg: 'claimed', state: 'serving.running', rows: 3 },
      {
        ts: '2026-01-02T03:04:05.000Z',
        level: 'error',
        pid: 77,
        msg: 'pass failed',
        error: { name: 'Error', message: 'boom', code: 'ECONNRESET' },
      },
    ]);
    expect(statSync(paths.daemonLog).mode & 0o777).toBe(0o600);
    expect(statSync(paths.logsDir).mode & 0o777).toBe(0o700);
  });

  it('never writes the token: equal strings, embedded copies, Bearer credentials and credential-named fields', () => {
    let token = 'tok_first_0123456789';
    const log = open({ secrets: () => [token, undefined, ''] });
    log.warn(`auth failed for ${token}`, {
      token,
      header: `Authorization: Bearer ${token}`,
      nested: { deeper: [token, { authorization: 'Bearer something-else' }] },
      payload: { body: 'row payload' },
    });
    token = 'tok_second_9876543210'; // a token read again after a change is scrubbed at once
    log.info('retrying', { note: `with ${token}` });
    const text = readFileSync(paths.daemonLog, 'utf8');
    expect(text).not.toContain('tok_first_0123456789');
    expect(text).not.toContain('tok_second_9876543210');
    expect(text).not.toContain('something-else');
    expect(text).not.toContain('row payload');
    expect(lines()[0]).toMatchObject({ msg: 'auth failed for [redacted]', token: '[redacted]', payload: '[omitted]' });
  });

  it('scrubText and scrubValue redact without mangling the rest', () => {
    expect(scrubText('curl -H "Authorization: Bearer abc.def-ghi" x', [])).toBe(
      'curl -H "Authorization: Bearer [redacted]" x',
    );
    expect(scrubText('a SECRET-TOKEN b SECRET-TOKEN', ['SECRET-TOKEN'])).toBe('a [redacted] b [redacted]');
    // Shorter than 8 characters: not searched for, so ordinary text stays whole.
    expect(scrubText('a SECRET b xstate.init', ['SECRET', 'x'])).toBe('a SECRET b xstate.init');
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    expect(scrubValue(circular, [])).toEqual({ a: 1, self: '[circular]' });
    expect(scrubValue({ n: Number.NaN, b: 10n, f: () => 1, d: new Date(0), m: new Map() }, [])).toEqual({
      n: 'NaN',
      b: '10',
      d: '1970-01-01T00:00:00.000Z',
      m: '[Map]',
    });
  });

  it('rotates to .1 before passing the cap, keeping both files bounded', () => {
    const log = open({ maxBytes: 4096 });
    for (let i = 0; i < 500; i += 1) log.info(`line ${i}`, { filler: 'x'.repeat(40) });
    expect(existsSync(`${paths.daemonLog}.1`)).toBe(true);
    expect(statSync(paths.daemonLog).size).toBeLessThanOrEqual(4096);
    expect(statSync(`${paths.daemonLog}.1`).size).toBeLessThanOrEqual(4096);
    expect(lines().at(-1)?.msg).toBe('line 499');
    expect(log.droppedLines()).toBe(0);
  });

  it('truncates a huge line instead of writing it whole', () => {
    const log = open();
    log.info('big', { blob: 'y'.repeat(100_000), more: Array.from({ length: 1000 }, (_, i) => `item ${i}`) });
    const [line] = lines();
    expect(JSON.stringify(line).length).toBeLessThanOrEqual(16 * 1024);
  });

  it('follows a rotation done by another process and keeps writing to the current file', () => {
    const log = open();
    log.info('before');
    renameSync(paths.daemonLog, `${paths.daemonLog}.1`);
    log.info('after');
    expect(lines().map((l) => l.msg)).toEqual(['after']);
    expect(lines(`${paths.daemonLog}.1`).map((l) => l.msg)).toEqual(['before']);
  });

  it('refuses a symlinked log at open; after that, a failed write is counted, never thrown', () => {
    const target = join(paths.home, 'elsewhere.log');
    writeFileSync(target, '');
    mkdirSync(paths.logsDir, { recursive: true });
    symlinkSync(target, paths.daemonLog);
    expect(() => openDaemonLog(paths.daemonLog)).toThrow(/symbolic link/);
    expect(readFileSync(target, 'utf8')).toBe('');
    rmSync(paths.daemonLog);

    const log = open();
    log.info('ok');
    rmSync(paths.logsDir, { recursive: true });
    expect(() => log.info('dir gone')).not.toThrow();
    expect(log.droppedLines()).toBe(1);
    log.close();
    expect(() => log.info('after close')).not.toThrow();
  });
});
