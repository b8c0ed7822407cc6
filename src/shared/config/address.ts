/**
 * "host:port" addresses as MOSN writes them (Go's net.SplitHostPort rules): "0.0.0.0:2045",
 * "[::1]:8080", "localhost:80", and for listeners ":2045" (every interface).
 */

import { isIPv4, isIPv6 } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** An IPv4/IPv6 literal or a DNS name ("999.1.1.1" is neither). */
export function isValidHost(host: string): boolean {
  if (isIPv4(host) || isIPv6(host)) return true;
  if (/^[\d.]+$/.test(host)) return false;
  return DNS_NAME.test(host);
}

/**
 * Splits "host:port". `emptyHost` is what an empty host (":2045") becomes; when it is
 * undefined an empty host is rejected. Returns undefined for anything malformed.
 */
export function parseHostPort(s: string, opts: { emptyHost?: string; minPort?: number } = {}): HostPort | undefined {
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0 || s[end + 1] !== ':') return undefined;
    host = s.slice(1, end);
    if (!isIPv6(host)) return undefined;
    portText = s.slice(end + 2);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) return undefined;
    host = s.slice(0, colon);
    if (host.includes(':')) return undefined; // a bare IPv6 literal needs brackets
    portText = s.slice(colon + 1);
    if (host === '') {
      if (opts.emptyHost === undefined) return undefined;
      host = opts.emptyHost;
    } else if (!isValidHost(host)) {
      return undefined;
    }
  }
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535 || port < (opts.minPort ?? 0)) return undefined;
  return { host, port };
}
