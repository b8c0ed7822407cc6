/**
 * The normalized configuration model: what the rest of mosnd consumes.
 *
 * The raw MOSN v2 JSON is described once by the schema in `schema.ts` (raw types are
 * derived from it); `normalize.ts` turns a validated raw document into this model:
 * durations in milliseconds, addresses split, enums resolved, names cross-checked.
 * Everything here is plain JSON-serialisable data so the master can send it to
 * workers over IPC unchanged (regular expressions travel as source strings).
 */

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export type LbType = 'ROUNDROBIN' | 'RANDOM' | 'WEIGHTED_ROUNDROBIN' | 'LEAST_REQUEST';

export interface MosndConfig {
  /** Absolute path of the file this came from, or '<built-in>'. */
  source: string;
  /** servers[0].default_log_path: 'stdout', 'stderr' or a file path. */
  logPath: string;
  logLevel: LogLevel;
  /** servers[0].graceful_timeout; default 30s. */
  gracefulTimeoutMs: number;
  /** Top-level `pid`, if set. */
  pidFile?: string;
  /** Top-level `uds_dir`, if set. */
  udsDir?: string;
  listeners: ListenerConfig[];
  /** servers[0].routers, keyed by router_config_name (order kept). */
  routers: RouterConfig[];
  clusters: ClusterConfig[];
  admin?: { host: string; port: number };
  /** metrics.sinks[type=prometheus].config.port, if set. */
  prometheusPort?: number;
  /** `overload_manager` (a mosnd extension), defaults applied. */
  overload: OverloadConfig;
  /** `dynamic_resources` (Envoy bootstrap, MOSN's Istio mode): listeners, routes, clusters and
   *  endpoints also come from a control plane over ADS (src/master/xds/). */
  xds?: XdsConfig;
}

/** How the master reaches its control plane and what it subscribes to (src/master/xds/). */
export interface XdsConfig {
  node: { id: string; cluster: string; metadata: Record<string, unknown> };
  /** The static_resources cluster named by ads_config: the addresses are tried in turn. */
  server: { cluster: string; addresses: Array<{ host: string; port: number }>; connectTimeoutMs: number };
  /** lds_config / cds_config given (through ADS): listeners / clusters are subscribed (wildcard). */
  lds: boolean;
  cds: boolean;
  ldsInitialFetchTimeoutMs: number;
  cdsInitialFetchTimeoutMs: number;
}

export interface OverloadConfig {
  refreshMs: number;
  /** Ratios (0..1) at which the actions start; they stop OVERLOAD_RECOVERY_MARGIN below. */
  heapThreshold: number;
  fdThreshold: number;
}

export interface ListenerConfig {
  name: string;
  /** Host part of `address` ('0.0.0.0', '127.0.0.1', '::'). */
  host: string;
  /** Port of `address`; 0 means "pick one" (used by tests). */
  port: number;
  /** MOSN `bind_port`: false = not bound at start or reload until `POST /listeners/bind?name=`
   *  (or a config where it is true) binds it; once bound it stays bound while its address does. */
  bindPort: boolean;
  /** What the filter chain does: an HTTP proxy or an L4 TCP proxy. */
  kind: 'http' | 'tcp';
  /** kind=http: the router_config_name of the `proxy` filter. */
  routerConfigName?: string;
  /** kind=http: what clients speak: 'Http1', 'Http2' (h2c, prior knowledge) or 'Auto' (sniffed). */
  downstreamProtocol?: 'Http1' | 'Http2' | 'Auto';
  /** kind=http: what upstreams are spoken to in: 'Http1', 'Http2' (h2c, prior knowledge), or
   *  'Auto' (an Auto listener's: each stream's own protocol). Unset in the file = Auto (MOSN). */
  upstreamProtocol?: 'Http1' | 'Http2' | 'Auto';
  /** Listener `max_connections` (a mosnd extension): connections served at once per worker. */
  maxConnections?: number;
  /** kind=http: MOSN `connection_idle_timeout` (idle keep-alive, or a request body that stalls). */
  idleTimeoutMs?: number;
  /** kind=http: `request_headers_timeout` (a mosnd extension): a whole head from its first byte. */
  headersTimeoutMs?: number;
  /** kind=tcp: the cluster of the `tcp_proxy` filter. */
  tcpCluster?: string;
  /** kind=tcp: idle timeout for a proxied pair, 0 = none. */
  tcpIdleTimeoutMs?: number;
  /** MOSN `access_logs` (enabled ones): one JSON line per HTTP request to each path ('stdout', 'stderr' or a file). */
  accessLogs?: AccessLogConfig[];
  /** The filter chain's `tls_context` / `tls_context_set` with `status: true` (tls.ts). */
  tls?: ListenerTlsConfig;
}

