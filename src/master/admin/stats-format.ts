/**
 * The admin pages that show the aggregated metrics in Envoy's shapes: `/stats` (one
 * `name: value` line per series, dotted like `cluster.<name>.upstream_rq_total`) and
 * `/clusters` (`cluster::host::stat::value` lines, or JSON with `?format=json`).
 */
import type { ClusterConfig } from '../../shared/config/model';
import type { MetricJson, MetricsSnapshot } from '../../shared/ipc';
import { M } from '../../shared/metric-names';
import type { HostHealthView } from '../health/checker';

export interface StatLine {
  name: string;
  value: number;
}

const PREFIX = 'mosnd_';
/** Labels that become a scope in front of the stat name, in this order (Envoy's habit). */
const SCOPES = ['listener', 'cluster', 'host', 'worker'] as const;

function statName(metricName: string, labels: Record<string, string | number>): string {
  let name = metricName.startsWith(PREFIX) ? metricName.slice(PREFIX.length) : metricName;
  const scope: string[] = [];
  for (const k of SCOPES) if (labels[k] !== undefined) scope.push(`${k}.${labels[k]}`);
  const cls = labels.response_code_class;
  if (cls !== undefined && name.endsWith('_xx_total')) name = `${name.slice(0, -'_xx_total'.length)}_${cls}`;
  // Envoy's names: `upstream_rq_retry`, but `upstream_rq_total` and `downstream_cx_total`.
  if (name.endsWith('_total') && !/_(rq|cx)_total$/.test(name)) name = name.slice(0, -'_total'.length);
  // Under `host.<address>.` the `upstream_host_` part says nothing more.
  if (labels.host !== undefined && name.startsWith('upstream_host_')) name = name.slice('upstream_host_'.length);
  const rest = Object.entries(labels)
    .filter(([k]) => !(SCOPES as readonly string[]).includes(k) && k !== 'response_code_class')
    .map(([, v]) => String(v));
  return [...scope, [name, ...rest].join('.')].join('.');
}

/** Quantile estimate from cumulative buckets (upper bound of the bucket that holds it). */
function quantile(buckets: Array<{ le: number; count: number }>, total: number, q: number): number {
  if (total === 0) return 0;
  const rank = q * total;
  for (const b of buckets) if (b.count >= rank) return b.le;
  return Infinity;
}

