/**
 * `daemon run --inspect`: streams the daemon's actors to a Stately inspector relay over a WebSocket
 * (DESIGN §7). Owns three things the library leaves to its caller:
 *
 * - Scrubbing. Every frame goes through `serialize`, which rebuilds it with the current secrets (the
 *   cloud token) redacted everywhere — snapshots, events, and the `@xstate.actor` frame's
 *   `definition` string, which the library's `sanitizeContext` does not touch
 *   (reference/libraries.md §3.1). Payload and body fields are dropped as in the daemon log.
 * - Not keeping the process alive. @statelyai/inspect 0.7.2 reconnects forever from the socket's
 *   `onerror` with a 5 s timer it never clears, and `ws`'s close handshake may wait 30 s. Here the
 *   handlers are replaced after each connect: reconnects use an unref'd timer, the open socket is
 *   unref'd, and `close()` ends with `terminate()` after a short flush.
 * - The default address, ws://127.0.0.1:8080: the port `createInspectorServer` from
 *   `@statelyai/inspect/server` listens on. Plain ws:// is accepted only to a loopback host.
 *
 * Loaded only when `--inspect` is given: the library pulls in `ws`, superjson and partysocket.
 */
import type { Observer } from 'xstate';
import type { InspectionEvent } from 'xstate';
import { scrubValue, usableSecrets } from '../adapters/lifecycle/daemon-log.js';
import { isLoopbackHost } from '../adapters/delivery/cloud-url.js';
import { DiffloreError } from '../errors.js';
import { DEFAULT_INSPECT_URL } from './daemon-options.js';
import { formatDuration } from './text.js';

/** How long a reconnect waits after the relay went away or refused us. */
const RECONNECT_MS = 5_000;
/** How long `close()` lets queued frames and the close handshake go out before cutting the socket. */
const CLOSE_FLUSH_MS = 300;
/** Same depth as the library's own serializer. */
const MAX_DEPTH = 10;

export interface DaemonInspector {
  readonly url: string;
  /** Pass as `createActor(machine, { inspect })` (or call it from a combined inspect callback). */
  readonly inspect: Observer<InspectionEvent>;
  /** Stops reconnecting, flushes briefly, and closes the socket; resolves within about 300 ms. */
  close(): Promise<void>;
}

export interface InspectorOptions {
  readonly url: string;
  /** The secrets to scrub, read on every frame so a changed token is scrubbed at once. */
  readonly secrets: () => readonly (string | null | undefined)[];
  /** Connection problems, for the daemon log. */
  readonly onProblem?: (message: string) => void;
}

/** Checks an inspector URL; throws a usage error naming what is wrong. */
export function checkInspectUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new DiffloreError('usage', `--inspect '${text}' is not a URL; use e.g. ${DEFAULT_INSPECT_URL}`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new DiffloreError('usage', `--inspect '${text}' must be a ws:// or wss:// URL`);
  }
  if (url.protocol === 'ws:' && !isLoopbackHost(url.hostname)) {
    throw new DiffloreError('usage', `--inspect '${text}' uses plain ws:// to ${url.hostname}, which is not loopback`, {
      hint: 'use wss://, or run the inspector relay on this machine (ws://127.0.0.1:PORT)',
    });
  }
  return url.href;
}

/** The forms a secret can take inside a frame: as is, JSON-escaped, and escaped twice (`definition`). */
function secretForms(secrets: readonly (string | null | undefined)[]): string[] {
  const forms = new Set<string>();
  for (const secret of usableSecrets(secrets)) {
    const once = JSON.stringify(secret).slice(1, -1);
    forms.add(secret);
    forms.add(once);
    forms.add(JSON.stringify(once).slice(1, -1));
  }
  return usableSecrets([...forms]);
}

/**
 * One frame made safe to leave the process: a plain JSON-safe copy with every secret redacted,
 * bodies dropped, depth bounded, live actor references reduced to their names.
 */
export function scrubFrame<T>(frame: T, secrets: readonly (string | null | undefined)[]): T {
  return scrubValue(frame, secretForms(secrets), {
    dropBodies: true,
    maxDepth: MAX_DEPTH,
    maxStringChars: 200_000,
    maxArrayItems: 1_000,
  }) as T;
}

/** The parts of ws's WebSocket this module touches (isomorphic-ws is `ws` under Node). */
interface Socket {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
  close(): void;
  terminate?: () => void;
  once?(event: 'close', listener: () => void): void;
  readonly _socket?: { unref?: () => void } | null;
}

/** The library's WebSocketAdapter, whose socket and reconnect loop are private. */
interface AdapterInternals {
  ws?: Socket;
  status?: string;
  start(): void;
}

const OPEN = 1;
const CLOSED = 3;

export async function startInspector(options: InspectorOptions): Promise<DaemonInspector> {
  const url = checkInspectUrl(options.url);
  const { createWebSocketInspector } = await import('@statelyai/inspect');
  const inspector = createWebSocketInspector({
    url,
    autoStart: false,
    // The library applies this to every frame it sends, deferred ones again on connect: idempotent.
    serialize: (frame) => scrubFrame(frame, options.secrets()),
  });
  const adapter = inspector.adapter as unknown as AdapterInternals;
  let closed = false;
  let reconnect: NodeJS.Timeout | undefined;
  let reported = false;

  const scheduleReconnect = (): void => {
    if (closed || reconnect !== undefined) return;
    reconnect = setTimeout(() => {
      reconnect = undefined;
      connect();
    }, RECONNECT_MS);
    // A relay that is not there must never be the reason the daemon stays up.
    reconnect.unref();
  };

  function connect(): void {
    if (closed) return;
    adapter.start();
    const ws = adapter.ws;
    if (ws === undefined) return;
    const libraryOpen = ws.onopen;
    ws.onopen = (event) => {
      reported = false;
      libraryOpen?.call(ws, event);
      ws._socket?.unref?.();
    };
    // Replaces the library's handler, whose 5 s retry timer is neither unref'd nor cancellable.
    ws.onerror = () => {
      adapter.status = 'closed';
      if (!reported) {
        reported = true;
        options.onProblem?.(`cannot reach the inspector at ${url}; retrying every ${formatDuration(RECONNECT_MS)}`);
      }
      scheduleReconnect();
    };
    ws.onclose = () => {
      adapter.status = 'closed';
      scheduleReconnect();
    };
  }

  connect();

  return {
    url,
    inspect: inspector.inspect,
    async close() {
      if (closed) return;
      // Frames are handed to the adapter from a setTimeout(0) each: let the last ones through first.
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
      closed = true;
      if (reconnect !== undefined) clearTimeout(reconnect);
      reconnect = undefined;
      await closeSocket(adapter.ws);
    },
  };
}

/** Closes the socket, cutting it after CLOSE_FLUSH_MS if the close handshake has not ended by then. */
async function closeSocket(ws: Socket | undefined): Promise<void> {
  if (ws === undefined || ws.readyState === CLOSED) return;
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      ws.terminate?.();
      resolve();
    }, CLOSE_FLUSH_MS);
    timer.unref();
    ws.once?.('close', done);
    try {
      if (ws.readyState === OPEN) ws.close();
      else ws.terminate?.();
    } catch {
      ws.terminate?.();
    }
  });
}