/**
 * TLS settings with the PEM text read and checked by the master (src/shared/config/tls.ts),
 * so workers never read files and a reload carries the certificates it validated.
 */
export interface TlsMaterial {
  /** PEM: the certificate chain and its key (a key field name that /config_dump redacts). */
  certChain?: string;
  privateKey?: string;
  /** PEM bundle of the CAs that verify the peer. */
  ca?: string;
  /** OpenSSL cipher list (`cipher_suites`), curve list (`ecdh_curves`), protocol bounds. */
  ciphers?: string;
  ecdhCurve?: string;
  minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
}

export interface ServerCertConfig extends TlsMaterial {
  certChain: string;
  privateKey: string;
  /** Lower-cased names SNI picks this certificate by: its SAN DNS names (or CN), `*.x` wildcards
   *  included, plus the context's `server_name`. */
  names: string[];
  /** When the certificate expires, seconds since the epoch (mosnd_tls_cert_expiry_timestamp_seconds). */
  notAfter: number;
}

export interface ListenerTlsConfig {
  /** One per enabled context; the first also serves clients that send no (or an unknown) SNI. */
  certs: ServerCertConfig[];
  /** Ask for a client certificate and verify it against `ca` (verify_client). */
  verifyClient: boolean;
  /** Refuse a client without a certificate (require_client_cert, or verify_client alone). */
  requireClientCert: boolean;
  /** ALPN protocols offered, in order (`alpn`, else from downstream_protocol). */
  alpn: string[];
}

export interface UpstreamTlsConfig extends TlsMaterial {
  /** SNI and the name the server's certificate must carry (`server_name`, else the host). */
  serverName?: string;
  /** `insecure_skip`: the server's certificate is not verified. */
  insecureSkip: boolean;
  /** ALPN protocols offered (`alpn`, else from the cluster's upstream protocol). */
  alpn?: string[];
}

export interface AccessLogConfig {
  path: string;
}

export interface HeaderToAdd {
  key: string;
  value: string;
  /** Append to an existing header of that name (true) or replace it (false). */
  append: boolean;
}

export interface HeaderMatch {
  /** Lower-cased header name; ':authority', ':path', ':method' refer to the request line / host. */
  name: string;
  value: string;
  /** value is a regular expression source, searched in the value like Go's regexp.MatchString. */
  regex: boolean;
}

export interface RouteMatch {
  /** Exactly one of prefix / path / regex is set (prefix '/' when the config gives none). */
  prefix?: string;
  path?: string;
  /** Regular expression source, searched in the path without query (MOSN semantics). */
  regex?: string;
  headers: HeaderMatch[];
}

export interface WeightedCluster {
  name: string;
  weight: number;
}

export interface RetryPolicy {
  /** MOSN `retry_on` (or any of Envoy's conditions): retries are enabled. Failures where nothing
   *  reached the upstream (connect) are retried within the budget whatever the conditions. */
  retryOn: boolean;
  /** Envoy's gRPC conditions (`unavailable`...): the grpc-status codes of a try's response
   *  headers that are retried. Absent: none. */
  grpcStatuses?: number[];
  /** Per-try timeout in ms; 0 = use the route timeout. */
  retryTimeoutMs: number;
  numRetries: number;
}

export interface HeaderMutations {
  requestHeadersToAdd: HeaderToAdd[];
  /** Lower-cased names. */
  requestHeadersToRemove: string[];
  responseHeadersToAdd: HeaderToAdd[];
  /** Lower-cased names. */
  responseHeadersToRemove: string[];
}

export type RouteAction =
  | {
      kind: 'cluster';
      /** Single cluster, or weighted_clusters (then `cluster` is undefined). */
      cluster?: string;
      weightedClusters?: WeightedCluster[];
      /** Route timeout in ms (whole exchange until the response head); 0 = none. */
      timeoutMs: number;
      retry?: RetryPolicy;
      prefixRewrite?: string;
      hostRewrite?: string;
    }
  | {
      kind: 'redirect';
      /** 301 by default, as in MOSN/Envoy. */
      responseCode: number;
      pathRedirect?: string;
      hostRedirect?: string;
      schemeRedirect?: string;
    }
  | {
      kind: 'direct';
      status: number;
      body: string;
    };

