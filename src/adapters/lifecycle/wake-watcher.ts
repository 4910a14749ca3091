/**
 * Wake on commit (DESIGN §5.4): calls back within milliseconds when any process — our hook, the
 * Rust binary, the `sqlite3` shell — commits to `data.db`, at near-zero idle cost.
 * Owns: noticing writes and confirming them as commits. What a wake-up does is the machine's business.
 *
 * How: one inotify/FSEvents watch (fs.watch) on the database's *directory*, filtered to `data.db`,
 * `data.db-wal` and `data.db-journal`. Watching the directory rather than the WAL file survives the
 * WAL being absent at start, truncated by a checkpoint, or deleted and recreated. A write is only a
 * hint: `PRAGMA data_version` on our connection confirms it, because it changes only when another
 * connection has committed (checkpoints, reads and rolled-back writes do not change it).
 * The last WAL write of a commit can reach us a moment before the committer publishes it in the
 * shared-memory index, so after each burst of writes we look again at a few short delays. With no
 * writes there are no timers and no queries: idle cost is one kernel watch.
 * Known false positive: a `wal_checkpoint(TRUNCATE)` by another process resets the WAL header, which
 * SQLite reports as a data_version change; that costs one empty drain pass, never a missed commit.
 */
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { type Database, openDatabase } from '../outbox/db.js';

export interface WakeWatcherOptions {
  /** Path of `data.db`. The file should exist (the daemon opens the database first). */
  readonly dbPath: string;
  /** Called once per detected batch of commits. Exceptions are passed to `onError`. */
  readonly onWake: () => void;
  /** Watch failures (the directory removed, too many watches) and callback errors. Default: ignored. */
  readonly onError?: (error: Error) => void;
  /**
   * Connection to ask `PRAGMA data_version`. Default: a dedicated connection, opened here and
   * closed by the stop function; then the daemon's own commits (on its main connection) wake it
   * too, which costs one empty pass after each of its own writes. Pass the daemon's main
   * connection to ignore its own commits; it is then not closed here.
   */
  readonly connection?: Database;
  /** Delays (ms) of the confirmations after a write; default [2, 20, 100]. */
  readonly recheckDelaysMs?: readonly number[];
  /** Observability for tests and benchmarks: called after each data_version check. */
  readonly onCheck?: (changed: boolean) => void;
}

/** Stops watching and closes what the watcher opened. Calling it twice is harmless. */
export type StopWatching = () => void;

const DEFAULT_DELAYS: readonly number[] = [2, 20, 100];

/**
 * Whether another connection has committed since the last call (`PRAGMA data_version` changed). The
 * first reading is taken now; a failed reading is reported and counts as no commit.
 */
function commitCheck(db: Database, report: (error: unknown) => void): () => boolean {
  const readVersion = (): number => db.pragma('data_version', { simple: true }) as number;
  let lastVersion = readVersion();
  return () => {
    try {
      const version = readVersion();
      const changed = version !== lastVersion;
      lastVersion = version;
      return changed;
    } catch (error) {
      report(error);
      return false;
    }
  };
}

export function watchCommits(options: WakeWatcherOptions): StopWatching {
  const dir = dirname(options.dbPath);
  const base = basename(options.dbPath);
  const relevant = new Set([base, `${base}-wal`, `${base}-journal`]);
  const delays = options.recheckDelaysMs?.length ? options.recheckDelaysMs : DEFAULT_DELAYS;
  const report = (error: unknown): void => {
    options.onError?.(error instanceof Error ? error : new Error(String(error)));
  };

  const ownsConnection = options.connection === undefined;
  const db = options.connection ?? openDatabase(options.dbPath);
  const committed = commitCheck(db, report);

  let timer: NodeJS.Timeout | undefined;
  let step = 0;
  let writeSinceScheduled = false;
  let stopped = false;

  const schedule = (index: number): void => {
    step = index;
    writeSinceScheduled = false;
    timer = setTimeout(fire, delays[index]);
  };

  function fire(): void {
    timer = undefined;
    if (stopped) return;
    const changed = committed();
    options.onCheck?.(changed);
    if (changed) {
      try {
        options.onWake();
      } catch (error) {
        report(error);
      }
    }
    if (stopped) return;
    // Writes during the wait start the confirmations over; otherwise finish the tail, then go idle.
    if (writeSinceScheduled) schedule(0);
    else if (step + 1 < delays.length) schedule(step + 1);
  }

  const onFsEvent = (_event: string, filename: string | Buffer | null): void => {
    if (stopped) return;
    // Some platforms omit the name; then any change in the directory counts as a hint.
    if (filename !== null && !relevant.has(filename.toString())) return;
    if (timer === undefined) {
      schedule(0);
    } else if (step > 0) {
      // In the slow tail: come back quickly for the new write.
      clearTimeout(timer);
      schedule(0);
    } else {
      writeSinceScheduled = true;
    }
  };

  let watcher: FSWatcher;
  try {
    watcher = watch(dir, { persistent: true }, onFsEvent);
  } catch (error) {
    if (ownsConnection) db.close();
    throw error;
  }
  watcher.on('error', report);

  return () => {
    if (stopped) return;
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    watcher.close();
    if (ownsConnection) db.close();
  };
}
