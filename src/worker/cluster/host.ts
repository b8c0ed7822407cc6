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
  /** What the load balancers read on every pick: healthChecked and not ejected, kept here
   *  (set by the two setters below) so a pick reads one field. */
  healthy = true;
  /** The master's active health checker says so (true until told otherwise). */
  healthChecked = true;
  /** This worker's outlier detection state (null without outlier_detection). */
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

  /** Taken out by this worker's outlier detection. */
  get ejected(): boolean {
    return this.outlier !== null && this.outlier.ejectedUntil !== 0;
  }

  setHealthChecked(healthy: boolean): void {
    this.healthChecked = healthy;
    this.healthy = healthy && !this.ejected;
  }

  /** The detector changed `outlier.ejectedUntil`: what the balancers read follows. */
  ejectionChanged(): void {
    this.healthy = this.healthChecked && !this.ejected;
  }
}
