/**
 * Virtual host selection by Host header, with Envoy's precedence:
 *   1. exact domain,
 *   2. suffix wildcards `*.example.com` / `*-bar.example.com`, longest suffix first,
 *   3. prefix wildcards `foo.*`, longest prefix first,
 *   4. the catch-all `*`.
 * A wildcard stands for at least one character. The host is compared lower-cased with its
 * port stripped (`[::1]:80` -> `[::1]`).
 */

import { MosndError } from '../../shared/errors';

/**
 * `host` without its `:port` suffix. IPv6 literals keep their brackets (`[::1]:8080` -> `[::1]`);
 * an unbracketed IPv6 address (several colons) is returned unchanged; only a numeric (or
 * empty) port is stripped.
 */
export function hostWithoutPort(host: string): string {
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    if (close < 0 || close === host.length - 1) return host;
    return host.charCodeAt(close + 1) === 58 /* : */ && isDigits(host, close + 2) ? host.slice(0, close + 1) : host;
  }
  const colon = host.lastIndexOf(':');
  if (colon < 0 || host.indexOf(':') !== colon) return host;
  return isDigits(host, colon + 1) ? host.slice(0, colon) : host;
}

function isDigits(s: string, from: number): boolean {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** A configured domain in the form a stripped, lower-cased Host is compared with. */
function canonicalDomain(domain: string): string {
  const d = domain.trim().toLowerCase();
  // An IPv6 literal written without brackets: a Host header always brackets it.
  if (!d.startsWith('[') && d.indexOf(':') !== d.lastIndexOf(':')) return `[${d}]`;
  return d;
}

/** Wildcards grouped by the length of their fixed part, longest group first. */
interface WildcardGroup<T> {
  len: number;
  byFixedPart: Map<string, T>;
}

export class VirtualHostSelector<T> {
  private readonly exact = new Map<string, T>();
  private readonly suffixes: WildcardGroup<T>[] = [];
  private readonly prefixes: WildcardGroup<T>[] = [];
  private catchAll: T | undefined;
  /**
   * One-entry cache: most traffic on a listener carries the same Host, so comparing with the
   * previous one skips the port strip, lower-casing and wildcard lookups.
   */
  private lastHost: string | undefined;
  private lastResult: T | undefined;

  /** Throws MOSND_ERR_CONFIG_INVALID when two virtual hosts claim the same domain. */
  constructor(entries: ReadonlyArray<{ name: string; domains: readonly string[]; value: T }>) {
    const owner = new Map<string, string>();
    for (const { name, domains, value } of entries) {
      for (const raw of domains) {
        const domain = canonicalDomain(raw);
        const previous = owner.get(domain);
        if (previous !== undefined) {
          throw new MosndError('MOSND_ERR_CONFIG_INVALID', `domain "${domain}" is claimed by two virtual hosts`, [
            `virtual host "${previous}" and virtual host "${name}" both list "${domain}"`,
          ]);
        }
        owner.set(domain, name);
        if (domain === '*') this.catchAll = value;
        else if (domain.startsWith('*')) addWildcard(this.suffixes, domain.slice(1), value);
        else if (domain.endsWith('*')) addWildcard(this.prefixes, domain.slice(0, -1), value);
        else this.exact.set(domain, value);
      }
    }
    const longestFirst = (a: WildcardGroup<T>, b: WildcardGroup<T>): number => b.len - a.len;
    this.suffixes.sort(longestFirst);
    this.prefixes.sort(longestFirst);
  }

  /** The virtual host for a Host header value as received (any case, may carry a port). */
  select(host: string): T | undefined {
    if (host === this.lastHost) return this.lastResult;
    const result = this.lookup(host);
    this.lastHost = host;
    this.lastResult = result;
    return result;
  }

  private lookup(host: string): T | undefined {
    const h = hostWithoutPort(host).toLowerCase();
    const exact = this.exact.get(h);
    if (exact !== undefined) return exact;
    const n = h.length;
    for (const g of this.suffixes) {
      if (g.len >= n) continue; // the wildcard must stand for at least one character
      const hit = g.byFixedPart.get(h.slice(n - g.len));
      if (hit !== undefined) return hit;
    }
    for (const g of this.prefixes) {
      if (g.len >= n) continue;
      const hit = g.byFixedPart.get(h.slice(0, g.len));
      if (hit !== undefined) return hit;
    }
    return this.catchAll;
  }
}

function addWildcard<T>(groups: WildcardGroup<T>[], fixed: string, value: T): void {
  let g = groups.find((x) => x.len === fixed.length);
  if (!g) {
    g = { len: fixed.length, byFixedPart: new Map() };
    groups.push(g);
  }
  g.byFixedPart.set(fixed, value);
}
