/**
 * Names that must never reach a DNS server. RFC 6761 §6.4 reserves `.invalid` and asks name-resolution
 * libraries to answer it negatively at once; glibc does not (with `hosts: files dns` it sends the query
 * to the configured server). The cloud client resolves through `lookupSpecialNames`, so a cloud URL on
 * `.invalid` fails here, as a DNS failure (ENOTFOUND), without a packet leaving the machine.
 */
import { lookup } from 'node:dns';
import type { LookupFunction } from 'node:net';

/** True for `invalid` and any name below it (a trailing dot allowed). */
export function isInvalidName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'invalid' || name.endsWith('.invalid');
}

/** `dns.lookup`, except that `.invalid` names fail at once with ENOTFOUND, as getaddrinfo would say it. */
export const lookupSpecialNames: LookupFunction = (hostname, options, callback) => {
  if (!isInvalidName(hostname)) {
    lookup(hostname, options, callback);
    return;
  }
  const error: NodeJS.ErrnoException & { hostname?: string } = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
  error.code = 'ENOTFOUND';
  error.syscall = 'getaddrinfo';
  error.hostname = hostname;
  process.nextTick(() => callback(error, '', 0));
};
