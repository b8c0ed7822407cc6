/**
 * The accepted xDS resources and how they become one MOSN document beside the static one.
 *
 * Warming (Envoy's rule): a cluster of type EDS is served once its ClusterLoadAssignment
 * arrived (or its initial_fetch_timeout passed: then with no endpoint); a listener with RDS
 * once its RouteConfiguration arrived (or timed out: then with no route, every request 404).
 * While a new version of a cluster or listener warms, the version already served stays.
 * A route to a cluster that does not exist (yet, or any more) answers 503, as in Envoy.
 */
import type { TranslatedCluster } from './translate-cluster';
import type { TranslatedListener } from './translate-listener';
import type { RawHost } from './translate-endpoint';
import type { Msg, XdsKind } from './protos';

export interface Entry<T> {
  name: string;
  version: string;
  atMs: number;
  value: T;
  /** The resource as received (Any), for /config_dump and the upgrade snapshot. */
  any: Msg;
}

export interface ResourceMaps {
  cluster: Map<string, Entry<TranslatedCluster>>;
  endpoint: Map<string, Entry<RawHost[]>>;
  listener: Map<string, Entry<TranslatedListener>>;
  route: Map<string, Entry<Record<string, unknown>>>;
}

export function emptyMaps(): ResourceMaps {
  return { cluster: new Map(), endpoint: new Map(), listener: new Map(), route: new Map() };
}

export function cloneMaps(m: ResourceMaps): ResourceMaps {
  return { cluster: new Map(m.cluster), endpoint: new Map(m.endpoint), listener: new Map(m.listener), route: new Map(m.route) };
}

/** What is served now, per cluster / listener name: kept while a newer version warms. */
export interface Active {
  clusters: Map<string, Record<string, unknown>>;
  listeners: Map<string, { mosn: Record<string, unknown>; routes?: Record<string, unknown> }>;
}

export interface Composed {
  clusters: Record<string, unknown>[];
  listeners: Record<string, unknown>[];
  routers: Record<string, unknown>[];
  /** Names of the clusters fed by EDS (their host changes keep pools: ClusterConfig.eds). */
  eds: Set<string>;
  active: Active;
  /** Resources not served yet, waiting for their dependency: "cluster x (endpoints y)". */
  warming: string[];
}

/** The EDS names the accepted clusters need, and the RDS names the accepted listeners need. */
export function dependencies(m: ResourceMaps): { endpoint: Map<string, number | undefined>; route: Map<string, number | undefined> } {
  const endpoint = new Map<string, number | undefined>();
  for (const c of m.cluster.values()) if (c.value.eds) endpoint.set(c.value.eds.serviceName, c.value.eds.initialFetchTimeoutMs);
  const route = new Map<string, number | undefined>();
  for (const l of m.listener.values()) if (l.value.rds) route.set(l.value.rds.name, l.value.rds.initialFetchTimeoutMs);
  return { endpoint, route };
}

export function compose(m: ResourceMaps, timedOut: Record<'endpoint' | 'route', Set<string>>, previous: Active, staticClusters: Set<string>): Composed {
  const warming: string[] = [];
  const active: Active = { clusters: new Map(), listeners: new Map() };
  const eds = new Set<string>();
  for (const [name, e] of m.cluster) {
    const c = e.value;
    if (c.eds) eds.add(name);
    if (!c.eds) {
      active.clusters.set(name, c.mosn);
      continue;
    }
    const cla = m.endpoint.get(c.eds.serviceName);
    if (cla || timedOut.endpoint.has(c.eds.serviceName)) {
      active.clusters.set(name, { ...c.mosn, hosts: cla?.value ?? [] });
      continue;
    }
    warming.push(`cluster ${name} (endpoints ${c.eds.serviceName})`);
    const old = previous.clusters.get(name);
    if (old) active.clusters.set(name, old);
  }
  for (const [name, e] of m.listener) {
    const l = e.value;
    if (!l.rds) {
      active.listeners.set(name, { mosn: l.mosn, ...(l.inlineRoutes ? { routes: l.inlineRoutes } : {}) });
      continue;
    }
    const rc = m.route.get(l.rds.name);
    if (rc || timedOut.route.has(l.rds.name)) {
      active.listeners.set(name, { mosn: l.mosn, routes: rc ? { ...rc.value, router_config_name: l.rds.name } : { router_config_name: l.rds.name, virtual_hosts: [] } });
      continue;
    }
    warming.push(`listener ${name} (routes ${l.rds.name})`);
    const old = previous.listeners.get(name);
    if (old) active.listeners.set(name, old);
  }
  const known = new Set([...staticClusters, ...active.clusters.keys()]);
  const routers = new Map<string, Record<string, unknown>>();
  for (const l of active.listeners.values()) {
    if (l.routes) routers.set(String(l.routes.router_config_name), withMissingClusters(l.routes, known));
  }
  // A tcp_proxy to a cluster that is not there closes its connections (Envoy's behaviour):
  // an empty cluster of that name stands in until the real one arrives.
  const placeholders: Record<string, unknown>[] = [];
  for (const l of active.listeners.values()) {
    const chains = (l.mosn.filter_chains as Array<{ filters: Array<{ type: string; config: { cluster?: string } }> }>) ?? [];
    const cluster = chains[0]?.filters[0]?.type === 'tcp_proxy' ? chains[0].filters[0].config.cluster : undefined;
    if (cluster !== undefined && !known.has(cluster)) {
      known.add(cluster);
      placeholders.push({ name: cluster, type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', hosts: [] });
    }
  }
  return { clusters: [...active.clusters.values(), ...placeholders], listeners: [...active.listeners.values()].map((l) => l.mosn), routers: [...routers.values()], eds, active, warming };
}

const NO_CLUSTER = { status: 503, body: '' };

/** Routes to clusters that are not there answer 503 (Envoy: "cluster not found", flag NC). */
function withMissingClusters(rc: Record<string, unknown>, known: Set<string>): Record<string, unknown> {
  const vhs = (rc.virtual_hosts as Array<Record<string, unknown>>) ?? [];
  return {
    ...rc,
    virtual_hosts: vhs.map((vh) => ({
      ...vh,
      routers: ((vh.routers as Array<Record<string, unknown>>) ?? []).map((r) => {
        const a = r.route as Record<string, unknown> | undefined;
        if (!a) return r;
        if (typeof a.cluster_name === 'string') return known.has(a.cluster_name) ? r : { match: r.match, direct_response: NO_CLUSTER };
        const wc = (a.weighted_clusters as Array<{ cluster: { name: string; weight: number } }>) ?? [];
        const present = wc.filter((w) => known.has(w.cluster.name));
        if (present.length === wc.length) return r;
        if (!present.some((w) => w.cluster.weight > 0)) return { match: r.match, direct_response: NO_CLUSTER };
        return { ...r, route: { ...a, weighted_clusters: present } };
      }),
    })),
  };
}

export type { XdsKind };
