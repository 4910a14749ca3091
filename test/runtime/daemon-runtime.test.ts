/**
 * The composition root in-process (src/runtime/daemon-runtime.ts) with real adapters in a temp home and the
 * reference cloud on 127.0.0.1: the daemon claims, drains, writes heartbeat and last-pass fields into
 * the state file next to the machine's state, stops on SIGTERM through its own handlers, and the stop
 * protocol's run is journaled. Also the recorder's `onlyIfPid`, which the root relies on so a losing
 * claimer cannot overwrite the live daemon's state.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/adapters/outbox/db.js';
import { homePaths } from '../../src/adapters/home/home.js';
import { leaseOwnerFor, OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { identityOf } from '../../src/adapters/lifecycle/process-identity.js';
import type { ProcessIdentity, TransitionRecord } from '../../src/machines/types.js';
import { createRecorder, readJournal, readState, recordClaim } from '../../src/adapters/lifecycle/recorder.js';
import { type ReferenceCloud, startReferenceCloud } from '../../src/reference-cloud/server.js';
import { runDaemon } from '../../src/runtime/daemon-runtime.js';
import { runStop } from '../../src/runtime/stop-runtime.js';
import { replayJournal } from '../../src/machines/journal-replay.js';
import { makeTempHome, mcpQueryPayload, waitFor } from '../helpers/index.js';
import { deadPid } from '../adapters/fixtures/child.js';

const TOKEN = 'tok_root_1f2e3d4c5b6a';

let temp: { home: string; cleanup: () => void };
let cloud: ReferenceCloud | null = null;

beforeEach(() => {
  temp = makeTempHome('difflore-root-');
  mkdirSync(temp.home, { recursive: true, mode: 0o700 });
});
afterEach(async () => {
  await cloud?.close();
  cloud = null;
  temp.cleanup();
});

const transition = (seq: number, pid: number): TransitionRecord => ({
  machine: 'daemon',
  seq,
  atMs: 1_000 + seq,
  pid,
  from: seq === 1 ? null : 'claiming',
  event: { type: seq === 1 ? 'xstate.init' : 'WAKE' },
  to: 'claiming',
});

describe('recorder onlyIfPid', () => {
  it('journals but leaves a state file naming another pid alone; writes a missing, garbage or own one', () => {
    const paths = homePaths(temp.home);
    const recorder = createRecorder(paths, { role: 'daemon', fsync: false });
    recordClaim(paths.stateFile, { pid: 4242, bootId: null, startTime: '7' }, { fsync: false });
    expect(recorder.record(transition(1, 999), { onlyIfPid: 999 })).toEqual({
      kind: 'recorded',
      replacedGarbage: false,
      journalOnly: true,
    });
    const kept = readState(paths.stateFile);
    expect(kept.kind === 'ok' && kept.state.pid).toBe(4242);
    expect(kept.kind === 'ok' && kept.state.value).toBeNull();
    expect(readJournal(paths.journal).entries).toHaveLength(1);

    expect(recorder.record(transition(2, 4242), { onlyIfPid: 4242 })).toEqual({
      kind: 'recorded',
      replacedGarbage: false,
    });
    const written = readState(paths.stateFile);
    expect(written.kind === 'ok' && written.state.value).toBe('claiming');
  });
});

describe('runDaemon and runStop', () => {
  it('claims, drains, records heartbeat and last pass, and stops on SIGTERM with exit code 0', async () => {
    cloud = await startReferenceCloud({ token: TOKEN });
    const paths = homePaths(temp.home);
    const env = { DIFFLORE_HOME: temp.home, DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN };
    const running = runDaemon({ env, tickMs: 60_000, batchSize: 8, inspectUrl: null });
    await waitFor(() => {
      const read = readState(paths.stateFile);
      return read.kind === 'ok' && read.state.pid === process.pid && read.state.value === 'serving.running';
    });
    const db = openDatabase(paths.db);
    new OutboxStore(db).enqueueMany(
      Array.from({ length: 3 }, (_, i) => ({
        kind: 'mcp_query',
        payloadJson: mcpQueryPayload(`f${i}.ts`),
      })),
    );
    db.close();
    // Woken by our commit (another connection), not by the minute-long tick.
    await waitFor(() => (cloud?.stats().received.mcp_query ?? 0) === 3, { what: 'three rows at the cloud' });
    await waitFor(() => {
      const read = readState(paths.stateFile);
      return read.kind === 'ok' && read.state.lastConfirmed === 3 && read.state.value === 'serving.running';
    });
    const read = readState(paths.stateFile);
    if (read.kind !== 'ok') throw new Error('state file unreadable');
    expect(read.state.identity?.pid).toBe(process.pid);
    expect(read.state.lastDrainAtMs).toBeGreaterThanOrEqual(read.state.startedAtMs);
    expect(read.state.heartbeatAtMs).toBeGreaterThanOrEqual(read.state.startedAtMs);
    expect(read.state.lastError).toBeNull();

    // The daemon's own handlers turn SIGTERM into STOP (they replace Node's default exit).
    process.kill(process.pid, 'SIGTERM');
    const output = await running;
    expect(output).toEqual({ exitCode: 0, reason: 'stopped', detail: null, conflictPid: null });
    expect(process.listenerCount('SIGTERM')).toBe(0);
    const after = readState(paths.stateFile);
    expect(after.kind === 'ok' && after.state.value).toBe('stopped');
    expect(readFileSync(paths.journal, 'utf8')).not.toContain(TOKEN);
    expect(readFileSync(paths.daemonLog, 'utf8')).toContain('"msg":"daemon stopped"');

    const stop = await runStop({ env, graceMs: 1_000, killTimeoutMs: 1_000, force: false });
    expect(stop.output).toMatchObject({ outcome: 'notRunning', exitCode: 0 });
    const stops = readJournal(paths.journal).entries.filter((e) => e.machine === 'stop');
    expect(stops.map((e) => e.to)).toEqual(['probing', 'notRunning']);
  });

  it("hands back the rows of the daemon recorded before it only when that daemon is dead; a live claimer's stay", async () => {
    cloud = await startReferenceCloud({ token: TOKEN });
    const paths = homePaths(temp.home);
    const env = { DIFFLORE_HOME: temp.home, DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN };
    const parent = identityOf(process.ppid);
    if (parent.kind !== 'alive') throw new Error('the parent process is not readable');
    const live = parent.identity;
    const dead = { pid: await deadPid(), bootId: live.bootId, startTime: '1' };
    const row = (file: string) => ({
      kind: 'mcp_query',
      payloadJson: mcpQueryPayload(file),
    });
    const leased = (): Record<string, string | null> => {
      const db = openDatabase(paths.db);
      try {
        const rows = db.prepare('SELECT payload_json AS p, lease_id AS lease FROM cloud_outbox').all() as {
          p: string;
          lease: string | null;
        }[];
        return Object.fromEntries(rows.map((r) => [(JSON.parse(r.p) as { file: string }).file, r.lease]));
      } finally {
        db.close();
      }
    };
    /** Rows claimed by `owner` (a store whose leases name it), as a crashed or running claimer leaves them. */
    const claimAs = (owner: ProcessIdentity, file: string): string => {
      const db = openDatabase(paths.db);
      try {
        const store = new OutboxStore(db, { leaseOwner: leaseOwnerFor(owner) as string });
        store.enqueueMany([row(file)]);
        return store.claim(10).leaseId;
      } finally {
        db.close();
      }
    };

    const runOnce = async (): Promise<void> => {
      const running = runDaemon({ env, tickMs: 60_000, batchSize: 8, inspectUrl: null });
      await waitFor(() => {
        const read = readState(paths.stateFile);
        return read.kind === 'ok' && read.state.pid === process.pid && read.state.value === 'serving.running';
      });
      process.kill(process.pid, 'SIGTERM');
      expect(await running).toMatchObject({ exitCode: 0, reason: 'stopped' });
    };

    // The recorded daemon is alive (say, still on its way out): its rows and a dead stranger's stay leased.
    mkdirSync(paths.home, { recursive: true, mode: 0o700 });
    const liveLease = claimAs(live, 'live.ts');
    const strangerLease = claimAs({ ...dead, startTime: '2' }, 'stranger.ts');
    recordClaim(paths.stateFile, live, { fsync: false });
    await runOnce();
    expect(leased()).toEqual({ 'live.ts': liveLease, 'stranger.ts': strangerLease });

    // The recorded daemon is dead: its rows go back and are delivered; nobody else's are touched.
    claimAs(dead, 'dead-1.ts');
    claimAs(dead, 'dead-2.ts');
    recordClaim(paths.stateFile, dead, { fsync: false });
    await runOnce();
    expect(leased()).toEqual({ 'live.ts': liveLease, 'stranger.ts': strangerLease });
    expect(cloud.stats().received.mcp_query).toBe(2);
    const log = readFileSync(paths.daemonLog, 'utf8');
    expect(log).toContain(`"msg":"handed back the rows a dead daemon had claimed","deadPid":${dead.pid},"rows":2`);
  });

  it('journals where each pass found its token, logs the source once, and the journal replays', async () => {
    cloud = await startReferenceCloud({ token: TOKEN });
    const paths = homePaths(temp.home);
    const env = { DIFFLORE_HOME: temp.home, DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN };
    const running = runDaemon({ env, tickMs: 60_000, batchSize: 8, inspectUrl: null });
    const passesDone = (): TransitionRecord[] =>
      readJournal(paths.journal).entries.filter((e) => e.event.type === 'xstate.done.actor.drainPass');
    await waitFor(() => passesDone().length >= 1, { what: 'the start pass' });
    // A RELOAD runs a second pass with the same token source.
    process.kill(process.pid, 'SIGHUP');
    await waitFor(() => passesDone().length >= 2, { what: 'the reload pass' });
    process.kill(process.pid, 'SIGTERM');
    expect((await running).exitCode).toBe(0);

    expect(passesDone().map((e) => e.event.output)).toEqual([
      expect.objectContaining({ authSource: 'env' }),
      expect.objectContaining({ authSource: 'env' }),
    ]);
    const sourceLines = readFileSync(paths.daemonLog, 'utf8')
      .split('\n')
      .filter((line) => line.includes('"msg":"token source"'));
    expect(sourceLines).toHaveLength(1);
    expect(sourceLines[0]).toContain('"source":"env"');
    expect(readFileSync(paths.journal, 'utf8')).not.toContain(TOKEN);
    expect(replayJournal('daemon', readJournal(paths.journal).entries)).toMatchObject({
      ok: true,
      finalState: 'stopped',
    });
  });

  it('runStop in a home that does not exist reports notRunning and creates nothing', async () => {
    const missing = `${temp.home}/nope`;
    const stop = await runStop({ env: { DIFFLORE_HOME: missing }, graceMs: 10, killTimeoutMs: 10, force: false });
    expect(stop.output.outcome).toBe('notRunning');
    expect(() => readFileSync(`${missing}/daemon-journal.jsonl`)).toThrow();
  });
});
