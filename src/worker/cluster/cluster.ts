/** A cluster: its hosts, its load balancer, its circuit-breaker counters and statistics. */
import type { CircuitBreakers, ClusterConfig, HostConfig } from '../../shared/config/model';
import { createLoadBalancer, LoadBalancer } from '../lb';
import { UpstreamHost } from './host';
import { OutlierDetector, OutlierEvent } from './outlier';

export interface ClusterStats {
  rqTotal: number;
  rqRetry: number;
  /** Retries not started because max_retries were in flight (Envoy's upstream_rq_retry_overflow). */
  rqRetryOverflow: number;
  rqTimeout: number;
  rqPendingOverflow: number;
  cxConnectFail: number;
  /** Hosts ejected by outlier detection (Envoy's outlier_detection.ejections_enforced_total). */
  outlierEjections: number;
}

/** Outlier events of a cluster, for the worker's log. */
export type OutlierListener = (cluster: string, e: OutlierEvent) => void;

export class Cluster {
  readonly name: string;
  readonly config: ClusterConfig;
  /** Replaced (not changed in place) when a DNS cluster's host set changes: see setHosts. */
  hosts: UpstreamHost[];
  lb: LoadBalancer<UpstreamHost>;
  readonly circuitBreakers: CircuitBreakers;
  openConnections = 0;
  pendingRequests = 0;
  activeRequests = 0;
  /** The requests whose current try is a retry (max_retries bounds how many): the try's
   *  owner is added when the retry starts and removed when that try ends. */
  private readonly retrying = new Set<object>();
  readonly stats: ClusterStats = { rqTotal: 0, rqRetry: 0, rqRetryOverflow: 0, rqTimeout: 0, rqPendingOverflow: 0, cxConnectFail: 0, outlierEjections: 0 };
  /** Null when the cluster has no outlier_detection: callers skip reporting. */
  outlier: OutlierDetector | null;

  constructor(
    config: ClusterConfig,
    private readonly onOutlier?: OutlierListener,
  ) {
    this.name = config.name;
    this.config = config;
    this.circuitBreakers = config.circuitBreakers;
    this.hosts = config.hosts.map((h) => new UpstreamHost(h, this));
    this.lb = createLoadBalancer(config.lbType, this.hosts);
    this.outlier = this.createOutlier();
  }

  private createOutlier(): OutlierDetector | null {
    const cfg = this.config.outlierDetection;
    return cfg
      ? new OutlierDetector(cfg, this.hosts, (e) => {
          if (e.ejected) this.stats.outlierEjections++;
          this.onOutlier?.(this.name, e);
        })
      : null;
  }

  /**
   * A new host set (a DNS cluster's names resolved anew), applied like a reload of the hosts:
   * a host still in the set (same address and weight) is kept with its pool, its counters and
   * its outlier state; a host that left closes its idle connections now and its active ones
   * when their exchange ends. The balancer starts over on the new list.
   */
  setHosts(configs: readonly HostConfig[]): void {
    const old = new Map(this.hosts.map((h) => [h.address, h]));
    const next = configs.map((c) => {
      const h = old.get(c.address);
      if (h !== undefined && h.weight === c.weight) {
        old.delete(c.address);
        return h;
      }
      return new UpstreamHost(c, this);
    });
    for (const h of old.values()) {
      h.pool.close();
      h.h2?.close();
    }
    this.hosts = next;
    this.lb = createLoadBalancer(this.config.lbType, next);
    this.outlier = this.createOutlier();
  }

  /** Whether the hosts are exactly these (addresses and weights, in order). */
  hasHosts(configs: readonly HostConfig[]): boolean {
    return configs.length === this.hosts.length && configs.every((c, i) => c.address === this.hosts[i].address && c.weight === this.hosts[i].weight);
  }

  /**
   * A request routed to this cluster: counted in `activeRequests` (the caller's end of the
   * request takes it off again), and admitted unless the max_requests circuit breaker is
   * open. Like Envoy's and MOSN's, the breaker bounds the requests the cluster has in flight
   * upstream; those waiting in the pending queue are bounded by max_pending_requests instead,
   * so they do not count here. An overflow is counted where MOSN and Envoy count it, with the
   * pending overflows (upstream_rq_pending_overflow); the caller answers 503, flag UO.
   */
  admitRequest(): boolean {
    const full = this.activeRequests - this.pendingRequests >= this.circuitBreakers.maxRequests;
    this.activeRequests++;
    if (full) {
      this.stats.rqPendingOverflow++;
      return false;
    }
    this.stats.rqTotal++;
    return true;
  }

  /**
   * The max_retries circuit breaker, with Envoy's and MOSN's meaning: a cluster-wide bound on
   * retries in flight (not a per-request count: that is the route's num_retries). Starts a
   * retry for `owner` when fewer than max_retries are in flight; otherwise counts the
   * overflow and returns false, and the caller fails the request as it would without retry.
   */
  startRetry(owner: object): boolean {
    if (this.retrying.size >= this.circuitBreakers.maxRetries) {
      this.stats.rqRetryOverflow++;
      return false;
    }
    this.retrying.add(owner);
    this.stats.rqRetry++;
    return true;
  }

  /** The current try of `owner` is over: if it was a retry, it no longer counts. */
  endRetry(owner: object): void {
    if (this.retrying.size !== 0) this.retrying.delete(owner);
  }

  pickHost(exclude?: UpstreamHost): UpstreamHost | undefined {
    return this.lb.pick(exclude);
  }

  sweep(now: number): void {
    this.outlier?.sweep(now);
    for (const h of this.hosts) {
      h.pool.sweep(now, this.config.idleTimeoutMs, this.config.maxIdlePerHost);
      h.h2?.sweep(now, this.config.idleTimeoutMs);
    }
  }

  close(): void {
    for (const h of this.hosts) {
      h.pool.close();
      h.h2?.close();
    }
  }
}
