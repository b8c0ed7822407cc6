/**
 * Values mosnd uses when a MOSN config leaves a setting out, each with where it comes from.
 */

/** servers[].graceful_timeout: MOSN's pkg/server GracefulTimeout is 30s. */
export const DEFAULT_GRACEFUL_TIMEOUT_MS = 30_000;

/** servers[].default_log_path / default_log_level: MOSN logs to stdout at INFO by default. */
export const DEFAULT_LOG_PATH = 'stdout';
export const DEFAULT_LOG_LEVEL = 'info';

/**
 * Route timeout (whole exchange until the response head): MOSN's types.DefaultRouteTimeout
 * and Envoy's route timeout both default to 15s.
 */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

/**
 * retry_policy.num_retries when retries are on but no count is given: Envoy's default is 1.
 */
export const DEFAULT_NUM_RETRIES = 1;

/** redirect.response_code: 301 in MOSN and Envoy. */
export const DEFAULT_REDIRECT_CODE = 301;

/**
 * clusters[].connect_timeout: mosnd's choice. 3s leaves room for one retransmitted SYN
 * (Linux's initial RTO is 1s) yet fails over to another host quickly.
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;

/** clusters[].max_request_per_conn: MOSN's v2.DefaultMaxRequestPerConn is 1024. */
export const DEFAULT_MAX_REQUEST_PER_CONN = 1024;

/**
 * clusters[].idle_timeout for keep-alive upstream connections: mosnd's choice, nginx's
 * upstream keepalive_timeout (60s). Envoy keeps them 1h, which pins sockets on upstreams
 * for little gain.
 */
export const DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS = 60_000;

/**
 * Idle keep-alive connections kept per upstream host (no MOSN key): enough to absorb a
 * burst of concurrent requests without reconnecting, small enough that a quiet proxy
 * does not hold hundreds of sockets per host. Capped by max_connections.
 */
export const DEFAULT_MAX_IDLE_PER_HOST = 64;

/** Circuit breakers: Envoy's defaults for the default priority. */
export const DEFAULT_CIRCUIT_BREAKERS = {
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
} as const;

/** health_check.timeout / interval: MOSN's healthcheck.DefaultTimeout (1s) and DefaultInterval (15s). */
export const DEFAULT_HEALTH_CHECK_TIMEOUT_MS = 1_000;
export const DEFAULT_HEALTH_CHECK_INTERVAL_MS = 15_000;

/**
 * health_check thresholds: MOSN has no default (0 would never change a host's state), so
 * mosnd picks: one success brings a host back, two failures in a row take it out.
 */
export const DEFAULT_HEALTHY_THRESHOLD = 1;
export const DEFAULT_UNHEALTHY_THRESHOLD = 2;

/**
 * outlier_detection: Envoy's defaults (consecutive_5xx 5, interval 10s, base_ejection_time
 * 30s, max_ejection_time 300s, max_ejection_percent 10), so an Envoy user's expectations hold.
 */
export const DEFAULT_OUTLIER = {
  consecutive5xx: 5,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionTimeMs: 300_000,
  maxEjectionPercent: 10,
} as const;

/**
 * clusters[].dns_refresh_rate of STRICT_DNS / LOGICAL_DNS clusters: MOSN's
 * DefaultRefreshInterval and Envoy's default dns_refresh_rate are both 5s.
 */
export const DEFAULT_DNS_REFRESH_MS = 5_000;

/** admin.address.socket_address: MOSN's conventional admin port; loopback so it is not exposed by accident. */
export const DEFAULT_ADMIN_HOST = '127.0.0.1';
export const DEFAULT_ADMIN_PORT = 34901;

/** The host the prometheus sink listens on: MOSN's sink listens on every interface
 *  (`":" + port`), because Prometheus scrapes from elsewhere. */
export const PROMETHEUS_SINK_HOST = '0.0.0.0';

/** The prometheus sink path MOSN serves (the only one mosnd serves). */
export const PROMETHEUS_ENDPOINT = '/metrics';

/**
 * overload_manager (a mosnd extension after Envoy's): how often a worker measures its heap and
 * file descriptors. Envoy's default refresh_interval is 1s; a second is also the granularity
 * at which a flood can outrun the check, so the thresholds leave room below the hard limits.
 */
export const DEFAULT_OVERLOAD_REFRESH_MS = 1_000;

/**
 * overload_manager.heap_threshold: at 95% of V8's heap limit a worker sheds new requests and
 * idle connections. Past ~98% V8 spends its time in full GCs and then aborts the process, so
 * acting at 95% leaves the GC room to recover what shedding frees.
 */
export const DEFAULT_OVERLOAD_HEAP_THRESHOLD = 0.95;

/**
 * overload_manager.fd_threshold: at 95% of the soft RLIMIT_NOFILE a worker stops accepting, so
 * the connections it cannot open an upstream for wait in the shared accept queue (another
 * worker, or this one once it recovers, takes them) instead of being accepted and reset.
 */
export const DEFAULT_OVERLOAD_FD_THRESHOLD = 0.95;
