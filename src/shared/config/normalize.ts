/**
 * A validated raw MOSN document -> the MosndConfig model (model.ts): defaults applied,
 * durations in ms, addresses split, and the checks that need the whole document:
 * names that refer to each other, duplicates, one proxy filter per listener.
 * Problems go to the Ctx with their JSON paths; the caller rejects the config if any
 * error was recorded.
 */

import type { ListenerConfig, LogLevel, MosndConfig, RouterConfig } from './model';
import type { RawConfig, RawFilter, RawListener, RawRouterConfig, RawServer } from './mosn-schema';
import { Ctx, joinPath, pathOf, show } from './schema';
import { parseHostPort } from './address';
import { normalizeClusters } from './normalize-clusters';
import { KnownNames, knownNames, normalizeRouter } from './normalize-routes';
import * as D from './defaults';
import { listenerTls, tlsLoad, type TlsLoad } from './tls';
import { normalizeXds } from './xds-bootstrap';

export function normalize(raw: RawConfig, source: string, ctx: Ctx): MosndConfig | undefined {
  const xds = normalizeXds(raw, ctx);
  if (raw.servers.length === 0 && xds) raw.servers.push({ listeners: [], routers: [] });
  if (raw.servers.length === 0) {
    // Say so only if it is not because the servers given were all invalid (already reported).
    if (!ctx.errors.some((e) => e.path.startsWith('servers['))) {
      ctx.error('servers', 'is empty; expected one server with listeners');
    }
    return undefined;
  }
  if (raw.servers.length > 1) {
    ctx.warn(joinPath('servers', 1), 'only servers[0] is served by mosnd; this server and any after it are ignored');
  }
  const server = raw.servers[0];
  const load = tlsLoad(source, ctx);
  const clusters = normalizeClusters(raw.cluster_manager?.clusters ?? [], ctx, load);
  const clusterNames = knownNames('cluster', clusters.map((c) => c.name));
  const routers = normalizeRouters(collectRouterConfigs(server), clusterNames, ctx);
  const routerNames = knownNames('router config', routers.map((r) => r.name));
  const listeners = normalizeListeners(server.listeners, routerNames, clusterNames, ctx, load, xds !== undefined);
  const admin = normalizeAdmin(raw);
  const prometheus = normalizePrometheus(raw, ctx);
  checkAddressConflicts(listeners, admin, prometheus, ctx);
  const prometheusPort = prometheus?.config;
  return {
    source,
    logPath: server.default_log_path ?? D.DEFAULT_LOG_PATH,
    logLevel: (server.default_log_level?.toLowerCase() ?? D.DEFAULT_LOG_LEVEL) as LogLevel,
    gracefulTimeoutMs: server.graceful_timeout ?? D.DEFAULT_GRACEFUL_TIMEOUT_MS,
    ...(raw.pid !== undefined ? { pidFile: raw.pid } : {}),
    ...(raw.uds_dir !== undefined ? { udsDir: raw.uds_dir } : {}),
    listeners: listeners.map((l) => l.config),
    routers,
    clusters,
    ...(admin ? { admin: admin.config } : {}),
    ...(prometheusPort !== undefined ? { prometheusPort } : {}),
    overload: {
      refreshMs: raw.overload_manager?.refresh_interval ?? D.DEFAULT_OVERLOAD_REFRESH_MS,
      heapThreshold: raw.overload_manager?.heap_threshold ?? D.DEFAULT_OVERLOAD_HEAP_THRESHOLD,
      fdThreshold: raw.overload_manager?.fd_threshold ?? D.DEFAULT_OVERLOAD_FD_THRESHOLD,
    },
    ...(xds ? { xds } : {}),
  };
}

/** servers[0].routers, plus router configs that older MOSN files put in a `connection_manager` filter. */
function collectRouterConfigs(server: RawServer): RawRouterConfig[] {
  const out = [...server.routers];
  for (const l of server.listeners) {
    for (const chain of l.filter_chains) {
      for (const f of chain.filters) if (f.type === 'connection_manager') out.push(f.config);
    }
  }
  return out;
}

