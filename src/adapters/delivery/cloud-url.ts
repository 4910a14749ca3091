/**
 * Where delivery goes: `DIFFLORE_CLOUD_URL`, refusing plain http to anything but loopback. Apart from
 * the token sources (cloud-config.ts), whose cryptography and Rust-login reader a daemon loads only
 * with its first pass, not on its way to serving.
 */
import { DiffloreError } from '../../errors.js';

export const DEFAULT_CLOUD_URL = 'https://difflore.dev/api';

/**
 * True for names and literals that claim to reach only this machine. A name is only a claim: the
 * http client resolves it and connects only if every address is loopback (cloud-client.ts).
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return true;
  // IPv4-mapped IPv6 loopback, as WHATWG URL normalises it (::ffff:7f00:1).
  return /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(host);
}

/**
 * The API base without a trailing slash, from `DIFFLORE_CLOUD_URL` (else the legacy
 * `DIFF_LORE_CLOUD_URL`, else the default). Throws a `config` error for a malformed URL, a scheme
 * other than http(s), or plain http to a host that is not loopback (the token would travel in clear).
 */
export function resolveCloudUrl(env: NodeJS.ProcessEnv = process.env): string {
  // The Rust binary still honours the legacy spelling when the new one is unset or blank.
  const configured = env.DIFFLORE_CLOUD_URL?.trim() || env.DIFF_LORE_CLOUD_URL?.trim();
  const text = configured ? configured : DEFAULT_CLOUD_URL;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new DiffloreError('config', `DIFFLORE_CLOUD_URL '${text}' is not a URL.`, {
      hint: `use e.g. ${DEFAULT_CLOUD_URL} or http://127.0.0.1:PORT for a local cloud`,
    });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new DiffloreError('config', `DIFFLORE_CLOUD_URL '${text}' must use https:// (got ${url.protocol}).`);
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new DiffloreError(
      'config',
      `DIFFLORE_CLOUD_URL '${text}' uses plain http:// to ${url.hostname}, which would send the token in clear.`,
      { hint: 'use https://, or http:// only to a loopback host (127.0.0.1, localhost, [::1])' },
    );
  }
  if (url.username || url.password) {
    throw new DiffloreError('config', 'DIFFLORE_CLOUD_URL must not carry a user name or password.');
  }
  if (url.search || url.hash) {
    throw new DiffloreError('config', `DIFFLORE_CLOUD_URL '${text}' must not have a query or fragment.`);
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}
