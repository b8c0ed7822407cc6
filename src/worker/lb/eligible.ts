/** Helpers shared by the policies: which hosts a pick may return, without allocating. */

import type { LbHost } from './types';

/** Healthy and not the host to avoid. */
export function isEligible<H extends LbHost>(h: H, exclude: H | undefined): boolean {
  return h.healthy && h !== exclude;
}

/** When nothing else is eligible: the excluded host if it is one of ours and healthy. */
export function fallback<H extends LbHost>(hosts: readonly H[], exclude: H | undefined): H | undefined {
  return exclude !== undefined && exclude.healthy && hosts.includes(exclude) ? exclude : undefined;
}

export function countEligible<H extends LbHost>(hosts: readonly H[], exclude: H | undefined): number {
  let n = 0;
  for (let i = 0; i < hosts.length; i++) if (isEligible(hosts[i], exclude)) n++;
  return n;
}

/** Index in `hosts` of the k-th (0-based) eligible host; -1 if there are not that many. */
export function nthEligible<H extends LbHost>(hosts: readonly H[], exclude: H | undefined, k: number): number {
  for (let i = 0; i < hosts.length; i++) {
    if (isEligible(hosts[i], exclude) && k-- === 0) return i;
  }
  return -1;
}

/** MOSN's minimum host weight: a missing or non-positive weight counts as 1. */
export function effectiveWeight(h: LbHost): number {
  return h.weight > 0 ? h.weight : 1;
}