/**
 * Router config names must be unique. An identical copy is tolerated: older MOSN files
 * repeat the same connection_manager in several listeners.
 */
function normalizeRouters(raw: RawRouterConfig[], clusters: KnownNames, ctx: Ctx): RouterConfig[] {
  const byName = new Map<string, { path: string; json: string }>();
  const out: RouterConfig[] = [];
  for (const r of raw) {
    const json = JSON.stringify(r);
    const first = byName.get(r.router_config_name);
    if (first !== undefined) {
      if (first.json === json) continue;
      ctx.error(
        joinPath(pathOf(r), 'router_config_name'),
        `${show(r.router_config_name)} is already the name of ${first.path}; expected unique router config names`,
      );
      continue;
    }
    byName.set(r.router_config_name, { path: pathOf(r), json });
    out.push(normalizeRouter(r, clusters, ctx));
  }
  return out;
}

interface Placed<T> {
  config: T;
  /** JSON path of the raw object it came from. */
  path: string;
}

function normalizeListeners(raw: RawListener[], routers: KnownNames, clusters: KnownNames, ctx: Ctx, load: TlsLoad, dynamic: boolean): Placed<ListenerConfig>[] {
  if (raw.length === 0 && !dynamic) ctx.warn(joinPath(joinPath('servers', 0), 'listeners'), 'no listeners: mosnd serves nothing but its admin API');
  const byName = new Map<string, string>();
  const out: Placed<ListenerConfig>[] = [];
  for (const l of raw) {
    const listener = normalizeListener(l, routers, clusters, ctx, load);
    if (!listener) continue;
    const first = byName.get(listener.name);
    if (first !== undefined) {
      ctx.error(joinPath(pathOf(l), 'name'), `${show(listener.name)} is already the name of ${first}; expected unique listener names`);
      continue;
    }
    byName.set(listener.name, pathOf(l));
    out.push({ config: listener, path: pathOf(l) });
  }
  return out;
}

function normalizeListener(l: RawListener, routers: KnownNames, clusters: KnownNames, ctx: Ctx, load: TlsLoad): ListenerConfig | undefined {
  const at = pathOf(l);
  const { host, port } = parseHostPort(l.address, { emptyHost: '0.0.0.0' })!; // the schema checked it
  const accessLogs = (l.access_logs ?? []).filter((a) => a.disable !== true).map((a) => ({ path: a.log_path }));
  const base = {
    name: l.name ?? l.address,
    host,
    port,
    // false: known (its config served) but not bound until the admin API or a config change binds it.
    bindPort: l.bind_port !== false,
    ...(accessLogs.length > 0 ? { accessLogs } : {}),
    ...(l.max_connections !== undefined ? { maxConnections: l.max_connections } : {}),
    ...(l.connection_idle_timeout !== undefined ? { idleTimeoutMs: l.connection_idle_timeout } : {}),
    ...(l.request_headers_timeout !== undefined ? { headersTimeoutMs: l.request_headers_timeout } : {}),
  };
  const chainsPath = joinPath(at, 'filter_chains');
  if (l.filter_chains.length === 0) {
    ctx.error(chainsPath, 'missing; expected a filter chain with a "proxy" or "tcp_proxy" filter');
    return undefined;
  }
  if (l.filter_chains.length > 1) {
    ctx.warn(joinPath(chainsPath, 1), 'only the first filter chain is used (as in MOSN), ignored');
  }
  const chain = l.filter_chains[0];
  const main = chain.filters.filter((f) => f.type === 'proxy' || f.type === 'tcp_proxy');
  if (main.length !== 1) {
    const found = main.length === 0 ? 'has no "proxy" or "tcp_proxy" filter' : `has ${main.length} "proxy"/"tcp_proxy" filters`;
    ctx.error(joinPath(pathOf(chain), 'filters'), `${found}; expected exactly one of them`);
    return undefined;
  }
  const f = main[0];
  if (f.type === 'proxy') {
    const http = httpListener(base, f, routers, ctx);
    const tls = listenerTls(chain, DEFAULT_ALPN[http?.downstreamProtocol ?? 'Http1'], load);
    return http && tls ? { ...http, tls } : http;
  }
  if (f.type === 'tcp_proxy') {
    if (listenerTls(chain, [], load) !== undefined) {
      ctx.error(joinPath(pathOf(chain), chain.tls_context_set ? 'tls_context_set' : 'tls_context'), 'TLS on a tcp_proxy listener is not implemented by mosnd yet; expected TLS on a "proxy" (HTTP) listener');
    }
    for (const key of ['connection_idle_timeout', 'request_headers_timeout'] as const) {
      if (l[key] !== undefined) ctx.warn(joinPath(at, key), 'applies to HTTP listeners only; ignored (tcp_proxy has its own idle_timeout)');
    }
    return tcpListener(base, f, clusters, ctx);
  }
  return undefined;
}

