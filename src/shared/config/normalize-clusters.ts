/**
 * cluster_manager.clusters[] -> ClusterConfig[]: defaults, duplicate names, hosts.
 */

import type { ClusterConfig, DnsConfig, HealthCheckConfig, HostConfig, LbType, OutlierDetectionConfig } from './model';
import type { RawCluster } from './mosn-schema';
import { Ctx, joinPath, pathOf, show } from './schema';
import { parseHostPort } from './address';
import * as D from './defaults';
import { upstreamTls, type TlsLoad } from './tls';

export function normalizeClusters(raw: RawCluster[], ctx: Ctx, load?: TlsLoad): ClusterConfig[] {
  const byName = new Map<string, string>(); // name -> path of its first definition
  const out: ClusterConfig[] = [];
  for (const c of raw) {
    const at = pathOf(c);
    const first = byName.get(c.name);
    if (first !== undefined) {
      ctx.error(joinPath(at, 'name'), `${show(c.name)} is already the name of ${first}; expected unique cluster names`);
      continue;
    }
    byName.set(c.name, at);
    out.push(normalizeCluster(c, ctx, load));
  }
  return out;
}

function normalizeCluster(c: RawCluster, ctx: Ctx, load: TlsLoad | undefined): ClusterConfig {
  const at = pathOf(c);
  const thresholds = c.circuit_breakers ?? [];
  if (thresholds.length > 1) {
    ctx.warn(joinPath(joinPath(at, 'circuit_breakers'), 1), 'only the first thresholds (default priority) are used, ignored');
  }
  const t = thresholds[0] ?? {};
  const circuitBreakers = {
    maxConnections: t.max_connections ?? D.DEFAULT_CIRCUIT_BREAKERS.maxConnections,
    maxPendingRequests: t.max_pending_requests ?? D.DEFAULT_CIRCUIT_BREAKERS.maxPendingRequests,
    maxRequests: t.max_requests ?? D.DEFAULT_CIRCUIT_BREAKERS.maxRequests,
    maxRetries: t.max_retries ?? D.DEFAULT_CIRCUIT_BREAKERS.maxRetries,
  };
  const hosts = normalizeHosts(c, ctx);
  const healthCheck = normalizeHealthCheck(c, ctx);
  const outlierDetection = normalizeOutlier(c);
  if (hosts.length === 0) {
    ctx.warn(joinPath(at, 'hosts'), 'no hosts: requests routed to this cluster get 503');
  }
  // MOSN falls back to round robin for an unset lb_type, as Envoy does.
  const lbType = (c.lb_type ?? 'LB_ROUNDROBIN').replace(/^LB_/, '') as LbType;
  warnIgnoredWeights(c, lbType, ctx);
  const dns = normalizeDns(c, hosts, ctx);
  const tls = load ? upstreamTls(c.tls_context, undefined, load) : undefined;
  return {
    name: c.name,
    lbType,
    connectTimeoutMs: c.connect_timeout ?? D.DEFAULT_CONNECT_TIMEOUT_MS,
    maxRequestPerConn: c.max_request_per_conn ?? D.DEFAULT_MAX_REQUEST_PER_CONN,
    maxIdlePerHost: Math.min(D.DEFAULT_MAX_IDLE_PER_HOST, circuitBreakers.maxConnections),
    idleTimeoutMs: c.idle_timeout ?? D.DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS,
    circuitBreakers,
    ...(healthCheck ? { healthCheck: tls ? { ...healthCheck, tls } : healthCheck } : {}), // no `undefined` keys: the model travels as JSON
    ...(outlierDetection ? { outlierDetection } : {}),
    hosts,
    ...(dns ? { dns } : {}),
    ...(tls ? { tls } : {}),
  };
}

/**
 * cluster.type. STRICT_DNS and LOGICAL_DNS get a DnsConfig (the master resolves their names);
 * SIMPLE and STATIC are the listed hosts. MOSN has no factory for EDS, DYNAMIC and
 * ORIGINAL_DST and serves them as SIMPLE clusters: so does mosnd, with a warning saying what
 * is missing.
 */
