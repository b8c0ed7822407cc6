/** An upstream host of a cluster: what the load balancer reads, plus its connection pool. */
import type { HostConfig } from '../../shared/config/model';
import type { LbHost } from '../lb';
import { Http1Pool } from './pool';
import type { Cluster } from './cluster';

export interface HostStats {
  rqTotal: number;
  cxTotal: number;
  cxConnectFail: number;
}

export class UpstreamHost implements LbHost {
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  healthy = true;
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
}