/** ALPN offered when the tls_context has no `alpn`: what the listener's protocol serves. */
const DEFAULT_ALPN: Record<NonNullable<ListenerConfig['downstreamProtocol']>, string[]> = {
  Http1: ['http/1.1'],
  Http2: ['h2'],
  Auto: ['h2', 'http/1.1'],
};

type ListenerBase = Pick<
  ListenerConfig,
  'name' | 'host' | 'port' | 'bindPort' | 'accessLogs' | 'maxConnections' | 'idleTimeoutMs' | 'headersTimeoutMs'
>;

function httpListener(
  base: ListenerBase,
  f: Extract<RawFilter, { type: 'proxy' }>,
  routers: KnownNames,
  ctx: Ctx,
): ListenerConfig | undefined {
  const at = pathOf(f.config);
  const name = f.config.router_config_name;
  if (!routers.check(name, joinPath(at, 'router_config_name'), ctx)) return undefined;
  const downstreamProtocol = f.config.downstream_protocol ?? 'Http1';
  // MOSN's rule: unset or Auto, the upstream protocol is the downstream one, per stream (an
  // Auto listener's HTTP/2 streams go to HTTP/2 upstreams, its HTTP/1.1 requests to HTTP/1.1).
  const upstream = f.config.upstream_protocol ?? 'Auto';
  const upstreamProtocol = upstream === 'Auto' && downstreamProtocol !== 'Auto' ? downstreamProtocol : upstream;
  return { ...base, kind: 'http', routerConfigName: name, downstreamProtocol, upstreamProtocol };
}

/**
 * MOSN's tcp_proxy picks the cluster of the first entry of `routes` whose source /
 * destination addresses match; newer files also give a plain `cluster`. mosnd proxies
 * every connection to one cluster, so address matching is accepted only when it cannot
 * change the destination.
 */
function tcpListener(
  base: ListenerBase,
  f: Extract<RawFilter, { type: 'tcp_proxy' }>,
  clusters: KnownNames,
  ctx: Ctx,
): ListenerConfig | undefined {
  const at = pathOf(f.config);
  const routes = f.config.routes ?? [];
  let cluster = f.config.cluster;
  let clusterPath = joinPath(at, 'cluster');
  let ok = true;
  if (routes.length > 0) {
    const distinct = [...new Set(routes.map((r) => r.cluster))];
    const matching = routes.some((r) => (r.source_addrs?.length ?? 0) > 0 || (r.destination_addrs?.length ?? 0) > 0);
    if (distinct.length > 1) {
      ctx.error(
        joinPath(at, 'routes'),
        `send connections to ${distinct.length} clusters by address, which is not implemented by mosnd yet; expected routes to one cluster`,
      );
      ok = false;
    } else if (matching) {
      ctx.warn(joinPath(at, 'routes'), `source/destination address matching is not implemented by mosnd yet; every connection goes to ${show(distinct[0])}`);
    }
    if (cluster !== undefined && cluster !== distinct[0]) {
      ctx.warn(clusterPath, `${show(cluster)} is ignored: the routes decide the cluster (as in MOSN)`);
    }
    cluster = distinct[0];
    clusterPath = joinPath(pathOf(routes[0]), 'cluster');
    routes.forEach((r) => {
      if (!clusters.check(r.cluster, joinPath(pathOf(r), 'cluster'), ctx)) ok = false;
    });
  } else if (!clusters.check(cluster, clusterPath, ctx)) {
    ok = false;
  }
  if (!ok || cluster === undefined) return undefined;
  return { ...base, kind: 'tcp', tcpCluster: cluster, tcpIdleTimeoutMs: f.config.idle_timeout ?? 0 };
}

