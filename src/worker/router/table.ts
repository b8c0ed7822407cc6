/**
 * The route table of one router config: virtual host by Host header, then the first route
 * whose path matcher and header matchers all match. Built once per config; `match` is on
 * the path of every request and allocates nothing in the common case.
 */

import type { RouterConfig, VirtualHost } from '../../shared/config/model';
import { VirtualHostSelector } from './host';
import { compileHeaderMatcher, compilePathMatcher, headersMatch, pathEnd, pathMatches, PathKind } from './match';
import type { RouteRequest } from './match';
import { compileHeaderPlan } from './mutations';
import { RouteMatchResult } from './result';
import { compileWeighted } from './weighted';

interface CompiledVirtualHost {
  vhost: VirtualHost;
  routes: RouteMatchResult[];
  /** Some route has a regex path matcher, so matching needs the query-less path. */
  needsBarePath: boolean;
}

export class RouteTable {
  readonly name: string;
  private readonly selector: VirtualHostSelector<CompiledVirtualHost>;

  /** Throws MOSND_ERR_CONFIG_INVALID for a bad regex or a domain claimed twice. */
  constructor(readonly config: RouterConfig) {
    this.name = config.name;
    const entries = config.virtualHosts.map((vhost, v) => ({
      name: vhost.name,
      domains: vhost.domains,
      value: compileVirtualHost(config, vhost, `routers[${config.name}].virtual_hosts[${v}]`),
    }));
    this.selector = new VirtualHostSelector(entries);
  }

  /** The virtual host a Host header value selects, if any. */
  selectVirtualHost(host: string): VirtualHost | undefined {
    return this.selector.select(host)?.vhost;
  }

  /** The first matching route, or undefined (no virtual host or no route: answer 404). */
  match(req: RouteRequest): RouteMatchResult | undefined {
    const vh = this.selector.select(req.host);
    if (vh === undefined) return undefined;
    const target = req.path;
    const end = pathEnd(target);
    const bare = vh.needsBarePath && end !== target.length ? target.slice(0, end) : target;
    const routes = vh.routes;
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i];
      if (pathMatches(r.pathMatcher, target, end, bare) && headersMatch(r.headerMatchers, req)) return r;
    }
    return undefined;
  }
}

function compileVirtualHost(config: RouterConfig, vhost: VirtualHost, where: string): CompiledVirtualHost {
  const routes = vhost.routes.map((route, i) => {
    const at = `${where}.routers[${i}].match`;
    const action = route.action;
    return new RouteMatchResult(
      route,
      vhost,
      config,
      i,
      compilePathMatcher(route.match, at),
      route.match.headers.map((h, j) => compileHeaderMatcher(h, `${at}.headers[${j}]`)),
      // Least specific first: the most specific level is applied last and wins.
      compileHeaderPlan([config, vhost, route], 'request'),
      compileHeaderPlan([config, vhost, route], 'response'),
      action.kind === 'cluster' && action.weightedClusters && action.weightedClusters.length > 0
        ? compileWeighted(action.weightedClusters)
        : undefined,
    );
  });
  return { vhost, routes, needsBarePath: routes.some((r) => r.pathMatcher.kind === PathKind.Regex) };
}
