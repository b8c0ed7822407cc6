/**
 * Cluster (CDS) -> a MOSN cluster (the document `cluster_manager.clusters` holds). Types
 * STATIC, STRICT_DNS, LOGICAL_DNS (hosts from load_assignment) and EDS (hosts from the
 * ClusterLoadAssignment named by eds_cluster_config.service_name, else the cluster name).
 */
import type { Msg } from './protos';
import { durationMs, unpack } from './protos';
import { Tx, at, checkFields, goDuration, reject, wrapped } from './translate-common';
import { RawHost, translateEndpoints } from './translate-endpoint';

export interface TranslatedCluster {
  name: string;
  /** The MOSN cluster, hosts included for STATIC/DNS, to be filled from EDS otherwise. */
  mosn: Record<string, unknown>;
  /** EDS: the assignment to subscribe to, and how long to wait for it. */
  eds?: { serviceName: string; initialFetchTimeoutMs?: number };
}

/** Envoy's lb_policy -> mosnd's balancer. Envoy's round robin and least request weigh hosts. */
const LB: Record<string, string> = {
  ROUND_ROBIN: 'LB_WEIGHTED_ROUNDROBIN',
  LEAST_REQUEST: 'LB_LEAST_REQUEST',
  RANDOM: 'LB_RANDOM',
};

const IGNORED: Record<string, string> = {
  alt_stat_name: 'names statistics only',
  metadata: 'used by filters mosnd does not run',
  track_cluster_stats: 'statistics only',
  track_timeout_budgets: 'statistics only',
  per_connection_buffer_limit_bytes: 'buffer sizes do not change where requests go',
  upstream_connection_options: 'TCP keepalive of upstream connections',
  respect_dns_ttl: 'names are resolved every dns_refresh_rate',
  cleanup_interval: 'housekeeping only',
  close_connections_on_host_health_failure: 'requests in flight finish instead of being cut',
  ignore_health_on_host_removal: 'a removed endpoint stops getting requests at once',
  lrs_server: 'load reports are not sent by mosnd',
  common_lb_config: 'panic thresholds and zone-aware balancing are not modelled (see the xDS README)',
  dns_resolvers: 'mosnd uses the system resolver',
  dns_resolution_config: 'mosnd uses the system resolver',
  typed_dns_resolver_config: 'mosnd uses the system resolver',
  wait_for_warm_on_init: 'mosnd always waits for a cluster\'s endpoints',
  connection_pool_per_downstream_connection: 'pooling only',
};

