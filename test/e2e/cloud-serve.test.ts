/**
 * `difflore cloud serve` as a real process: the listening line, the routes' body checks, dedupe,
 * `/__stats`, faults from flags and from `POST /__faults`, `--data` surviving a restart, and a clean
 * stop on SIGTERM and SIGINT.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, cleanEnv } from '../helpers/index.js';

interface Served {
  readonly child: ChildProcessWithoutNullStreams;
  readonly url: string;
  readonly firstLine: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

const running: Served[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) {
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    await s.exited;
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function serve(args: string[] = []): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'cloud', 'serve', ...args], { env: cleanEnv() });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  const firstLine = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl !== -1) resolve(out.slice(0, nl));
    });
    void exited.then((r) => reject(new Error(`cloud serve exited early: ${r.code} ${r.stderr}`)));
  });
  const served = { child, url: firstLine.replace(/^listening on /, ''), firstLine, exited };
  running.push(served);
  return served;
}

const post = (url: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': 'k-1', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const stats = async (url: string) => (await (await fetch(`${url}/__stats`)).json()) as Record<string, unknown>;

const observation = {
  session_id: 's',
  ts_ms: 1,
  obs_type: 'edit',
  tool: 'Edit',
  file_path: 'a.ts',
  title: 't',
  narrative: 'n',
  diff_excerpt: 'd',
  content_hash: 'h',
};

describe('cloud serve', () => {
  it('prints "listening on http://HOST:PORT" first, answers /__stats in the exact shape, and stops on SIGTERM', async () => {
    const s = await serve();
    expect(s.firstLine).toMatch(/^listening on http:\/\/127\.0\.0\.1:\d+$/);
    expect(await stats(s.url)).toEqual({ requests: 0, received: {}, deduped: 0, byStatus: {} });
    s.child.kill('SIGTERM');
    expect(await s.exited).toMatchObject({ code: 0 });
  });

  it('stops cleanly on SIGINT too', async () => {
    const s = await serve();
    s.child.kill('SIGINT');
    expect(await s.exited).toMatchObject({ code: 0 });
  });

  it('checks body shapes (400), requires the token (401) and dedupes by Idempotency-Key', async () => {
    const s = await serve(['--token', 'serve-token-123']);
    const auth = { authorization: 'Bearer serve-token-123' };
    expect((await post(s.url, '/cloud/observations', [observation])).status).toBe(401);
    expect((await post(s.url, '/cloud/observations', '{nope', auth)).status).toBe(400);
    expect((await post(s.url, '/cloud/observations', { ...observation }, auth)).status).toBe(400);
    const tooMany = await post(
      s.url,
      '/cloud/observations',
      Array.from({ length: 65 }, () => observation),
      auth,
    );
    expect(tooMany.status).toBe(400);
    expect(await tooMany.json()).toMatchObject({ error: 'invalid_batch' });
    expect((await post(s.url, '/dashboard/mcp-query', { file: 'a', intent: null }, auth)).status).toBe(400);
    expect(
      (await post(s.url, '/accepted-edits', { beforeCode: 'a', afterCode: 'b' }, { ...auth, 'idempotency-key': '' }))
        .status,
    ).toBe(400);
    expect((await post(s.url, '/nowhere', {}, auth)).status).toBe(404);

    const first = await post(s.url, '/cloud/observations', [observation], auth);
    expect(await first.json()).toEqual({ received: 1, deduped: 0 });
    const again = await post(s.url, '/cloud/observations', [observation], { ...auth, 'idempotency-key': 'other' });
    expect(await again.json()).toEqual({ received: 0, deduped: 1 });
    const edit = await post(
      s.url,
      '/accepted-edits',
      { beforeCode: 'a', afterCode: 'b' },
      { ...auth, 'idempotency-key': 'e1' },
    );
    const editAgain = await post(
      s.url,
      '/accepted-edits',
      { beforeCode: 'a', afterCode: 'b' },
      { ...auth, 'idempotency-key': 'e1' },
    );
    expect(await editAgain.json()).toEqual(await edit.json());

    expect(await stats(s.url)).toEqual({
      requests: 11,
      received: { observation: 1, accepted_edit: 1 },
      deduped: 2,
      byStatus: { '200': 4, '400': 5, '401': 1, '404': 1 },
    });
  });

  it('injects faults from flags', async () => {
    const failing = await serve(['--status', '429', '--retry-after', '5']);
    const r = await post(failing.url, '/cloud/observations', [observation]);
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('5');

    const garbage = await serve(['--garbage-2xx-rate', '1']);
    const g = await post(garbage.url, '/cloud/observations', [observation]);
    expect(g.status).toBe(200);
    await expect(g.json()).rejects.toThrow();
    expect(await stats(garbage.url)).toMatchObject({ received: { observation: 1 } });

    const dropping = await serve(['--drop-rate', '1']);
    await expect(post(dropping.url, '/cloud/observations', [observation])).rejects.toThrow();
    expect(await stats(dropping.url)).toMatchObject({ received: { observation: 1 }, byStatus: { dropped: 1 } });

    const all = await serve(['--fail-rate', '1']);
    expect((await post(all.url, '/cloud/observations', [observation])).status).toBe(503);
  });

  it('changes faults at run time through POST /__faults', async () => {
    const s = await serve();
    expect((await post(s.url, '/cloud/observations', [observation])).status).toBe(200);
    const on = await fetch(`${s.url}/__faults`, { method: 'POST', body: JSON.stringify({ status: 503 }) });
    expect(await on.json()).toMatchObject({ status: 503 });
    expect((await post(s.url, '/cloud/observations', [observation])).status).toBe(503);
    await fetch(`${s.url}/__faults`, { method: 'POST', body: JSON.stringify({ status: null }) });
    expect((await post(s.url, '/cloud/observations', [observation])).status).toBe(200);
    const bad = await fetch(`${s.url}/__faults`, { method: 'POST', body: JSON.stringify({ failRate: 3 }) });
    expect(bad.status).toBe(400);
  });

  it('keeps what it received in --data across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'difflore-cloud-data-'));
    dirs.push(dir);
    const data = join(dir, 'cloud.db');
    const first = await serve(['--data', data]);
    await post(first.url, '/cloud/observations', [observation]);
    first.child.kill('SIGTERM');
    await first.exited;
    const second = await serve(['--data', data]);
    expect(await stats(second.url)).toMatchObject({ received: { observation: 1 } });
    expect(await (await post(second.url, '/cloud/observations', [observation])).json()).toEqual({
      received: 0,
      deduped: 1,
    });
  });

  it('rejects a bad flag value with a usage error', async () => {
    const child = spawn(process.execPath, [CLI, 'cloud', 'serve', '--fail-rate', '2'], { env: cleanEnv() });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).not.toBe(0);
  });
});
