/**
 * A WebSocket relay on 127.0.0.1 for the `--inspect` tests: listens on an ephemeral port and keeps
 * every frame it receives. Built on `ws` as @statelyai/inspect resolves it (that package's
 * dependency, not ours).
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';

export interface WsServer {
  on(event: 'connection', listener: (socket: { on(event: 'message', fn: (data: Buffer) => void): void }) => void): void;
  on(event: 'listening', listener: () => void): void;
  address(): AddressInfo;
  close(callback?: () => void): void;
  clients: Set<{ terminate(): void }>;
}
const ws = createRequire(createRequire(import.meta.url).resolve('@statelyai/inspect'))('ws') as {
  WebSocketServer: new (options: { host: string; port: number }) => WsServer;
};

export interface Relay {
  readonly url: string;
  /** Every text frame received so far, in order. */
  readonly frames: string[];
  readonly server: WsServer;
}

export async function startRelay(): Promise<Relay> {
  const server = new ws.WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.on('listening', resolve));
  const frames: string[] = [];
  server.on('connection', (socket) => socket.on('message', (data) => frames.push(data.toString('utf8'))));
  return { url: `ws://127.0.0.1:${server.address().port}`, frames, server };
}

/** Cuts off the relay's clients and closes it. */
export async function stopRelay(server: WsServer): Promise<void> {
  for (const client of server.clients) client.terminate();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