function normalizeDns(c: RawCluster, hosts: HostConfig[], ctx: Ctx): DnsConfig | undefined {
  const at = pathOf(c);
  const type = c.type ?? 'SIMPLE';
  if (type === 'EDS' || type === 'DYNAMIC') {
    ctx.warn(
      joinPath(at, 'type'),
      `${show(type)} clusters of the file get no hosts from xDS (only clusters the control plane sends do): ` +
        'the hosts listed here are served as a SIMPLE cluster (as MOSN does until xDS sends any)',
    );
  } else if (type === 'ORIGINAL_DST') {
    ctx.warn(
      joinPath(at, 'type'),
      '"ORIGINAL_DST" is served as a SIMPLE cluster, as MOSN does (the original destination is ' +
        'chosen by lb_type LB_ORIGINAL_DST, not implemented by mosnd yet)',
    );
  }
  if (type !== 'STRICT_DNS' && type !== 'LOGICAL_DNS') {
    for (const key of ['dns_refresh_rate', 'dns_lookup_family'] as const) {
      if (c[key] === undefined) continue;
      ctx.warn(joinPath(at, key), `ignored: only STRICT_DNS and LOGICAL_DNS clusters resolve names (type is ${show(type)})`);
    }
    return undefined;
  }
  const family = c.dns_lookup_family === 'V4_ONLY' ? 4 : c.dns_lookup_family === 'V6_ONLY' ? 6 : 0;
  return { type, refreshMs: c.dns_refresh_rate ?? D.DEFAULT_DNS_REFRESH_MS, family, hosts };
}

/** Policies that give every host the same share, whatever its weight (as in MOSN). */
const WEIGHTLESS_POLICIES: ReadonlySet<LbType> = new Set<LbType>(['ROUNDROBIN', 'RANDOM']);

/**
 * Weights that differ under a policy that ignores them are a config that does not do what it
 * says: warned once per cluster, at the first host whose weight differs from the first host's.
 */
function warnIgnoredWeights(c: RawCluster, lbType: LbType, ctx: Ctx): void {
  if (!WEIGHTLESS_POLICIES.has(lbType) || c.hosts.length < 2) return;
  const first = c.hosts[0].weight ?? 1;
  const odd = c.hosts.find((h) => (h.weight ?? 1) !== first);
  if (odd === undefined) return;
  const policy = `LB_${lbType}`;
  ctx.warn(
    joinPath(pathOf(odd), 'weight'),
    `${show(odd.weight ?? 1)} differs from ${joinPath(pathOf(c.hosts[0]), 'weight')} (${first}), but lb_type ${policy} ` +
      'ignores host weights (every host gets the same share); use LB_WEIGHTED_ROUNDROBIN or LB_LEAST_REQUEST for weighted traffic',
  );
}

function normalizeHosts(c: RawCluster, ctx: Ctx): HostConfig[] {
  const seen = new Set<string>();
  const out: HostConfig[] = [];
  for (const h of c.hosts) {
    const hp = parseHostPort(h.address, { minPort: 1 })!; // the schema checked it
    const key = `${hp.host.toLowerCase()}:${hp.port}`;
    if (seen.has(key)) {
      ctx.warn(joinPath(pathOf(h), 'address'), `${show(h.address)} is listed twice in this cluster, ignored`);
      continue;
    }
    seen.add(key);
    out.push({ address: h.address, host: hp.host, port: hp.port, weight: h.weight ?? 1 });
  }
  return out;
}

/**
 * MOSN picks the checker by `protocol`: "Http1" with check_config.http_check_config does an
 * HTTP GET (200 = healthy; mosnd takes any 2xx); anything unregistered falls back to a TCP
 * connect. mosnd also treats an empty protocol with an http_check_config path as HTTP, since
 * that is clearly meant. A gRPC check (grpc.health.v1.Health/Check) is asked for MOSN's way,
 * `protocol: "Grpc"` with `service_name`, or Envoy's, `grpc_health_check: {service_name}`.
 */
