/**
 * The MOSN v2 JSON configuration format, described once. Key names follow MOSN's
 * pkg/config/v2 (config.go, server.go, route.go, upstream.go, proxy.go, tls.go) and the
 * health-check session config of pkg/upstream/healthcheck/httpdial.go.
 *
 * Each object lists the keys mosnd implements (validated), `notImplemented` keys MOSN has
 * but mosnd ignores with a warning, and `unsupported` keys that cannot be ignored without
 * changing where traffic goes (an error when set). Anything else warns "unknown key".
 * Checks that need the whole document (names that refer to each other, duplicates) live
 * in normalize.ts.
 */

import {
  Infer,
  Schema,
  any,
  array,
  boolean,
  duration,
  enumOf,
  integer,
  number,
  object,
  string,
  tagged,
} from './schema';
import { isValidHost, parseHostPort } from './address';
import { bootstrapShape } from './xds-bootstrap';
import { retryOnSchema } from './retry-on';
import { tlsContextSchema } from './tls-schema';

// ---------------------------------------------------------------------------------------
// Small value types

/** RFC 9110 token characters: what an HTTP header name may contain. */
export const HEADER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Pseudo-headers a route may match on (HTTP/2 names for the request line and Host). */
export const PSEUDO_HEADERS = [':authority', ':path', ':method', ':scheme'] as const;

const headerName = string({ nonEmpty: true }).refine(
  (s) => HEADER_TOKEN.test(s),
  'is not a valid header name',
  'an HTTP header name such as "x-request-id"',
);

const matchHeaderName = string({ nonEmpty: true }).refine(
  (s) => HEADER_TOKEN.test(s) || (PSEUDO_HEADERS as readonly string[]).includes(s.toLowerCase()),
  'is not a valid header name',
  'an HTTP header name such as "x-version", or one of :authority, :path, :method, :scheme',
);

const listenAddress = string().refine(
  (s) => parseHostPort(s, { emptyHost: '0.0.0.0' }) !== undefined,
  'is not a valid address',
  '"host:port" such as "0.0.0.0:2045"',
);

const upstreamAddress = string().refine(
  (s) => parseHostPort(s, { minPort: 1 }) !== undefined,
  'is not a valid address',
  '"host:port" such as "127.0.0.1:8080"',
);

const port = integer({ min: 0, max: 65535 });

/** For timers where zero means nothing sensible (a connect that may never end, a check loop with no pause). */
const positiveDuration = duration().refine((ms) => ms > 0, 'is zero', 'a duration above zero such as "1s"');

const domain = string({ nonEmpty: true }).refine(
  (s) => /^(\*|\*?[A-Za-z0-9_.\-:[\]]+)$/.test(s),
  'is not a valid domain',
  '"*", a host such as "example.com", or a leading wildcard such as "*.example.com"',
);

/** MOSN's TLSConfig: tls-schema.ts (the keys), tls.ts (reading and checking the certificates). */
const tlsContext = tlsContextSchema;

// ---------------------------------------------------------------------------------------
// Routing (route.go)

const headerValueOption = object({
  header: object({ key: headerName, value: string().default('') }),
  append: boolean().optional(),
});

/** Header add/remove lists, allowed on a router config, a virtual host and a route. */
const headerMutations = {
  request_headers_to_add: array(headerValueOption).optional(),
  /** Not in MOSN (Envoy has it); mosnd accepts it at all three levels. */
  request_headers_to_remove: array(headerName).optional(),
  response_headers_to_add: array(headerValueOption).optional(),
  response_headers_to_remove: array(headerName).optional(),
};

const headerMatcher = object({
  name: matchHeaderName,
  value: string().default(''),
  regex: boolean().default(false),
});

const routeMatch = object(
  {
    prefix: string().optional(),
    path: string().optional(),
    regex: string().optional(),
    headers: array(headerMatcher).optional(),
  },
  {
    unsupported: {
      variables: 'ignoring these conditions would send more requests to this route',
      dsl_expressions: 'ignoring these conditions would send more requests to this route',
    },
  },
);