export interface Route extends HeaderMutations {
  match: RouteMatch;
  action: RouteAction;
}

export interface VirtualHost extends HeaderMutations {
  name: string;
  /** Lower-cased; '*' alone, '*.suffix' / '*-suffix' wildcards, or exact (port stripped). */
  domains: string[];
  routes: Route[];
}

export interface RouterConfig extends HeaderMutations {
  name: string;
  virtualHosts: VirtualHost[];
}

export interface HostConfig {
  /** "ip:port" as written. */
  address: string;
  host: string;
  port: number;
  weight: number;
}

export interface CircuitBreakers {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
}

export interface HealthCheckConfig {
  /** One check's time limit: health_check.timeout, or http_check_config.timeout when shorter
   *  (in MOSN both run and the first to expire fails the check). */
  timeoutMs: number;
  intervalMs: number;
  /** MOSN `interval_jitter`: up to this much is added to each interval at random; absent =
   *  mosnd's small default jitter. */
  intervalJitterMs?: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  /** HTTP path to GET; absent = TCP connect check. */
  httpPath?: string;
  /** HTTP check: http_check_config.port, checked instead of the host's own port. */
  httpPort?: number;
  /** gRPC check (grpc.health.v1.Health/Check): the service asked about ('' = the server as a
   *  whole). Absent = not a gRPC check. */
  grpcService?: string;
  /** gRPC check: the :authority sent (Envoy grpc_health_check.authority); absent = the host's address. */
  grpcAuthority?: string;
  /** The cluster's tls_context: checks connect over TLS as traffic does (a host whose
   *  certificate does not verify is unhealthy). */
  tls?: UpstreamTlsConfig;
}

/** Passive health checking (cluster.outlier_detection, Envoy's meaning), per worker. */
export interface OutlierDetectionConfig {
  /** Consecutive 5xx (or local failures: connect, reset, timeout) that eject a host. */
  consecutive5xx: number;
  /** Consecutive 502/503/504 (or local failures) that eject a host; 0 = not enforced. */
  consecutiveGatewayFailure: number;
  /** How often an unejected host's ejection multiplier is lowered by one. */
  intervalMs: number;
  /** Ejection time = base × times ejected, capped by maxEjectionTimeMs. */
  baseEjectionTimeMs: number;
  maxEjectionTimeMs: number;
  /** Most hosts of the cluster ejected at once, in percent (at least one host may be). */
  maxEjectionPercent: number;
}

export interface ClusterConfig {
  name: string;
  lbType: LbType;
  connectTimeoutMs: number;
  /** 0 = unlimited requests per upstream connection. */
  maxRequestPerConn: number;
  /** Idle keep-alive connections kept per host. */
  maxIdlePerHost: number;
  /** How long an idle upstream connection is kept, ms. */
  idleTimeoutMs: number;
  circuitBreakers: CircuitBreakers;
  healthCheck?: HealthCheckConfig;
  outlierDetection?: OutlierDetectionConfig;
  /** The hosts traffic goes to. For a DNS cluster the master replaces them with the resolved
   *  set (`dns.hosts` keeps them as configured). */
  hosts: HostConfig[];
  /** STRICT_DNS / LOGICAL_DNS clusters only. */
  dns?: DnsConfig;
  /** The cluster's `tls_context` with `status: true`: TLS to every host. */
  tls?: UpstreamTlsConfig;
  /** An xDS cluster whose hosts come from EDS: a new host set is applied like a DNS cluster's
   *  (hosts that stay keep their pools), not as a new cluster. */
  eds?: boolean;
}

/**
 * Name resolution of a STRICT_DNS or LOGICAL_DNS cluster, done by the master
 * (src/master/health/dns.ts), which pushes each new host set to the workers.
 */
export interface DnsConfig {
  /** STRICT_DNS: every resolved address of a name is a host; LOGICAL_DNS: the first only. */
  type: 'STRICT_DNS' | 'LOGICAL_DNS';
  /** dns_refresh_rate: how often names are resolved again. */
  refreshMs: number;
  /** dns_lookup_family: 4 (V4_ONLY), 6 (V6_ONLY) or 0 (both). */
  family: 0 | 4 | 6;
  /** The hosts as configured (names and IP literals). */
  hosts: HostConfig[];
}

/** One problem found in a config file. */
export interface ConfigIssue {
  /** JSON path such as `servers[0].listeners[1].address`. */
  path: string;
  message: string;
}
