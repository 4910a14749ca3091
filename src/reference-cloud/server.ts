/**
 * The reference cloud (DESIGN §5.5): a small HTTP server that speaks the route table's endpoints,
 * checks body shapes (400 when malformed), deduplicates by Idempotency-Key (and batch items by
 * content), keeps what it received in SQLite, counts at `GET /__stats`, and injects faults that can be
 * changed while it runs (`POST /__faults`). `difflore cloud serve`, the tests, the demo and the
 * benchmarks run it; it is a test double with a real socket, not a model of the production service.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { DiffloreError } from '../errors.js';
import { parseJson, plainJson } from '../machines/contracts/json.js';
import { OBSERVATION_BATCH_MAX, canonicalJson } from '../adapters/delivery/cloud-routes.js';
import {
  ACCEPTED_EDIT_BODY,
  CANDIDATE_ITEM,
  type FieldCheck,
  IMPORTED_REVIEWS_BODY,
  MCP_QUERY_BODY,
  OBSERVATIONS_ELEMENT,
  REVIEW_METRICS_BODY,
  TRAJECTORY_BODY,
  batchOf,
  escapedPathId,
} from './checks.js';
import type { JsonRecord } from '../json-record.js';

export interface CloudFaults {
  /** Fraction [0, 1] of route requests answered with `status` (503 when unset), before processing. */
  readonly failRate: number;
  /** Status of injected failures; with failRate 0 it is the answer to every route request. */
  readonly status: number | null;
  /** Delay before answering, ms. */
  readonly latencyMs: number;
  /** Retry-After header (seconds or an HTTP date) on injected failures. */
  readonly retryAfter: string | null;
  /** Fraction of requests processed and stored whose connection is then cut before any answer. */
  readonly dropRate: number;
  /** Fraction of requests processed and stored, then answered 200 with a body that is not JSON. */
  readonly garbage2xxRate: number;
  /** Requests whose body contains this text get `poisonStatus` (a row the cloud always fails). */
  readonly poison: string | null;
  readonly poisonStatus: number;
  /**
   * Requests to this path are recorded, then wait until the hold is lifted (set null): a test's way
   * to act at a known moment while such a request is on the wire, without guessing a latency.
   */
  readonly holdPath: string | null;
}

export const NO_FAULTS: CloudFaults = {
  failRate: 0,
  status: null,
  latencyMs: 0,
  retryAfter: null,
  dropRate: 0,
  garbage2xxRate: 0,
  poison: null,
  poisonStatus: 500,
  holdPath: null,
};

