/**
 * A hook never waits out the daemon's 5 s busy timeout (issue 9, case 8): its insert gives the write
 * lock at most HOOK_BUSY_TIMEOUT_MS, then spills, while the lock is still held. Real SQLite files.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/adapters/outbox/db.js';
import { enqueue, HOOK_BUSY_TIMEOUT_MS, loadContract } from '../../src/adapters/outbox/enqueue.js';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import { makeTempHome } from '../helpers/index.js';

let temp: { home: string; cleanup: () => void };
let paths: HomePaths;

beforeEach(async () => {
  await loadContract('trajectory');
  temp = makeTempHome();
  paths = ensureHome(temp.home);
});
afterEach(() => temp.cleanup());

describe('a hook meeting a held write lock', () => {
  it('spills while the lock is still held, after a wait of at most 250 ms; the daemon keeps 5000', () => {
    expect(HOOK_BUSY_TIMEOUT_MS).toBeLessThanOrEqual(250);
    const holder = openDatabase(paths.db);
    expect(holder.pragma('busy_timeout', { simple: true })).toBe(5000);
    holder.exec('BEGIN IMMEDIATE');
    try {
      // The holder never lets go during the call: only a bounded wait can return at all.
      const result = enqueue('trajectory', '{"pr_review_id":"pr-1","steps":[]}', { env: { DIFFLORE_HOME: temp.home } });
      expect(result.kind).toBe('spilled');
      expect(holder.inTransaction).toBe(true);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
  });
});
