/**
 * The two state files the Rust binary reads stay readable by it (rust-wire §5): a real daemon drains
 * real rows to `difflore cloud serve`, then `outbox-drain-state.json` and `daemon-state.json` are read
 * by a strict reader written from the §5 tables (serde: required keys present, integers as integer
 * lexemes within their Rust range, `Option` as null or missing, unknown keys ignored). Without a
 * token no drain-state file is written, as in Rust.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { JsonNumber, parseJson } from '../../src/machines/contracts/json.js';
import { waitFor } from '../helpers/index.js';
import { DaemonWorld, TOKEN } from './daemon-harness.js';

type RustType = 'u32' | 'i32' | 'i64' | 'usize' | 'string';
type Row = readonly [key: string, type: RustType, required: boolean];

/** rust-wire §5.1 `OutboxDrainState`. */
const DRAIN_STATE: readonly Row[] = [
  ['version', 'u32', true],
  ['updatedAtMs', 'i64', true],
  ['lastDrainAtMs', 'i64', true],
  ['attempted', 'usize', true],
  ['confirmed', 'usize', true],
  ['lastError', 'string', false],
];

/** rust-wire §5.2 `DaemonRunState`. */
const DAEMON_STATE: readonly Row[] = [
  ['version', 'u32', true],
  ['pid', 'i32', true],
  ['startedAtMs', 'i64', true],
  ['heartbeatAtMs', 'i64', true],
  ['lastDrainAtMs', 'i64', false],
  ['lastAttempted', 'usize', true],
  ['lastConfirmed', 'usize', true],
  ['lastError', 'string', false],
];

const RANGE: Record<Exclude<RustType, 'string'>, [bigint, bigint]> = {
  u32: [0n, 2n ** 32n - 1n],
  i32: [-(2n ** 31n), 2n ** 31n - 1n],
  i64: [-(2n ** 63n), 2n ** 63n - 1n],
  usize: [0n, 2n ** 64n - 1n],
};

/** What serde_json::from_str::<T> would say: the first problem, or null when Rust reads the file. */
function rustReads(text: string, table: readonly Row[]): string | null {
  const parsed = parseJson(text);
  if (!parsed.ok) return `not JSON: ${parsed.reason}`;
  const value = parsed.value;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof JsonNumber) {
    return 'not an object';
  }
  for (const [key, type, required] of table) {
    const v = value[key];
    if (v === undefined || v === null) {
      if (required) return `missing or null required field ${key}`;
      continue;
    }
    if (type === 'string') {
      if (typeof v !== 'string') return `${key} is not a string`;
      continue;
    }
    const lexeme = v instanceof JsonNumber ? v.text : typeof v === 'number' ? String(v) : null;
    if (lexeme === null || !/^-?\d+$/.test(lexeme)) return `${key} is not an integer (${JSON.stringify(v)})`;
    const [min, max] = RANGE[type];
    if (BigInt(lexeme) < min || BigInt(lexeme) > max) return `${key} is out of ${type} range`;
  }
  return null;
}

let world: DaemonWorld | null = null;
afterEach(async () => {
  await world?.dispose();
  world = null;
});

describe('state files the Rust binary reads', () => {
  it('the strict reader refuses what Rust refuses', () => {
    const good = '{"version":1,"updatedAtMs":1,"lastDrainAtMs":1,"attempted":0,"confirmed":0,"extra":{}}';
    expect(rustReads(good, DRAIN_STATE)).toBeNull();
    expect(rustReads(good.replace('"lastDrainAtMs":1', '"lastDrainAtMs":null'), DRAIN_STATE)).toMatch(/lastDrainAtMs/);
    expect(rustReads(good.replace('"attempted":0', '"attempted":1.0'), DRAIN_STATE)).toMatch(/attempted/);
    expect(rustReads(good.replace('"confirmed":0', '"confirmed":-1'), DRAIN_STATE)).toMatch(/confirmed/);
    expect(rustReads(good.replace('"version":1,', ''), DRAIN_STATE)).toMatch(/version/);
  });

  it('a daemon that delivered rows leaves both files readable by Rust; no token leaves no drain state', async () => {
    const w = new DaemonWorld();
    world = w;
    // Logged out: the daemon runs and waits, and writes no drain state (Rust writes none either).
    w.enqueue(3, 'observation');
    const waiting = await w.start();
    await w.idle(waiting);
    expect(existsSync(w.paths.drainState)).toBe(false);
    expect(rustReads(readFileSync(w.paths.stateFile, 'utf8'), DAEMON_STATE)).toBeNull();
    expect((await w.cli(['daemon', 'stop'])).code).toBe(0);

    const cloud = await w.cloud();
    const pid = await w.start([], { DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN });
    w.enqueue(5, 'mcp_query', 10);
    await waitFor(() => w.rows().length === 0, { what: 'every row delivered' });
    await waitFor(
      () => {
        const state = w.state();
        return state?.pid === pid && state.lastDrainAtMs !== null && state.lastConfirmed !== undefined;
      },
      { what: 'a recorded drain pass' },
    );
    const drainText = readFileSync(w.paths.drainState, 'utf8');
    expect(rustReads(drainText, DRAIN_STATE)).toBeNull();
    const daemonText = readFileSync(w.paths.stateFile, 'utf8');
    expect(rustReads(daemonText, DAEMON_STATE)).toBeNull();
    expect(JSON.parse(daemonText)).toMatchObject({ version: 1, pid });
    expect((await cloud.stats()).received).toMatchObject({ observation: 3, mcp_query: 5 });
    expect((await w.cli(['daemon', 'stop'])).code).toBe(0);
    // After a stop the file is still what Rust reads.
    expect(rustReads(readFileSync(w.paths.stateFile, 'utf8'), DAEMON_STATE)).toBeNull();
  });

  it('a token that goes away while the daemon runs: no new drain state, and status still says it waits', async () => {
    const w = new DaemonWorld();
    world = w;
    const cloud = await w.cloud();
    writeFileSync(w.paths.tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const pid = await w.start([], { DIFFLORE_CLOUD_URL: cloud.url });
    w.enqueue(2, 'observation');
    await waitFor(() => w.rows().length === 0, { what: 'rows delivered with the token file' });
    await waitFor(() => existsSync(w.paths.drainState), { what: 'a drain state file' });

    rmSync(w.paths.tokenFile);
    w.enqueue(1, 'observation', 50);
    const status = async () =>
      JSON.parse((await w.cli(['daemon', 'status', '--json'], { DIFFLORE_CLOUD_URL: cloud.url })).stdout) as {
        waitingForToken: boolean | null;
      };
    await waitFor(async () => (await status()).waitingForToken === true, { what: 'status: waiting for a token' });
    // Another pass without the token leaves the file as the last pass with one wrote it.
    const written = readFileSync(w.paths.drainState, 'utf8');
    const before = Date.now();
    w.enqueue(1, 'observation', 60);
    await waitFor(() => Number(w.state()?.lastDrainAtMs ?? 0) > before, { what: 'a pass without the token' });
    expect(readFileSync(w.paths.drainState, 'utf8')).toBe(written);
    expect((await status()).waitingForToken).toBe(true);
    expect(w.rows()).toHaveLength(2);
    expect(w.state()?.pid).toBe(pid);
  });
});
