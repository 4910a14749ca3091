/**
 * `daemon view` in a real headless browser (Debian's chromium through playwright-core) against a real
 * daemon and the reference cloud: the page marks the daemon's state, shows a transition the moment it
 * is journaled, follows the daemon through a stop and a restart, and fetches nothing from anywhere but
 * the view's own 127.0.0.1 address. A screenshot goes to test-output/daemon-view.png.
 * Skipped (with the reason printed) only when /usr/bin/chromium is absent.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLI, waitFor } from '../helpers/index.js';
import { type Cloud, DaemonWorld, TOKEN } from './daemon-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium)
  console.log(`skipping the daemon view browser test: ${CHROMIUM} is not installed (apt install chromium)`);
const OUTPUT = join(import.meta.dirname, '..', '..', 'test-output');

let world: DaemonWorld;
let browser: Browser | undefined;

beforeAll(async () => {
  if (haveChromium) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 120_000);
afterAll(async () => {
  await browser?.close();
});
beforeEach(() => {
  world = new DaemonWorld();
});
afterEach(async () => {
  await world.dispose();
});

/** Starts `daemon view --no-open` on this home and returns the URL it prints. */
async function startView(args: readonly string[] = []): Promise<string> {
  const child = world.spawn(process.execPath, [CLI, 'daemon', 'view', '--no-open', ...args], world.env());
  return new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const match = /^view at (http:\/\/127\.0\.0\.1:\d+\/\?key=[\w-]+)\n/m.exec(out);
      if (match?.[1]) resolve(match[1]);
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.once('close', (code) => reject(new Error(`daemon view exited early with ${code}: ${err}`)));
  });
}

async function startDaemon(cloud: Cloud): Promise<number> {
  const pid = await world.start(['--tick', '60s'], { DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN });
  await world.idle(pid);
  return pid;
}

async function openPage(url: string): Promise<{ page: Page; requests: string[] }> {
  if (browser === undefined) throw new Error('no browser');
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  const requests: string[] = [];
  // Every request the page makes is logged, and anything not for the view itself is refused.
  const origin = new URL(url).origin;
  await context.route('**/*', (route) => {
    requests.push(route.request().url());
    return new URL(route.request().url()).origin === origin ? route.continue() : route.abort();
  });
  context.on('request', (request) => {
    if (!requests.includes(request.url())) requests.push(request.url());
  });
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForSelector('#conn:text("live")');
  return { page, requests };
}

const currentState = (page: Page, machine: string) =>
  page.locator(`svg.machine[data-machine="${machine}"] .state.current`).getAttribute('data-state');

