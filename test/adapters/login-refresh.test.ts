/**
 * Refreshing the Rust login inside one process, against the reference cloud on loopback: many
 * requests in flight after a rotation share one refresh; the refresh request is Rust's (no
 * Authorization, `{clientId, refreshToken}`); a pair that cannot be written back is used from
 * memory; and the reference cloud spends refresh tokens on use and lets access tokens expire.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { forgetLoginMemory } from '../../src/adapters/auth/login-memory.js';
import { openDatabase } from '../../src/adapters/outbox/db.js';
import { closeSharedCloudClient, runDrainPass } from '../../src/adapters/delivery/drain-pass.js';
import { ensureHome, type HomePaths } from '../../src/adapters/home/home.js';
import { OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { type ReferenceCloud, startReferenceCloud } from '../../src/reference-cloud/server.js';
import { makeTempHome, waitFor } from '../helpers/index.js';
import { readRustRows, rustDecrypt, writeRustLogin } from '../helpers/rust-login-writer.js';

const T0 = 'tok_refresh_unit_0123456789';
const R0 = 'a'.repeat(64);
const KEY = randomBytes(32);

let temp: { home: string; cleanup: () => void };
let paths: HomePaths;
let cloud: ReferenceCloud;
let db: ReturnType<typeof openDatabase>;
let store: OutboxStore;

beforeEach(async () => {
  forgetLoginMemory();
  temp = makeTempHome();
  mkdirSync(temp.home, { recursive: true, mode: 0o700 });
  paths = ensureHome(temp.home);
  cloud = await startReferenceCloud({ token: T0, refreshToken: R0, recordRequests: true });
  writeRustLogin(join(temp.home, 'cloud-auth.db'), KEY, {
    token: T0,
    refreshToken: R0,
    tokenHost: new URL(cloud.url).origin,
  });
  db = openDatabase(paths.db);
  store = new OutboxStore(db);
});
afterEach(async () => {
  closeSharedCloudClient();
  db.close();
  await cloud.close();
  temp.cleanup();
});

const env = () => ({ DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_MASTER_KEY: KEY.toString('hex') });
const mcp = (i: number) =>
  JSON.stringify({ file: `f${i}.ts`, rules_injected: 1, strict_match_count: 0, rule_titles: [], rule_ids: [] });

describe('refresh inside one process', () => {
  it('requests in flight after a rotation share one refresh, sent the Rust way', async () => {
    for (let i = 0; i < 12; i++) store.enqueue('mcp_query', mcp(i));
    cloud.rotateToken();
    const summary = await runDrainPass({ store, paths, env: env(), maxInFlight: 8 });
    expect(summary).toMatchObject({ confirmed: 12, waitingForAuth: false, tokenRefreshed: 'server' });
    expect(cloud.authStats().refreshes).toBe(1);
    const refresh = cloud.requests().filter((r) => r.path === '/token/refresh');
    expect(refresh).toHaveLength(1);
    expect(refresh[0]?.headers.authorization).toBeUndefined();
    expect(JSON.parse(refresh[0]?.body ?? '')).toEqual({ clientId: 'difflore-cli', refreshToken: R0 });
    const rows = readRustRows(join(temp.home, 'cloud-auth.db'));
    expect(rustDecrypt(KEY, rows.token as string)).toBe(cloud.currentLogin().token);
  });

  it('a pair that cannot be written back is used from memory, and not refreshed again', async () => {
    const login = new Database(join(temp.home, 'cloud-auth.db'));
    login.exec("CREATE TRIGGER frozen BEFORE INSERT ON auth BEGIN SELECT RAISE(ABORT, 'frozen login'); END");
    login.close();
    store.enqueue('mcp_query', mcp(1));
    cloud.rotateToken();
    expect(await runDrainPass({ store, paths, env: env() })).toMatchObject({ confirmed: 1, tokenRefreshed: 'server' });
    expect(rustDecrypt(KEY, readRustRows(join(temp.home, 'cloud-auth.db')).token as string)).toBe(T0);
    store.enqueue('mcp_query', mcp(2));
    expect(await runDrainPass({ store, paths, env: env() })).toMatchObject({ confirmed: 1, tokenRefreshed: null });
    expect(cloud.authStats().refreshes).toBe(1);
  });

  it('a refresh the Rust binary won meanwhile (spending the refresh token first): the pair it wrote is used', async () => {
    store.enqueue('mcp_query', mcp(1));
    cloud.rotateToken();
    cloud.setFaults({ holdPath: '/token/refresh' });
    const running = runDrainPass({ store, paths, env: env() });
    await waitFor(() => cloud.requests().some((r) => r.path === '/token/refresh'), { what: 'our refresh request' });
    // While ours is on the wire: Rust's refresh wins (ours will be refused) and Rust writes its pair.
    await fetch(`${cloud.url}/__auth`, { method: 'POST', body: JSON.stringify({ failRefreshStatus: 401 }) });
    writeRustLogin(join(temp.home, 'cloud-auth.db'), KEY, {
      token: cloud.currentLogin().token as string,
      refreshToken: 'b'.repeat(64),
      tokenHost: new URL(cloud.url).origin,
    });
    cloud.setFaults({ holdPath: null });
    expect(await running).toMatchObject({ confirmed: 1, waitingForAuth: false, tokenRefreshed: 'shared' });
  });

  it('a refresh the cloud refuses leaves rows pending with no try spent, and says what to do', async () => {
    const ids = [store.enqueue('mcp_query', mcp(1)), store.enqueue('mcp_query', mcp(2))];
    cloud.rotateToken();
    await fetch(`${cloud.url}/__auth`, { method: 'POST', body: JSON.stringify({ failRefreshStatus: 401 }) });
    const summary = await runDrainPass({ store, paths, env: env() });
    expect(summary.waitingForAuth).toBe(true);
    expect(summary.authProblem).toContain('refreshing the Rust login failed (token refresh: 401 Unauthorized');
    expect(summary.authProblem).toContain('difflore cloud login');
    const rows = db.prepare('SELECT id, status, retry_count FROM cloud_outbox ORDER BY id').all();
    expect(rows).toEqual(ids.map((id) => ({ id, status: 'pending', retry_count: 0 })));
    // The next pass (the daemon carries the breaker over) says the same without asking the cloud again.
    const again = await runDrainPass({ store, paths, env: env(), breaker: summary.breaker });
    expect(again.authProblem).toContain('refreshing the Rust login failed');
    expect(cloud.authStats().refusedRefreshes).toBe(1);
  });
});

describe('the reference cloud as a strict server', () => {
  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('spends a refresh token on use: reuse is refused with Rust-shaped 401', async () => {
    const first = await post(`${cloud.url}/api/token/refresh`, { clientId: 'difflore-cli', refreshToken: R0 });
    expect(first.status).toBe(200);
    const pair = (await first.json()) as { token: string; refreshToken: string };
    expect(pair.refreshToken).toHaveLength(64);
    const reuse = await post(`${cloud.url}/api/token/refresh`, { clientId: 'difflore-cli', refreshToken: R0 });
    expect(reuse.status).toBe(401);
    expect(await reuse.json()).toMatchObject({ defined: true, code: 'UNAUTHORIZED', status: 401 });
    expect((await post(`${cloud.url}/token/refresh`, { refreshToken: pair.refreshToken })).status).toBe(400);
    const ok = await post(
      `${cloud.url}/accepted-edits`,
      { beforeCode: 'a', afterCode: 'b' },
      {
        authorization: `Bearer ${pair.token}`,
        'idempotency-key': 'k1',
      },
    );
    expect(ok.status).toBe(200);
  });

  it('lets access tokens expire until refreshed', async () => {
    await fetch(`${cloud.url}/__auth`, { method: 'POST', body: JSON.stringify({ tokenTtlMs: 0 }) });
    const headers = { authorization: `Bearer ${T0}`, 'idempotency-key': 'k2' };
    expect((await post(`${cloud.url}/accepted-edits`, { beforeCode: 'a', afterCode: 'b' }, headers)).status).toBe(401);
    await fetch(`${cloud.url}/__auth`, { method: 'POST', body: JSON.stringify({ tokenTtlMs: null }) });
    expect((await post(`${cloud.url}/accepted-edits`, { beforeCode: 'a', afterCode: 'b' }, headers)).status).toBe(200);
  });
});
