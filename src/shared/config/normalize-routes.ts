/**
 * Router configs -> RouterConfig[]: match rules, actions, header mutations, and the
 * checks that need more than one value (cluster names exist, domains are not claimed
 * twice, regular expressions compile, a route has exactly one action).
 */

import type { HeaderMatch, HeaderMutations, Route, RouteAction, RouteMatch, RouterConfig, VirtualHost } from './model';
import type { RawHeaderValueOption, RawRoute, RawRouterConfig, RawVirtualHost } from './mosn-schema';
import { Ctx, joinPath, pathOf, show } from './schema';
import * as D from './defaults';

/** Cluster names that routes may refer to, and how to say which exist. */
export interface KnownNames {
  has(name: string): boolean;
  /** `one of "a", "b"` or a hint when there are none. */
  describe(): string;
  /** Reports a missing or unknown reference at `at`; true when `name` is a known one. */
  check(name: string | undefined, at: string, ctx: Ctx): name is string;
}

export function knownNames(kind: string, names: readonly string[]): KnownNames {
  const set = new Set(names);
  const describe = (): string =>
    names.length === 0
      ? `a ${kind} defined in the config (there are none)`
      : `one of ${names.slice(0, 8).map((n) => JSON.stringify(n)).join(', ')}${names.length > 8 ? ', ...' : ''}`;
  return {
    has: (n) => set.has(n),
    describe,
    check: (name: string | undefined, at: string, ctx: Ctx): name is string => {
      if (name === undefined) ctx.error(at, `missing; expected ${describe()}`);
      else if (!set.has(name)) ctx.error(at, `${show(name)} is not a known ${kind}; expected ${describe()}`);
      else return true;
      return false;
    },
  };
}

export function normalizeRouter(r: RawRouterConfig, clusters: KnownNames, ctx: Ctx): RouterConfig {
  const at = pathOf(r);
  if (r.virtual_hosts.length === 0) {
    ctx.warn(joinPath(at, 'virtual_hosts'), 'no virtual hosts: every request through this router gets 404');
  }
  const domainOwner = new Map<string, string>(); // domain -> path of the virtual host holding it
  const virtualHosts = r.virtual_hosts.map((vh) => normalizeVirtualHost(vh, clusters, domainOwner, ctx));
  return { name: r.router_config_name, virtualHosts, ...mutations(r) };
}

function normalizeVirtualHost(
  vh: RawVirtualHost,
  clusters: KnownNames,
  domainOwner: Map<string, string>,
  ctx: Ctx,
): VirtualHost {
  const at = pathOf(vh);
  if (vh.domains.length === 0) ctx.warn(joinPath(at, 'domains'), 'no domains: this virtual host never matches');
  const domains: string[] = [];
  vh.domains.forEach((d, i) => {
    const domain = stripPort(d.toLowerCase());
    const owner = domainOwner.get(domain);
    if (owner === at) return; // the same host twice in one virtual host (e.g. with and without port)
    if (owner !== undefined) {
      ctx.error(joinPath(joinPath(at, 'domains'), i), `${show(d)} is already a domain of ${owner}; expected each domain in one virtual host`);
      return;
    }
    domainOwner.set(domain, at);
    domains.push(domain);
  });
  const routes: Route[] = [];
  for (const r of vh.routers) {
    const route = normalizeRoute(r, clusters, ctx);
    if (route) routes.push(route);
  }
  return { name: vh.name, domains, routes, ...mutations(vh) };
}

/** "example.com:8080" -> "example.com", "[::1]:80" -> "[::1]"; Host headers are compared without port. */
function stripPort(domain: string): string {
  if (domain.startsWith('[')) {
    const end = domain.indexOf(']');
    return end > 0 ? domain.slice(0, end + 1) : domain;
  }
  const colon = domain.indexOf(':');
  return colon >= 0 && domain.indexOf(':', colon + 1) < 0 ? domain.slice(0, colon) : domain;
}

