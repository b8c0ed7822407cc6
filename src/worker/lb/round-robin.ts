/**
 * Round robin (MOSN LB_ROUNDROBIN): hosts in list order, one after another, skipping
 * unhealthy ones. Weights are ignored, as in MOSN; LB_WEIGHTED_ROUNDROBIN honours them.
 */

import { fallback, isEligible } from './eligible';
import type { LbHost, LoadBalancer } from './types';

export class RoundRobinBalancer<H extends LbHost> implements LoadBalancer<H> {
  private readonly hosts: readonly H[];
  private next = 0;

  constructor(hosts: readonly H[]) {
    this.hosts = hosts.slice();
  }

  pick(exclude?: H): H | undefined {
    const hosts = this.hosts;
    const n = hosts.length;
    for (let step = 0; step < n; step++) {
      const i = (this.next + step) % n;
      if (isEligible(hosts[i], exclude)) {
        this.next = (i + 1) % n;
        return hosts[i];
      }
    }
    return fallback(hosts, exclude);
  }
}
