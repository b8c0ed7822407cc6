/** Load balancers: one policy per file, chosen by the cluster's lb_type. */

import type { LbType } from '../../shared/config/model';
import { LeastRequestBalancer } from './least-request';
import { RandomBalancer } from './random';
import { RoundRobinBalancer } from './round-robin';
import { SmoothWeightedBalancer } from './smooth-weighted';
import type { LbHost, LoadBalancer } from './types';

export type { LbHost, LoadBalancer, RandomSource } from './types';
export { LeastRequestBalancer, RandomBalancer, RoundRobinBalancer, SmoothWeightedBalancer };

/**
 * A balancer over a fixed host list (build a new one when the cluster's hosts change);
 * host health and active request counts are read on every pick.
 */
export function createLoadBalancer<H extends LbHost>(type: LbType, hosts: readonly H[]): LoadBalancer<H> {
  switch (type) {
    case 'ROUNDROBIN':
      return new RoundRobinBalancer(hosts);
    case 'RANDOM':
      return new RandomBalancer(hosts);
    case 'WEIGHTED_ROUNDROBIN':
      return new SmoothWeightedBalancer(hosts);
    case 'LEAST_REQUEST':
      return new LeastRequestBalancer(hosts);
    default:
      throw new TypeError(`unknown load balancer type ${String(type)}`);
  }
}