function normalizeRoute(r: RawRoute, clusters: KnownNames, ctx: Ctx): Route | undefined {
  const match = normalizeMatch(r, ctx);
  const action = normalizeAction(r, clusters, ctx);
  if (!match || !action) return undefined;
  return { match, action, ...mutations(r.route ?? {}) };
}

function normalizeMatch(r: RawRoute, ctx: Ctx): RouteMatch | undefined {
  const m = r.match ?? {};
  const at = r.match ? pathOf(r.match) : joinPath(pathOf(r), 'match');
  let ok = true;
  // MOSN omits empty strings, so "" means "not set".
  const kinds = (['prefix', 'path', 'regex'] as const).filter((k) => m[k] !== undefined && m[k] !== '');
  if (kinds.length > 1) {
    ctx.error(at, `sets ${kinds.join(' and ')}; expected only one of prefix, path, regex`);
    ok = false;
  }
  for (const k of ['prefix', 'path'] as const) {
    const v = m[k];
    if (v && !v.startsWith('/')) {
      ctx.error(joinPath(at, k), `${show(v)} does not start with "/"; expected a path such as "/api"`);
      ok = false;
    }
  }
  if (m.regex && !compiles(m.regex, joinPath(at, 'regex'), ctx)) ok = false;
  const headers: HeaderMatch[] = [];
  for (const h of m.headers ?? []) {
    if (h.regex && !compiles(h.value, joinPath(pathOf(h), 'value'), ctx)) ok = false;
    headers.push({ name: h.name.toLowerCase(), value: h.value, regex: h.regex });
  }
  if (!ok) return undefined;
  if (m.path) return { path: m.path, headers };
  if (m.regex) return { regex: m.regex, headers };
  return { prefix: m.prefix || '/', headers };
}

function compiles(source: string, path: string, ctx: Ctx): boolean {
  try {
    new RegExp(source);
    return true;
  } catch (e) {
    const why = e instanceof Error ? e.message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '') : String(e);
    ctx.error(path, `${show(source)} is not a valid regular expression (${why}); expected a regular expression such as "^/api/v[0-9]+/"`);
    return false;
  }
}

function normalizeAction(r: RawRoute, clusters: KnownNames, ctx: Ctx): RouteAction | undefined {
  const at = pathOf(r);
  const route = r.route;
  const toCluster = route !== undefined && (route.cluster_name !== undefined || route.weighted_clusters !== undefined);
  const actions = [toCluster && 'route', r.redirect && 'redirect', r.direct_response && 'direct_response'].filter(
    (a): a is string => typeof a === 'string',
  );
  if (actions.length === 0) {
    ctx.error(at, 'has no action; expected "route" with cluster_name or weighted_clusters, "redirect" or "direct_response"');
    return undefined;
  }
  if (actions.length > 1) {
    ctx.error(at, `has both ${actions.join(' and ')}; expected exactly one action`);
    return undefined;
  }
  if (r.direct_response) return { kind: 'direct', status: r.direct_response.status, body: r.direct_response.body };
  if (r.redirect) {
    const rd = r.redirect;
    if (!rd.path_redirect && !rd.host_redirect && !rd.scheme_redirect) {
      ctx.error(pathOf(rd), 'changes nothing (a redirect loop); expected path_redirect, host_redirect or scheme_redirect');
      return undefined;
    }
    return {
      kind: 'redirect',
      responseCode: rd.response_code ?? D.DEFAULT_REDIRECT_CODE,
      ...(rd.path_redirect ? { pathRedirect: rd.path_redirect } : {}),
      ...(rd.host_redirect ? { hostRedirect: rd.host_redirect } : {}),
      ...(rd.scheme_redirect ? { schemeRedirect: rd.scheme_redirect } : {}),
    };
  }
  return normalizeClusterAction(route!, clusters, ctx);
}

