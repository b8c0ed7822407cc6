/**
 * The cluster manager of a worker. On a config change, clusters whose config is unchanged
 * keep their pools (live upstream connections survive a reload); changed or removed ones
 * are replaced and their idle connections closed (active ones close when released).
 */
import type { ClusterConfig, HostConfig } from '../../shared/config/model';
import { Cluster, OutlierListener } from './cluster';

/** Idle upstream connections are checked for expiry this often: fine enough for idle
 *  timeouts of seconds, and one timer per worker instead of one per connection. */
const POOL_SWEEP_INTERVAL_MS = 1_000;

export class ClusterManager {
  private clusters = new Map<string, Cluster>();
  private configs = new Map<string, string>();
  /** Hosts the master's health checker sees as unhealthy, by cluster then address: kept
   *  apart from the hosts so a cluster rebuilt by a reload starts from the same state. */
  private readonly unhealthy = new Map<string, Set<string>>();
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(
    configs: ClusterConfig[],
    private readonly onOutlier?: OutlierListener,
  ) {
    this.update(configs);
    this.sweepTimer = setInterval(() => this.sweep(), POOL_SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  all(): IterableIterator<Cluster> {
    return this.clusters.values();
  }

  update(configs: ClusterConfig[]): void {
    const next = new Map<string, Cluster>();
    const nextConfigs = new Map<string, string>();
    for (const cfg of configs) {
      // A DNS cluster is the same cluster whatever its current resolved hosts (the names are
      // in cfg.dns): they change by setClusterHosts, so a reload keeps its pools.
      // So is an EDS cluster (xDS): a new endpoint set keeps the pools of the hosts that stay.
      const json = JSON.stringify(cfg.dns || cfg.eds ? { ...cfg, hosts: undefined } : cfg);
      const old = this.clusters.get(cfg.name);
      if (old && this.configs.get(cfg.name) === json) {
        next.set(cfg.name, old);
        if (cfg.eds && !old.hasHosts(cfg.hosts)) {
          old.setHosts(cfg.hosts);
          this.applyHealth(old);
        }
      } else next.set(cfg.name, this.applyHealth(new Cluster(cfg, this.onOutlier)));
      nextConfigs.set(cfg.name, json);
    }
    for (const [name, old] of this.clusters) if (next.get(name) !== old) old.close();
    this.clusters = next;
    this.configs = nextConfigs;
  }

  /**
   * The master resolved a DNS cluster's names to `hosts`: applied like a reload of its
   * hosts (Cluster.setHosts), with the health checker's verdicts on the addresses.
   */
  setClusterHosts(cluster: string, hosts: HostConfig[]): void {
    const c = this.clusters.get(cluster);
    if (!c || c.hasHosts(hosts)) return;
    c.setHosts(hosts);
    this.applyHealth(c);
  }

  /**
   * The master's health checker says `address` of `cluster` is (un)healthy: the load
   * balancers skip it from the next pick. Remembered for a cluster not (yet) known here.
   */
  setHostHealth(cluster: string, address: string, healthy: boolean): void {
    let set = this.unhealthy.get(cluster);
    if (healthy) {
      set?.delete(address);
      if (set?.size === 0) this.unhealthy.delete(cluster);
    } else {
      if (!set) this.unhealthy.set(cluster, (set = new Set()));
      set.add(address);
    }
    const c = this.clusters.get(cluster);
    if (c) for (const h of c.hosts) if (h.address === address) h.setHealthChecked(healthy);
  }

  private applyHealth(c: Cluster): Cluster {
    const set = this.unhealthy.get(c.name);
    if (set) for (const h of c.hosts) h.setHealthChecked(!set.has(h.address));
    return c;
  }

  private sweep(): void {
    const now = Date.now();
    for (const c of this.clusters.values()) c.sweep(now);
  }

  close(): void {
    clearInterval(this.sweepTimer);
    for (const c of this.clusters.values()) c.close();
  }
}
