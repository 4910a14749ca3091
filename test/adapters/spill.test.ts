/**
 * Spill files: the Rust record format, where each kind goes, replay order and timestamps, quarantine
 * of bad files, unreadable files that neither block nor vanish, the capture switch, and concurrent
 * replayers that never insert a file twice.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../src/adapters/outbox/db.js';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import { OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { parseRecord, replaySpill, spillRow, spillStats } from '../../src/adapters/outbox/spill.js';
import { makeTempHome } from '../helpers/index.js';

let temp: { home: string; cleanup: () => void };
let paths: HomePaths;
let db: Database;
let store: OutboxStore;

beforeEach(() => {
  temp = makeTempHome();
  paths = ensureHome(temp.home);
  db = openDatabase(paths.db);
  store = new OutboxStore(db);
});

afterEach(() => {
  db.close();
  temp.cleanup();
});

function rows(): { kind: string; payload_json: string; created_at: number }[] {
  return db.prepare('SELECT kind, payload_json, created_at FROM cloud_outbox ORDER BY id').all() as {
    kind: string;
    payload_json: string;
    created_at: number;
  }[];
}

describe('spillRow', () => {
  it('writes observations in the Rust format into hook-spill/observations, privately', () => {
    const path = spillRow(paths, 'observation', '{"a":1}', 'database is locked', 1_700_000_000_123);
    expect(dirname(path)).toBe(paths.observationSpillDir);
    expect(basename(path)).toMatch(new RegExp(`^1700000000123-${process.pid}-\\d+\\.json$`));
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      version: 1,
      kind: 'observation',
      payloadJson: '{"a":1}',
      createdAtMs: 1_700_000_000_123,
      lastError: 'database is locked',
    });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(paths.observationSpillDir).mode & 0o777).toBe(0o700);
    expect(statSync(paths.spillDir).mode & 0o777).toBe(0o700);
    // pretty JSON, as Rust writes it
    expect(readFileSync(path, 'utf8')).toContain('\n  "kind": "observation"');
  });

  it('puts every other kind in a sibling directory the Rust binary does not read', () => {
    const path = spillRow(paths, 'trajectory', '{}', null);
    expect(dirname(path)).toBe(paths.otherSpillDir);
    expect(dirname(path)).not.toBe(paths.observationSpillDir);
    expect(JSON.parse(readFileSync(path, 'utf8')).lastError).toBeNull();
  });

  it('gives each file of one process a distinct name, even within one millisecond', () => {
    const a = spillRow(paths, 'observation', '{}', null, 5);
    const b = spillRow(paths, 'observation', '{}', null, 5);
    expect(a).not.toBe(b);
    expect(readdirSync(paths.observationSpillDir).filter((n) => n.endsWith('.json'))).toHaveLength(2);
  });

  it('truncates a long reason to 2048 characters', () => {
    const path = spillRow(paths, 'observation', '{}', 'é'.repeat(5000));
    expect(Array.from(JSON.parse(readFileSync(path, 'utf8')).lastError as string)).toHaveLength(2048);
  });

  it('tightens a spill directory created with looser permissions', () => {
    mkdirSync(paths.observationSpillDir, { recursive: true, mode: 0o755 });
    chmodSync(paths.observationSpillDir, 0o755);
    spillRow(paths, 'observation', '{}', null);
    expect(statSync(paths.observationSpillDir).mode & 0o777).toBe(0o700);
  });
});

describe('replaySpill', () => {
  it('replays oldest first across both directories and keeps the original created_at', () => {
    spillRow(paths, 'trajectory', '{"n":3}', null, 3000);
    spillRow(paths, 'observation', '{"n":1}', null, 1000);
    spillRow(paths, 'review_metrics', '{"n":2}', null, 2000);
    spillRow(paths, 'observation', '{"n":4}', null, 4000);

    const report = replaySpill(paths, store);

    expect(report).toEqual({
      attempted: 4,
      replayed: 4,
      quarantined: 0,
      unreadable: [],
      refused: [],
      keptBecauseCaptureDisabled: 0,
    });
    expect(rows()).toEqual([
      { kind: 'observation', payload_json: '{"n":1}', created_at: 1000 },
      { kind: 'review_metrics', payload_json: '{"n":2}', created_at: 2000 },
      { kind: 'trajectory', payload_json: '{"n":3}', created_at: 3000 },
      { kind: 'observation', payload_json: '{"n":4}', created_at: 4000 },
    ]);
    expect(spillStats(paths).count).toBe(0);
    expect(readdirSync(paths.observationSpillDir)).toEqual([]);
    expect(readdirSync(paths.otherSpillDir)).toEqual([]);
  });

  it('replays a file the Rust binary wrote', () => {
    mkdirSync(paths.observationSpillDir, { recursive: true });
    writeFileSync(
      join(paths.observationSpillDir, '1712000000000-4242-0.json'),
      JSON.stringify(
        { version: 1, kind: 'observation', payloadJson: '{"tool":"Edit"}', createdAtMs: 1712000000000, lastError: 'x' },
        null,
        2,
      ),
    );
    expect(replaySpill(paths, store).replayed).toBe(1);
    expect(rows()).toEqual([{ kind: 'observation', payload_json: '{"tool":"Edit"}', created_at: 1712000000000 }]);
  });

  it('honours the limit and leaves the rest for later', () => {
    for (let i = 0; i < 5; i++) spillRow(paths, 'observation', `{"i":${i}}`, null, 1000 + i);
    expect(replaySpill(paths, store, { limit: 2 }).replayed).toBe(2);
    expect(rows().map((r) => r.payload_json)).toEqual(['{"i":0}', '{"i":1}']);
    expect(spillStats(paths).count).toBe(3);
    expect(replaySpill(paths, store).replayed).toBe(3);
    expect(rows()).toHaveLength(5);
  });

  it('quarantines unparseable and wrong-shape files as .bad and replays the good ones', () => {
    mkdirSync(paths.observationSpillDir, { recursive: true });
    const dir = paths.observationSpillDir;
    writeFileSync(join(dir, '1-1-0.json'), '{not json');
    writeFileSync(join(dir, '2-1-0.json'), JSON.stringify({ version: 1, payloadJson: '{}', createdAtMs: 2 }));
    writeFileSync(
      join(dir, '3-1-0.json'),
      JSON.stringify({ version: 1, kind: 'observation', payloadJson: '{oops', createdAtMs: 3, lastError: null }),
    );
    writeFileSync(join(dir, '4-1-0.json'), '[]');
    spillRow(paths, 'observation', '{"ok":true}', null, 5);

    const report = replaySpill(paths, store);

    expect(report.attempted).toBe(5);
    expect(report.quarantined).toBe(4);
    expect(report.replayed).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(['1-1-0.bad', '2-1-0.bad', '3-1-0.bad', '4-1-0.bad']);
    expect(rows()).toEqual([{ kind: 'observation', payload_json: '{"ok":true}', created_at: 5 }]);
    expect(spillStats(paths)).toMatchObject({ count: 0, bad: 4 });
  });

  it('refuses a directory with a spill name: never read, its entry moved aside as .bad, the others replayed', () => {
    mkdirSync(paths.observationSpillDir, { recursive: true });
    const stuck = join(paths.observationSpillDir, '1-1-0.json');
    mkdirSync(stuck);
    writeFileSync(join(stuck, 'inside'), 'kept');
    spillRow(paths, 'observation', '{"after":1}', null, 2);
    spillRow(paths, 'observation', '{"after":2}', null, 3);

    const report = replaySpill(paths, store);

    expect(report.replayed).toBe(2);
    expect(report.quarantined).toBe(1);
    expect(report.unreadable).toEqual([]);
    expect(report.refused).toEqual([{ path: stuck, error: expect.stringMatching(/is a directory/) }]);
    const aside = join(paths.observationSpillDir, '1-1-0.bad');
    expect(statSync(aside).isDirectory()).toBe(true);
    expect(readFileSync(join(aside, 'inside'), 'utf8')).toBe('kept');
    expect(rows().map((r) => r.payload_json)).toEqual(['{"after":1}', '{"after":2}']);
  });

  it('reports a spill file without read permission and leaves it in place', () => {
    const locked = spillRow(paths, 'observation', '{"locked":1}', null, 1);
    spillRow(paths, 'observation', '{"open":1}', null, 2);
    chmodSync(locked, 0o000);

    let report: { replayed: number; unreadable: readonly { path: string; error: string }[] };
    if (process.getuid?.() === 0) {
      // Root reads through chmod 000, so replay in a child process that has dropped to nobody.
      db.close();
      const top = dirname(temp.home);
      for (const p of [top, temp.home, paths.db, paths.spillDir, paths.observationSpillDir, locked]) {
        chownSync(p, 65534, 65534);
      }
      for (const name of readdirSync(temp.home)) chownSync(join(temp.home, name), 65534, 65534);
      for (const name of readdirSync(paths.observationSpillDir)) {
        chownSync(join(paths.observationSpillDir, name), 65534, 65534);
      }
      const dist = join(import.meta.dirname, '..', '..', 'dist', 'adapters');
      const script = `
        const { openDatabase } = await import(${JSON.stringify(join(dist, 'outbox', 'db.js'))});
        const { homePaths } = await import(${JSON.stringify(join(dist, 'home', 'home.js'))});
        const { OutboxStore } = await import(${JSON.stringify(join(dist, 'outbox', 'outbox-store.js'))});
        const { replaySpill } = await import(${JSON.stringify(join(dist, 'outbox', 'spill.js'))});
        const paths = homePaths(${JSON.stringify(temp.home)});
        const db = openDatabase(paths.db);
        process.stdout.write(JSON.stringify(replaySpill(paths, new OutboxStore(db))));
        db.close();`;
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        uid: 65534,
        gid: 65534,
        encoding: 'utf8',
      });
      expect(child.stderr).toBe('');
      report = JSON.parse(child.stdout);
      // Give the database back to root: the home-files rule refuses a file owned by someone else.
      for (const p of [temp.home, paths.db, `${paths.db}-wal`, `${paths.db}-shm`]) {
        if (existsSync(p)) chownSync(p, 0, 0);
      }
      db = openDatabase(paths.db);
      store = new OutboxStore(db);
    } else {
      report = replaySpill(paths, store);
    }

    expect(report.replayed).toBe(1);
    expect(report.unreadable).toEqual([{ path: locked, error: expect.stringMatching(/EACCES|permission/i) }]);
    expect(existsSync(locked)).toBe(true);
    expect(rows().map((r) => r.payload_json)).toEqual(['{"open":1}']);
  });

  it('keeps every file and inserts nothing while capture is disabled', () => {
    spillRow(paths, 'observation', '{}', null, 1);
    spillRow(paths, 'trajectory', '{}', null, 2);

    const report = replaySpill(paths, store, { env: { DIFFLORE_CAPTURE: 'false' } });

    expect(report).toMatchObject({ attempted: 0, replayed: 0, keptBecauseCaptureDisabled: 2 });
    expect(rows()).toEqual([]);
    expect(spillStats(paths).count).toBe(2);
    // only the exact lowercase value disables capture
    expect(replaySpill(paths, store, { env: { DIFFLORE_CAPTURE: 'FALSE' } }).replayed).toBe(2);
  });

  it('puts the file back when the database refuses the row', () => {
    const path = spillRow(paths, 'observation', '{}', null, 1);
    const readonly = openDatabase(paths.db, { readonly: true });
    try {
      expect(() => replaySpill(paths, new OutboxStore(readonly))).toThrow(/readonly|read-only/i);
    } finally {
      readonly.close();
    }
    expect(existsSync(path)).toBe(true);
    expect(rows()).toEqual([]);
  });

  it('returns files claimed by a process that died mid-replay to the queue', () => {
    const path = spillRow(paths, 'observation', '{"orphan":1}', null, 1);
    // A pid that cannot be alive: above the kernel's pid_max.
    renameSync(path, `${path}.replaying-99999999`);
    expect(spillStats(paths).count).toBe(0);

    expect(replaySpill(paths, store).replayed).toBe(1);
    expect(rows().map((r) => r.payload_json)).toEqual(['{"orphan":1}']);
  });

  it('never inserts a file twice when several processes replay at once', async () => {
    const n = 2000;
    spillRow(paths, 'trajectory', '{"i":-1}', null, 0); // creates both directories
    spillRow(paths, 'observation', '{"i":-2}', null, 0);
    // Plain writes: fsync per file would make the set-up slower than the race it sets up.
    for (let i = 0; i < n; i++) {
      const kind = i % 2 ? 'observation' : 'trajectory';
      const record = { version: 1, kind, payloadJson: `{"i":${i}}`, createdAtMs: i + 1, lastError: null };
      const dir = i % 2 ? paths.observationSpillDir : paths.otherSpillDir;
      writeFileSync(join(dir, `${i + 1}-1-0.json`), JSON.stringify(record));
    }
    const dist = join(import.meta.dirname, '..', '..', 'dist', 'adapters');
    const script = `
      const { openDatabase } = await import(${JSON.stringify(join(dist, 'outbox', 'db.js'))});
      const { homePaths } = await import(${JSON.stringify(join(dist, 'home', 'home.js'))});
      const { OutboxStore } = await import(${JSON.stringify(join(dist, 'outbox', 'outbox-store.js'))});
      const { replaySpill } = await import(${JSON.stringify(join(dist, 'outbox', 'spill.js'))});
      const paths = homePaths(${JSON.stringify(temp.home)});
      const db = openDatabase(paths.db);
      process.stdout.write(JSON.stringify(replaySpill(paths, new OutboxStore(db))));
      db.close();`;
    const { spawn } = await import('node:child_process');
    const runs = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<{ replayed: number }>((resolve, reject) => {
            const child = spawn(process.execPath, ['--input-type=module', '-e', script]);
            let out = '';
            let err = '';
            child.stdout.on('data', (d) => {
              out += d;
            });
            child.stderr.on('data', (d) => {
              err += d;
            });
            child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(err))));
          }),
      ),
    );
    expect(runs.reduce((sum, r) => sum + r.replayed, 0)).toBe(n + 2);
    const payloads = rows().map((r) => r.payload_json);
    expect(payloads).toHaveLength(n + 2);
    expect(new Set(payloads).size).toBe(n + 2);
  });
});

describe('spillStats', () => {
  it('is empty when nothing ever spilled', () => {
    expect(spillStats(paths)).toEqual({
      count: 0,
      bytes: 0,
      newestError: null,
      oldestCreatedAtMs: null,
      newestCreatedAtMs: null,
      bad: 0,
      path: paths.spillDir,
    });
  });

  it('counts files and bytes in both directories and reports the newest error', () => {
    const a = spillRow(paths, 'observation', '{}', 'first', 100);
    const b = spillRow(paths, 'trajectory', '{}', 'newest', 300);
    const c = spillRow(paths, 'observation', '{}', 'middle', 200);
    writeFileSync(join(paths.observationSpillDir, 'x.bad'), 'junk');
    writeFileSync(join(paths.observationSpillDir, 'y.json.123456'), 'temp file'); // write-file-atomic temp

    const stats = spillStats(paths);

    expect(stats).toEqual({
      count: 3,
      bytes: [a, b, c].reduce((n, p) => n + statSync(p).size, 0),
      newestError: 'newest',
      oldestCreatedAtMs: 100,
      newestCreatedAtMs: 300,
      bad: 1,
      path: paths.spillDir,
    });
  });
});

describe('parseRecord', () => {
  it('accepts a Rust record and rejects near misses', () => {
    const good = { version: 1, kind: 'observation', payloadJson: '{}', createdAtMs: 1, lastError: null };
    expect(parseRecord(JSON.stringify(good))).toEqual(good);
    expect(parseRecord(JSON.stringify({ ...good, lastError: undefined }))).toEqual(good);
    for (const bad of [
      { ...good, version: 2 },
      { ...good, kind: 'Bad-Kind' },
      { ...good, payloadJson: '' },
      { ...good, payloadJson: 'nope' },
      { ...good, createdAtMs: -1 },
      { ...good, createdAtMs: '1' },
      { ...good, lastError: 5 },
    ]) {
      expect(parseRecord(JSON.stringify(bad))).toBeNull();
    }
  });
});