export interface CloudStats {
  requests: number;
  received: Record<string, number>;
  deduped: number;
  byStatus: Record<string, number>;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface ReferenceCloudOptions {
  readonly host?: string;
  /** 0 = any free port. */
  readonly port?: number;
  /** SQLite file for what was received; in memory when absent. */
  readonly data?: string;
  /** When set, route requests without `Authorization: Bearer <token>` get 401. */
  readonly token?: string | null;
  /**
   * A refresh token `POST /token/refresh` accepts: it answers a new access token and a new refresh
   * token, and the old refresh token is spent (reuse gets 401, as a strict server does).
   */
  readonly refreshToken?: string | null;
  /** Access tokens stop working this long after they were issued (401 until refreshed); null: never. */
  readonly tokenTtlMs?: number | null;
  readonly faults?: Partial<CloudFaults>;
  /** [0, 1) source for fault injection (tests make it deterministic). */
  readonly random?: () => number;
  /** Keep every route request (method, path, headers, body) for `requests()` and `GET /__requests`. */
  readonly recordRequests?: boolean;
}

/** The cloud's view of authentication (`GET /__auth`): counts only, never a token. */
export interface CloudAuthStats {
  /** Refreshes answered with a new pair. */
  refreshes: number;
  /** Refresh requests refused (unknown or spent refresh token, bad body, injected failure). */
  refusedRefreshes: number;
  /** Access tokens replaced on request (`POST /__auth {"rotate":true}`); an expired token is not counted. */
  rotations: number;
  /** Status `/token/refresh` answers with instead of working (null: it works). */
  failRefreshStatus: number | null;
  tokenTtlMs: number | null;
}

export interface ReferenceCloud {
  /** `http://HOST:PORT`, the value for DIFFLORE_CLOUD_URL. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  stats(): CloudStats;
  faults(): CloudFaults;
  setFaults(faults: Partial<CloudFaults>): CloudFaults;
  /** Route requests seen, when `recordRequests` is on. */
  requests(): readonly RecordedRequest[];
  /** Every distinct Authorization header value any request carried (control endpoints aside), in order. */
  authorizations(): readonly string[];
  authStats(): CloudAuthStats;
  /** Replaces the access token (the old one gets 401) and keeps the refresh token: a server-side rotation. */
  rotateToken(): void;
  /** The tokens the cloud accepts now: for setting up a login (`cloud serve --login-home`) and tests. */
  currentLogin(): { token: string | null; refreshToken: string | null };
  /** Bodies stored for a kind (batch items one by one), oldest first. */
  received(kind?: string): { kind: string; key: string; body: unknown }[];
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 8 * 1024 * 1024;

interface Endpoint {
  readonly kind: string;
  /** The path; a group captures the id, which must be escaped as escape_path_id does. */
  readonly pattern: RegExp;
  /** Batch endpoints take a JSON array and dedupe item by item. */
  readonly batch: boolean;
  /** The request body's rules: what the Rust binary sends (reference-cloud-checks.ts). */
  readonly check: FieldCheck;
  /** The answer to a newly received single request. */
  readonly answer: (body: JsonRecord, key: string) => unknown;
}

const ENDPOINTS: readonly Endpoint[] = [
  {
    kind: 'trajectory',
    pattern: /^\/reviews\/([^/]*)\/trajectory$/,
    batch: false,
    check: TRAJECTORY_BODY,
    answer: (_body, key) => ({ id: uuidFrom(key) }),
  },
  {
    kind: 'review_metrics',
    pattern: /^\/reviews\/([^/]*)\/metrics$/,
    batch: false,
    check: REVIEW_METRICS_BODY,
    answer: () => ({ ok: true }),
  },
  {
    kind: 'accepted_edit',
    pattern: /^\/accepted-edits$/,
    batch: false,
    check: ACCEPTED_EDIT_BODY,
    // An edit that changes nothing is not an acceptance: the one case this double says no to.
    answer: (b, key) => {
      const recorded = b.beforeCode !== b.afterCode;
      return {
        ok: true,
        acceptanceRecorded: recorded,
        acceptanceId: recorded ? `acc_${key.slice(0, 12)}` : null,
        diffSignature: typeof b.diffSignature === 'string' ? b.diffSignature : key.slice(0, 16),
        teamId: null,
        attributedRuleIds: Array.isArray(b.ruleIds) ? b.ruleIds : [],
        observationsInserted: 0,
        memoryReinforcementRecorded: false,
        memoryReinforcementDeduped: false,
        error: recorded ? null : 'no_change: beforeCode equals afterCode',
      };
    },
  },
  {
    kind: 'mcp_query',
    pattern: /^\/dashboard\/mcp-query$/,
    batch: false,
    check: MCP_QUERY_BODY,
    answer: () => ({ ok: true }),
  },
  {
    kind: 'imported_reviews',
    pattern: /^\/reviews\/import$/,
    batch: false,
    check: IMPORTED_REVIEWS_BODY,
    answer: (b) => ({ imported: (b.reviews as unknown[]).length, skipped: 0, extractionQueued: 0 }),
  },
  {
    kind: 'observation',
    pattern: /^\/cloud\/observations$/,
    batch: true,
    check: batchOf(OBSERVATIONS_ELEMENT, OBSERVATION_BATCH_MAX),
    answer: () => ({}),
  },
  {
    kind: 'session_mined_candidate',
    pattern: /^\/cloud\/session-mined-candidates$/,
    batch: true,
    check: batchOf(CANDIDATE_ITEM, OBSERVATION_BATCH_MAX),
    answer: () => ({}),
  },
];

/** A stable UUID-shaped id for a stored request (the trajectory route answers `{id: uuid}`). */
function uuidFrom(key: string): string {
  const h = createHash('sha256').update(key).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const require = createRequire(import.meta.url);

function clampRate(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw new DiffloreError('usage', `${name} must be a number between 0 and 1 (got ${value})`);
  }
  return value;
}

/** Validates and merges a partial fault set (from options, flags or `POST /__faults`). */
export function mergeFaults(current: CloudFaults, patch: Partial<CloudFaults>): CloudFaults {
  const next: CloudFaults = { ...current, ...patch };
  clampRate('fail rate', next.failRate);
  clampRate('drop rate', next.dropRate);
  clampRate('garbage 2xx rate', next.garbage2xxRate);
  if (next.status !== null && (!Number.isInteger(next.status) || next.status < 100 || next.status > 599)) {
    throw new DiffloreError('usage', `status must be an HTTP status between 100 and 599 (got ${next.status})`);
  }
  if (!Number.isInteger(next.poisonStatus) || next.poisonStatus < 100 || next.poisonStatus > 599) {
    throw new DiffloreError('usage', `poison status must be an HTTP status (got ${next.poisonStatus})`);
  }
  if (next.holdPath !== null && typeof next.holdPath !== 'string') {
    throw new DiffloreError('usage', `hold path must be a path or null (got ${JSON.stringify(next.holdPath)})`);
  }
  if (!Number.isFinite(next.latencyMs) || next.latencyMs < 0) {
    throw new DiffloreError('usage', `latency must be zero or more milliseconds (got ${next.latencyMs})`);
  }
  return next;
}

/** Sets the fault set; lifting a hold lets every request it held go on. */
function applyFaults(state: CloudState, patch: Partial<CloudFaults>): CloudFaults {
  state.faults = mergeFaults(state.faults, patch);
  if (state.faults.holdPath === null) for (const release of state.held.splice(0)) release();
  return state.faults;
}

/** The `received` table: what the cloud stored, one row per request (or batch item) it took. */
interface ReceivedStore {
  /** Stores new batch items, keyed by content; returns how many were new. */
  storeItems(kind: string, path: string, items: readonly unknown[], now: number): number;
  /** The first answer given to a single request's Idempotency-Key, if it came before. */
  answered(key: string): { status: number; response: string } | undefined;
  storeOne(key: string, kind: string, path: string, body: unknown, answer: string, now: number): void;
  /** Rows per kind (a restarted cloud counts what its file already holds). */
  countsByKind(): Record<string, number>;
  received(kind?: string): { kind: string; key: string; body: unknown }[];
  close(): void;
}

function openReceivedStore(data: string | undefined): ReceivedStore {
  const Database = require('better-sqlite3') as typeof BetterSqlite3;
  const db = new Database(data ?? ':memory:');
  if (data) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  db.exec(`CREATE TABLE IF NOT EXISTS received (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT NOT NULL,
    status INTEGER NOT NULL,
    response TEXT NOT NULL,
    received_at INTEGER NOT NULL
  )`);
  const insert = db.prepare(
    'INSERT OR IGNORE INTO received (key, kind, path, body, status, response, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const lookup = db.prepare('SELECT status, response FROM received WHERE key = ?');
  const listAll = db.prepare('SELECT kind, key, body FROM received ORDER BY seq');
  const listKind = db.prepare('SELECT kind, key, body FROM received WHERE kind = ? ORDER BY seq');
  const storeItems = db.transaction((kind: string, path: string, items: readonly unknown[], now: number) => {
    let fresh = 0;
    for (const item of items) {
      const text = canonicalJson(item);
      const key = createHash('sha256').update(kind).update('\n').update(text).digest('hex');
      if (insert.run(key, kind, path, text, 200, '', now).changes === 1) fresh++;
    }
    return fresh;
  });
  return {
    storeItems: (kind, path, items, now) => storeItems(kind, path, items, now),
    answered: (key) => lookup.get(key) as { status: number; response: string } | undefined,
    storeOne(key, kind, path, body, answer, now) {
      insert.run(key, kind, path, canonicalJson(body), 200, answer, now);
    },
    countsByKind() {
      const counts: Record<string, number> = {};
      const rows = db.prepare('SELECT kind, COUNT(*) AS n FROM received GROUP BY kind').all() as {
        kind: string;
        n: number;
      }[];
      for (const row of rows) counts[row.kind] = row.n;
      return counts;
    },
    received(kind) {
      const rows = (kind === undefined ? listAll.all() : listKind.all(kind)) as {
        kind: string;
        key: string;
        body: string;
      }[];
      return rows.map((r) => ({ kind: r.kind, key: r.key, body: JSON.parse(r.body) as unknown }));
    },
    close: () => db.close(),
  };
}

/** What the handlers share: the live fault set, the counters, the store and the auth state. */
interface CloudState {
  readonly random: () => number;
  readonly recordRequests: boolean;
  faults: CloudFaults;
  /** Releases of the requests waiting for a hold to be lifted. */
  readonly held: Array<() => void>;
  readonly recorded: RecordedRequest[];
  readonly stats: CloudStats;
  readonly store: ReceivedStore;
  readonly auth: CloudAuth;
}

/** A status, a body (a string is sent as it is) and extra headers. */
type Answer = readonly [status: number, body: unknown, headers?: Record<string, string>];

function countStatus(stats: CloudStats, status: number | 'dropped'): void {
  const key = String(status);
  stats.byStatus[key] = (stats.byStatus[key] ?? 0) + 1;
}

function reply(res: http.ServerResponse, [status, body, headers = {}]: Answer): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

// ── the control endpoints (`/__*`): inspection and fault injection, never counted as requests ──

type ControlHandler = (state: CloudState, raw: string, url: string) => Answer;

const CONTROL: ReadonlyMap<string, ControlHandler> = new Map<string, ControlHandler>([
  ['GET /__stats', (s) => [200, s.stats]],
  ['GET /__faults', (s) => [200, s.faults]],
  [
    'POST /__faults',
    (s, raw) => {
      try {
        return [200, applyFaults(s, JSON.parse(raw || '{}') as Partial<CloudFaults>)];
      } catch (error) {
        return [400, { error: 'invalid_faults', detail: (error as Error).message }];
      }
    },
  ],
  ['GET /__requests', (s) => [200, s.recorded]],
  ['GET /__authorizations', (s) => [200, s.auth.seen()]],
  ['GET /__auth', (s) => [200, s.auth.stats()]],
  ['POST /__auth', (s, raw) => s.auth.control(raw)],
  [
    'GET /__received',
    (s, _raw, url) => [200, s.store.received(new URL(url, 'http://x').searchParams.get('kind') ?? undefined)],
  ],
]);

function answerControl(state: CloudState, req: http.IncomingMessage, path: string, raw: string): Answer {
  const handler = CONTROL.get(`${req.method ?? ''} ${path}`);
  return handler ? handler(state, raw, req.url ?? '/') : [404, { error: 'not_found' }];
}

// ── the API routes ──────────────────────────────────────────────────────────────────────────────

async function handleRoute(
  state: CloudState,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  path: string,
  raw: string,
): Promise<void> {
  state.stats.requests++;
  if (state.recordRequests) {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    state.recorded.push({ method: req.method ?? '', path, headers, body: raw });
  }
  // The fault set as the request arrived: a change while it waits applies to the next one.
  const faults = state.faults;
  if (faults.holdPath === path) await new Promise<void>((release) => state.held.push(release));
  if (faults.latencyMs > 0) await new Promise((r) => setTimeout(r, faults.latencyMs));
  const answer = answerRoute(state, faults, req, path, raw);
  if (answer === 'drop') {
    countStatus(state.stats, 'dropped');
    req.socket.destroy();
    return;
  }
  countStatus(state.stats, answer[0]);
  reply(res, answer);
}

/** The answer to an API request, or 'drop' for a connection to cut after storing. */
function answerRoute(
  state: CloudState,
  f: CloudFaults,
  req: http.IncomingMessage,
  path: string,
  raw: string,
): Answer | 'drop' {
  state.auth.saw(req.headers.authorization);
  if (path === '/token/refresh' && req.method === 'POST') return state.auth.refresh(raw);
  if (!state.auth.accepts(req.headers.authorization)) return [401, { error: 'unauthorized' }];
  if (f.poison !== null && raw.includes(f.poison)) {
    return [f.poisonStatus, { error: 'poison', detail: 'this payload always fails' }];
  }
  if (f.failRate > 0 ? state.random() < f.failRate : f.status !== null) {
    return [
      f.status ?? 503,
      { error: 'injected_failure' },
      f.retryAfter === null ? {} : { 'retry-after': f.retryAfter },
    ];
  }
  const admitted = admit(req, path, raw);
  if (!('endpoint' in admitted)) return admitted;
  const answer = store(state, admitted, path);
  if (f.dropRate > 0 && state.random() < f.dropRate) return 'drop';
  if (f.garbage2xxRate > 0 && state.random() < f.garbage2xxRate) return [200, '<html>not json'];
  return answer;
}

interface Admitted {
  readonly endpoint: Endpoint;
  readonly key: string;
  readonly body: unknown;
}

/** The request's endpoint, Idempotency-Key and body when all are as the Rust binary sends them; else the 4xx. */
function admit(req: http.IncomingMessage, path: string, raw: string): Admitted | Answer {
  const endpoint = ENDPOINTS.find((e) => e.pattern.test(path));
  if (!endpoint) return [404, { error: 'not_found', path }];
  const id = endpoint.pattern.exec(path)?.[1];
  if (id !== undefined && !escapedPathId(id)) {
    return [400, { error: 'invalid_path', detail: `the id '${id}' is not escaped as escape_path_id does` }];
  }
  if (req.method !== 'POST') return [405, { error: 'method_not_allowed' }];
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
    return [415, { error: 'unsupported_media_type' }];
  }
  const key = req.headers['idempotency-key'];
  if (typeof key !== 'string' || key.trim() === '') return [400, { error: 'missing_idempotency_key' }];
  // Read as serde does, so `1.0` in an integer field is caught.
  const parsed = parseJson(raw);
  if (!parsed.ok) return [400, { error: 'invalid_json', detail: parsed.reason }];
  const problem = endpoint.check(parsed.value, '');
  if (problem !== null) {
    return [400, { error: problem.startsWith('invalid_batch') ? 'invalid_batch' : 'invalid_body', detail: problem }];
  }
  return { endpoint, key, body: plainJson(parsed.value) };
}

/** Stores what is new (batch items by content, single requests by Idempotency-Key) and says so. */
function store(state: CloudState, { endpoint, key, body }: Admitted, path: string): Answer {
  const { stats } = state;
  const now = Date.now();
  if (endpoint.batch) {
    const items = body as unknown[];
    const fresh = state.store.storeItems(endpoint.kind, path, items, now);
    stats.received[endpoint.kind] = (stats.received[endpoint.kind] ?? 0) + fresh;
    stats.deduped += items.length - fresh;
    return [200, { received: fresh, deduped: items.length - fresh }];
  }
  const seen = state.store.answered(key);
  if (seen) {
    // The same key again: answer as the first time, and store nothing.
    stats.deduped++;
    return [seen.status, seen.response];
  }
  const answer = JSON.stringify(endpoint.answer(body as JsonRecord, key));
  state.store.storeOne(key, endpoint.kind, path, body, answer, now);
  stats.received[endpoint.kind] = (stats.received[endpoint.kind] ?? 0) + 1;
  return [200, answer];
}

// ── the server ──────────────────────────────────────────────────────────────────────────────────

/** Reads a request's body (keeping at most MAX_BODY_BYTES) and hands it on with its path. */
function onRequest(state: CloudState): http.RequestListener {
  return (req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      let path = q === -1 ? url : url.slice(0, q);
      // Accept the production base path too, so DIFFLORE_CLOUD_URL may end in /api or not.
      if (path.startsWith('/api/')) path = path.slice(4);
      const raw = Buffer.concat(chunks).toString('utf8');
      if (path.startsWith('/__')) return reply(res, answerControl(state, req, path, raw));
      if (tooLarge) {
        state.stats.requests++;
        countStatus(state.stats, 413);
        return reply(res, [413, { error: 'payload_too_large' }]);
      }
      handleRoute(state, req, res, path, raw).catch((error: unknown) => {
        countStatus(state.stats, 500);
        if (!res.headersSent) reply(res, [500, { error: 'internal', detail: String(error) }]);
      });
    });
  };
}