function normalizeAdmin(raw: RawConfig): Placed<{ host: string; port: number }> | undefined {
  const sa = raw.admin?.address.socket_address;
  if (!sa) return undefined;
  return { config: { host: sa.address ?? D.DEFAULT_ADMIN_HOST, port: sa.port_value ?? D.DEFAULT_ADMIN_PORT }, path: pathOf(sa) };
}

/**
 * Two sockets on one port collide when the hosts are equal or either is a wildcard
 * (0.0.0.0 / ::). Port 0 asks the system for a free port, so it never collides. Every
 * socket the master binds takes part: the listeners, the admin API and the Prometheus sink
 * (which listens on every interface, so any other socket on its port collides with it).
 * The error is reported at the later one and names the JSON path of the earlier one.
 */
function checkAddressConflicts(
  listeners: Placed<ListenerConfig>[],
  admin: Placed<{ host: string; port: number }> | undefined,
  prometheus: Placed<number | undefined> | undefined,
  ctx: Ctx,
): void {
  const wildcard = (h: string) => h === '0.0.0.0' || h === '::';
  const taken: { host: string; port: number; what: string }[] = [];
  const claim = (host: string, port: number, what: string, path: string) => {
    if (port === 0) return;
    const clash = taken.find((t) => t.port === port && (t.host === host || wildcard(t.host) || wildcard(host)));
    if (clash) ctx.error(path, `${show(`${host}:${port}`)} overlaps ${clash.what}; expected a different address or port`);
    else taken.push({ host, port, what });
  };
  for (const { config: l, path } of listeners) {
    claim(l.host, l.port, `the address of ${path}`, joinPath(path, 'address'));
  }
  if (admin) {
    const at = joinPath(admin.path, 'port_value');
    claim(admin.config.host, admin.config.port, `the admin address ${at}`, at);
  }
  if (prometheus?.config !== undefined) {
    claim(D.PROMETHEUS_SINK_HOST, prometheus.config, `the prometheus sink port ${prometheus.path}`, prometheus.path);
  }
}

/** The port of the first prometheus sink (undefined: none, or no port), with its JSON path. */
function normalizePrometheus(raw: RawConfig, ctx: Ctx): Placed<number | undefined> | undefined {
  const sinks = (raw.metrics?.sinks ?? []).filter(
    (s): s is Extract<typeof s, { type: 'prometheus' }> => s.type === 'prometheus',
  );
  if (sinks.length > 1) ctx.warn(pathOf(sinks[1]), 'only the first prometheus sink is used, ignored');
  const sink = sinks[0];
  if (!sink) return undefined;
  const endpoint = sink.config.endpoint;
  if (endpoint !== undefined && endpoint !== D.PROMETHEUS_ENDPOINT) {
    ctx.warn(joinPath(pathOf(sink.config), 'endpoint'), `${show(endpoint)} is not implemented by mosnd yet; metrics are served on "/metrics"`);
  }
  return { config: sink.config.port, path: joinPath(pathOf(sink.config), 'port') };
}
