/**
 * A worker's metrics. The hot path only touches plain numbers: the counters the proxy code
 * already keeps (WorkerContext.counters, Cluster/UpstreamHost stats, pool sizes) and, per
 * finished request (`observe`), a few increments and one bucket of a plain array. Nothing
 * here calls prom-client: `snapshot()` turns the numbers into prom-client's
 * `getMetricsAsJSON()` shape only when the master asks, and the master merges the
 * snapshots of all workers with `AggregatorRegistry.aggregate()` (src/master/metrics.ts).
 *
 * Data metrics carry no `worker` label: the master sums them across workers.
 */
import type { RequestRecord, WorkerContext } from './context';
import type { ClusterStats } from './cluster/cluster';
import type { HostStats } from './cluster/host';
import type { MetricJson, MetricsSnapshot } from '../shared/ipc';
import { tlsMetrics } from './tls/stats';
import { M } from '../shared/metric-names';

/** Upper bounds (seconds) of the latency histograms: from half a millisecond (a local
 *  upstream on keep-alive) to a minute (past the default route timeout of 15 s). */
export const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Counts per latency bucket (not cumulative), plus sum and count, like prom-client keeps them. */
class Histogram {
  readonly counts = new Float64Array(LATENCY_BUCKETS_S.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS_S.length && seconds > LATENCY_BUCKETS_S[i]) i++;
    this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }

  /** The `_bucket` (cumulative), `_sum` and `_count` values of one label set. */
  export(name: string, labels: Record<string, string>, out: MetricJson['values']): void {
    let cumulative = 0;
    for (let i = 0; i <= LATENCY_BUCKETS_S.length; i++) {
      cumulative += this.counts[i];
      const le = i < LATENCY_BUCKETS_S.length ? LATENCY_BUCKETS_S[i] : '+Inf';
      out.push({ labels: { le, ...labels }, value: cumulative, metricName: `${name}_bucket` });
    }
    out.push({ labels: { ...labels }, value: this.sum, metricName: `${name}_sum` });
    out.push({ labels: { ...labels }, value: this.count, metricName: `${name}_count` });
  }
}

interface ListenerFigures {
  total: number;
  /** Index 1..5 for 1xx..5xx. */
  byClass: number[];
  flags: Map<string, number>;
  /** gRPC calls by grpc-status. */
  grpc: Map<number, number>;
  time: Histogram;
}

/**
 * Counters of a cluster or host object, kept monotonic across reloads: a reload that
 * changes a cluster replaces its object (fresh stats at zero), so the figures of the
 * object it replaced are folded into `base`.
 */
interface Tracked<S> {
  obj: { stats: S };
  base: S;
}

function add<S extends object>(a: S, b: S): S {
  const out = { ...a } as Record<string, number>;
  for (const [k, v] of Object.entries(b as Record<string, number>)) out[k] = (out[k] ?? 0) + v;
  return out as S;
}

function zeroLike<S extends object>(s: S): S {
  const out: Record<string, number> = {};
  for (const k of Object.keys(s)) out[k] = 0;
  return out as S;
}

export class WorkerMetrics {
  private readonly listeners = new Map<string, ListenerFigures>();
  private readonly upstreamTime = new Map<string, Histogram>();
  private readonly clusters = new Map<string, Tracked<ClusterStats>>();
  private readonly hosts = new Map<string, Tracked<HostStats> & { cluster: string; host: string }>();

  /** Per finished HTTP request (ctx.onRequest): plain increments only. */
  observe(r: RequestRecord): void {
    let l = this.listeners.get(r.listener);
    if (l === undefined) {
      l = { total: 0, byClass: [0, 0, 0, 0, 0, 0], flags: new Map(), grpc: new Map(), time: new Histogram() };
      this.listeners.set(r.listener, l);
    }
    l.total++;
    const cls = (r.status / 100) | 0;
    if (cls >= 1 && cls <= 5) l.byClass[cls]++;
    if (r.flag !== '') l.flags.set(r.flag, (l.flags.get(r.flag) ?? 0) + 1);
    if (r.grpcStatus >= 0) l.grpc.set(r.grpcStatus, (l.grpc.get(r.grpcStatus) ?? 0) + 1);
    l.time.observe(r.durationMs / 1000);
    if (r.upstreamMs >= 0 && r.cluster !== '') {
      let h = this.upstreamTime.get(r.cluster);
      if (h === undefined) {
        h = new Histogram();
        this.upstreamTime.set(r.cluster, h);
      }
      h.observe(r.upstreamMs / 1000);
    }
  }

  /**
   * Takes note of the current cluster and host objects. Called before a reload swaps
   * them, so the counts of the replaced ones are kept (see Tracked).
   */
  remember(ctx: WorkerContext): void {
    for (const cl of ctx.clusters.all()) {
      this.track(this.clusters, cl.name, cl);
      for (const h of cl.hosts) this.track(this.hosts, `${cl.name}\u0000${h.address}`, h, { cluster: cl.name, host: h.address });
    }
  }

