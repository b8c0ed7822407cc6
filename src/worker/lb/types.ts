/** The load-balancing interface: one policy per file behind it. */

/** What a balancer reads from an upstream host; `healthy` and `activeRequests` change at run time. */
export interface LbHost {
  readonly weight: number;
  readonly healthy: boolean;
  readonly activeRequests: number;
}

export interface LoadBalancer<H extends LbHost> {
  /**
   * A healthy host, or undefined when none is healthy (the caller answers 503).
   * `exclude` (e.g. the host that just failed, on retry) is avoided when another healthy
   * host exists, and returned when it is the only healthy one.
   */
  pick(exclude?: H): H | undefined;
}

/** A source of uniform numbers in [0, 1), like Math.random (injectable for tests). */
export type RandomSource = () => number;
