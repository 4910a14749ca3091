/**
 * `difflore cloud serve`: runs the reference cloud in the foreground until SIGTERM or SIGINT.
 */
import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { isTcpPort } from '../port-option.js';
import { BaseCommand } from '../base-command.js';
import { nextStopSignal } from '../stop-signals.js';

const rate = t.cascade(t.isNumber(), [t.isInInclusiveRange(0, 1)]);
const httpStatus = t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(100, 599)]);

export default class CloudServeCommand extends BaseCommand {
  static override paths = [['cloud', 'serve']];
  static override usage = Command.Usage({
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
  });

  host = Option.String('--host', '127.0.0.1', { description: 'Address to bind' });
  port = Option.String('--port', {
    description: 'Port (0 = any free port)',
    validator: isTcpPort,
  });
  data = Option.String('--data', { description: 'SQLite file for received rows (default: in memory)' });
  token = Option.String('--token', { description: 'Answer 401 to requests without this bearer token' });
  refreshToken = Option.String('--refresh-token', {
    description: 'A refresh token POST /token/refresh accepts (64-256 characters; rotated on use)',
  });
  tokenTtlMs = Option.String('--token-ttl-ms', {
    description: 'Access tokens expire this long after being issued, ms',
    validator: t.cascade(t.isNumber(), [t.isAtLeast(0)]),
  });
  loginHome = Option.String('--login-home', {
    description: 'Write a Rust login (cloud-auth.db) for this cloud into this data home',
  });
  masterKey = Option.String('--master-key', {
    description: 'The 64-hex-digit key --login-home seals with (default: DIFFLORE_MASTER_KEY)',
  });
  failRate = Option.String('--fail-rate', { description: 'Fraction of requests that fail (0..1)', validator: rate });
  status = Option.String('--status', {
    description: 'Status of injected failures; alone, every request gets it',
    validator: httpStatus,
  });
  latencyMs = Option.String('--latency-ms', {
    description: 'Delay before each answer, ms',
    validator: t.cascade(t.isNumber(), [t.isAtLeast(0)]),
  });
  retryAfter = Option.String('--retry-after', { description: 'Retry-After header on injected failures' });
  dropRate = Option.String('--drop-rate', {
    description: 'Fraction of requests processed, then cut off without an answer',
    validator: rate,
  });
  garbage2xxRate = Option.String('--garbage-2xx-rate', {
    description: 'Fraction of requests processed, then answered 200 with a non-JSON body',
    validator: rate,
  });

  protected async run(): Promise<number> {
    const { startReferenceCloud } = await import('../../reference-cloud/server.js');
    const { isLoopbackHost } = await import('../../adapters/delivery/cloud-config.js');
    const key = this.loginHome === undefined ? null : await this.loginKey();
    const { randomBytes } = await import('node:crypto');
    const generated = (bytes: number, prefix: string): string => `${prefix}${randomBytes(bytes).toString('hex')}`;
    const token = this.token ?? (this.loginHome === undefined ? null : generated(12, 'tok_'));
    const refreshToken = this.refreshToken ?? (this.loginHome === undefined ? null : generated(32, ''));
    const cloud = await startReferenceCloud({
      host: this.host,
      port: this.port ?? 0,
      ...(this.data === undefined ? {} : { data: this.data }),
      token,
      refreshToken,
      ...(this.tokenTtlMs === undefined ? {} : { tokenTtlMs: this.tokenTtlMs }),
      faults: {
        ...(this.failRate === undefined ? {} : { failRate: this.failRate }),
        ...(this.status === undefined ? {} : { status: this.status }),
        ...(this.latencyMs === undefined ? {} : { latencyMs: this.latencyMs }),
        ...(this.retryAfter === undefined ? {} : { retryAfter: this.retryAfter }),
        ...(this.dropRate === undefined ? {} : { dropRate: this.dropRate }),
        ...(this.garbage2xxRate === undefined ? {} : { garbage2xxRate: this.garbage2xxRate }),
      },
    });
    // Handlers before the listening line: whoever reads it may signal at once.
    const stopped = nextStopSignal();
    this.print(`listening on ${cloud.url}`);
    if (this.loginHome !== undefined && key !== null) {
      try {
        this.print(await this.writeLogin(this.loginHome, key, cloud.url, token as string, refreshToken));
      } catch (error) {
        await cloud.close();
        throw error;
      }
    }
    if (cloud.host === '0.0.0.0' || cloud.host === '::') {
      this.warn('warning: serving on every interface; this is a test double without TLS');
    } else if (!isLoopbackHost(cloud.host)) {
      this.warn(`warning: serving on ${cloud.host}, which is not a loopback address`);
    }
    const signal = await stopped;
    await cloud.close();
    this.warn(`stopped on ${signal}: ${JSON.stringify(cloud.stats())}`);
    return 0;
  }

  /** The key for --login-home: --master-key, else DIFFLORE_MASTER_KEY; 64 hex digits either way. */
  private async loginKey(): Promise<Buffer> {
    const { masterKeyFromHex } = await import('../../adapters/auth/login-crypto.js');
    const env = this.context.env as NodeJS.ProcessEnv;
    const text = (this.masterKey ?? env.DIFFLORE_MASTER_KEY ?? '').trim();
    const key = masterKeyFromHex(text);
    if (key === null) {
      const { DiffloreError } = await import('../../errors.js');
      throw new DiffloreError(
        'usage',
        '--login-home needs a 64-hex-digit key in --master-key or DIFFLORE_MASTER_KEY.',
        {
          hint: 'e.g. DIFFLORE_MASTER_KEY=$(openssl rand -hex 32)',
        },
      );
    }
    return key;
  }

  private async writeLogin(
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
}
