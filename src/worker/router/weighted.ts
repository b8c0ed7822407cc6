/** Weighted cluster choice: proportional to weight; zero-weight clusters are never chosen. */

import type { WeightedCluster } from '../../shared/config/model';
import type { RouteMatchResult, WeightedChoice } from './result';

export function compileWeighted(clusters: readonly WeightedCluster[]): WeightedChoice {
  const names: string[] = [];
  const cumulative: number[] = [];
  let total = 0;
  for (const c of clusters) {
    const w = c.weight > 0 ? c.weight : 0;
    total += w;
    names.push(c.name);
    cumulative.push(total);
  }
  return { names, cumulative, total };
}

/**
 * The upstream cluster for a matched cluster route: the single cluster, or one of the
 * weighted clusters drawn with `random` (a function returning [0, 1), like Math.random).
 * Throws a TypeError for a redirect or direct-response route (a caller bug).
 */
export function pickCluster(result: RouteMatchResult, random: () => number = Math.random): string {
  const action = result.route.action;
  if (action.kind !== 'cluster') throw new TypeError(`route action is ${action.kind}, not cluster`);
  const w = result.weighted;
  if (w === undefined || w.names.length === 0) return action.cluster ?? '';
  if (w.total <= 0) return w.names[0];
  const draw = random() * w.total;
  // First cumulative weight strictly above the draw.
  let lo = 0;
  let hi = w.cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (w.cumulative[mid] > draw) hi = mid;
    else lo = mid + 1;
  }
  return w.names[lo];
}
