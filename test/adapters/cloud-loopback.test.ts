/**
 * Plain http only to addresses that are loopback when connected (issue 9, case 5): the name is
 * resolved once, every address checked, and the socket given exactly those addresses; a name never
 * counts as loopback for what it says. Real HTTP on 127.0.0.1; the resolver is stood in for the
 * names this machine cannot resolve to a stranger.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type dns from 'node:dns';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkedLookup,
  createCloudClient,
  isLoopbackAddress,
  type Resolver,
} from '../../src/adapters/delivery/cloud-client.js';

const answer =
  (...addresses: string[]): Resolver =>
  (_host, _options, callback) =>
    callback(
      null,
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    );

function lookupWith(
  resolve: Resolver,
  options: dns.LookupOptions = {},
): Promise<{ error: Error | null; address: unknown }> {
  return new Promise((done) =>
    checkedLookup(resolve, 'anything.localhost', options, (error, address) => done({ error, address })),
  );
}

describe('the loopback check at connect time', () => {
  it('knows loopback addresses', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['192.0.2.2', '10.0.0.1', '::ffff:10.0.0.1', 'fe80::1', '0.0.0.0', '::']) {
      expect(isLoopbackAddress(a), a).toBe(false);
    }
  });

  it('refuses a name that resolves to any non-loopback address, whatever the name says', async () => {
    const refused = await lookupWith(answer('192.0.2.2'));
    expect(refused.error?.message).toMatch(/anything\.localhost: it resolves to 192\.0\.2\.2, which is not a loopback/);
    const mixed = await lookupWith(answer('127.0.0.1', '192.0.2.2'), { all: true });
    expect(mixed.error?.message).toContain('192.0.2.2');
  });

  it('hands the socket exactly the loopback addresses it checked', async () => {
    expect(await lookupWith(answer('127.0.0.1'))).toEqual({ error: null, address: '127.0.0.1' });
    expect(await lookupWith(answer('::1', '127.0.0.1'), { all: true })).toEqual({
      error: null,
      address: [
        { address: '::1', family: 6 },
        { address: '127.0.0.1', family: 4 },
      ],
    });
  });
});

describe('the http client', () => {
  let server: http.Server;
  let port: number;
  let received = 0;

  beforeEach(async () => {
    received = 0;
    server = http.createServer((req, res) => {
      received++;
      req.resume();
      req.on('end', () => res.end('{}'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterEach(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('connects to localhost, which resolves to loopback here', async () => {
    const client = createCloudClient({ baseUrl: `http://localhost:${port}`, token: 'tok_loopback_0123456789' });
    try {
      const result = await client.post({ path: '/x', body: '{}', idempotencyKey: 'k' });
      expect(result).toMatchObject({ type: 'response', status: 200 });
      expect(received).toBe(1);
    } finally {
      client.close();
    }
  });

  it('a name that does not resolve to loopback never gets a request', async () => {
    const client = createCloudClient({
      baseUrl: `http://anything.localhost:${port}`,
      token: 'tok_loopback_0123456789',
    });
    try {
      const result = await client.post({ path: '/x', body: '{}', idempotencyKey: 'k' });
      expect(result.type).toBe('network');
      expect(received).toBe(0);
    } finally {
      client.close();
    }
  });
});
