import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/adapters/outbox/db.js';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import { type StopWatching, watchCommits } from '../../src/adapters/lifecycle/wake-watcher.js';
import { makeTempHome, waitFor } from '../helpers/index.js';
import { killAllChildren, startAdapterChild, startCommand } from './fixtures/child.js';

const hasSqlite3 = spawnSync('sqlite3', ['-version']).status === 0;
const DELAYS = [2, 20, 100];

let paths: HomePaths;
let cleanup: () => void;
let stops: StopWatching[] = [];
let dbs: Database[] = [];

beforeEach(() => {
  const temp = makeTempHome();
  cleanup = temp.cleanup;
  paths = ensureHome(temp.home);
  // Create the database and its schema, then close: no WAL file exists when the watcher starts.
  openDatabase(paths.db).close();
});

afterEach(async () => {
  for (const stop of stops) stop();
  stops = [];
  for (const db of dbs) db.close();
  dbs = [];
  await killAllChildren();
  cleanup();
});

function watch(options: { connection?: Database } = {}) {
  const counts = { wakes: 0, checks: 0, errors: [] as Error[] };
  const stop = watchCommits({
    dbPath: paths.db,
    recheckDelaysMs: DELAYS,
    onWake: () => {
      counts.wakes += 1;
    },
    onCheck: () => {
      counts.checks += 1;
    },
    onError: (e) => counts.errors.push(e),
    ...options,
  });
  stops.push(stop);
  return { counts, stop };
}

async function insertFromChild(n = 1): Promise<void> {
  const child = startAdapterChild(['insert', paths.db, String(n)]);
  await child.next((m) => m.event === 'inserted', 'insert');
  await child.exited;
}

function countRows(): number {
  const db = openDatabase(paths.db);
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM cloud_outbox').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('wake watcher', () => {
  it('a row committed by another process triggers the callback', async () => {
    const { counts } = watch();
    await insertFromChild();
    await waitFor(() => counts.wakes >= 1, { what: 'wake after insert' });
    await insertFromChild(3);
    await waitFor(() => counts.wakes >= 2, { what: 'second wake' });
    expect(counts.errors).toEqual([]);
    expect(countRows()).toBe(4);
  });

  it.skipIf(!hasSqlite3)('a row committed by the sqlite3 shell triggers the callback', async () => {
    const { counts } = watch();
    const shell = startCommand('sqlite3', [
      paths.db,
      "INSERT INTO cloud_outbox(kind, payload_json, status, created_at) VALUES ('observation', '{}', 'pending', 1);",
    ]);
    expect((await shell.exited).code).toBe(0);
    await waitFor(() => counts.wakes >= 1, { what: 'wake after sqlite3 insert' });
  });

  it('idle cost: reads, a rolled-back write spilled into the WAL, a passive checkpoint and churn in the home wake nobody', async () => {
    const { counts } = watch();
    for (let i = 0; i < 20; i += 1) writeFileSync(paths.stateFile, `{"i":${i}}`);
    const child = startAdapterChild(['no-commit', paths.db]);
    await child.next((m) => m.event === 'done');
    await child.exited;
    // The spilled write hit the WAL, so the watcher looked (a full round of confirmations) and found no commit.
    await waitFor(() => counts.checks >= DELAYS.length, { what: 'the watcher to examine the activity' });
    expect(counts.wakes).toBe(0);
    // Then a real commit does wake it.
    await insertFromChild();
    await waitFor(() => counts.wakes >= 1, { what: 'wake after insert' });
    expect(counts.wakes).toBe(1);
  });

  it('survives WAL truncation and recreation', async () => {
    const { counts } = watch();
    await insertFromChild();
    await waitFor(() => counts.wakes >= 1);
    const checkpoint = startAdapterChild(['checkpoint', paths.db]);
    await checkpoint.next((m) => m.event === 'checkpointed');
    await insertFromChild();
    await waitFor(() => counts.wakes >= 2, { what: 'wake after checkpoint + insert' });
    // Every connection closed: SQLite may delete the WAL; the directory watch sees it come back.
    const all = [...stops];
    for (const stop of all) stop();
    stops = [];
    const { counts: again } = watch();
    await insertFromChild();
    await waitFor(() => again.wakes >= 1, { what: 'wake from a fresh watcher' });
  });

  it('stops waking after stop(), and stop() is idempotent', async () => {
    const { counts, stop } = watch();
    await insertFromChild();
    await waitFor(() => counts.wakes >= 1);
    stop();
    stop();
    const before = counts.checks;
    await insertFromChild();
    // A second watcher proves the commit was visible; the stopped one never looked.
    const { counts: witness } = watch();
    await insertFromChild();
    await waitFor(() => witness.wakes >= 1);
    expect(counts.checks).toBe(before);
  });

  it("given the daemon's own connection, its own commits do not wake it but others' do", async () => {
    const own = openDatabase(paths.db);
    dbs.push(own);
    const { counts } = watch({ connection: own });
    own
      .prepare(
        "INSERT INTO cloud_outbox(kind, payload_json, status, created_at) VALUES ('observation', '{}', 'pending', 1)",
      )
      .run();
    await waitFor(() => counts.checks >= DELAYS.length, { what: 'the watcher to examine our own commit' });
    expect(counts.wakes).toBe(0);
    await insertFromChild();
    await waitFor(() => counts.wakes >= 1, { what: "wake on another process's commit" });
  });
});
