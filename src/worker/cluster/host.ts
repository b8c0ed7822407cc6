/** An upstream host of a cluster: what the load balancer reads, plus its connection pool. */
import type { HostConfig } from '../../shared/config/model';
import type { LbHost } from '../lb';
import { Http1Pool } from './pool';
import type { Cluster } from './cluster';
import type { HostOutlierState, OutlierHost } from './outlier';

export interface HostStats {
  rqTotal: number;
  cxTotal: number;
  cxConnectFail: number;
}

export class UpstreamHost implements LbHost, OutlierHost {
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  /** What the load balancers read: the health checker's verdict and not ejected. */
  healthy = true;
  /** The master's active health checker says so (true until told otherwise). */
  healthChecked = true;
  /** Taken out by this worker's outlier detection. */
  ejected = false;
  outlier: HostOutlierState | null = null;
  activeRequests = 0;
  readonly pool: Http1Pool;
  readonly stats: HostStats = { rqTotal: 0, cxTotal: 0, cxConnectFail: 0 };

  constructor(cfg: HostConfig, cluster: Cluster) {
    this.address = cfg.address;
    this.host = cfg.host;
    this.port = cfg.port;
    this.weight = cfg.weight;
    this.pool = new Http1Pool(this, cluster);
  }

  setHealthChecked(healthy: boolean): void {
    this.healthChecked = healthy;
    this.healthy = healthy && !this.ejected;
  }

  setEjected(ejected: boolean): void {
    this.ejected = ejected;
    this.healthy = this.healthChecked && !ejected;
  }
}
