/**
 * `difflore inspect relay`: the Stately relay on 127.0.0.1 only. A real daemon streams to it with
 * `--inspect`, a page-like client of the relay's own origin receives the frames (the ones sent before
 * it connected too), a client from another origin is refused, and nothing listens on the machine's
 * other addresses.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI, waitFor } from '../helpers/index.js';
import { DaemonWorld, stateName, TOKEN } from './daemon-harness.js';

interface ClientSocket {
  on(event: 'message', listener: (data: Buffer) => void): void;
  on(event: 'open' | 'close', listener: () => void): void;
  on(event: 'error' | 'unexpected-response', listener: (arg: unknown) => void): void;
  terminate(): void;
}
const ws = createRequire(createRequire(import.meta.url).resolve('@statelyai/inspect'))('ws') as {
  WebSocket: new (url: string, options?: { origin?: string }) => ClientSocket;
};

let world: DaemonWorld;
beforeEach(() => {
  world = new DaemonWorld();
});
afterEach(async () => {
  await world.dispose();
});

async function startRelay(): Promise<{ wsUrl: string; pageUrl: string; port: number }> {
  const child = world.spawn(process.execPath, [CLI, 'inspect', 'relay', '--port', '0', '--no-open'], world.env());
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const ws = /^relay at (ws:\/\/127\.0\.0\.1:(\d+))/m.exec(out);
      const page = /^inspector page at (\S+)/m.exec(out);
      if (ws?.[1] && page?.[1]) resolve({ wsUrl: ws[1], pageUrl: page[1], port: Number(ws[2]) });
    });
    child.once('close', (code) => reject(new Error(`inspect relay exited early with ${code}`)));
  });
}

function client(url: string, origin: string): { frames: string[]; opened: Promise<boolean>; socket: ClientSocket } {
  const socket = new ws.WebSocket(url, { origin });
  const frames: string[] = [];
  socket.on('message', (data) => frames.push(data.toString('utf8')));
  const opened = new Promise<boolean>((resolve) => {
    socket.on('open', () => resolve(true));
    socket.on('unexpected-response', () => resolve(false));
    socket.on('error', () => resolve(false));
  });
  return { frames, opened, socket };
}

describe('inspect relay', () => {
  it('relays a daemon started with --inspect to a page of its own origin, on 127.0.0.1 only', async () => {
    const relay = await startRelay();
    const cloud = await world.cloud();
    const daemon = spawn(process.execPath, [CLI, 'daemon', 'run', '--tick', '60s', '--inspect', relay.wsUrl], {
      env: world.env({ DIFFLORE_CLOUD_URL: cloud.url, DIFFLORE_CLOUD_TOKEN: TOKEN }),
      stdio: 'ignore',
    });
    world.track(daemon.pid);
    await waitFor(() => world.state()?.pid === daemon.pid && stateName(world.state()?.value) === 'serving.running', {
      what: 'the daemon to serve',
    });

    // Connects after the daemon's first frames: it gets them from the relay's memory.
    const page = client(relay.wsUrl, relay.pageUrl);
    expect(await page.opened).toBe(true);
    await waitFor(() => page.frames.some((f) => f.includes('serving')), { what: 'daemon frames at the page' });
    for (const frame of page.frames) expect(frame).not.toContain(TOKEN);
    page.socket.terminate();

    const stranger = client(relay.wsUrl, 'https://evil.example');
    expect(await stranger.opened).toBe(false);

    const html = await (await fetch(relay.pageUrl)).text();
    expect(html).toContain('https://stately.ai/inspect');
    expect(html).toContain(`ws://127.0.0.1:${relay.port}`);

    // Nothing answers on the machine's other addresses.
    const others = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a !== undefined && !a.internal && a.family === 'IPv4')
      .map((a) => a?.address ?? '');
    for (const address of others) {
      const reached = await new Promise<boolean>((resolve) => {
        const socket = connect({ host: address, port: relay.port });
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
      expect(reached, address).toBe(false);
    }
    daemon.kill('SIGTERM');
  });
});
