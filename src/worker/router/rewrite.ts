/** Path rewriting (prefix_rewrite) and redirect targets for matched routes. */

import { PathKind, pathEnd } from './match';
import type { RouteMatchResult } from './result';

/**
 * The path to send upstream. With `prefix_rewrite`, the matched part is replaced: the prefix
 * for a prefix route, and the whole path for an exact-path or a regex route (a regex may match
 * only part of the path, as in MOSN, but replacing a fragment in the middle is never what a
 * rewrite means).
 * The query string is kept, and the result always starts with "/". Without a rewrite (or
 * if `path` no longer starts with the route's prefix) the path is returned unchanged.
 */
export function rewritePath(result: RouteMatchResult, path: string): string {
  const action = result.route.action;
  if (action.kind !== 'cluster' || action.prefixRewrite === undefined) return path;
  const end = pathEnd(path);
  const m = result.pathMatcher;
  let kept: number;
  switch (m.kind) {
    case PathKind.Prefix:
      if (end < m.value.length || !path.startsWith(m.value)) return path;
      kept = m.value.length;
      break;
    case PathKind.Exact:
    case PathKind.Regex:
      kept = end;
      break;
  }
  const out = action.prefixRewrite + path.slice(kept);
  // The upstream request line needs an origin-form target: a rewrite to "" of "/v1", or of
  // "/api/" in "/api/x", must not send "" or "x".
  return out.charCodeAt(0) === 47 /* / */ ? out : `/${out}`;
}

const DEFAULT_PORT: Readonly<Record<string, string>> = { http: ':80', https: ':443' };

/**
 * The Location of a redirect route, with Envoy's rules:
 * - scheme: `scheme_redirect`, else the request's `scheme`;
 * - host: `host_redirect` (replacing host and port), else the request's Host, minus its port
 *   when the scheme changes and the port was the old scheme's default (`http://a:80` -> `https://a`);
 * - path: `path_redirect` (a `/` is prepended if missing) keeping the request's query unless
 *   the redirect path has its own; else the request's path and query unchanged.
 */
export function redirectLocation(
  result: RouteMatchResult,
  req: { path: string; host: string },
  scheme: string,
): string {
  const action = result.route.action;
  if (action.kind !== 'redirect') throw new TypeError(`route action is ${action.kind}, not redirect`);
  const finalScheme = action.schemeRedirect || scheme;

  let host: string;
  if (action.hostRedirect) {
    host = action.hostRedirect;
  } else {
    host = req.host;
    if (finalScheme !== scheme) {
      const portAt = host.startsWith('[') ? host.indexOf(']:') + 1 : host.lastIndexOf(':');
      if (portAt > 0 && host.slice(portAt) === DEFAULT_PORT[scheme]) host = host.slice(0, portAt);
    }
  }

  let path: string;
  if (action.pathRedirect) {
    path = action.pathRedirect;
    if (!path.includes('?')) {
      const q = req.path.indexOf('?');
      if (q >= 0) path += req.path.slice(q);
    }
  } else {
    path = req.path;
  }
  if (!path.startsWith('/')) path = `/${path}`;
  return `${finalScheme}://${host}${path}`;
}