const weightedCluster = object({
  cluster: object(
    { name: string({ nonEmpty: true }), weight: integer({ min: 0 }) },
    { notImplemented: ['metadata_match'] },
  ),
});

const retryPolicy = object({
  retry_on: retryOnSchema.default({ failures: false, grpcStatuses: [] }),
  retry_timeout: duration().optional(),
  num_retries: integer({ min: 0 }).optional(),
});

const routeAction = object(
  {
    cluster_name: string({ nonEmpty: true }).optional(),
    weighted_clusters: array(weightedCluster).optional(),
    timeout: duration().optional(),
    retry_policy: retryPolicy.optional(),
    prefix_rewrite: string().optional(),
    host_rewrite: string().optional(),
    ...headerMutations,
  },
  {
    notImplemented: ['upstream_protocol', 'hash_policy', 'metadata_match', 'auto_host_rewrite', 'auto_host_rewrite_header'],
    unsupported: {
      cluster_header: 'the cluster would be chosen from a request header',
      regex_rewrite: 'the upstream path would be rewritten',
    },
  },
);

export const REDIRECT_CODES = [301, 302, 303, 307, 308] as const;

const redirectAction = object({
  response_code: integer()
    .refine((c) => (REDIRECT_CODES as readonly number[]).includes(c), 'is not a redirect status', 'one of 301, 302, 303, 307, 308')
    .optional(),
  path_redirect: string().optional(),
  host_redirect: string().optional(),
  scheme_redirect: enumOf(['http', 'https'], { caseInsensitive: true }).optional(),
});

const directResponse = object({
  status: integer({ min: 100, max: 599, expected: 'an HTTP status from 100 to 599' }),
  body: string().default(''),
});

const routeEntry = object(
  {
    match: routeMatch.optional(),
    route: routeAction.optional(),
    redirect: redirectAction.optional(),
    direct_response: directResponse.optional(),
  },
  { notImplemented: ['metadata', 'per_filter_config', 'request_mirror_policies'] },
);

const virtualHost = object(
  {
    name: string().default(''),
    domains: array(domain).default([]),
    routers: array(routeEntry).default([]),
    ...headerMutations,
  },
  { notImplemented: ['require_tls', 'per_filter_config'] },
);

export const routerConfigSchema = object(
  {
    router_config_name: string({ nonEmpty: true }),
    virtual_hosts: array(virtualHost).default([]),
    ...headerMutations,
  },
  { unsupported: { router_configs: 'virtual hosts would be read from files in that directory' } },
);

// ---------------------------------------------------------------------------------------
// Listeners and network filters (server.go, proxy.go)

/** Protocol names MOSN registers that mosnd does not speak (yet). */
const OTHER_PROTOCOLS = ['X', 'bolt', 'boltv2', 'dubbo', 'dubbothrift', 'tars', 'SofaRpc'];

/** Clients: HTTP/1.1, HTTP/2 (h2c with prior knowledge), or Auto (sniffed per connection). */
const downstreamProtocol = enumOf(['Http1', 'Http2', 'Auto'], { caseInsensitive: true, notImplemented: OTHER_PROTOCOLS });
/** Upstreams: HTTP/1.1, HTTP/2 (h2c with prior knowledge; gRPC), or Auto (the client's protocol). */
const upstreamProtocol = enumOf(['Http1', 'Http2', 'Auto'], { caseInsensitive: true, notImplemented: OTHER_PROTOCOLS });

const proxyConfig = object(
  {
    downstream_protocol: downstreamProtocol.optional(),
    upstream_protocol: upstreamProtocol.optional(),
    router_config_name: string({ nonEmpty: true }).optional(),
  },
  { notImplemented: ['name', 'validate_clusters', 'extend_config', 'fallback_for_unknown_protocol'] },
);

const tcpRoute = object(
  {
    cluster: string({ nonEmpty: true }),
    source_addrs: array(string()).optional(),
    destination_addrs: array(string()).optional(),
  },
  { notImplemented: ['source_port', 'destination_port'] },
);

