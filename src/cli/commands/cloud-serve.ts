/**
 * `difflore cloud serve`: runs the reference cloud in the foreground until SIGTERM or SIGINT.
 */
import { defineCommand, output, value } from '../command-spec.js';
import { optional, parseNumber, parsePort } from '../option-numbers.js';
import { nextStopSignal } from '../stop-signals.js';

const rate = (option: string) => (text: string) => parseNumber(option, text, { whole: false, min: 0, max: 1 });
const atLeastZero = (option: string) => (text: string) => parseNumber(option, text, { whole: false, min: 0 });

export default defineCommand({
  paths: [['cloud', 'serve']],
  usage: {
    category: 'Cloud',
    description: 'Run the reference cloud: a local stand-in for the difflore API, with fault injection.',
    details: `
      Serves every outbox route (observations, accepted edits, metrics, ...), checks request bodies
      (400 when malformed), deduplicates by Idempotency-Key and keeps what it received in SQLite
      (\`--data\`, in memory otherwise). \`GET /__stats\` reports counts; \`POST /__faults\` with a JSON
      object such as {"failRate":0.3} changes the faults while it runs.

      Authentication: \`--token\` makes route requests need that bearer token; \`--refresh-token\`
      is accepted once by \`POST /token/refresh\` (\`{"clientId":"difflore-cli","refreshToken":…}\`),
      which answers a new pair and spends the old refresh token (reuse gets 401).
      \`--token-ttl-ms\` makes access tokens expire. \`POST /__auth\` with {"rotate":true} replaces the
      access token (the client must refresh), {"failRefreshStatus":503} makes refreshes fail,
      {"tokenTtlMs":…} sets the expiry; \`GET /__auth\` counts refreshes, \`GET /__authorizations\`
      lists every Authorization header seen.

      \`--login-home DIR\` writes DIR/cloud-auth.db the way \`difflore cloud login\` (the Rust
      binary) does: the token, a refresh token and token_host = this cloud's origin, each sealed with
      AES-256-GCM under \`--master-key\` (else DIFFLORE_MASTER_KEY); tokens are generated unless
      given. It refuses to replace an existing cloud-auth.db.

      The first line on stdout is \`listening on http://HOST:PORT\` (with --login-home, the second is
      \`login written to PATH for ORIGIN\`). It binds 127.0.0.1 unless told otherwise and stops
      cleanly on SIGTERM or SIGINT.
    `,
    examples: [
      ['Serve on a free port', '$0 cloud serve'],
      ['Require a token and fail 30 % of requests', '$0 cloud serve --port 8787 --token t0ken --fail-rate 0.3'],
      ['Answer 429 with Retry-After to everything', '$0 cloud serve --status 429 --retry-after 5'],
      ['Keep what was received in a file', '$0 cloud serve --data /tmp/cloud.db'],
      [
        'Set up a Rust login for a test home',
        'DIFFLORE_MASTER_KEY=$(openssl rand -hex 32) $0 cloud serve --login-home /tmp/home --token-ttl-ms 60000',
      ],
    ],
  },
  options: {
    host: value('--host', 'Address to bind', '127.0.0.1'),
    port: value('--port', 'Port (0 = any free port)'),
    data: value('--data', 'SQLite file for received rows (default: in memory)'),
    token: value('--token', 'Answer 401 to requests without this bearer token'),
    refreshToken: value(
      '--refresh-token',
      'A refresh token POST /token/refresh accepts (64-256 characters; rotated on use)',
    ),
    tokenTtlMs: value('--token-ttl-ms', 'Access tokens expire this long after being issued, ms'),
    loginHome: value('--login-home', 'Write a Rust login (cloud-auth.db) for this cloud into this data home'),
    masterKey: value('--master-key', 'The 64-hex-digit key --login-home seals with (default: DIFFLORE_MASTER_KEY)'),
    failRate: value('--fail-rate', 'Fraction of requests that fail (0..1)'),
    status: value('--status', 'Status of injected failures; alone, every request gets it'),
    latencyMs: value('--latency-ms', 'Delay before each answer, ms'),
    retryAfter: value('--retry-after', 'Retry-After header on injected failures'),
    dropRate: value('--drop-rate', 'Fraction of requests processed, then cut off without an answer'),
    garbage2xxRate: value(
      '--garbage-2xx-rate',
      'Fraction of requests processed, then answered 200 with a non-JSON body',
    ),
  },
  parse: (raw) => ({
    ...raw,
    port: optional(raw.port, parsePort),
    tokenTtlMs: optional(raw.tokenTtlMs, atLeastZero('--token-ttl-ms')),
    failRate: optional(raw.failRate, rate('--fail-rate')),
    status: optional(raw.status, (text) => parseNumber('--status', text, { whole: true, min: 100, max: 599 })),
    latencyMs: optional(raw.latencyMs, atLeastZero('--latency-ms')),
    dropRate: optional(raw.dropRate, rate('--drop-rate')),
    garbage2xxRate: optional(raw.garbage2xxRate, rate('--garbage-2xx-rate')),
  }),
  async run(args, io) {
    const out = output(io);
    const { startReferenceCloud } = await import('../../reference-cloud/server.js');
    const { isLoopbackHost } = await import('../../adapters/delivery/cloud-url.js');
    const key = args.loginHome === undefined ? null : await loginKey(args.masterKey, io.env);
    const { randomBytes } = await import('node:crypto');
    const generated = (bytes: number, prefix: string): string => `${prefix}${randomBytes(bytes).toString('hex')}`;
    const token = args.token ?? (args.loginHome === undefined ? null : generated(12, 'tok_'));
    const refreshToken = args.refreshToken ?? (args.loginHome === undefined ? null : generated(32, ''));
    const cloud = await startReferenceCloud({
      host: args.host,
      port: args.port ?? 0,
      ...(args.data === undefined ? {} : { data: args.data }),
      token,
      refreshToken,
      ...(args.tokenTtlMs === undefined ? {} : { tokenTtlMs: args.tokenTtlMs }),
      faults: {
        ...(args.failRate === undefined ? {} : { failRate: args.failRate }),
        ...(args.status === undefined ? {} : { status: args.status }),
        ...(args.latencyMs === undefined ? {} : { latencyMs: args.latencyMs }),
        ...(args.retryAfter === undefined ? {} : { retryAfter: args.retryAfter }),
        ...(args.dropRate === undefined ? {} : { dropRate: args.dropRate }),
        ...(args.garbage2xxRate === undefined ? {} : { garbage2xxRate: args.garbage2xxRate }),
      },
    });
    // Handlers before the listening line: whoever reads it may signal at once.
    const stopped = nextStopSignal();
    out.print(`listening on ${cloud.url}`);
    if (args.loginHome !== undefined && key !== null) {
      try {
        out.print(await writeLogin(args.loginHome, key, cloud.url, token as string, refreshToken));
      } catch (error) {
        await cloud.close();
        throw error;
      }
    }
    if (cloud.host === '0.0.0.0' || cloud.host === '::') {
      out.warn('warning: serving on every interface; this is a test double without TLS');
    } else if (!isLoopbackHost(cloud.host)) {
      out.warn(`warning: serving on ${cloud.host}, which is not a loopback address`);
    }
    const signal = await stopped;
    await cloud.close();
    out.warn(`stopped on ${signal}: ${JSON.stringify(cloud.stats())}`);
    return 0;
  },
});