export function translateCluster(c: Msg, path: string, tx: Tx): TranslatedCluster {
  checkFields(
    c,
    path,
    tx,
    ['name', 'type', 'eds_cluster_config', 'connect_timeout', 'lb_policy', 'load_assignment', 'circuit_breakers', 'outlier_detection', 'dns_refresh_rate', 'dns_lookup_family', 'health_checks', 'transport_socket_matches', 'max_requests_per_connection', 'typed_extension_protocol_options'],
    IGNORED,
  );
  const name = String(c.name ?? '');
  if (!name) reject(at(path, 'name'), 'is empty; expected the cluster name');
  const type = c.type ?? 'STATIC';
  if (c.cluster_type) reject(at(path, 'cluster_type'), 'custom cluster types are not implemented by mosnd');
  if (!['STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS'].includes(type)) reject(at(path, 'type'), `${type} is not implemented by mosnd; expected STATIC, STRICT_DNS, LOGICAL_DNS or EDS`);
  const lb = LB[c.lb_policy ?? 'ROUND_ROBIN'];
  if (!lb) reject(at(path, 'lb_policy'), `${c.lb_policy} is not implemented by mosnd; expected ROUND_ROBIN, LEAST_REQUEST or RANDOM`);
  checkTransport(c, path);
  checkProtocolOptions(c, path, tx);
  const mosn: Record<string, unknown> = {
    name,
    type: type === 'EDS' ? 'SIMPLE' : type,
    lb_type: lb,
    connect_timeout: goDuration(c.connect_timeout) ?? '5s', // Envoy's default
  };
  const perConn = wrapped<number>(c.max_requests_per_connection);
  if (perConn) mosn.max_request_per_conn = perConn;
  const breakers = circuitBreakers(c.circuit_breakers, at(path, 'circuit_breakers'), tx);
  if (breakers) mosn.circuit_breakers = [breakers];
  if (c.outlier_detection) mosn.outlier_detection = outlier(c.outlier_detection, at(path, 'outlier_detection'), tx);
  const hc = healthCheck(c.health_checks ?? [], at(path, 'health_checks'), tx);
  if (hc) mosn.health_check = hc;
  if (type === 'STRICT_DNS' || type === 'LOGICAL_DNS') {
    if (c.dns_refresh_rate) mosn.dns_refresh_rate = goDuration(c.dns_refresh_rate);
    const fam = c.dns_lookup_family;
    if (fam === 'V4_ONLY' || fam === 'V6_ONLY') mosn.dns_lookup_family = fam;
    else if (fam && fam !== 'AUTO' && fam !== 'ALL' && fam !== 'V4_PREFERRED') reject(at(path, 'dns_lookup_family'), `${fam} is not implemented by mosnd`);
  }
  if (type === 'EDS') {
    const eds = c.eds_cluster_config ?? {};
    checkFields(eds, at(path, 'eds_cluster_config'), tx, ['eds_config', 'service_name']);
    const source = eds.eds_config ?? { ads: {} };
    if (!source.ads) reject(at(at(path, 'eds_cluster_config'), 'eds_config'), 'expected "ads": endpoints over the ADS stream (the only source mosnd reads)');
    if (c.load_assignment) tx.warn(at(path, 'load_assignment'), 'ignored: an EDS cluster gets its endpoints from EDS');
    return { name, mosn: { ...mosn, hosts: [] }, eds: { serviceName: String(eds.service_name || name), initialFetchTimeoutMs: durationMs(source.initial_fetch_timeout) } };
  }
  const hosts: RawHost[] = c.load_assignment ? translateEndpoints(c.load_assignment, at(path, 'load_assignment'), tx) : [];
  return { name, mosn: { ...mosn, hosts } };
}

/** Plain TCP only: a TLS transport socket (Istio's mTLS) would be sent in clear. */
function checkTransport(c: Msg, path: string): void {
  const plain = (ts: Msg | undefined) => !ts || !ts.typed_config || String(ts.typed_config.type_url).endsWith('.RawBuffer');
  if (!plain(c.transport_socket)) reject(at(path, 'transport_socket'), 'TLS to upstreams is not implemented by mosnd');
  (c.transport_socket_matches ?? []).forEach((m: Msg, i: number) => {
    if (!plain(m.transport_socket)) reject(at(at(at(path, 'transport_socket_matches'), i), 'transport_socket'), 'TLS to upstreams is not implemented by mosnd');
  });
}

/** HttpProtocolOptions asking for HTTP/2 upstreams (gRPC) is refused: mosnd speaks HTTP/1.1 to them. */
function checkProtocolOptions(c: Msg, path: string, tx: Tx): void {
  if (c.http2_protocol_options) reject(at(path, 'http2_protocol_options'), 'HTTP/2 to upstreams is not implemented by mosnd');
  for (const [key, any] of Object.entries((c.typed_extension_protocol_options ?? {}) as Record<string, Msg>)) {
    const p = at(at(path, 'typed_extension_protocol_options'), key);
    if (key !== 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions') {
      reject(p, 'is not implemented by mosnd');
    }
    const o = unpack(any);
    checkFields(o, p, tx, ['explicit_http_config', 'use_downstream_protocol_config'], {
      common_http_protocol_options: 'connection tuning (the cluster\'s own idle and request limits apply)',
      upstream_http_protocol_options: 'SNI and host checks need TLS, which mosnd rejects',
      auto_config: 'ALPN needs TLS, which mosnd rejects: HTTP/1.1 is spoken',
    });
    const explicit = o.explicit_http_config ?? {};
    for (const key of ['http2_protocol_options', 'http3_protocol_options']) {
      if (explicit[key]) reject(at(at(p, 'explicit_http_config'), key), `${key === 'http2_protocol_options' ? 'HTTP/2' : 'HTTP/3'} to upstreams is not implemented by mosnd`);
    }
    const downstream = o.use_downstream_protocol_config ?? {};
    if (downstream.http2_protocol_options || downstream.http3_protocol_options) {
      tx.warn(at(p, 'use_downstream_protocol_config'), 'ignored: mosnd speaks HTTP/1.1 to upstreams whatever the client speaks');
    }
  }
}

