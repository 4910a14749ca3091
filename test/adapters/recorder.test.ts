import { existsSync, readFileSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import { selfIdentity } from '../../src/adapters/lifecycle/process-identity.js';
import {
  createRecorder,
  parseState,
  readJournal,
  readRecordedIdentity,
  readState,
  recordClaim,
  scrubEvent,
  stateLockPath,
} from '../../src/adapters/lifecycle/recorder.js';
import type { TransitionRecord } from '../../src/machines/types.js';
import { makeTempHome, waitFor } from '../helpers/index.js';
import { killAllChildren, startAdapterChild } from './fixtures/child.js';

let paths: HomePaths;
let cleanup: () => void;

beforeEach(() => {
  const temp = makeTempHome();
  cleanup = temp.cleanup;
  paths = ensureHome(temp.home);
});

afterEach(async () => {
  await killAllChildren();
  cleanup();
});

function transition(seq: number, extra: Partial<TransitionRecord> = {}): TransitionRecord {
  return {
    machine: 'daemon',
    seq,
    atMs: 1_000 + seq,
    pid: process.pid,
    from: seq === 0 ? null : `s${seq - 1}`,
    event: { type: 'STEP' },
    to: `s${seq}`,
    ...extra,
  };
}

const RUST_FIELDS = [
  'version',
  'pid',
  'startedAtMs',
  'heartbeatAtMs',
  'lastDrainAtMs',
  'lastAttempted',
  'lastConfirmed',
  'lastError',
] as const;

describe('recorder', () => {
  it('writes the Rust fields with Rust types whatever a caller or an older file gave (rust-wire §5.2)', () => {
    writeFileSync(
      paths.stateFile,
      JSON.stringify({ version: 7, pid: 2 ** 40, startedAtMs: 1.5, heartbeatAtMs: 'soon', lastDrainAtMs: 3.25 }),
    );
    const recorder = createRecorder(paths, { role: 'daemon', fsync: false });
    recorder.update({ lastAttempted: -1, lastConfirmed: 2.5, lastError: 42 as unknown as string });
    const state = JSON.parse(readFileSync(paths.stateFile, 'utf8')) as Record<string, unknown>;
    expect(Object.fromEntries(RUST_FIELDS.map((k) => [k, state[k]]))).toEqual({
      version: 1,
      pid: 0,
      startedAtMs: 0,
      heartbeatAtMs: 0,
      lastDrainAtMs: 0,
      lastAttempted: 0,
      lastConfirmed: 0,
      lastError: null,
    });
  });

  it('appends one journal line and rewrites the state file per transition; Rust fields stay at the top level', () => {
    const identity = selfIdentity();
    recordClaim(paths.stateFile, identity, { now: () => 500 });
    const recorder = createRecorder(paths, { role: 'daemon', now: () => 2_000 });
    recorder.record(transition(0, { event: { type: 'xstate.init', input: { tickMs: 5000 } } }), {
      snapshot: { value: 's0', context: { n: 0 } },
    });
    recorder.record(transition(1), {
      snapshot: { value: 's1', context: { n: 1 } },
      fields: { heartbeatAtMs: 1_500, lastAttempted: 3, lastConfirmed: 2, lastDrainAtMs: 1_400 },
    });

    const raw = JSON.parse(readFileSync(paths.stateFile, 'utf8')) as Record<string, unknown>;
    for (const key of RUST_FIELDS) expect(raw).toHaveProperty(key);
    expect(raw).toMatchObject({
      version: 1,
      pid: process.pid,
      startedAtMs: 500,
      heartbeatAtMs: 1_500,
      lastDrainAtMs: 1_400,
      lastAttempted: 3,
      lastConfirmed: 2,
      lastError: null,
      format: 'difflore-ts/1',
      value: 's1',
      seq: 1,
      snapshot: { value: 's1', context: { n: 1 } },
      identity,
      lastStop: null,
    });
    expect((raw.transitions as unknown[]).length).toBe(2);

    const journal = readJournal(paths.journal);
    expect(journal.bad).toEqual([]);
    expect(journal.entries.map((e) => [e.seq, e.from, e.event.type, e.to])).toEqual([
      [0, null, 'xstate.init', 's0'],
      [1, 's0', 'STEP', 's1'],
    ]);
    expect(readRecordedIdentity(paths.stateFile)).toEqual(identity);
  });

  it('keeps the last N transitions in the state file', () => {
    const recorder = createRecorder(paths, { role: 'daemon', fsync: false, transitionsKept: 5 });
    for (let seq = 0; seq < 12; seq += 1) recorder.record(transition(seq));
    const state = readState(paths.stateFile);
    if (state.kind !== 'ok') throw new Error(state.kind);
    expect(state.state.transitions.map((t) => t.seq)).toEqual([7, 8, 9, 10, 11]);
    expect(readJournal(paths.journal).entries).toHaveLength(12);
  });

  it('writes every file 0600 in the 0700 home', () => {
    const recorder = createRecorder(paths, { role: 'daemon' });
    recorder.record(transition(0));
    expect(statSync(paths.home).mode & 0o777).toBe(0o700);
    for (const file of [paths.stateFile, paths.journal, stateLockPath(paths.stateFile)]) {
      expect(statSync(file).mode & 0o777, file).toBe(0o600);
    }
  });

  it('rotates the journal to .1 when it would pass the cap, and reads both back in order', () => {
    const recorder = createRecorder(paths, { role: 'daemon', fsync: false, journalMaxBytes: 4096 });
    for (let seq = 0; seq < 200; seq += 1) recorder.record(transition(seq));
    expect(existsSync(`${paths.journal}.1`)).toBe(true);
    expect(statSync(paths.journal).size).toBeLessThanOrEqual(4096);
    expect(statSync(`${paths.journal}.1`).size).toBeLessThanOrEqual(4096);
    expect(statSync(`${paths.journal}.1`).mode & 0o777).toBe(0o600);
    const { entries, bad } = readJournal(paths.journal);
    expect(bad).toEqual([]);
    const seqs = entries.map((e) => e.seq);
    expect(seqs.at(-1)).toBe(199);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs.length).toBeLessThan(200); // older generations are gone: the cap holds
  });

  it('never writes a token or a payload body: events, snapshots and state values are scrubbed', () => {
    const token = 'tok_live_abcdefghijklmnop';
    const recorder = createRecorder(paths, { role: 'daemon', fsync: false, secrets: () => [token] });
    recorder.record(
      transition(0, {
        // Whatever reaches the recorder, raw objects included, is scrubbed.
        event: {
          type: 'xstate.error.actor.drain',
          error: new Error(`401 from cloud with Authorization: Bearer ${token}`),
          token,
          headers: { authorization: `Bearer ${token}` },
          payload: { secretRow: 'private body' },
          note: `the token is ${token}`,
        } as unknown as TransitionRecord['event'],
      }),
      { snapshot: { context: { lastError: `bad token ${token}`, cloudToken: token, tokenPresent: true } } },
    );
    const files = [readFileSync(paths.stateFile, 'utf8'), readFileSync(paths.journal, 'utf8')];
    for (const text of files) {
      expect(text).not.toContain(token);
      expect(text).not.toContain('private body');
    }
    const [entry] = readJournal(paths.journal).entries;
    expect(entry?.event.type).toBe('xstate.error.actor.drain');
    expect(entry?.event.error).toMatchObject({ name: 'Error' });
    const state = readState(paths.stateFile);
    if (state.kind !== 'ok') throw new Error(state.kind);
    // Non-string values under credential-like keys survive, so a snapshot stays restorable.
    expect(state.state.snapshot).toMatchObject({ context: { tokenPresent: true, cloudToken: '[redacted]' } });
  });

  it('scrubEvent keeps the type and bounds what it keeps', () => {
    expect(scrubEvent({ type: 'WAKE' })).toEqual({ type: 'WAKE' });
    expect(scrubEvent('nonsense')).toEqual({ type: 'unknown' });
    expect(scrubEvent({ type: 'X', body: 'b', big: 'y'.repeat(5000) })).toMatchObject({
      type: 'X',
      body: '[omitted]',
    });
    const big = scrubEvent({ type: 'X', big: 'y'.repeat(5000) }).big as string;
    expect(big.length).toBeLessThan(600);
  });

  it('a garbage state file reads as garbage (no crash) and the next record replaces it', () => {
    for (const text of ['', '{', 'null', '[]', '"x"', '{"hello":1}']) {
      writeFileSync(paths.stateFile, text);
      const read = readState(paths.stateFile);
      expect(read.kind, text).toBe('garbage');
      expect(readRecordedIdentity(paths.stateFile)).toBeNull();
    }
    const recorder = createRecorder(paths, { role: 'daemon', fsync: false });
    expect(recorder.record(transition(0))).toEqual({ kind: 'recorded', replacedGarbage: true });
    expect(readState(paths.stateFile).kind).toBe('ok');
    expect(recorder.record(transition(1))).toEqual({ kind: 'recorded', replacedGarbage: false });
  });

  it('reads a state file written by the Rust binary, and keeps its fields when adding ours', () => {
    const rust = {
      version: 1,
      pid: 4321,
      startedAtMs: 10,
      heartbeatAtMs: 20,
      lastDrainAtMs: 30,
      lastAttempted: 4,
      lastConfirmed: 3,
      lastError: 'db busy',
    };
    writeFileSync(paths.stateFile, JSON.stringify(rust, null, 2));
    const read = parseState(readFileSync(paths.stateFile, 'utf8'));
    expect(read).toMatchObject({ kind: 'ok', writtenBy: 'other', state: { ...rust, identity: null, transitions: [] } });
    createRecorder(paths, { role: 'stop', fsync: false }).record(transition(0, { machine: 'stop' }));
    expect(JSON.parse(readFileSync(paths.stateFile, 'utf8'))).toMatchObject(rust);
  });

  it('the stop role writes only lastStop, one run at a time, and never touches the daemon sections', () => {
    const daemon = createRecorder(paths, { role: 'daemon', fsync: false });
    daemon.record(transition(0), { snapshot: { value: 's0' } });
    const stop = createRecorder(paths, { role: 'stop', fsync: false });
    stop.record(transition(0, { machine: 'stop', to: 'probing', from: null }));
    stop.record(transition(1, { machine: 'stop', from: 'probing', to: 'notRunning' }));
    let state = readState(paths.stateFile);
    if (state.kind !== 'ok') throw new Error(state.kind);
    expect(state.state).toMatchObject({ value: 's0', seq: 0, snapshot: { value: 's0' } });
    expect(state.state.lastStop).toMatchObject({ pid: process.pid, seq: 1, value: 'notRunning' });
    expect(state.state.lastStop?.transitions).toHaveLength(2);
    // A new run (seq starts over) replaces the last one.
    stop.record(transition(0, { machine: 'stop', to: 'probing', from: null }));
    state = readState(paths.stateFile);
    if (state.kind !== 'ok') throw new Error(state.kind);
    expect(state.state.lastStop?.transitions).toHaveLength(1);
    expect(() => stop.update({ heartbeatAtMs: 1 })).toThrow();
  });

  it('recordAll leaves what recording the same transitions one by one leaves (stop role only)', () => {
    const daemon = createRecorder(paths, { role: 'daemon', fsync: false });
    daemon.record(transition(0), { snapshot: { value: 's0' } });
    const run = [
      transition(0, { machine: 'stop', from: null, to: 'probing' }),
      transition(1, { machine: 'stop', from: 'probing', to: 'terming' }),
      transition(2, { machine: 'stop', from: 'terming', to: 'terminated' }),
    ];
    const stop = createRecorder(paths, { role: 'stop', fsync: true, now: () => 5 });
    for (const t of run) stop.record(t);
    const oneByOne = readState(paths.stateFile);
    const journalOneByOne = readJournal(paths.journal).entries.slice(-3);
    // The same run again (seq starts over), in one write.
    expect(stop.recordAll(run)).toEqual({ kind: 'recorded', replacedGarbage: false });
    const batched = readState(paths.stateFile);
    if (batched.kind !== 'ok' || oneByOne.kind !== 'ok') throw new Error('unreadable state');
    expect(batched.state.lastStop).toEqual(oneByOne.state.lastStop);
    expect(batched.state.lastStop?.transitions.map((t) => t.to)).toEqual(['probing', 'terming', 'terminated']);
    expect(batched.state).toMatchObject({ value: 's0', seq: 0 });
    expect(readJournal(paths.journal).entries.slice(-3)).toEqual(journalOneByOne);
    expect(stop.recordAll([])).toEqual({ kind: 'recorded', replacedGarbage: false });
    expect(() => daemon.recordAll(run)).toThrow();
  });

  it('recordClaim starts a new run: Rust fields and daemon sections reset, lastStop kept', () => {
    const stop = createRecorder(paths, { role: 'stop', fsync: false });
    stop.record(transition(0, { machine: 'stop', to: 'probing' }));
    const daemon = createRecorder(paths, { role: 'daemon', fsync: false });
    daemon.record(transition(5), { fields: { lastAttempted: 9 } });
    recordClaim(paths.stateFile, selfIdentity(), { fsync: false, now: () => 777 });
    const state = readState(paths.stateFile);
    if (state.kind !== 'ok') throw new Error(state.kind);
    expect(state.state).toMatchObject({
      startedAtMs: 777,
      heartbeatAtMs: 777,
      lastAttempted: 0,
      seq: null,
      transitions: [],
    });
    expect(state.state.lastStop?.seq).toBe(0);
  });

  it('refuses symlinks at the state file, the journal and the state lock', () => {
    const target = join(paths.home, 'target.json');
    writeFileSync(target, '{"keep":true}');
    symlinkSync(target, paths.stateFile);
    expect(() => readState(paths.stateFile)).toThrow(/symbolic link/);
    const recorder = createRecorder(paths, { role: 'daemon', fsync: false });
    expect(() => recorder.record(transition(0))).toThrow(/symbolic link/);
    expect(readFileSync(target, 'utf8')).toBe('{"keep":true}');

    unlinkSync(paths.stateFile);
    unlinkSync(paths.journal);
    symlinkSync(target, paths.journal);
    expect(() => recorder.record(transition(0))).toThrow(/symbolic link/);
    expect(() => readJournal(paths.journal)).toThrow(/symbolic link/);
    expect(readFileSync(target, 'utf8')).toBe('{"keep":true}');
  });

  it('two processes writing at once (the daemon and a stopper) keep the state file parseable and the journal whole', async () => {
    const count = 150;
    const daemon = startAdapterChild(['record', paths.home, 'daemon', String(count)]);
    const stopper = startAdapterChild(['record', paths.home, 'stop', String(count)]);
    await Promise.all([daemon, stopper].map((c) => c.next((m) => m.event === 'ready')));
    daemon.send('go');
    stopper.send('go');
    // Read while they write: every read is either missing (before the first rename) or whole.
    let reads = 0;
    const garbage: string[] = [];
    const done = () =>
      daemon.messages.some((m) => m.event === 'done') && stopper.messages.some((m) => m.event === 'done');
    await waitFor(
      () => {
        const read = readState(paths.stateFile);
        if (read.kind === 'garbage') garbage.push(read.error);
        reads += 1;
        return done();
      },
      { intervalMs: 1 },
    );
    expect(reads).toBeGreaterThan(0);
    expect(garbage).toEqual([]);
    const state = readState(paths.stateFile);
    if (state.kind !== 'ok') throw new Error(state.kind);
    expect(state.state.seq).toBe(count);
    expect(state.state.heartbeatAtMs).toBe(count);
    expect(state.state.lastStop?.seq).toBe(count);
    const journal = readJournal(paths.journal);
    expect(journal.bad).toEqual([]);
    expect(journal.entries).toHaveLength(2 * count);
    for (const machine of ['daemon', 'stop']) {
      const seqs = journal.entries.filter((e) => e.machine === machine).map((e) => e.seq);
      expect(seqs).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    }
  });
});