function normalizeClusterAction(route: NonNullable<RawRoute['route']>, clusters: KnownNames, ctx: Ctx): RouteAction | undefined {
  const at = pathOf(route);
  let ok = true;
  if (route.cluster_name !== undefined && route.weighted_clusters !== undefined) {
    ctx.error(at, 'sets both cluster_name and weighted_clusters; expected only one of them');
    return undefined;
  }
  if (route.cluster_name !== undefined && !clusters.check(route.cluster_name, joinPath(at, 'cluster_name'), ctx)) ok = false;
  const weighted = route.weighted_clusters;
  if (weighted !== undefined && !checkWeighted(weighted, joinPath(at, 'weighted_clusters'), clusters, ctx)) ok = false;
  if (!ok) return undefined;
  const p = route.retry_policy;
  const on = p?.retry_on;
  const anyOn = on !== undefined && (on.failures || on.grpcStatuses.length > 0);
  const retry = p && {
    retryOn: anyOn,
    retryTimeoutMs: p.retry_timeout ?? 0,
    numRetries: p.num_retries ?? (anyOn ? D.DEFAULT_NUM_RETRIES : 0),
    // Envoy's gRPC conditions (retry-on.ts); absent for MOSN's boolean.
    ...(on !== undefined && on.grpcStatuses.length > 0 ? { grpcStatuses: on.grpcStatuses } : {}),
  };
  return {
    kind: 'cluster',
    ...(route.cluster_name !== undefined
      ? { cluster: route.cluster_name }
      : { weightedClusters: weighted!.map((w) => ({ name: w.cluster.name, weight: w.cluster.weight })) }),
    timeoutMs: route.timeout ?? D.DEFAULT_ROUTE_TIMEOUT_MS,
    ...(retry ? { retry } : {}),
    ...(route.prefix_rewrite !== undefined ? { prefixRewrite: route.prefix_rewrite } : {}),
    ...(route.host_rewrite ? { hostRewrite: route.host_rewrite } : {}),
  };
}

/**
 * Weighted clusters: each name must exist and appear once; a weight of 0 parks a cluster
 * (useful while shifting traffic) but at least one weight must be positive.
 */
function checkWeighted(
  list: NonNullable<NonNullable<RawRoute['route']>['weighted_clusters']>,
  at: string,
  clusters: KnownNames,
  ctx: Ctx,
): boolean {
  let ok = true;
  if (list.length === 0) {
    ctx.error(at, 'is empty; expected at least one {"cluster": {"name": ..., "weight": ...}}');
    return false;
  }
  const seen = new Set<string>();
  for (const w of list) {
    const namePath = joinPath(pathOf(w.cluster), 'name');
    if (!clusters.check(w.cluster.name, namePath, ctx)) {
      ok = false;
    } else if (seen.has(w.cluster.name)) {
      ctx.error(namePath, `${show(w.cluster.name)} is listed twice; expected each cluster once`);
      ok = false;
    }
    seen.add(w.cluster.name);
  }
  if (ok && list.every((w) => w.cluster.weight === 0)) {
    ctx.error(at, 'has only weights of 0; expected at least one weight >= 1');
    ok = false;
  }
  return ok;
}

type MutationSource = {
  request_headers_to_add?: RawHeaderValueOption[];
  request_headers_to_remove?: string[];
  response_headers_to_add?: RawHeaderValueOption[];
  response_headers_to_remove?: string[];
};

/** Envoy's HeaderValueOption.append defaults to true (add another value, keep the old ones). */
function mutations(o: MutationSource): HeaderMutations {
  const add = (list: RawHeaderValueOption[] = []) =>
    list.map((h) => ({ key: h.header.key, value: h.header.value, append: h.append ?? true }));
  const remove = (list: string[] = []) => list.map((n) => n.toLowerCase());
  return {
    requestHeadersToAdd: add(o.request_headers_to_add),
    requestHeadersToRemove: remove(o.request_headers_to_remove),
    responseHeadersToAdd: add(o.response_headers_to_add),
    responseHeadersToRemove: remove(o.response_headers_to_remove),
  };
}
