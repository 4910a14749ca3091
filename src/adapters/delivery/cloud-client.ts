/**
 * HTTP to the cloud. Owns: one POST with the headers every upload carries (Bearer, JSON,
 * Idempotency-Key, User-Agent), a total timeout, cancellation, connection reuse, and turning what
 * happened into a typed result. It never decides what a status means: the delivery policy does.
 *
 * Transport: node:http(s) with a keep-alive Agent. Measured against Node 20's built-in fetch on
 * loopback with 8 requests in flight, it carries three to four times the requests per second, and
 * fetch's keep-alive pool gives no extra control we need. `transport: 'fetch'` keeps the other path
 * for comparison.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { USER_AGENT } from '../../version.js';
import { lookupSpecialNames } from '../home/special-names.js';
import { DEFERRED_CA_VARIABLE } from './deferred-ca.js';

export const DEFAULT_TIMEOUT_MS = 20_000;
/** Response bodies past this size are cut: only a snippet is ever kept. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export interface CloudRequest {
  /** Path below the API base, starting with `/`. */
  readonly path: string;
  /** The JSON body, already serialised. */
  readonly body: string;
  /** Absent only for requests that are not uploads (the token refresh). */
  readonly idempotencyKey?: string;
  /**
   * The bearer token for this request instead of the client's (a refreshed one); null sends no
   * Authorization header at all (the token refresh, as Rust sends it).
   */
  readonly token?: string | null;
}

export type TransportResult =
  | { readonly type: 'response'; readonly status: number; readonly body: string; readonly retryAfter: string | null }
  | { readonly type: 'network'; readonly message: string }
  | { readonly type: 'timeout'; readonly afterMs: number }
  /** The caller's signal fired: nothing can be concluded about the request. */
  | { readonly type: 'aborted' };

export interface CloudClientOptions {
  /** API base without a trailing slash (resolveCloudUrl). */
  readonly baseUrl: string;
  readonly token: string;
  readonly timeoutMs?: number;
  /** Sockets kept per host; in-flight requests are bounded by the caller. */
  readonly maxSockets?: number;
  readonly transport?: 'http' | 'fetch';
}

export interface CloudClient {
  post(request: CloudRequest, signal?: AbortSignal): Promise<TransportResult>;
  /** Closes idle keep-alive sockets so the process can exit. */
  close(): void;
}

export function createCloudClient(options: CloudClientOptions): CloudClient {
  return options.transport === 'fetch' ? fetchClient(options) : nodeHttpClient(options);
}

function headersFor(options: CloudClientOptions, request: CloudRequest): Record<string, string> {
  const token = request.token === undefined ? options.token : request.token;
  return {
    ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    'content-type': 'application/json',
    accept: 'application/json',
    ...(request.idempotencyKey === undefined ? {} : { 'idempotency-key': request.idempotencyKey }),
    'user-agent': USER_AGENT,
  };
}

/** A message for a failed connection that names the cause (ECONNREFUSED, ENOTFOUND...) and nothing secret. */
function networkMessage(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current && depth < 4; depth++) {
    const e = current as { message?: unknown; code?: unknown; cause?: unknown };
    const message = typeof e.message === 'string' ? e.message : String(current);
    const code = typeof e.code === 'string' ? e.code : undefined;
    const text = code && !message.includes(code) ? `${code}: ${message}` : message;
    if (!parts.includes(text)) parts.push(text);
    current = e.cause;
  }
  return parts.join(': ') || 'connection failed';
}

type LookupCallback = (error: Error | null, address: string | dns.LookupAddress[], family?: number) => void;

/**
 * A `lookup` for plain-http connections: resolves the name once, refuses unless every address is
 * loopback, and hands exactly those addresses to the socket, so what was checked is what is
 * connected to. A name is never trusted for what it says (`anything.localhost` goes through DNS like
 * any other), and an IP literal never reaches here (the URL check has already judged it).
 */
export function loopbackOnlyLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  checkedLookup(dns.lookup, hostname, options, callback);
}

/** The resolver `loopbackOnlyLookup` asks: dns.lookup, or a stand-in in tests. */
export type Resolver = (
  hostname: string,
  options: dns.LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void,
) => void;

/** `loopbackOnlyLookup` over any resolver. */
export function checkedLookup(
  resolve: Resolver,
  hostname: string,
  options: dns.LookupOptions,
  callback: LookupCallback,
): void {
  resolve(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) {
      callback(error, []);
      return;
    }
    const stranger = addresses.find((a) => !isLoopbackAddress(a.address));
    if (stranger !== undefined || addresses.length === 0) {
      const refused = Object.assign(
        new Error(
          `refusing plain http:// to ${hostname}: it resolves to ${stranger?.address ?? 'nothing'}, which is not a loopback address; use https://`,
        ),
        { code: 'ENOTLOOPBACK' },
      );
      callback(refused, []);
      return;
    }
    const [first] = addresses as [dns.LookupAddress, ...dns.LookupAddress[]];
    if (options.all) callback(null, addresses);
    else callback(null, first.address, first.family);
  });
}