function listen(server: http.Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(new DiffloreError('io', `cannot listen on ${host}:${port}: ${error.message}`, { cause: error }));
    });
    server.listen(port, host, () => resolve());
  });
}

export async function startReferenceCloud(options: ReferenceCloudOptions = {}): Promise<ReferenceCloud> {
  const host = options.host ?? '127.0.0.1';
  const store = openReceivedStore(options.data);
  const state: CloudState = {
    random: options.random ?? Math.random,
    recordRequests: options.recordRequests === true,
    faults: mergeFaults(NO_FAULTS, options.faults ?? {}),
    held: [],
    recorded: [],
    stats: { requests: 0, received: store.countsByKind(), deduped: 0, byStatus: {} },
    store,
    auth: createAuth(options),
  };
  const server = http.createServer(onRequest(state));
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  try {
    await listen(server, host, options.port ?? 0);
  } catch (error) {
    store.close();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const shownHost =
    address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;

  let closing: Promise<void> | null = null;
  return {
    url: `http://${shownHost}:${address.port}`,
    host: address.address,
    port: address.port,
    stats: () => structuredClone(state.stats),
    faults: () => state.faults,
    setFaults: (patch) => applyFaults(state, patch),
    requests: () => state.recorded.slice(),
    authorizations: () => state.auth.seen(),
    authStats: () => state.auth.stats(),
    rotateToken: () => state.auth.rotate(),
    currentLogin: () => state.auth.login(),
    received: (kind) => store.received(kind),
    close() {
      applyFaults(state, { holdPath: null });
      closing ??= new Promise<void>((resolve) => {
        server.close(() => {
          store.close();
          resolve();
        });
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

// ── authentication: access tokens, rotation, expiry and /token/refresh ──────────────────────────

const REFRESH_CLIENTS = new Set(['difflore-cli', 'difflore-desktop']);

/** Error bodies as the production API shapes them for 401 and 429 (reference/rust-auth.md §6.2). */
function authError(status: number, message: string): [number, unknown] {
  return [status, { defined: true, code: status === 429 ? 'RATE_LIMITED' : 'UNAUTHORIZED', status, message }];
}

/** What `POST /__auth` may change, validated as a whole before anything is applied. */
interface AuthPatch {
  readonly failRefreshStatus?: number | null;
  readonly tokenTtlMs?: number | null;
  readonly rotate?: boolean;
}

function parseAuthPatch(raw: string): AuthPatch | string {
  let patch: Record<string, unknown>;
  try {
    patch = JSON.parse(raw || '{}') as Record<string, unknown>;
  } catch (error) {
    return (error as Error).message;
  }
  const status = patch.failRefreshStatus;
  if (
    status !== undefined &&
    status !== null &&
    !(Number.isInteger(status) && (status as number) >= 100 && (status as number) <= 599)
  ) {
    return 'failRefreshStatus must be an HTTP status or null';
  }
  const ttl = patch.tokenTtlMs;
  if (ttl !== undefined && ttl !== null && !(typeof ttl === 'number' && ttl >= 0)) {
    return 'tokenTtlMs must be a number of milliseconds or null';
  }
  return patch as AuthPatch;
}

/** The refresh token of a well-formed `/token/refresh` body (the spec's rules), or the 400 to answer. */
function refreshTokenOf(raw: string): string | [number, unknown] {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return [400, { error: 'invalid_json' }];
  }
  const given = body?.refreshToken;
  if (
    !REFRESH_CLIENTS.has(String(body?.clientId)) ||
    typeof given !== 'string' ||
    given.length < 64 ||
    given.length > 256
  ) {
    return [400, { error: 'invalid_body', detail: 'expected {clientId, refreshToken (64-256 characters)}' }];
  }
  return given;
}

type CloudAuth = ReturnType<typeof createAuth>;

function createAuth(options: ReferenceCloudOptions) {
  let current = options.token ?? null;
  let issuedAt = Date.now();
  let refreshToken = options.refreshToken ?? null;
  let ttlMs = options.tokenTtlMs ?? null;
  let failRefreshStatus: number | null = null;
  const spent = new Set<string>();
  const seen = new Set<string>();
  const counts = { refreshes: 0, refusedRefreshes: 0, rotations: 0 };
  const issue = (): void => {
    current = `tok_${randomBytes(12).toString('hex')}`;
    issuedAt = Date.now();
  };
  const rotate = (): void => {
    counts.rotations++;
    issue();
  };
  const expired = (): boolean => ttlMs !== null && Date.now() - issuedAt >= ttlMs;
  const stats = (): CloudAuthStats => ({ ...counts, failRefreshStatus, tokenTtlMs: ttlMs });
  const refuse = (answer: [number, unknown]): [number, unknown] => {
    counts.refusedRefreshes++;
    return answer;
  };
  return {
    saw(header: string | undefined): void {
      if (header !== undefined && seen.size < 10_000) seen.add(header);
    },
    seen: (): string[] => [...seen],
    accepts: (header: string | undefined): boolean =>
      current === null || (header === `Bearer ${current}` && !expired()),
    rotate,
    login: () => ({ token: current, refreshToken }),
    stats,
    refresh(raw: string): [number, unknown] {
      if (failRefreshStatus !== null) return refuse(authError(failRefreshStatus, 'refresh is failing (injected)'));
      const given = refreshTokenOf(raw);
      if (typeof given !== 'string') return refuse(given);
      if (spent.has(given)) return refuse(authError(401, 'refresh token already used'));
      if (given !== refreshToken) return refuse(authError(401, 'unknown refresh token'));
      // Rotated on use, as a strict server does: the old refresh token is spent.
      spent.add(given);
      refreshToken = randomBytes(32).toString('hex');
      issue();
      counts.refreshes++;
      return [200, { token: current, refreshToken }];
    },
    control(raw: string): [number, unknown] {
      const patch = parseAuthPatch(raw);
      if (typeof patch === 'string') return [400, { error: 'invalid_auth', detail: patch }];
      if (patch.failRefreshStatus !== undefined) failRefreshStatus = patch.failRefreshStatus;
      if (patch.tokenTtlMs !== undefined) ttlMs = patch.tokenTtlMs;
      if (patch.rotate === true) rotate();
      return [200, stats()];
    },
  };
}