/** Every series as an Envoy-style stat; histograms as count, sum and P50/P90/P99 estimates. */
export function statLines(snapshot: MetricsSnapshot): StatLine[] {
  const out: StatLine[] = [];
  for (const m of snapshot) {
    if (m.type !== 'histogram') {
      for (const v of m.values) out.push({ name: statName(m.name, v.labels), value: v.value });
      continue;
    }
    for (const h of histogramSeries(m)) {
      const base = statName(m.name, h.labels);
      out.push({ name: `${base}.count`, value: h.count });
      out.push({ name: `${base}.sum`, value: round(h.sum) });
      for (const q of [0.5, 0.9, 0.99]) {
        out.push({ name: `${base}.p${Math.round(q * 100)}`, value: quantile(h.buckets, h.count, q) });
      }
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

interface HistogramSeries {
  labels: Record<string, string | number>;
  buckets: Array<{ le: number; count: number }>;
  sum: number;
  count: number;
}

function histogramSeries(m: MetricJson): HistogramSeries[] {
  const series = new Map<string, HistogramSeries>();
  const get = (labels: Record<string, string | number>): HistogramSeries => {
    const { le: _le, ...rest } = labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    let s = series.get(key);
    if (!s) {
      s = { labels: rest, buckets: [], sum: 0, count: 0 };
      series.set(key, s);
    }
    return s;
  };
  for (const v of m.values) {
    const s = get(v.labels);
    if (v.metricName?.endsWith('_bucket')) {
      const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
      s.buckets.push({ le, count: v.value });
    } else if (v.metricName?.endsWith('_sum')) s.sum = v.value;
    else if (v.metricName?.endsWith('_count')) s.count = v.value;
  }
  for (const s of series.values()) s.buckets.sort((a, b) => a.le - b.le);
  return [...series.values()];
}

export function formatStatsText(lines: StatLine[]): string {
  return lines.map((l) => `${l.name}: ${l.value}`).join('\n') + '\n';
}

/** Value of one series of the snapshot (0 when absent). */
function lookup(snapshot: MetricsSnapshot, name: string, labels: Record<string, string>): number {
  const m = snapshot.find((x) => x.name === name);
  if (!m) return 0;
  const keys = Object.keys(labels);
  const v = m.values.find((x) => keys.every((k) => String(x.labels[k]) === labels[k]) && Object.keys(x.labels).length === keys.length);
  return v?.value ?? 0;
}

export interface HostStatus {
  address: string;
  weight: number;
  healthy: boolean;
  /** The active health check of this host, if it has one. */
  check?: { lastResult: string; lastCheckAt: number; failures: number; successes: number };
  stats: Record<string, number>;
}

export interface ClusterStatus {
  name: string;
  circuitBreakers: Record<string, number>;
  stats: Record<string, number>;
  hosts: HostStatus[];
}

/**
 * Each configured cluster with its hosts, health and counters (summed over the workers).
 * A host's health is the master's health checker's when it checks that host (the workers
 * apply the same state), else what the workers' last snapshots say.
 */
export function clusterStatuses(
  clusters: ClusterConfig[],
  snapshot: MetricsSnapshot,
  hostHealth?: (cluster: string, address: string) => HostHealthView | undefined,
): ClusterStatus[] {
  return clusters.map((c) => {
    const cl = { cluster: c.name };
    return {
      name: c.name,
      circuitBreakers: {
        max_connections: c.circuitBreakers.maxConnections,
        max_pending_requests: c.circuitBreakers.maxPendingRequests,
        max_requests: c.circuitBreakers.maxRequests,
        max_retries: c.circuitBreakers.maxRetries,
      },
      stats: {
        upstream_rq_total: lookup(snapshot, M.upRqTotal, cl),
        upstream_rq_active: lookup(snapshot, M.upRqActive, cl),
        upstream_rq_pending_active: lookup(snapshot, M.upRqPending, cl),
        upstream_rq_retry: lookup(snapshot, M.upRqRetry, cl),
        upstream_rq_timeout: lookup(snapshot, M.upRqTimeout, cl),
        upstream_rq_pending_overflow: lookup(snapshot, M.upRqOverflow, cl),
        upstream_cx_active: lookup(snapshot, M.upCxActive, cl),
        upstream_cx_connect_fail: lookup(snapshot, M.upCxConnectFail, cl),
      },
      hosts: c.hosts.map((h) => {
        const hl = { cluster: c.name, host: h.address };
        const hc = hostHealth?.(c.name, h.address);
        return {
          address: h.address,
          weight: h.weight,
          healthy: hc ? hc.healthy : lookup(snapshot, M.hostHealthFailed, hl) === 0,
          ...(hc ? { check: { lastResult: hc.lastResult, lastCheckAt: hc.lastCheckAt, failures: hc.failures, successes: hc.successes } } : {}),
          stats: {
            cx_active: lookup(snapshot, M.hostCxActive, hl),
            cx_idle: lookup(snapshot, M.hostCxIdle, hl),
            cx_total: lookup(snapshot, M.hostCxTotal, hl),
            cx_connect_fail: lookup(snapshot, M.hostCxConnectFail, hl),
            rq_active: lookup(snapshot, M.hostRqActive, hl),
            rq_total: lookup(snapshot, M.hostRqTotal, hl),
          },
        };
      }),
    };
  });
}

/** Envoy's text form of /clusters. */
export function formatClustersText(statuses: ClusterStatus[]): string {
  const lines: string[] = [];
  for (const c of statuses) {
    for (const [k, v] of Object.entries(c.circuitBreakers)) lines.push(`${c.name}::default_priority::${k}::${v}`);
    for (const [k, v] of Object.entries(c.stats)) lines.push(`${c.name}::${k}::${v}`);
    for (const h of c.hosts) {
      for (const [k, v] of Object.entries(h.stats)) lines.push(`${c.name}::${h.address}::${k}::${v}`);
      lines.push(`${c.name}::${h.address}::health_flags::${h.healthy ? 'healthy' : '/failed_active_hc'}`);
      lines.push(`${c.name}::${h.address}::weight::${h.weight}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Envoy's JSON form of /clusters (`cluster_statuses`), with mosnd's counters per host. */
export function clustersJson(statuses: ClusterStatus[]): unknown {
  return {
    cluster_statuses: statuses.map((c) => ({
      name: c.name,
      circuit_breakers: c.circuitBreakers,
      stats: c.stats,
      host_statuses: c.hosts.map((h) => ({
        address: h.address,
        weight: h.weight,
        health_status: { eds_health_status: h.healthy ? 'HEALTHY' : 'UNHEALTHY', failed_active_health_check: !h.healthy },
        ...(h.check
          ? {
              active_health_check: {
                last_result: h.check.lastResult,
                last_check_time: h.check.lastCheckAt ? new Date(h.check.lastCheckAt).toISOString() : null,
                consecutive_failures: h.check.failures,
                consecutive_successes: h.check.successes,
              },
            }
          : {}),
        stats: h.stats,
      })),
    })),
  };
}
