/**
 * The Stately inspector relay, bound to 127.0.0.1 (`difflore inspect relay`). `@statelyai/inspect`'s
 * `createInspectorServer` listens on every interface and has no host option, which would expose the
 * daemon's state and context frames to the network; this does the same job on loopback only:
 * - a WebSocket endpoint that passes every frame a client sends to the other clients, keeping the
 *   last 200 for a page that connects late (what the library's server does);
 * - a bridge page that embeds the hosted inspector (stately.ai) and forwards the frames into it. That
 *   page needs the internet; `difflore daemon view` is the offline alternative.
 * WebSocket upgrades from a browser page of another origin are refused, so a web site cannot read
 * the frames through the visitor's browser. `ws` is loaded as @statelyai/inspect resolves it (its
 * dependency, which `daemon run --inspect` already uses).
 */
import { createServer, type IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { DiffloreError, errnoCode } from '../errors.js';

export const HOSTED_INSPECTOR_URL = 'https://stately.ai/inspect';
const FRAMES_KEPT = 200;
const OPEN = 1;

interface RelaySocket {
  readonly readyState: number;
  send(data: string): void;
  terminate(): void;
  on(event: 'message', listener: (data: Buffer) => void): void;
}

interface RelayWss {
  readonly clients: Set<RelaySocket>;
  on(event: 'connection', listener: (socket: RelaySocket) => void): void;
  close(callback?: () => void): void;
}

type WsModule = {
  WebSocketServer: new (options: {
    server: ReturnType<typeof createServer>;
    verifyClient: (info: { origin: string | undefined; req: IncomingMessage }) => boolean;
  }) => RelayWss;
};

function loadWs(): WsModule {
  const require = createRequire(import.meta.url);
  return createRequire(require.resolve('@statelyai/inspect'))('ws') as WsModule;
}

function bridgePage(port: number): string {
  // The page hands each frame to the hosted inspector once it says it is ready, as the library's does.
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Stately inspector (difflore relay)</title>
<style>html,body{height:100%;margin:0}iframe{width:100%;height:100%;border:0}</style></head>
<body><iframe id="inspector" src="${HOSTED_INSPECTOR_URL}"></iframe>
<script>
const frame = document.getElementById('inspector');
const waiting = [];
let ready = false;
addEventListener('message', (e) => {
  if (e.data && e.data.type === '@statelyai.connected') {
    ready = true;
    for (const event of waiting.splice(0)) frame.contentWindow.postMessage(event, '*');
  }
});
const ws = new WebSocket('ws://127.0.0.1:${port}');
ws.onmessage = (e) => {
  const event = JSON.parse(e.data);
  if (ready) frame.contentWindow.postMessage(event, '*');
  else waiting.push(event);
};
</script></body></html>`;
}

export interface InspectRelay {
  readonly port: number;
  readonly pageUrl: string;
  readonly wsUrl: string;
  close(): Promise<void>;
}

export async function startInspectRelay(port: number): Promise<InspectRelay> {
  const { WebSocketServer } = loadWs();
  let bound = port;
  const http = createServer((req, res) => {
    const host = req.headers.host;
    if (req.method !== 'GET' || (host !== `127.0.0.1:${bound}` && host !== `localhost:${bound}`)) {
      res.writeHead(403).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(bridgePage(bound));
  });
  const wss = new WebSocketServer({
    server: http,
    // Node clients (the daemon) send no Origin; a browser sends its page's, which must be ours.
    verifyClient: ({ origin }) =>
      origin === undefined || origin === `http://127.0.0.1:${bound}` || origin === `http://localhost:${bound}`,
  });
  const kept: string[] = [];
  wss.on('connection', (socket) => {
    for (const frame of kept) socket.send(frame);
    socket.on('message', (data) => {
      const frame = data.toString('utf8');
      kept.push(frame);
      if (kept.length > FRAMES_KEPT) kept.shift();
      for (const client of wss.clients) if (client !== socket && client.readyState === OPEN) client.send(frame);
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', (error) =>
      reject(
        errnoCode(error) === 'EADDRINUSE'
          ? new DiffloreError('usage', `port ${port} on 127.0.0.1 is already in use`, {
              hint: 'choose another --port (and give the daemon the same one in --inspect)',
            })
          : error,
      ),
    );
    http.listen(port, '127.0.0.1', () => resolve());
  });
  bound = (http.address() as AddressInfo).port;
  return {
    port: bound,
    pageUrl: `http://127.0.0.1:${bound}`,
    wsUrl: `ws://127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}
