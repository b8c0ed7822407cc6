/** An upstream host of a cluster: what the load balancer reads, plus its connection pools
 *  (HTTP/1.1 connections; HTTP/2 sessions, made at the first HTTP/2 request). */
import type { HostConfig } from '../../shared/config/model';
import type { LbHost } from '../lb';
import { Http1Pool } from './pool';
import { Http2Pool } from './h2-pool';
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
  /** Null until a stream goes to this host over HTTP/2 (most hosts never need one). */
  h2: Http2Pool | null = null;

  constructor(
    cfg: HostConfig,
    private readonly cluster: Cluster,
  ) {
    this.address = cfg.address;
    this.host = cfg.host;
    this.port = cfg.port;
    this.weight = cfg.weight;
    this.pool = new Http1Pool(this, cluster);
  }

  /** The HTTP/2 session pool, made on first use. */
  h2Pool(): Http2Pool {
    return (this.h2 ??= new Http2Pool(this, this.cluster));
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
