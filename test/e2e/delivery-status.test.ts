/**
 * Issue 16, end to end: a real daemon against a closed port, an unresolvable host, a 503-ing, a
 * 401-ing and a token-less setup reaches each delivery state; `daemon status` (text and --json),
 * `outbox status`, `outbox list`, `doctor` and `daemon log` say it in plain words; doctor exits as
 * documented; and delivery returns to `ok` once the cloud recovers. Nothing leaves loopback: the
 * `.invalid` host fails in the client's own lookup (RFC 6761), never at a DNS server.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/adapters/outbox/db.js';
import { waitFor } from '../helpers/index.js';
import { DaemonWorld, TOKEN } from './daemon-harness.js';

let world: DaemonWorld;
beforeEach(() => {
  world = new DaemonWorld();
});
afterEach(async () => {
  await world.dispose();
});

interface Delivery {
  state: string;
  since: number | null;
  lastError: string | null;
  errorCode: string | null;
  lastSuccessAtMs: number | null;
  nextAttemptAtMs: number | null;
  breaker: { open: boolean; until: number | null };
  rowsWaiting: number | null;
  dueNow: number | null;
  backingOff: number | null;
  oldestPendingAgeMs: number | null;
  summary: string;
}

/** `daemon status --json`'s delivery section, once it reaches `state`. */
async function reach(state: string, env: Record<string, string> = {}): Promise<Delivery> {
  return waitFor(
    async () => {
      const status = await world.cli(['daemon', 'status', '--json'], env);
      const delivery = (JSON.parse(status.stdout) as { delivery: Delivery | null }).delivery;
      return delivery?.state === state ? delivery : null;
    },
    { what: `delivery ${state}` },
  );
}

/** A loopback port nothing listens on (taken from the kernel, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Doctor's exit code and its delivery check. */
async function doctor(env: Record<string, string>, grace: string) {
  const run = await world.cli(['doctor', '--json', '--grace', grace], env);
  const report = JSON.parse(run.stdout) as { checks: { name: string; status: string; detail: string; fix?: string }[] };
  return { code: run.code, check: report.checks.find((c) => c.name === 'delivery') };
}

function rows(): number {
  return world.rows().filter((r) => r.status !== 'abandoned').length;
}

