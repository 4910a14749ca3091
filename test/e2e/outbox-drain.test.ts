/**
 * `difflore outbox drain` as a real process against `difflore cloud serve` as another: the summary
 * as text and JSON, --limit, exit codes (no token, refused token, bad URL, broken database), an
 * outage switched on and off at run time, Ctrl-C mid-pass, and the token never in the output.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/adapters/outbox/db.js';
import { homePaths } from '../../src/adapters/home/home.js';
import { OutboxStore } from '../../src/adapters/outbox/outbox-store.js';
import { ProgressReporter } from '../../src/cli/drain-progress.js';
import { CLI, cleanEnv, makeTempHome, mcpQueryPayload, runCli, waitFor } from '../helpers/index.js';

const TOKEN = 'tok_e2e_drain_9f8e7d6c5b4a';

interface Served {
  readonly child: ChildProcessWithoutNullStreams;
  readonly url: string;
  readonly exited: Promise<number | null>;
}

let temp: { home: string; cleanup: () => void };
const clouds: Served[] = [];

beforeEach(() => {
  temp = makeTempHome();
  mkdirSync(temp.home, { recursive: true, mode: 0o700 });
});
afterEach(async () => {
  for (const c of clouds.splice(0)) {
    c.child.kill('SIGTERM');
    await c.exited;
  }
  temp.cleanup();
});

async function serve(args: string[] = []): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'cloud', 'serve', '--token', TOKEN, ...args], { env: cleanEnv() });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const match = /^listening on (\S+)\n/.exec(out);
      if (match?.[1]) resolve(match[1]);
    });
    void exited.then((code) => reject(new Error(`cloud serve exited early with ${code}`)));
  });
  const served = { child, url, exited };
  clouds.push(served);
  return served;
}

const stats = async (url: string) =>
  (await (await fetch(`${url}/__stats`)).json()) as { requests: number; received: Record<string, number> };

function withStore<T>(fn: (store: OutboxStore) => T): T {
  const db = openDatabase(homePaths(temp.home).db);
  try {
    return fn(new OutboxStore(db));
  } finally {
    db.close();
  }
}

function enqueue(n: number, kind = 'mcp_query'): void {
  withStore((store) =>
    store.enqueueMany(
      Array.from({ length: n }, (_, i) => ({
        kind,
        payloadJson: mcpQueryPayload(`f${i}.ts`),
      })),
    ),
  );
}

const env = (url: string, extra: Record<string, string | undefined> = {}) =>
  cleanEnv({ DIFFLORE_HOME: temp.home, DIFFLORE_CLOUD_URL: url, DIFFLORE_CLOUD_TOKEN: TOKEN, ...extra });

function expectNoToken(...outputs: string[]): void {
  for (const output of outputs) expect(output).not.toContain(TOKEN);
}

describe('outbox drain', () => {
  it('delivers everything due and prints the summary (text)', async () => {
    const cloud = await serve();
    enqueue(5);
    const result = await runCli(['outbox', 'drain'], { env: env(cloud.url) });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('drained: attempted 5, confirmed 5, retried 0, abandoned 0\n');
    // Not a TTY: plain progress lines on stderr, never a bar.
    expect(result.stderr).toContain('draining: 5 rows waiting');
    expect(result.stderr).not.toContain('\r');
    expect((await stats(cloud.url)).received).toEqual({ mcp_query: 5 });
    expectNoToken(result.stdout, result.stderr);
  });

  it('--json prints one summary object; --limit bounds the rows attempted', async () => {
    const cloud = await serve();
    enqueue(10);
    const result = await runCli(['outbox', 'drain', '--limit', '4', '--json'], { env: env(cloud.url) });
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({ attempted: 4, confirmed: 4, retried: 0, abandoned: 0, waitingForAuth: false });
    expect(result.stderr).toBe('');
    expect(withStore((s) => s.counts().pending)).toBe(6);
  });

  it('exit 0 with rows retried through an outage switched on at run time; they go once it is off', async () => {
    const cloud = await serve();
    enqueue(3);
    await fetch(`${cloud.url}/__faults`, { method: 'POST', body: JSON.stringify({ status: 503 }) });
    const during = await runCli(['outbox', 'drain', '--json'], { env: env(cloud.url) });
    expect(during.code).toBe(0);
    expect(JSON.parse(during.stdout)).toMatchObject({ confirmed: 0, retried: 3 });
    expect(withStore((s) => s.list().map((r) => r.lastError))).toEqual(
      Array(3).fill('503 Service Unavailable: {"error":"injected_failure"}'),
    );
    await fetch(`${cloud.url}/__faults`, { method: 'POST', body: JSON.stringify({ status: null }) });
    // The rows wait behind their backoff (at most a second at the first try): drain again until due.
    await waitFor(
      async () => {
        await runCli(['outbox', 'drain'], { env: env(cloud.url) });
        return withStore((s) => s.counts().pending === 0);
      },
      { what: 'the retried rows to be delivered', intervalMs: 100 },
    );
    expect((await stats(cloud.url)).received).toEqual({ mcp_query: 3 });
  });

  it('exit 1 without a token; nothing is sent and the message says how to set one', async () => {
    const cloud = await serve();
    enqueue(2);
    const result = await runCli(['outbox', 'drain'], { env: env(cloud.url, { DIFFLORE_CLOUD_TOKEN: undefined }) });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('waiting for a token: no cloud token: set DIFFLORE_CLOUD_TOKEN');
    expect((await stats(cloud.url)).requests).toBe(0);
    expect(withStore((s) => s.counts().pending)).toBe(2);
  });

  it('uses the 0600 token file, refuses a group-readable one, and exit 1 when the cloud refuses the token', async () => {
    const cloud = await serve();
    enqueue(1);
    const tokenFile = homePaths(temp.home).tokenFile;
    const fileEnv = env(cloud.url, { DIFFLORE_CLOUD_TOKEN: undefined });

    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o640 });
    const open = await runCli(['outbox', 'drain'], { env: fileEnv });
    expect(open.code).toBe(1);
    expect(open.stdout).toContain('is readable by group or others (mode 640); refusing to use it. Fix: chmod 600');

    writeFileSync(tokenFile, 'wrong-token-value-123\n', { mode: 0o600 });
    chmodSync(tokenFile, 0o600);
    const refused = await runCli(['outbox', 'drain'], { env: fileEnv });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('the cloud refused the token: 401 Unauthorized');
    expect(refused.stdout).not.toContain('wrong-token-value-123');
    expect(withStore((s) => s.list()[0])).toMatchObject({ status: 'pending', retryCount: 0 });

    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const ok = await runCli(['outbox', 'drain'], { env: fileEnv });
    expect(ok.code).toBe(0);
    expect((await stats(cloud.url)).received).toEqual({ mcp_query: 1 });
  });

  it('exit 1 for plain http to a host that is not loopback, before contacting anything', async () => {
    enqueue(1);
    const result = await runCli(['outbox', 'drain'], { env: env('http://example.com/api') });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("DIFFLORE_CLOUD_URL 'http://example.com/api' uses plain http:// to example.com");
    expectNoToken(result.stdout, result.stderr);
  });

  it('exit 1 when the database is not usable', async () => {
    writeFileSync(join(temp.home, 'data.db'), 'this is not sqlite, and it is long enough to be read as a header', {
      mode: 0o600,
    });
    const result = await runCli(['outbox', 'drain'], { env: env('http://127.0.0.1:9') });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('difflore:');
  });

  it('Ctrl-C mid-pass returns the claimed rows without spending a try', async () => {
    const cloud = await serve(['--latency-ms', '30000']);
    enqueue(20);
    const child = spawn(process.execPath, [CLI, 'outbox', 'drain', '--json'], { env: env(cloud.url) });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    let exitCode: number | null | undefined;
    const exited = new Promise<number | null>((resolve) =>
      child.on('close', (code) => {
        exitCode = code;
        resolve(code);
      }),
    );
    await waitFor(
      async () => {
        if (exitCode !== undefined) throw new Error(`outbox drain exited early (${exitCode}): ${stderr}`);
        return (await stats(cloud.url)).requests >= 8;
      },
      { what: 'requests in flight' },
    );
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ cancelled: true, attempted: 0, retried: 0 });
    const rows = withStore((s) => s.list());
    expect(rows).toHaveLength(20);
    for (const r of rows) expect(r).toMatchObject({ status: 'pending', retryCount: 0, claimedAt: null });
  });

  it('shows up in --help with examples', async () => {
    const result = await runCli(['outbox', 'drain', '--help'], { env: cleanEnv() });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('outbox drain --limit 100 --json');
  });
});

describe('progress output', () => {
  const sink = (isTTY: boolean) => {
    let text = '';
    const stream = new Writable({
      write(chunk, _encoding, done) {
        text += String(chunk);
        done();
      },
    }) as Writable & { isTTY?: boolean };
    stream.isTTY = isTTY;
    return { stream, text: () => text };
  };

  it('draws one bar in place on a TTY and ends it with a newline', () => {
    const out = sink(true);
    const reporter = new ProgressReporter(out.stream);
    reporter.on({ type: 'start', waiting: 100 });
    reporter.on({ type: 'progress', attempted: 50, confirmed: 49, retried: 1, abandoned: 0 });
    reporter.on({ type: 'progress', attempted: 100, confirmed: 99, retried: 1, abandoned: 0 });
    reporter.end();
    const frames = out.text().split('\r\x1b[2K').filter(Boolean);
    expect(frames).toEqual([
      '[############------------] 50/100 attempted, 49 confirmed, 1 retried, 0 abandoned',
      '[########################] 100/100 attempted, 99 confirmed, 1 retried, 0 abandoned\n',
    ]);
  });

  it('writes plain lines when stderr is not a TTY', () => {
    const out = sink(false);
    const reporter = new ProgressReporter(out.stream);
    reporter.on({ type: 'start', waiting: 3 });
    reporter.on({ type: 'progress', attempted: 3, confirmed: 3, retried: 0, abandoned: 0 });
    reporter.end();
    expect(out.text()).toBe('draining: 3 rows waiting\n3/3 attempted, 3 confirmed, 0 retried, 0 abandoned\n');
  });
});