function circuitBreakers(cb: Msg | undefined, path: string, tx: Tx): Record<string, number> | undefined {
  if (!cb) return undefined;
  checkFields(cb, path, tx, ['thresholds'], { per_host_thresholds: 'per-host limits are not modelled; the cluster limits apply' });
  const t = (cb.thresholds ?? []).find((x: Msg) => (x.priority ?? 'DEFAULT') === 'DEFAULT');
  if (!t) return undefined;
  const out: Record<string, number> = {};
  for (const key of ['max_connections', 'max_pending_requests', 'max_requests', 'max_retries']) {
    const v = wrapped<number>(t[key]);
    if (v !== undefined && (v > 0 || key === 'max_retries')) out[key] = v;
  }
  return out;
}

function outlier(o: Msg, path: string, tx: Tx): Record<string, unknown> {
  const ignoredWhy = 'mosnd ejects on consecutive failures only';
  checkFields(o, path, tx, ['consecutive_5xx', 'consecutive_gateway_failure', 'interval', 'base_ejection_time', 'max_ejection_time', 'max_ejection_percent'], Object.fromEntries(
    ['enforcing_consecutive_5xx', 'enforcing_consecutive_gateway_failure', 'enforcing_success_rate', 'success_rate_minimum_hosts', 'success_rate_request_volume', 'success_rate_stdev_factor', 'split_external_local_origin_errors', 'consecutive_local_origin_failure', 'enforcing_consecutive_local_origin_failure', 'enforcing_local_origin_success_rate', 'failure_percentage_threshold', 'enforcing_failure_percentage', 'enforcing_failure_percentage_local_origin', 'failure_percentage_minimum_hosts', 'failure_percentage_request_volume', 'max_ejection_time_jitter', 'successful_active_health_check_uneject_host'].map((k) => [k, ignoredWhy]),
  ));
  const out: Record<string, unknown> = {};
  for (const k of ['consecutive_5xx', 'consecutive_gateway_failure', 'max_ejection_percent']) {
    const v = wrapped<number>(o[k]);
    if (v !== undefined && v > 0) out[k] = v;
  }
  for (const k of ['interval', 'base_ejection_time', 'max_ejection_time']) if (o[k]) out[k] = goDuration(o[k]);
  return out;
}

function healthCheck(list: Msg[], path: string, tx: Tx): Record<string, unknown> | undefined {
  if (list.length === 0) return undefined;
  if (list.length > 1) reject(at(path, 1), 'more than one health check is not implemented by mosnd');
  const h = list[0];
  const p = at(path, 0);
  checkFields(h, p, tx, ['timeout', 'interval', 'interval_jitter', 'healthy_threshold', 'unhealthy_threshold', 'http_health_check', 'tcp_health_check'], {
    no_traffic_interval: 'mosnd checks at interval always',
    unhealthy_interval: 'mosnd checks at interval always',
    event_log_path: 'logging only',
    always_log_health_check_failures: 'logging only',
  });
  const out: Record<string, unknown> = {
    timeout: goDuration(h.timeout) ?? '1s',
    interval: goDuration(h.interval) ?? '5s',
    healthy_threshold: wrapped<number>(h.healthy_threshold) ?? 1,
    unhealthy_threshold: wrapped<number>(h.unhealthy_threshold) ?? 1,
  };
  if (h.interval_jitter) out.interval_jitter = goDuration(h.interval_jitter);
  if (h.http_health_check) {
    checkFields(h.http_health_check, at(p, 'http_health_check'), tx, ['path'], { host: 'the Host of the check request', request_headers_to_add: 'headers of the check request' });
    out.check_config = { http_check_config: { path: h.http_health_check.path || '/' } };
  } else if (h.tcp_health_check) {
    if (h.tcp_health_check.send || (h.tcp_health_check.receive ?? []).length) reject(at(p, 'tcp_health_check'), 'payload checks are not implemented by mosnd (a connect check is)');
  } else {
    reject(p, 'only http_health_check and tcp_health_check are implemented by mosnd');
  }
  return out;
}