const tcpProxyConfig = object(
  {
    cluster: string({ nonEmpty: true }).optional(),
    // MOSN declares this one as a bare time.Duration: its JSON form is nanoseconds.
    idle_timeout: duration({ nanosNumbers: true }).optional(),
    routes: array(tcpRoute).optional(),
  },
  { notImplemented: ['stat_prefix', 'max_connect_attempts'] },
);

const networkFilter = tagged(
  {
    proxy: proxyConfig,
    tcp_proxy: tcpProxyConfig,
    /** Older MOSN files define a router config inside the filter chain this way. */
    connection_manager: routerConfigSchema,
  },
  {
    what: 'network filter',
    notImplemented: ['udp_proxy', 'fault_inject', 'rpc_proxy', 'x_proxy', 'transcoder', 'grpc', 'tunnel'],
    otherKeys: ['go_plugin_config'],
  },
);

const streamFilter = tagged(
  {},
  {
    what: 'stream filter',
    notImplemented: [
      'fault', 'payload_limit', 'gzip', 'fault_tolerance', 'istio.stats', 'dsl', 'mirror', 'mixer',
      'healthcheck', 'flowcontrol', 'ipaccess', 'jwt_authn', 'keyauth', 'rbac', 'transcoder',
      'headertometadata', 'seata', 'dubbo_stream_filter', 'proxywasm', 'grpc_metric',
    ],
    otherKeys: ['go_plugin_config'],
  },
);

const filterChain = object(
  {
    filters: array(networkFilter).default([]),
    tls_context: tlsContext.optional(),
    tls_context_set: array(tlsContext).optional(),
  },
  { notImplemented: ['match'] },
);

/** MOSN's AccessLog (config.go): mosnd writes JSON lines; MOSN's `log_format` template is not implemented. */
const accessLog = object(
  {
    log_path: string({ nonEmpty: true }),
    disable: boolean().optional(),
  },
  { notImplemented: ['log_format'] },
);

const listener = object(
  {
    name: string({ nonEmpty: true }).optional(),
    address: listenAddress,
    bind_port: boolean().optional(),
    network: enumOf(['tcp'], { caseInsensitive: true, notImplemented: ['udp', 'unix'] }).optional(),
    filter_chains: array(filterChain).default([]),
    stream_filters: array(streamFilter).optional(),
    access_logs: array(accessLog).optional(),
    // MOSN: an idle client connection (keep-alive, or a stalled request body) is closed after this.
    connection_idle_timeout: positiveDuration.optional(),
    // mosnd extensions: connections served at once by each worker on this listener, and the
    // time a client has to send a whole request head from its first byte (slowloris).
    max_connections: integer({ min: 1 }).optional(),
    request_headers_timeout: positiveDuration.optional(),
  },
  {
    notImplemented: [
      'type', 'listener_filters', 'inspector', 'tunnel_listener',
      'per_conn_buffer_limit_bytes',
    ],
    unsupported: { use_original_dst: 'connections would be forwarded to their original destination' },
  },
);

export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const;

const server = object(
  {
    default_log_path: string({ nonEmpty: true }).optional(),
    default_log_level: enumOf(LOG_LEVELS, { caseInsensitive: true }).optional(),
    graceful_timeout: duration().optional(),
    listeners: array(listener).default([]),
    routers: array(routerConfigSchema).default([]),
  },
  { notImplemented: ['mosn_server_name', 'global_log_roller', 'use_netpoll_mode', 'optimize_local_write', 'processor'] },
);

// ---------------------------------------------------------------------------------------
// Upstream (upstream.go)

const thresholds = object({
  // 0 would refuse every connection / request: almost surely a mistake, so >= 1.
  max_connections: integer({ min: 1 }).optional(),
  max_pending_requests: integer({ min: 1 }).optional(),
  max_requests: integer({ min: 1 }).optional(),
  max_retries: integer({ min: 0 }).optional(),
});

/** MOSN's HttpCheckConfig (pkg/upstream/healthcheck/httpdial.go): `port` replaces the host's
 *  port for the check (0, Go's zero value, means the host's own), `timeout` bounds the request. */