  /** The worker's figures in prom-client's JSON shape. */
  snapshot(ctx: WorkerContext): MetricsSnapshot {
    this.remember(ctx);
    const metric = (name: string, type: MetricJson['type'], help: string): MetricJson => ({
      name,
      help,
      type,
      values: [],
      aggregator: 'sum',
    });
    const c = ctx.counters;
    const cxTotal = metric(M.cxTotal, 'counter', 'Downstream connections accepted');
    cxTotal.values.push({ labels: {}, value: c.connectionsTotal });
    const cxActive = metric(M.cxActive, 'gauge', 'Downstream connections open');
    cxActive.values.push({ labels: {}, value: c.connectionsActive });
    const rqActive = metric(M.rqActive, 'gauge', 'Downstream requests in flight');
    rqActive.values.push({ labels: {}, value: c.requestsActive });
    const cxOverflow = metric(M.cxOverflow, 'counter', 'Downstream connections closed at accept: their listener was at max_connections');
    cxOverflow.values.push({ labels: {}, value: c.connectionsOverflow });
    const cxBatch = metric(M.cxAcceptedInBatch, 'counter', 'Downstream connections accepted in a burst, beside the one per event-loop turn that libuv accepts');
    cxBatch.values.push({ labels: {}, value: c.acceptedInBatch });
    const shed = metric(M.overloadShed, 'counter', 'Requests answered 503 (flag OM) by the overload manager');
    shed.values.push({ labels: {}, value: c.overloadShed });
    const rapid = metric(M.h2RapidResetCloses, 'counter', 'HTTP/2 connections closed with GOAWAY ENHANCE_YOUR_CALM for resetting too many streams');
    rapid.values.push({ labels: {}, value: c.h2RapidResetCloses });
    const floods = metric(M.h2Floods, 'counter', 'HTTP/2 connections closed for a flood: CONTINUATION frames (kind continuation) or unanswered PING/SETTINGS/RST frames (kind control)');
    floods.values.push({ labels: { kind: 'continuation' }, value: c.h2Floods.continuation }, { labels: { kind: 'control' }, value: c.h2Floods.control });
    const h2Sessions = metric(M.h2Sessions, 'gauge', 'Downstream HTTP/2 connections open');
    h2Sessions.values.push({ labels: {}, value: c.h2SessionsActive });
    const h2Streams = metric(M.h2Streams, 'gauge', 'Streams open on downstream HTTP/2 connections');
    h2Streams.values.push({ labels: {}, value: c.h2StreamsActive });
    const paused = metric(M.overloadAcceptPaused, 'gauge', 'Workers that stopped accepting under overload (memory or file descriptors)');
    paused.values.push({ labels: {}, value: ctx.acceptPaused ? 1 : 0 });

    const rqTotal = metric(M.rqTotal, 'counter', 'Downstream HTTP requests finished');
    const rqXx = metric(M.rqXx, 'counter', 'Downstream HTTP responses by status class');
    const rqFlag = metric(M.rqFlag, 'counter', 'Downstream HTTP requests by Envoy response flag (UH, UF, UT, UC, DC, UO, NR, NC)');
    const rqGrpc = metric(M.rqGrpc, 'counter', 'Downstream gRPC calls by grpc-status (the upstream\'s, or the one mosnd answered)');
    const rqTime = metric(M.rqTime, 'histogram', 'Downstream request duration, from the request head to the end of the response, in seconds');
    for (const [listener, l] of this.listeners) {
      rqTotal.values.push({ labels: { listener }, value: l.total });
      for (let i = 1; i <= 5; i++) {
        rqXx.values.push({ labels: { listener, response_code_class: `${i}xx` }, value: l.byClass[i] });
      }
      for (const [flag, n] of l.flags) rqFlag.values.push({ labels: { listener, response_flag: flag }, value: n });
      for (const [code, n] of l.grpc) rqGrpc.values.push({ labels: { listener, grpc_status: String(code) }, value: n });
      l.time.export(M.rqTime, { listener }, rqTime.values);
    }

    const up = {
      rqTotal: metric(M.upRqTotal, 'counter', 'Upstream requests (and tcp_proxy connections) per cluster'),
      rqRetry: metric(M.upRqRetry, 'counter', 'Upstream request retries per cluster'),
      rqTimeout: metric(M.upRqTimeout, 'counter', 'Upstream requests that timed out per cluster'),
      rqOverflow: metric(M.upRqOverflow, 'counter', 'Upstream requests refused by the circuit breakers (pending queue full, or max_requests in flight)'),
      cxConnectFail: metric(M.upCxConnectFail, 'counter', 'Upstream connection attempts that failed per cluster'),
      outlierEjections: metric(M.upOutlierEjections, 'counter', 'Hosts ejected by outlier detection per cluster (summed over workers)'),
      cxActive: metric(M.upCxActive, 'gauge', 'Upstream connections open or opening per cluster'),
      rqActive: metric(M.upRqActive, 'gauge', 'Upstream requests in flight per cluster'),
      rqPending: metric(M.upRqPending, 'gauge', 'Requests waiting for an upstream connection per cluster'),
      rqTime: metric(M.upRqTime, 'histogram', 'Upstream latency, from sending the request to the response head, in seconds'),
      rqRetryOverflow: metric(M.upRqRetryOverflow, 'counter', 'Retries not started because max_retries retries of the cluster were in flight'),
    };
    const host = {
      rqTotal: metric(M.hostRqTotal, 'counter', 'Upstream requests per host'),
      cxTotal: metric(M.hostCxTotal, 'counter', 'Upstream connections opened per host'),
      cxConnectFail: metric(M.hostCxConnectFail, 'counter', 'Upstream connection attempts that failed per host'),
      rqActive: metric(M.hostRqActive, 'gauge', 'Upstream requests in flight per host'),
      cxActive: metric(M.hostCxActive, 'gauge', 'Connection pool size per host (open or opening)'),
      cxIdle: metric(M.hostCxIdle, 'gauge', 'Idle keep-alive connections in the pool per host'),
      healthFailed: metric(M.hostHealthFailed, 'gauge', 'Workers that see the host as unhealthy (0 = healthy everywhere)'),
      ejected: metric(M.hostEjected, 'gauge', 'Workers whose outlier detection has the host ejected now'),
      h2Sessions: metric(M.hostH2Sessions, 'gauge', 'HTTP/2 sessions to the host (open or opening; also counted in the pool size)'),
      h2Streams: metric(M.hostH2Streams, 'gauge', 'Streams in flight on the HTTP/2 sessions to the host'),
    };

    for (const cl of ctx.clusters.all()) {
      const cluster = cl.name;
      const labels = { cluster };
      up.cxActive.values.push({ labels, value: cl.openConnections });
      up.rqActive.values.push({ labels, value: cl.activeRequests });
      up.rqPending.values.push({ labels, value: cl.pendingRequests });
      for (const h of cl.hosts) {
        const hl = { cluster, host: h.address };
        host.rqActive.values.push({ labels: hl, value: h.activeRequests });
        host.cxActive.values.push({ labels: hl, value: h.pool.open + (h.h2?.open ?? 0) });
        if (h.h2 !== null) {
          host.h2Sessions.values.push({ labels: hl, value: h.h2.open });
          host.h2Streams.values.push({ labels: hl, value: h.h2.streams });
        }
        host.cxIdle.values.push({ labels: hl, value: h.pool.idleCount });
        host.healthFailed.values.push({ labels: hl, value: h.healthChecked ? 0 : 1 });
        host.ejected.values.push({ labels: hl, value: h.ejected ? 1 : 0 });
      }
    }
    for (const [cluster, t] of this.clusters) {
      const s = add(t.base, t.obj.stats);
      const labels = { cluster };
      up.rqTotal.values.push({ labels, value: s.rqTotal });
      up.rqRetry.values.push({ labels, value: s.rqRetry });
      up.rqTimeout.values.push({ labels, value: s.rqTimeout });
      up.rqOverflow.values.push({ labels, value: s.rqPendingOverflow });
      up.cxConnectFail.values.push({ labels, value: s.cxConnectFail });
      up.outlierEjections.values.push({ labels, value: s.outlierEjections });
      up.rqRetryOverflow.values.push({ labels, value: s.rqRetryOverflow });
    }
    for (const t of this.hosts.values()) {
      const s = add(t.base, t.obj.stats);
      const labels = { cluster: t.cluster, host: t.host };
      host.rqTotal.values.push({ labels, value: s.rqTotal });
      host.cxTotal.values.push({ labels, value: s.cxTotal });
      host.cxConnectFail.values.push({ labels, value: s.cxConnectFail });
    }
    for (const [cluster, h] of this.upstreamTime) h.export(M.upRqTime, { cluster }, up.rqTime.values);

    return [cxTotal, cxActive, cxOverflow, cxBatch, shed, rapid, floods, h2Sessions, h2Streams, paused, rqTotal, rqActive, rqXx, rqFlag, rqGrpc, rqTime, ...Object.values(up), ...Object.values(host), ...tlsMetrics()];
  }

  private track<S extends object, X extends object>(
    map: Map<string, Tracked<S> & X>,
    key: string,
    obj: { stats: S },
    extra?: X,
  ): void {
    const t = map.get(key);
    if (t === undefined) {
      map.set(key, { obj, base: zeroLike(obj.stats), ...(extra as X) });
    } else if (t.obj !== obj) {
      t.base = add(t.base, t.obj.stats);
      t.obj = obj;
    }
  }
}