/** 127.0.0.0/8, ::1 and IPv4-mapped 127.x: what the kernel routes to this machine only. */
export function isLoopbackAddress(address: string): boolean {
  if (net.isIPv4(address)) return address.startsWith('127.');
  const lower = address.toLowerCase();
  if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  return mapped?.[1]?.startsWith('127.') === true;
}

let deferredRoots: { readonly path: string; readonly ca: string[] | undefined } | undefined;
/**
 * Node's roots plus the certificates NODE_EXTRA_CA_CERTS named when the daemon was spawned
 * (deferred-ca.ts), read once; undefined (Node's defaults) when nothing was deferred. A file that
 * cannot be read is ignored with a warning on stderr (the daemon log), as Node itself does. An agent's
 * `ca` replaces the defaults, so a NODE_EXTRA_CA_CERTS this process was started with is read too.
 */
function deferredCertificateAuthorities(): string[] | undefined {
  const path = process.env[DEFERRED_CA_VARIABLE];
  if (path === undefined || path === '') return undefined;
  if (deferredRoots?.path !== path) {
    const files = [path, process.env.NODE_EXTRA_CA_CERTS].filter((file): file is string => Boolean(file));
    const extra = files.flatMap((file) => {
      try {
        return [readFileSync(file, 'utf8')];
      } catch (error) {
        process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(error as Error).message}`);
        return [];
      }
    });
    deferredRoots = { path, ca: extra.length === 0 ? undefined : [...tls.rootCertificates, ...extra] };
  }
  return deferredRoots.ca;
}

function nodeHttpClient(options: CloudClientOptions): CloudClient {
  const base = new URL(`${options.baseUrl}/`);
  const secure = base.protocol === 'https:';
  const agentOptions = {
    keepAlive: true,
    maxSockets: options.maxSockets ?? 16,
    maxFreeSockets: options.maxSockets ?? 16,
  };
  // Plain http carries the token in clear: only to addresses that are loopback when connected.
  // Over https, `.invalid` never goes to a DNS server (RFC 6761); plain http to it is refused earlier.
  const agent = secure
    ? new https.Agent({ ...agentOptions, lookup: lookupSpecialNames, ca: deferredCertificateAuthorities() })
    : new http.Agent({ ...agentOptions, lookup: loopbackOnlyLookup });
  const request = secure ? https.request : http.request;
  const basePath = base.pathname.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  return {
    post(req, signal) {
      return new Promise<TransportResult>((resolve) => {
        if (signal?.aborted) {
          resolve({ type: 'aborted' });
          return;
        }
        let settled = false;
        const finish = (result: TransportResult): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve(result);
        };
        const body = Buffer.from(req.body, 'utf8');
        const outgoing = request({
          agent,
          protocol: base.protocol,
          hostname: base.hostname.replace(/^\[|\]$/g, ''),
          port: base.port || (secure ? 443 : 80),
          method: 'POST',
          path: `${basePath}${req.path}`,
          headers: { ...headersFor(options, req), 'content-length': String(body.length) },
        });
        const timer = setTimeout(() => {
          finish({ type: 'timeout', afterMs: timeoutMs });
          outgoing.destroy();
        }, timeoutMs);
        const onAbort = (): void => {
          finish({ type: 'aborted' });
          outgoing.destroy();
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        outgoing.on('error', (error) => finish({ type: 'network', message: networkMessage(error) }));
        outgoing.on('response', (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            if (size < MAX_RESPONSE_BYTES) chunks.push(chunk);
            size += chunk.length;
          });
          res.on('error', (error) => finish({ type: 'network', message: networkMessage(error) }));
          res.on('aborted', () => finish({ type: 'network', message: 'the connection closed mid-response' }));
          res.on('end', () => {
            const retryAfter = res.headers['retry-after'];
            finish({
              type: 'response',
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
            });
          });
        });
        outgoing.end(body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

function fetchClient(options: CloudClientOptions): CloudClient {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const base = new URL(`${options.baseUrl}/`);
  // fetch resolves names itself, where no loopback check can sit: plain http only to an IP literal.
  const unverifiable = base.protocol === 'http:' && net.isIP(base.hostname.replace(/^\[|\]$/g, '')) === 0;
  return {
    async post(req, signal) {
      if (signal?.aborted) return { type: 'aborted' };
      if (unverifiable) {
        return { type: 'network', message: `refusing plain http:// to ${base.hostname} over fetch: use an IP literal` };
      }
      const timeout = AbortSignal.timeout(timeoutMs);
      const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
      try {
        const res = await fetch(`${options.baseUrl}${req.path}`, {
          method: 'POST',
          headers: headersFor(options, req),
          body: req.body,
          signal: combined,
        });
        const body = await res.text();
        return {
          type: 'response',
          status: res.status,
          body: body.length > MAX_RESPONSE_BYTES ? body.slice(0, MAX_RESPONSE_BYTES) : body,
          retryAfter: res.headers.get('retry-after'),
        };
      } catch (error) {
        if (signal?.aborted) return { type: 'aborted' };
        if (timeout.aborted) return { type: 'timeout', afterMs: timeoutMs };
        return { type: 'network', message: networkMessage(error) };
      }
    },
    close() {
      // The global dispatcher owns fetch's sockets; their keep-alive timers do not hold the process open.
    },
  };
}