/** The key for --login-home: --master-key, else DIFFLORE_MASTER_KEY; 64 hex digits either way. */
async function loginKey(masterKey: string | undefined, env: NodeJS.ProcessEnv): Promise<Buffer> {
  const { masterKeyFromHex } = await import('../../adapters/auth/login-crypto.js');
  const text = (masterKey ?? env.DIFFLORE_MASTER_KEY ?? '').trim();
  const key = masterKeyFromHex(text);
  if (key === null) {
    const { DiffloreError } = await import('../../errors.js');
    throw new DiffloreError('usage', '--login-home needs a 64-hex-digit key in --master-key or DIFFLORE_MASTER_KEY.', {
      hint: 'e.g. DIFFLORE_MASTER_KEY=$(openssl rand -hex 32)',
    });
  }
  return key;
}

async function writeLogin(
  home: string,
  key: Buffer,
  url: string,
  token: string,
  refresh: string | null,
): Promise<string> {
  const [{ mkdirSync }, { apiOrigin }, { createLoginDatabase, loginDbPath, saveLoginTokens }] = await Promise.all([
    import('node:fs'),
    import('../../adapters/auth/login-crypto.js'),
    import('../../adapters/auth/rust-login.js'),
  ]);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const path = loginDbPath(home);
  const origin = apiOrigin(url);
  createLoginDatabase(path);
  saveLoginTokens(path, key, origin, token, refresh);
  return `login written to ${path} for ${origin}`;
}