describe.skipIf(!haveChromium)('daemon view in a headless browser', () => {
  it('shows the live state and each transition as journaled, across a stop and a restart, fetching only from 127.0.0.1', async () => {
    const cloud = await world.cloud();
    const pid = await startDaemon(cloud);
    const url = await startView();
    const { page, requests } = await openPage(url);

    expect(await currentState(page, 'daemon')).toBe('serving.running');
    await expect.poll(() => page.locator('#status').textContent()).toBe('running');

    // Record every arrow the page lights up, however briefly.
    // (A script string: this file is type-checked without the DOM library.)
    await page.evaluate(`
      window.fired = [];
      new MutationObserver((changes) => {
        for (const change of changes) {
          const edge = change.target;
          if (edge.classList.contains('edge') && edge.classList.contains('fired')) {
            window.fired.push(edge.dataset.from + ' -> ' + edge.dataset.to);
          }
        }
      }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['class'] });
    `);

    // A row committed by another process: the daemon wakes, drains, and the page shows it happen.
    world.enqueue(3);
    const line = page.locator('#transitions li', { hasText: 'serving.running → serving.draining' }).first();
    await line.waitFor();
    expect(await line.getAttribute('data-machine')).toBe('daemon');
    await page
      .locator('#passes tbody tr td:nth-child(3)', { hasText: /^[1-9]/ })
      .first()
      .waitFor();
    await waitFor(async () => (await cloud.stats()).received.observation === 3, { what: 'the rows delivered' });
    await expect.poll(() => currentState(page, 'daemon')).toBe('serving.running');
    await page.locator('#backlog-legend', { hasText: 'nothing waiting' }).waitFor();
    const fired = (await page.evaluate('window.fired')) as string[];
    expect(fired).toContain('serving.running -> serving.draining');
    expect(fired).toContain('serving.draining -> serving.running');

    // daemon stop: the stop machine's run appears, and the page says nothing runs.
    const stop = await world.cli(['daemon', 'stop']);
    expect(stop.code).toBe(0);
    await page.locator('#transitions li[data-machine="stop"]', { hasText: 'terminated' }).first().waitFor();
    await expect.poll(() => page.locator('#status').textContent()).toBe('not running');
    await page.locator('#daemon-where', { hasText: 'not running; last journaled stopped' }).waitFor();
    await page.locator('#last-stop', { hasText: 'terminated' }).waitFor();

    // A new daemon: the same page picks it up from the journal.
    const second = await startDaemon(cloud);
    expect(second).not.toBe(pid);
    await expect.poll(() => page.locator('#status').textContent()).toBe('running');
    await expect.poll(() => currentState(page, 'daemon')).toBe('serving.running');
    await page.locator('#facts', { hasText: String(second) }).waitFor();
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'daemon-view.png'), fullPage: true });

    const port = new URL(url).port;
    expect(requests.length).toBeGreaterThan(0);
    for (const request of requests) expect(request.startsWith(`http://127.0.0.1:${port}/`)).toBe(true);
    expect(requests.some((r) => new URL(r).pathname === '/events')).toBe(true);
  }, 120_000);

  it('with no daemon, shows "not running", the last journal and the rows waiting by kind', async () => {
    const cloud = await world.cloud();
    await startDaemon(cloud);
    expect((await world.cli(['daemon', 'stop'])).code).toBe(0);
    const { page } = await openPage(await startView(['--sample-every', '200ms']));
    world.enqueue(4, 'observation');
    world.enqueue(2, 'mcp_query');
    await page.locator('#backlog-legend', { hasText: 'observation 4' }).waitFor();
    await page.locator('#backlog-legend', { hasText: 'mcp_query 2' }).waitFor();
    expect(await page.locator('#backlog-chart polyline').count()).toBe(2);
    expect(await page.locator('#status').textContent()).toBe('not running');
    await page.locator('#daemon-where', { hasText: 'last journaled stopped' }).waitFor();
    expect(await page.locator('svg[data-machine="daemon"] .state.last-known').getAttribute('data-state')).toBe(
      'stopped',
    );
    expect(await page.locator('#transitions li').count()).toBeGreaterThan(3);
  }, 120_000);
});

describe('daemon view server', () => {
  it('answers only the keyed page and stream on 127.0.0.1; everything else is 403', async () => {
    const url = await startView();
    const parsed = new URL(url);
    expect(parsed.hostname).toBe('127.0.0.1');
    const key = parsed.searchParams.get('key') ?? '';
    expect(key.length).toBeGreaterThanOrEqual(20);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await page.text();
    expect(html).toContain('data-machine="daemon"');
    expect(html).toContain('data-machine="stop"');
    // Nothing on the page names another origin.
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
    const base = `${parsed.origin}`;
    for (const path of ['/', '/?key=wrong', `/?key=${key}x`, `/other?key=${key}`, '/events', `/favicon.ico`]) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(403);
    }
    const posted = await fetch(url, { method: 'POST' });
    expect(posted.status).toBe(403);
    // A name rebound to 127.0.0.1 arrives with its own Host header (fetch cannot set one).
    const rebound = await new Promise<number | undefined>((resolve, reject) => {
      const req = httpGet(
        {
          host: '127.0.0.1',
          port: parsed.port,
          path: `/?key=${key}`,
          headers: { Host: `evil.example:${parsed.port}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode);
        },
      );
      req.on('error', reject);
    });
    expect(rebound).toBe(403);
  });

  it('a port in use is a usage error (exit 2), and the process ends', async () => {
    const port = new URL(await startView()).port;
    const second = await world.cli(['daemon', 'view', '--no-open', '--port', port]);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
    expect(second.stdout).toBe('');
  });
});