const httpCheckConfig = object({
  path: string()
    .refine((p) => p.startsWith('/'), 'is not an absolute path', 'a path such as "/healthz"')
    .optional(),
  port: integer({ min: 0, max: 65535 }).optional(),
  timeout: positiveDuration.optional(),
});

const healthCheck = object(
  {
    protocol: string().optional(),
    timeout: positiveDuration.optional(),
    interval: positiveDuration.optional(),
    healthy_threshold: integer({ min: 1 }).optional(),
    unhealthy_threshold: integer({ min: 1 }).optional(),
    interval_jitter: duration().optional(),
    check_config: object({ http_check_config: httpCheckConfig.optional() }).optional(),
    /** MOSN's HealthCheck.ServiceName: with protocol "Grpc", the service the gRPC check asks about. */
    service_name: string().optional(),
    /** Envoy's HealthCheck.grpc_health_check: a gRPC check (grpc.health.v1.Health/Check). */
    grpc_health_check: object(
      { service_name: string().optional(), authority: string().optional() },
      { notImplemented: ['initial_metadata'] },
    ).optional(),
  },
  { notImplemented: ['common_callbacks'] },
);

/**
 * Passive health checking, a mosnd extension with Envoy's names and meaning
 * (cluster.outlier_detection): MOSN v2 has no such key. Durations are Go-style like the rest.
 */
const outlierDetection = object(
  {
    consecutive_5xx: integer({ min: 1 }).optional(),
    consecutive_gateway_failure: integer({ min: 1 }).optional(),
    interval: positiveDuration.optional(),
    base_ejection_time: positiveDuration.optional(),
    max_ejection_time: positiveDuration.optional(),
    max_ejection_percent: integer({ min: 0, max: 100 }).optional(),
  },
  {
    notImplemented: [
      'enforcing_consecutive_5xx', 'enforcing_consecutive_gateway_failure', 'enforcing_success_rate',
      'success_rate_minimum_hosts', 'success_rate_request_volume', 'success_rate_stdev_factor',
      'split_external_local_origin_errors', 'consecutive_local_origin_failure', 'enforcing_consecutive_local_origin_failure',
      'enforcing_local_origin_success_rate', 'failure_percentage_threshold', 'enforcing_failure_percentage',
      'enforcing_failure_percentage_local_origin', 'failure_percentage_minimum_hosts', 'failure_percentage_request_volume',
      'max_ejection_time_jitter', 'successful_active_health_check_uneject_host',
    ],
  },
);

/** MOSN clamps host weights to [MinHostWeight, MaxHostWeight] = [1, 128] (constants.go). */
export const MAX_HOST_WEIGHT = 128;

const host = object(
  {
    address: upstreamAddress,
    weight: integer({ min: 1, max: MAX_HOST_WEIGHT }).optional(),
    // Descriptive only (MOSN uses metadata for subset load balancing, not implemented).
    hostname: string().optional(),
    metadata: any().optional(),
  },
  { notImplemented: ['tls_disable'] },
);

export const CLUSTER_TYPES = ['SIMPLE', 'STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS', 'DYNAMIC', 'ORIGINAL_DST'] as const;

/** MOSN's DnsLookupFamily values; unset resolves both. */
export const DNS_LOOKUP_FAMILIES = ['V4_ONLY', 'V6_ONLY'] as const;

export const LB_TYPES = ['LB_ROUNDROBIN', 'LB_RANDOM', 'LB_WEIGHTED_ROUNDROBIN', 'LB_LEAST_REQUEST'] as const;

