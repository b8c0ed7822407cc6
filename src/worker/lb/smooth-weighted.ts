/**
 * Smooth weighted round robin (MOSN LB_WEIGHTED_ROUNDROBIN), the nginx algorithm: on each pick
 * every eligible host's current weight grows by its weight, the largest current weight wins
 * and is lowered by the sum of the eligible weights. Deterministic; over a cycle of
 * sum(weights) picks each host is chosen exactly `weight` times, spread out evenly
 * (weights 5,1,1 give a a b a c a a). Ties go to the host listed first.
 */

import { effectiveWeight, fallback, isEligible } from './eligible';
import type { LbHost, LoadBalancer } from './types';

export class SmoothWeightedBalancer<H extends LbHost> implements LoadBalancer<H> {
  private readonly hosts: readonly H[];
  private readonly current: Float64Array;

  constructor(hosts: readonly H[]) {
    this.hosts = hosts.slice();
    this.current = new Float64Array(this.hosts.length);
  }

  pick(exclude?: H): H | undefined {
    const hosts = this.hosts;
    const current = this.current;
    let best = -1;
    let total = 0;
    for (let i = 0; i < hosts.length; i++) {
      const h = hosts[i];
      if (!isEligible(h, exclude)) continue;
      const w = effectiveWeight(h);
      current[i] += w;
      total += w;
      if (best < 0 || current[i] > current[best]) best = i;
    }
    if (best < 0) return fallback(hosts, exclude);
    current[best] -= total;
    return hosts[best];
  }
}
