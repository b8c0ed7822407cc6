/**
 * Header mutations (request_headers_to_add/remove, response_headers_to_add/remove) from the
 * three config levels, folded at build time into one plan per route and direction.
 *
 * Semantics (Envoy with `most_specific_header_mutations_wins: true`): the levels are applied
 * from the least to the most specific -- router config, then virtual host, then route -- and
 * within a level removals come before additions, additions in list order. So for a header
 * set with `append: false` the most specific level wins, `append: true` values accumulate in
 * that level order, and a removal at a more specific level also drops what a less specific
 * level added. The plan gives the same result in a single pass over the headers: drop every
 * received header whose name is in `drop`, then append `add`.
 */

import type { HeaderMutations, HeaderToAdd } from '../../shared/config/model';
import { nameEquals } from './flat-headers';

export interface HeaderPlan {
  /** Lower-cased names whose received values go. */
  readonly drop: readonly string[];
  /** Flat `[name, value, ...]` appended after the drop. */
  readonly add: readonly string[];
}

export const EMPTY_PLAN: HeaderPlan = Object.freeze({ drop: Object.freeze([]), add: Object.freeze([]) });

type Direction = 'request' | 'response';

/** Folds `levels`, given from the least specific to the most specific, into one plan. */
export function compileHeaderPlan(levels: readonly HeaderMutations[], direction: Direction): HeaderPlan {
  const drop = new Set<string>();
  let added: Array<{ lower: string; key: string; value: string }> = [];
  const without = (lower: string): typeof added => added.filter((a) => a.lower !== lower);

  for (const level of levels) {
    const removes = direction === 'request' ? level.requestHeadersToRemove : level.responseHeadersToRemove;
    const adds: HeaderToAdd[] = direction === 'request' ? level.requestHeadersToAdd : level.responseHeadersToAdd;
    for (const name of removes) {
      const lower = name.toLowerCase();
      drop.add(lower);
      added = without(lower);
    }
    for (const h of adds) {
      const lower = h.key.toLowerCase();
      if (!h.append) {
        drop.add(lower);
        added = without(lower);
      }
      added.push({ lower, key: h.key, value: h.value });
    }
  }
  if (drop.size === 0 && added.length === 0) return EMPTY_PLAN;
  const add: string[] = [];
  for (const a of added) add.push(a.key, a.value);
  return Object.freeze({ drop: Object.freeze([...drop]), add: Object.freeze(add) });
}

/** Applies `plan` to `headers` in place (one pass) and returns the same array. */
export function applyHeaderPlan(plan: HeaderPlan, headers: string[]): string[] {
  const { drop, add } = plan;
  if (drop.length > 0) {
    let w = 0;
    for (let r = 0; r + 1 < headers.length; r += 2) {
      if (isDropped(drop, headers[r])) continue;
      if (w !== r) {
        headers[w] = headers[r];
        headers[w + 1] = headers[r + 1];
      }
      w += 2;
    }
    headers.length = w;
  }
  for (let i = 0; i < add.length; i++) headers.push(add[i]);
  return headers;
}

function isDropped(drop: readonly string[], name: string): boolean {
  for (let i = 0; i < drop.length; i++) if (nameEquals(name, drop[i])) return true;
  return false;
}
