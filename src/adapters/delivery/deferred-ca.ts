/**
 * `NODE_EXTRA_CA_CERTS`, read at the daemon's first TLS connection instead of at its start.
 *
 * Node reads and parses the file that variable names while it starts, before a line of ours runs:
 * with a system bundle of ~140 certificates that is 30 ms, more than half of a bare `node -e 0`
 * (README benchmarks). A daemon makes no TLS connection on its way to serving, so its spawn
 * (lifecycle/daemon-spawn.ts) moves the path to `DIFFLORE_DEFERRED_CA_CERTS`, and the cloud client
 * (cloud-client.ts) adds those certificates to Node's own roots when it makes its https agent: the
 * same trust, paid at the first pass. Nothing is deferred when `NODE_OPTIONS` asks for OpenSSL's
 * store (`--use-openssl-ca`), whose roots an agent's `ca` option would replace.
 *
 * Light on purpose: the hook path spawns daemons, and loads this module.
 */

/** Carries the path of NODE_EXTRA_CA_CERTS from `daemon start` (or a hook) to the daemon. */
export const DEFERRED_CA_VARIABLE = 'DIFFLORE_DEFERRED_CA_CERTS';

/** The environment for a daemon: `env` with NODE_EXTRA_CA_CERTS moved to DEFERRED_CA_VARIABLE. */
export function deferExtraCertificates(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const path = env.NODE_EXTRA_CA_CERTS;
  if (path === undefined || path === '' || env.NODE_OPTIONS?.includes('--use-openssl-ca')) return env;
  const { NODE_EXTRA_CA_CERTS: _moved, ...rest } = env;
  return { ...rest, [DEFERRED_CA_VARIABLE]: path };
}
