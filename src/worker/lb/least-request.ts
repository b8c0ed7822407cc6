/**
 * Least request (MOSN LB_LEAST_REQUEST), after Envoy:
 * - all eligible hosts weigh the same: power of two choices -- draw two distinct healthy
 *   hosts at random and take the one with fewer active requests (the first drawn on a tie);
 * - weights differ: a random draw where each host counts weight / (activeRequests + 1)
 *   (Envoy's effective weight with active_request_bias 1), so an idle 3:1 pair gets 3:1 of
 *   the traffic and a busy host loses share as its requests pile up.
 * One or two passes over the hosts per pick, no allocation.
 */

import { effectiveWeight, fallback, isEligible, nthEligible } from './eligible';
import type { LbHost, LoadBalancer, RandomSource } from './types';

export class LeastRequestBalancer<H extends LbHost> implements LoadBalancer<H> {
  private readonly hosts: readonly H[];

  constructor(hosts: readonly H[], private readonly random: RandomSource = Math.random) {
    this.hosts = hosts.slice();
  }

  pick(exclude?: H): H | undefined {
    const hosts = this.hosts;
    let count = 0;
    let sum = 0;
    let weight = -1;
    let uniform = true;
    for (let i = 0; i < hosts.length; i++) {
      const h = hosts[i];
      if (!isEligible(h, exclude)) continue;
      const w = effectiveWeight(h);
      if (weight >= 0 && w !== weight) uniform = false;
      weight = w;
      count++;
      sum += w / (h.activeRequests + 1);
    }
    if (count === 0) return fallback(hosts, exclude);
    if (count === 1) return hosts[nthEligible(hosts, exclude, 0)];
    return uniform ? this.twoChoices(count, exclude) : this.weightedDraw(sum, exclude);
  }

  private twoChoices(count: number, exclude: H | undefined): H {
    const hosts = this.hosts;
    const a = Math.min(count - 1, Math.floor(this.random() * count));
    let b = Math.min(count - 2, Math.floor(this.random() * (count - 1)));
    if (b >= a) b++;
    const first = hosts[nthEligible(hosts, exclude, a)];
    const second = hosts[nthEligible(hosts, exclude, b)];
    return second.activeRequests < first.activeRequests ? second : first;
  }

  private weightedDraw(sum: number, exclude: H | undefined): H {
    const hosts = this.hosts;
    let draw = this.random() * sum;
    let last = -1;
    for (let i = 0; i < hosts.length; i++) {
      const h = hosts[i];
      if (!isEligible(h, exclude)) continue;
      last = i;
      draw -= effectiveWeight(h) / (h.activeRequests + 1);
      if (draw < 0) return h;
    }
    // Rounding left the draw at the very top: the last eligible host.
    return hosts[last];
  }
}