describe('delivery summary of a real daemon', () => {
  it('a closed port: unreachable (ECONNREFUSED) in status, outbox and doctor; ok once the cloud listens', async () => {
    const port = await closedPort();
    const env = { DIFFLORE_CLOUD_URL: `http://127.0.0.1:${port}`, DIFFLORE_CLOUD_TOKEN: TOKEN };
    world.enqueue(3, 'mcp_query');
    const before = await world.cli(['outbox', 'status'], env);
    expect(before.stdout).toContain('Delivery: no daemon is running, so nothing sends these rows');
    const pid = await world.start(['--tick', '60s'], env);

    const down = await reach('unreachable', env);
    expect(down.errorCode).toBe('ECONNREFUSED');
    expect(down.lastError).toContain('ECONNREFUSED');
    expect(down.lastSuccessAtMs).toBeNull();
    expect(down.breaker.open).toBe(true);
    expect(down.nextAttemptAtMs).toBeGreaterThan(down.since ?? 0);
    expect(down.rowsWaiting).toBe(3);
    expect(down.oldestPendingAgeMs).toBeGreaterThanOrEqual(0);
    expect(down.summary).toContain(
      `cannot reach the cloud at http://127.0.0.1:${port}: connection refused (ECONNREFUSED) since`,
    );
    expect(down.summary).toContain('3 rows waiting');

    const text = await world.cli(['daemon', 'status'], env);
    expect(text.stdout).toMatch(
      /delivery {5}cannot reach the cloud at .*: connection refused \(ECONNREFUSED\) since \d\d:\d\d; next (probe|try)/,
    );
    expect(text.stdout).not.toContain('token accepted');
    const outbox = await world.cli(['outbox', 'status'], env);
    expect(outbox.stdout).toContain('Delivery: cannot reach the cloud');
    const list = await world.cli(['outbox', 'list'], env);
    expect(list.stdout).toContain('NEXT TRY');
    expect(list.stdout).toContain('ECONNREFUSED');

    // Within the grace doctor passes (a blip is no problem); past it, it fails with the fix.
    const lenient = await doctor(env, '30m');
    expect(lenient.code).toBe(0);
    expect(lenient.check?.detail).toContain('within the 30m grace');
    const strict = await doctor(env, '1ms');
    expect(strict.code).toBe(1);
    expect(strict.check).toMatchObject({ status: 'fail', fix: expect.stringContaining('check the network') });

    // The cloud comes up on that port; a SIGHUP closes the breaker and the rows go out.
    const cloud = await world.cloud(['--port', String(port)]);
    process.kill(pid, 'SIGHUP');
    const up = await reach('ok', env);
    expect(up.lastError).toBeNull();
    expect(up.lastSuccessAtMs).not.toBeNull();
    expect(up.breaker).toEqual({ open: false, until: null });
    await waitFor(() => rows() === 0, { what: 'rows delivered' });
    expect((await cloud.stats()).received.mcp_query).toBe(3);
    expect((await doctor(env, '1ms')).code).toBe(0);

    // `daemon log` shows each change of delivery state on a line of its own; the journal replays.
    const log = await world.cli(['daemon', 'log', '--limit', '0'], env);
    expect(log.stdout).toMatch(/delivery never-tried → unreachable \(ECONNREFUSED\)/);
    expect(log.stdout).toMatch(/delivery unreachable → ok/);
    const verify = await world.cli(['daemon', 'log', '--verify'], env);
    expect(verify.code, verify.stderr).toBe(0);
    // The daemon's own log says it too, once per change.
    const daemonLog = readFileSync(world.paths.daemonLog, 'utf8');
    expect(daemonLog).toContain('delivery: cannot reach the cloud at');
    expect(daemonLog).toContain('delivery: delivering to the cloud at');
    // The state file keeps the summary in a section of its own, beside the Rust fields.
    const state = world.state();
    expect(state).toMatchObject({ pid, delivery: { state: 'ok' } });
    expect(typeof state?.heartbeatAtMs).toBe('number');
  });

  it('an unresolvable host: unreachable with a DNS failure (ENOTFOUND), without asking a DNS server', async () => {
    const env = { DIFFLORE_CLOUD_URL: 'https://nonexistent.invalid/api', DIFFLORE_CLOUD_TOKEN: TOKEN };
    world.enqueue(1, 'mcp_query');
    await world.start(['--tick', '60s'], env);
    const down = await reach('unreachable', env);
    expect(down.errorCode).toBe('ENOTFOUND');
    expect(down.summary).toContain(
      'cannot reach the cloud at https://nonexistent.invalid/api: DNS lookup failed (ENOTFOUND) since',
    );
    const strict = await doctor(env, '1ms');
    expect(strict.code).toBe(1);
    expect(strict.check?.fix).toContain('DIFFLORE_CLOUD_URL');

    // Fixing the URL means a restart (the daemon's environment is fixed): then it delivers.
    const cloud = await world.cloud();
    const fixed = { DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN };
    expect((await world.cli(['daemon', 'stop'], fixed)).code).toBe(0);
    await world.start(['--tick', '60s'], fixed);
    await reach('ok', fixed);
    await waitFor(() => rows() === 0, { what: 'row delivered' });
  });

  it('a cloud answering 503: failing (http_503); ok once the fault is lifted', async () => {
    const cloud = await world.cloud(['--status', '503']);
    const env = { DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN };
    world.enqueue(2, 'mcp_query');
    const pid = await world.start(['--tick', '60s'], env);
    const failing = await reach('failing', env);
    expect(failing.errorCode).toBe('http_503');
    expect(failing.summary).toContain('is failing: the cloud answers 503 Service Unavailable since');
    const strict = await doctor(env, '1ms');
    expect(strict.code).toBe(1);
    expect(strict.check?.fix).toContain('retried with backoff');

    await fetch(`${cloud.url}/__faults`, { method: 'POST', body: JSON.stringify({ status: null, failRate: 0 }) });
    process.kill(pid, 'SIGHUP');
    await reach('ok', env);
    await waitFor(() => rows() === 0, { what: 'rows delivered' });
    expect((await doctor(env, '1ms')).code).toBe(0);
  });

  it('a refused token: auth-rejected (401), a new token file fixes it; no token at all: waiting-for-token', async () => {
    const cloud = await world.cloud();
    const env = { DIFFLORE_CLOUD_URL: cloud.url };
    writeFileSync(world.paths.tokenFile, 'tok_wrong_one_12345', { mode: 0o600 });
    world.enqueue(1, 'mcp_query');
    const pid = await world.start(['--tick', '60s'], env);
    const refused = await reach('auth-rejected', env);
    expect(refused.errorCode).toBe('http_401');
    expect(refused.summary).toContain('refused the token: the cloud answers 401 Unauthorized');
    const text = await world.cli(['daemon', 'status'], env);
    expect(text.stdout).not.toContain('token accepted');
    const strict = await doctor(env, '1ms');
    expect(strict.code).toBe(1);
    expect(strict.check?.fix).toContain('difflore cloud login');
    expect(JSON.stringify(strict)).not.toContain('tok_wrong_one_12345');

    writeFileSync(world.paths.tokenFile, TOKEN);
    chmodSync(world.paths.tokenFile, 0o600);
    process.kill(pid, 'SIGHUP');
    await reach('ok', env);
    await waitFor(() => rows() === 0, { what: 'row delivered' });

    // Without any token the daemon waits, and says so; a token file and a SIGHUP set it going.
    expect((await world.cli(['daemon', 'stop'], env)).code).toBe(0);
    writeFileSync(world.paths.tokenFile, '');
    world.enqueue(1, 'mcp_query', 10);
    const next = await world.start(['--tick', '60s'], env);
    const waiting = await reach('waiting-for-token', env);
    expect(waiting.errorCode).toBe('no_token');
    expect(waiting.summary).toContain('waiting for a token: no cloud token');
    expect(waiting.summary).toContain('next try when a token is set');
    expect((await doctor(env, '1ms')).code).toBe(1);
    writeFileSync(world.paths.tokenFile, TOKEN);
    process.kill(next, 'SIGHUP');
    await reach('ok', env);
    await waitFor(() => rows() === 0, { what: 'row delivered' });
  });

  it('idle with nothing to send, never-tried while the only row backs off, ok after the first delivery', async () => {
    const cloud = await world.cloud();
    const env = { DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN };
    // A row a previous run failed, backing off for an hour: nothing is due, so nothing is sent.
    world.enqueue(1, 'mcp_query');
    const db = openDatabase(world.paths.db);
    db.prepare('UPDATE cloud_outbox SET next_attempt_at = ?, retry_count = 2').run(Date.now() + 3_600_000);
    db.close();
    const pid = await world.start(['--tick', '60s'], env);
    const untried = await reach('never-tried', env);
    expect(untried).toMatchObject({ rowsWaiting: 1, dueNow: 0, backingOff: 1 });
    expect(untried.summary).toContain('no request sent yet; 1 row waiting (0 due now, 1 backing off)');
    const list = await world.cli(['outbox', 'list'], env);
    expect(list.stdout).toMatch(/in (59m|1h)/);
    expect((await doctor(env, '1ms')).code).toBe(1);

    const db2 = openDatabase(world.paths.db);
    db2.prepare('DELETE FROM cloud_outbox').run();
    db2.close();
    process.kill(pid, 'SIGHUP');
    const idle = await reach('idle', env);
    expect(idle.summary).toBe('nothing to send');
    expect((await doctor(env, '1ms')).code).toBe(0);

    world.enqueue(2, 'mcp_query', 20);
    const ok = await reach('ok', env);
    expect(ok.summary).toContain(`delivering to the cloud at ${cloud.url}`);
    await waitFor(() => rows() === 0, { what: 'rows delivered' });
    // Nothing left to send after a success stays `ok` (the last request succeeded), not `idle`.
    const passes = (): number => world.journal().filter((r) => r.event.type === 'xstate.done.actor.drainPass').length;
    const before = passes();
    process.kill(pid, 'SIGHUP');
    await waitFor(() => passes() > before, { what: 'another pass' });
    expect((await reach('ok', env)).state).toBe('ok');
  });
});
