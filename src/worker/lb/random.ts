/**
 * Random (MOSN LB_RANDOM): uniform among the healthy hosts; weights are ignored, as in MOSN.
 * Counting then indexing keeps the choice exactly uniform when some hosts are down.
 */

import { countEligible, fallback, nthEligible } from './eligible';
import type { LbHost, LoadBalancer, RandomSource } from './types';

export class RandomBalancer<H extends LbHost> implements LoadBalancer<H> {
  private readonly hosts: readonly H[];

  constructor(hosts: readonly H[], private readonly random: RandomSource = Math.random) {
    this.hosts = hosts.slice();
  }

  pick(exclude?: H): H | undefined {
    const hosts = this.hosts;
    const n = countEligible(hosts, exclude);
    if (n === 0) return fallback(hosts, exclude);
    const k = Math.min(n - 1, Math.floor(this.random() * n));
    return hosts[nthEligible(hosts, exclude, k)];
  }
}
