/** Which environment a spawned daemon gets for NODE_EXTRA_CA_CERTS (adapters/delivery/deferred-ca.ts). */
import { describe, expect, it } from 'vitest';
import { DEFERRED_CA_VARIABLE, deferExtraCertificates } from '../../src/adapters/delivery/deferred-ca.js';

describe('deferExtraCertificates', () => {
  it('moves the path to the deferred variable and keeps everything else', () => {
    const env = { PATH: '/bin', NODE_EXTRA_CA_CERTS: '/etc/corp-ca.pem', DIFFLORE_HOME: '/h' };
    expect(deferExtraCertificates(env)).toEqual({
      PATH: '/bin',
      DIFFLORE_HOME: '/h',
      [DEFERRED_CA_VARIABLE]: '/etc/corp-ca.pem',
    });
    expect(env.NODE_EXTRA_CA_CERTS).toBe('/etc/corp-ca.pem');
  });

  it.each([
    ['unset', { PATH: '/bin' }],
    ['empty', { NODE_EXTRA_CA_CERTS: '' }],
    [
      "OpenSSL's store asked for, whose roots an agent's ca would replace",
      { NODE_EXTRA_CA_CERTS: '/ca.pem', NODE_OPTIONS: '--use-openssl-ca' },
    ],
  ])('leaves the environment as it is when %s', (_, env) => {
    expect(deferExtraCertificates(env)).toEqual(env);
  });
});