function normalizeHealthCheck(c: RawCluster, ctx: Ctx): HealthCheckConfig | undefined {
  const hc = c.health_check;
  if (!hc) return undefined;
  const at = pathOf(hc);
  const grpc = normalizeGrpcCheck(hc, at, ctx);
  if (grpc !== undefined) return { ...healthCheckTiming(hc, hc.timeout ?? D.DEFAULT_HEALTH_CHECK_TIMEOUT_MS), ...grpc };
  const protocol = hc.protocol ?? '';
  const http = hc.check_config?.http_check_config;
  const path = http?.path;
  const isHttp = protocol === '' || /^http1$/i.test(protocol);
  if (!isHttp && !/^tcp$/i.test(protocol)) {
    ctx.warn(joinPath(at, 'protocol'), `${show(protocol)} health checks are not implemented by mosnd yet; a TCP connect check is used`);
  } else if (/^http1$/i.test(protocol) && path === undefined) {
    ctx.warn(joinPath(at, 'check_config'), 'no http_check_config.path: a TCP connect check is used (as in MOSN)');
  }
  const httpCheck = isHttp && path !== undefined;
  for (const key of ['port', 'timeout'] as const) {
    if (http && !httpCheck && http[key] !== undefined) {
      ctx.warn(joinPath(joinPath(joinPath(at, 'check_config'), 'http_check_config'), key), 'ignored: the check is a TCP connect check');
    }
  }
  let timeoutMs = hc.timeout ?? D.DEFAULT_HEALTH_CHECK_TIMEOUT_MS;
  if (httpCheck && http?.timeout !== undefined) timeoutMs = Math.min(timeoutMs, http.timeout);
  return {
    ...healthCheckTiming(hc, timeoutMs),
    ...(httpCheck ? { httpPath: path } : {}),
    // Port 0 is Go's zero value: the host's own port, as in MOSN.
    ...(httpCheck && http?.port ? { httpPort: http.port } : {}),
  };
}

type RawHealthCheck = NonNullable<RawCluster['health_check']>;

/** What every kind of check shares: its time limit, interval and thresholds. */
function healthCheckTiming(hc: RawHealthCheck, timeoutMs: number): HealthCheckConfig {
  return {
    timeoutMs,
    intervalMs: hc.interval ?? D.DEFAULT_HEALTH_CHECK_INTERVAL_MS,
    ...(hc.interval_jitter !== undefined ? { intervalJitterMs: hc.interval_jitter } : {}),
    healthyThreshold: hc.healthy_threshold ?? D.DEFAULT_HEALTHY_THRESHOLD,
    unhealthyThreshold: hc.unhealthy_threshold ?? D.DEFAULT_UNHEALTHY_THRESHOLD,
  };
}

/** The gRPC check's service and authority, or undefined when the check is not gRPC. */
function normalizeGrpcCheck(hc: RawHealthCheck, at: string, ctx: Ctx): Pick<HealthCheckConfig, 'grpcService' | 'grpcAuthority'> | undefined {
  const envoy = hc.grpc_health_check;
  const mosnGrpc = /^grpc$/i.test(hc.protocol ?? '');
  if (envoy === undefined && !mosnGrpc) {
    if (hc.service_name !== undefined) ctx.warn(joinPath(at, 'service_name'), 'ignored: only a gRPC check (protocol "Grpc") asks about a service');
    return undefined;
  }
  if (hc.protocol !== undefined && !mosnGrpc) {
    ctx.error(joinPath(at, 'protocol'), `${show(hc.protocol)} contradicts grpc_health_check; expected "Grpc" or no protocol`);
  }
  if (envoy?.service_name !== undefined && hc.service_name !== undefined && envoy.service_name !== hc.service_name) {
    ctx.error(joinPath(at, 'service_name'), `${show(hc.service_name)} differs from grpc_health_check.service_name ${show(envoy.service_name)}; expected one of them`);
  }
  if (hc.check_config?.http_check_config !== undefined) {
    ctx.warn(joinPath(joinPath(at, 'check_config'), 'http_check_config'), 'ignored: the check is a gRPC check');
  }
  return {
    grpcService: envoy?.service_name ?? hc.service_name ?? '',
    ...(envoy?.authority ? { grpcAuthority: envoy.authority } : {}),
  };
}

/** Envoy: max_ejection_time is its value or 300s, but never below base_ejection_time. */
function normalizeOutlier(c: RawCluster): OutlierDetectionConfig | undefined {
  const o = c.outlier_detection;
  if (!o) return undefined;
  const base = o.base_ejection_time ?? D.DEFAULT_OUTLIER.baseEjectionTimeMs;
  return {
    consecutive5xx: o.consecutive_5xx ?? D.DEFAULT_OUTLIER.consecutive5xx,
    consecutiveGatewayFailure: o.consecutive_gateway_failure ?? 0,
    intervalMs: o.interval ?? D.DEFAULT_OUTLIER.intervalMs,
    baseEjectionTimeMs: base,
    maxEjectionTimeMs: Math.max(o.max_ejection_time ?? D.DEFAULT_OUTLIER.maxEjectionTimeMs, base),
    maxEjectionPercent: o.max_ejection_percent ?? D.DEFAULT_OUTLIER.maxEjectionPercent,
  };
}
