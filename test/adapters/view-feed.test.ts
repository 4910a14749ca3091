/**
 * The view's feed on a real data home with no daemon: history from the journal (passes included),
 * the state file's delivery sections read defensively (whatever shape another version gives them,
 * and never a field that names a token), and the backlog by kind from data.db read-only.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/adapters/outbox/db.js';
import { homePaths } from '../../src/adapters/home/home.js';
import { OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { ViewFeed } from '../../src/view/feed.js';
import { cleanEnv, makeTempHome } from '../helpers/index.js';

let home: string;
let cleanup: () => void;
let feed: ViewFeed | undefined;

beforeEach(() => {
  ({ home, cleanup } = makeTempHome('difflore-view-feed-'));
  mkdirSync(home, { recursive: true, mode: 0o700 });
});
afterEach(() => {
  feed?.stop();
  feed = undefined;
  cleanup();
});

const paths = () => homePaths(home);

function journal(lines: object[]): void {
  writeFileSync(paths().journal, lines.map((l) => `${JSON.stringify(l)}\n`).join(''), { mode: 0o600 });
}

describe('ViewFeed', () => {
  it('reads the journal history: transitions, passes, and the last daemon state', () => {
    journal([
      { machine: 'daemon', seq: 1, atMs: 1, pid: 50, from: null, event: { type: 'xstate.init' }, to: 'claiming' },
      {
        machine: 'daemon',
        seq: 2,
        atMs: 2,
        pid: 50,
        from: 'claiming',
        event: { type: 'xstate.done.actor.claim' },
        to: 'serving.draining',
      },
      {
        machine: 'daemon',
        seq: 3,
        atMs: 3,
        pid: 50,
        from: 'serving.draining',
        event: {
          type: 'xstate.done.actor.drainPass',
          output: { attempted: 7, confirmed: 5, retried: 2, abandoned: 0, finishedAt: 30 },
        },
        to: 'serving.running',
      },
      {
        machine: 'daemon',
        seq: 4,
        atMs: 4,
        pid: 50,
        from: 'serving.running',
        event: { type: 'xstate.error.actor.drainPass' },
        to: 'serving.running',
      },
    ]);
    feed = new ViewFeed(paths(), { env: cleanEnv() });
    const snap = feed.snapshot();
    expect(snap.transitions.map((t) => t.to)).toEqual([
      'claiming',
      'serving.draining',
      'serving.running',
      'serving.running',
    ]);
    expect(snap.passes).toEqual([
      { pid: 50, atMs: 30, failed: false, attempted: 7, confirmed: 5, retried: 2, abandoned: 0, waitingForAuth: 0 },
      { pid: 50, atMs: 4, failed: true, attempted: 0, confirmed: 0, retried: 0, abandoned: 0, waitingForAuth: 0 },
    ]);
    expect(snap.daemon.status).toBe('notRunning');
    expect(snap.daemon.state).toBeNull();
    expect(snap.daemon.lastKnownState).toBe('serving.running');
    expect(snap.delivery.token).toMatch(/no cloud token/);
  });

  it('shows breaker, token source and delivery details in whatever shape they come, never a token field', () => {
    const state = {
      version: 1,
      pid: 0,
      format: 'difflore-ts/1',
      delivery: {
        breaker: { state: 'open', untilMs: Date.UTC(2030, 0, 1) },
        tokenSource: 'rust-login:keyseed',
        confirmed: 12,
        lastConfirmedAtMs: Date.UTC(2030, 0, 1),
        nested: { ignored: true },
        token: 'tok_should_never_show_1234',
        authHeader: 'Bearer tok_should_never_show_1234',
      },
    };
    writeFileSync(paths().stateFile, JSON.stringify(state), { mode: 0o600 });
    feed = new ViewFeed(paths(), { env: cleanEnv() });
    const { delivery } = feed.snapshot();
    expect(delivery.breaker).toBe('open until 2030-01-01T00:00:00.000Z');
    expect(delivery.tokenSource).toBe('rust-login:keyseed');
    expect(delivery.details).toEqual([
      ['confirmed', '12'],
      ['last confirmed', '2030-01-01T00:00:00.000Z'],
    ]);
    expect(JSON.stringify(feed.snapshot())).not.toContain('tok_should_never_show');
  });

  it("reads the daemon's delivery summary as daemon-state.json carries it", () => {
    const state = {
      version: 1,
      pid: 0,
      format: 'difflore-ts/1',
      delivery: {
        state: 'failing',
        since: Date.UTC(2030, 0, 1, 12),
        lastError: '503 Service Unavailable',
        errorCode: 'http_503',
        lastSuccessAtMs: null,
        nextAttemptAtMs: Date.UTC(2030, 0, 1, 12, 0, 30),
        breaker: { open: true, until: Date.UTC(2030, 0, 1, 12, 0, 30) },
        cloudUrl: 'http://127.0.0.1:9/api',
      },
    };
    writeFileSync(paths().stateFile, JSON.stringify(state), { mode: 0o600 });
    feed = new ViewFeed(paths(), { env: cleanEnv() });
    const { delivery } = feed.snapshot();
    expect(delivery.breaker).toBe('open until 2030-01-01T12:00:30.000Z');
    expect(delivery.details).toEqual([
      ['delivery', 'failing'],
      ['since', '2030-01-01T12:00:00.000Z'],
      ['last error', '503 Service Unavailable'],
      ['error code', 'http_503'],
      ['next attempt', '2030-01-01T12:00:30.000Z'],
      ['cloud', 'http://127.0.0.1:9/api'],
    ]);
  });

  it('counts the rows waiting by kind from data.db, without creating one where there is none', () => {
    feed = new ViewFeed(paths(), { env: cleanEnv() });
    expect(feed.snapshot().backlog).toEqual([]);
    feed.stop();
    const db = openDatabase(paths().db);
    const store = new OutboxStore(db);
    store.enqueueMany([
      { kind: 'observation', payloadJson: '{}' },
      { kind: 'observation', payloadJson: '{}' },
      { kind: 'mcp_query', payloadJson: '{}' },
    ]);
    db.close();
    feed = new ViewFeed(paths(), { env: cleanEnv() });
    const [sample] = feed.snapshot().backlog;
    expect(sample?.byKind).toEqual({ observation: 2, mcp_query: 1 });
    expect(sample?.abandoned).toBe(0);
  });
});
