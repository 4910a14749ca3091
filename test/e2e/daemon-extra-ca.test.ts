/**
 * NODE_EXTRA_CA_CERTS still decides whom the daemon trusts, though the daemon no longer lets Node
 * parse it at start-up (adapters/delivery/deferred-ca.ts): a cloud behind TLS with a certificate only
 * that file vouches for gets the rows; without the file, nothing is sent. Real processes: `daemon
 * start`, the reference cloud behind a TLS terminator with the self-signed localhost certificate in
 * test/fixtures/tls (made for these tests with `openssl req -x509`, valid until 2126).
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/index.js';
import { DaemonWorld, TOKEN } from './daemon-harness.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'tls');
const CERTIFICATE = join(FIXTURES, 'localhost.crt');

let world: DaemonWorld;
let terminator: tls.Server | undefined;

beforeEach(() => {
  world = new DaemonWorld();
});
afterEach(async () => {
  await world.dispose();
  await new Promise<void>((resolve) => (terminator ? terminator.close(() => resolve()) : resolve()));
  terminator = undefined;
});

/** https://localhost:PORT/<the cloud's path>: TLS with the fixture's certificate, then plain TCP to the cloud. */
async function behindTls(cloudUrl: string): Promise<string> {
  const plain = new URL(cloudUrl);
  const server = tls.createServer(
    { key: readFileSync(join(FIXTURES, 'localhost.key')), cert: readFileSync(CERTIFICATE) },
    (socket) => {
      const upstream = net.connect(Number(plain.port), plain.hostname);
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    },
  );
  terminator = server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return `https://localhost:${port}${plain.pathname}`.replace(/\/+$/, '');
}

function environOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
}

describe('NODE_EXTRA_CA_CERTS, read at the first pass', () => {
  it('lets the daemon trust the cloud it names; Node in the daemon never saw the variable', async () => {
    const cloud = await world.cloud();
    const url = await behindTls(cloud.url);
    world.enqueue(3);
    const pid = await world.start([], {
      DIFFLORE_CLOUD_URL: url,
      DIFFLORE_CLOUD_TOKEN: TOKEN,
      NODE_EXTRA_CA_CERTS: CERTIFICATE,
    });
    await waitFor(() => world.rows().length === 0, { what: 'the three rows to be delivered over TLS' });
    expect(Object.values((await cloud.stats()).received).reduce((n, c) => n + c, 0)).toBe(3);
    const environ = environOf(pid);
    expect(environ.some((entry) => entry.startsWith('NODE_EXTRA_CA_CERTS='))).toBe(false);
    expect(environ).toContain(`DIFFLORE_DEFERRED_CA_CERTS=${CERTIFICATE}`);
  });

  it('without it, the same cloud is not trusted: the rows stay, with the reason', async () => {
    const cloud = await world.cloud();
    const url = await behindTls(cloud.url);
    world.enqueue(2);
    await world.start([], { DIFFLORE_CLOUD_URL: url, DIFFLORE_CLOUD_TOKEN: TOKEN, NODE_EXTRA_CA_CERTS: undefined });
    const status = await waitFor(
      async () => {
        const r = await world.cli(['daemon', 'status']);
        return /certificate/i.test(r.stdout) ? r : null;
      },
      { what: 'daemon status to name the untrusted certificate' },
    );
    expect(status.stdout).toMatch(/self[- ]signed certificate/i);
    expect(world.rows()).toHaveLength(2);
    expect((await cloud.stats()).requests).toBe(0);
  });
});
