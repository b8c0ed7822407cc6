/** HTTP routing: route table, weighted clusters, rewrites, redirects, header mutations. */

export { RouteTable } from './table';
export type { RouteRequest } from './match';
export { RouteMatchResult } from './result';
export { hostWithoutPort } from './host';
export { pickCluster } from './weighted';
export { rewritePath, redirectLocation } from './rewrite';
export { headerValue, nameEquals } from './flat-headers';

import { applyHeaderPlan } from './mutations';
import type { RouteMatchResult } from './result';

/**
 * Applies the route's combined request header mutations (router config, virtual host, route;
 * the most specific level wins) to `headers` in place; returns the same array.
 */
export function applyRequestHeaderMutations(result: RouteMatchResult, headers: string[]): string[] {
  return applyHeaderPlan(result.requestPlan, headers);
}

/** As applyRequestHeaderMutations, for the response headers sent downstream. */
export function applyResponseHeaderMutations(result: RouteMatchResult, headers: string[]): string[] {
  return applyHeaderPlan(result.responsePlan, headers);
}