const cluster = object(
  {
    name: string({ nonEmpty: true }),
    // MOSN's types, plus Envoy's LOGICAL_DNS; EDS, DYNAMIC and ORIGINAL_DST are served as
    // SIMPLE, as MOSN falls back for a type it has no factory for (normalize-clusters.ts warns).
    type: enumOf(CLUSTER_TYPES).optional(),
    lb_type: enumOf(LB_TYPES, {
      notImplemented: ['LB_ORIGINAL_DST', 'LB_MAGLEV', 'LB_LEAST_CONNECTION', 'LB_REQUEST_ROUNDROBIN', 'LB_PEAK_EWMA'],
    }).optional(),
    max_request_per_conn: integer({ min: 0 }).optional(),
    connect_timeout: positiveDuration.optional(),
    idle_timeout: duration().optional(),
    circuit_breakers: array(thresholds).optional(),
    health_check: healthCheck.optional(),
    outlier_detection: outlierDetection.optional(),
    dns_refresh_rate: positiveDuration.optional(),
    dns_lookup_family: enumOf(DNS_LOOKUP_FAMILIES).optional(),
    hosts: array(host).default([]),
    tls_context: tlsContext.optional(),
  },
  {
    notImplemented: [
      'sub_type', 'conn_buffer_limit_bytes', 'spec', 'lb_subset_config', 'original_dst_lb_config', 'lbconfig',
      'respect_dns_ttl', 'dns_resolvers', 'dns_resolver_file',
      'dns_resolver_port', 'cluster_pool_enable', 'slow_start',
    ],
  },
);

const clusterManager = object(
  { clusters: array(cluster).default([]) },
  {
    notImplemented: ['auto_discovery', 'registry_use_health_check'],
    unsupported: { clusters_configs: 'clusters would be read from files in that directory' },
  },
);

// ---------------------------------------------------------------------------------------
// Admin, metrics, top level (config.go)

const admin = object({
  address: object({
    socket_address: object(
      {
        address: string().refine(isValidHost, 'is not a valid host', 'an IP address such as "127.0.0.1"').optional(),
        port_value: port.optional(),
      },
      { notImplemented: ['protocol', 'ipv4_compat', 'resolver_name', 'named_port'] },
    ),
  }),
});

const prometheusSink = object(
  { port: port.optional(), endpoint: string().optional() },
  { notImplemented: ['percentiles', 'disable_collect_go', 'disable_collect_process'] },
);

const metrics = object(
  { sinks: array(tagged({ prometheus: prometheusSink }, { what: 'metrics sink', notImplemented: ['console'] })).optional() },
  { notImplemented: ['stats_matcher', 'shm_zone', 'shm_size', 'flush_mosn', 'lazy_flush'] },
);

/**
 * A mosnd extension after Envoy's overload manager: what a worker does when it runs short of
 * memory or file descriptors, instead of dying (see src/worker/overload.ts).
 */
const overloadManager = object({
  refresh_interval: positiveDuration.optional(),
  /** Used V8 heap / heap limit at which a worker stops accepting, answers new requests 503
   *  (flag OM) and closes idle connections. */
  heap_threshold: number({ min: 0, max: 1, expected: 'a ratio between 0 and 1' }).optional(),
  /** Open file descriptors / the soft RLIMIT_NOFILE at which a worker stops accepting. */
  fd_threshold: number({ min: 0, max: 1, expected: 'a ratio between 0 and 1' }).optional(),
});

export const configSchema = object(
  {
    overload_manager: overloadManager.optional(),
    servers: array(server),
    cluster_manager: clusterManager.optional(),
    admin: admin.optional(),
    metrics: metrics.optional(),
    pid: string({ nonEmpty: true }).optional(),
    uds_dir: string({ nonEmpty: true }).optional(),
    ...bootstrapShape,
  },
  {
    expected: 'a MOSN v2 configuration object',
    notImplemented: [
      'tracing', 'extends', 'pprof', 'plugin', 'third_part_codec',
      'wasm_global_plugins', 'close_graceful', 'inherit_old_mosnconfig', 'service_registry',
    ],
  },
);

export type RawConfig = Infer<typeof configSchema>;
export type RawServer = RawConfig['servers'][number];
export type RawListener = RawServer['listeners'][number];
export type RawFilter = RawListener['filter_chains'][number]['filters'][number];
export type RawRouterConfig = Infer<typeof routerConfigSchema>;
export type RawVirtualHost = RawRouterConfig['virtual_hosts'][number];
export type RawRoute = RawVirtualHost['routers'][number];
export type RawHeaderValueOption = Infer<typeof headerValueOption>;
export type RawCluster = NonNullable<RawConfig['cluster_manager']>['clusters'][number];
