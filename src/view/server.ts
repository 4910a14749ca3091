/**
 * The `daemon view` server: one page and one event stream on 127.0.0.1, for whoever holds the key.
 *
 * - It listens on 127.0.0.1 only; the URL carries a random key, and every request without it (or for
 *   anything but the page and the stream, or with a Host that is not this address) gets 403, so other
 *   local users and pages that rebind a DNS name to 127.0.0.1 see nothing.
 * - The page is self-contained (styles, script, both drawings inline) and its Content-Security-Policy
 *   lets it connect only back to this server: nothing is fetched from anywhere, by construction.
 * - The stream is Server-Sent Events: a `snapshot` on connect, then `transition`, `pass`, `status`
 *   and `backlog` events from the feed (feed.ts). EventSource reconnects by itself.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DiffloreError, errnoCode } from '../errors.js';
import type { ViewFeed } from './feed.js';
import type { FeedEvent } from './model.js';

export interface ViewServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface ViewServerOptions {
  readonly port: number;
  readonly feed: ViewFeed;
  /** The page's HTML for a script nonce (page.ts). */
  readonly page: (nonce: string) => string;
}

const HEARTBEAT_MS = 15_000;

function keyMatches(given: string | null, key: string): boolean {
  if (given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

function refuse(res: ServerResponse): void {
  res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end('forbidden: open the URL `difflore daemon view` printed (it carries the key)\n');
}

function sendPage(res: ServerResponse, page: (nonce: string) => string): void {
  const nonce = randomBytes(16).toString('base64');
  res.writeHead(200, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      "style-src 'unsafe-inline'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
  });
  res.end(page(nonce));
}

function sseFrame(event: FeedEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

function openStream(req: IncomingMessage, res: ServerResponse, feed: ViewFeed): void {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.write('retry: 1000\n\n');
  res.write(sseFrame({ type: 'snapshot', data: feed.snapshot() }));
  const unsubscribe = feed.subscribe((event) => res.write(sseFrame(event)));
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  heartbeat.unref();
  const end = () => {
    clearInterval(heartbeat);
    unsubscribe();
  };
  req.on('close', end);
  res.on('error', end);
}

export async function startViewServer(options: ViewServerOptions): Promise<ViewServer> {
  const key = randomBytes(18).toString('base64url');
  const streams = new Set<ServerResponse>();
  let port = 0;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const hostOk = req.headers.host === `127.0.0.1:${port}` || req.headers.host === `localhost:${port}`;
    if (req.method !== 'GET' || !hostOk || !keyMatches(url.searchParams.get('key'), key)) return refuse(res);
    if (url.pathname === '/') return sendPage(res, options.page);
    if (url.pathname === '/events') {
      streams.add(res);
      res.on('close', () => streams.delete(res));
      return openStream(req, res, options.feed);
    }
    return refuse(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => {
      if (errnoCode(error) !== 'EADDRINUSE') return reject(error);
      reject(
        new DiffloreError('usage', `port ${options.port} on 127.0.0.1 is already in use`, {
          hint: 'choose another --port, or leave it out for a free one',
        }),
      );
    });
    server.listen(options.port, '127.0.0.1', () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/?key=${key}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of streams) res.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
