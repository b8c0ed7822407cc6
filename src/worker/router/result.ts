/**
 * A route compiled together with its virtual host and router config. `RouteTable.match`
 * returns these prebuilt objects as is (nothing request-specific lives here), so a match
 * allocates no result.
 */

import type { Route, RouterConfig, VirtualHost } from '../../shared/config/model';
import type { HeaderMatcher, PathMatcher } from './match';
import type { HeaderPlan } from './mutations';

/** Weighted clusters as cumulative weights, for a binary search on a random draw. */
export interface WeightedChoice {
  readonly names: readonly string[];
  /** cumulative[i] = sum of weights 0..i. */
  readonly cumulative: readonly number[];
  readonly total: number;
}

export class RouteMatchResult {
  constructor(
    readonly route: Route,
    readonly vhost: VirtualHost,
    readonly router: RouterConfig,
    /** Position of the route in its virtual host (for logs). */
    readonly index: number,
    readonly pathMatcher: PathMatcher,
    readonly headerMatchers: readonly HeaderMatcher[],
    readonly requestPlan: HeaderPlan,
    readonly responsePlan: HeaderPlan,
    readonly weighted: WeightedChoice | undefined,
  ) {}
}
