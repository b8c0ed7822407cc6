/**
 * ClusterLoadAssignment (EDS, and a STATIC/DNS cluster's load_assignment) -> MOSN hosts
 * with weights. mosnd has one flat host list per cluster, so Envoy's priority levels are
 * folded into the weights the way Envoy spreads load across them: each priority's health is
 * its healthy share × the overprovisioning factor (default 1.4), priority 0 takes up to its
 * health, the next ones what is left; each host's weight is its priority's load split by
 * the hosts' own weights. Endpoints UNHEALTHY, DRAINING, TIMEOUT or DEGRADED get no new
 * requests (a removed or draining endpoint keeps its requests in flight: they finish).
 * With no healthy endpoint at all every endpoint of the lowest priority is used (Envoy's
 * panic mode; its 50 % panic threshold inside a priority is not modelled).
 */
import { MAX_HOST_WEIGHT } from '../../shared/config/mosn-schema';
import type { Msg } from './protos';
import { Tx, at, checkFields, reject, socketAddress, wrapped } from './translate-common';

export interface RawHost {
  address: string;
  weight: number;
}

/** Envoy's default overprovisioning factor (percent): a priority at 72 % health still takes all. */
const DEFAULT_OVERPROVISIONING = 140;
const SERVING = new Set(['UNKNOWN', 'HEALTHY', undefined]);

export function translateEndpoints(cla: Msg, path: string, tx: Tx): RawHost[] {
  checkFields(cla, path, tx, ['cluster_name', 'endpoints', 'policy'], {});
  const policy = cla.policy ?? {};
  checkFields(policy, at(path, 'policy'), tx, ['overprovisioning_factor'], {
    endpoint_stale_after: 'endpoints are used until the control plane replaces them',
  });
  const factor = wrapped<number>(policy.overprovisioning_factor) ?? DEFAULT_OVERPROVISIONING;
  type P = { all: RawHost[]; serving: RawHost[] };
  const priorities = new Map<number, P>();
  (cla.endpoints ?? []).forEach((le: Msg, i: number) => {
    const lp = at(at(path, 'endpoints'), i);
    checkFields(le, lp, tx, ['lb_endpoints', 'priority', 'locality', 'load_balancing_weight'], {
      proximity: 'only used by locality-aware balancing, which mosnd does not do',
    });
    if ((le.leds_cluster_locality_config ?? undefined) !== undefined) reject(at(lp, 'leds_cluster_locality_config'), 'LEDS is not implemented by mosnd');
    const prio = Number(le.priority ?? 0);
    let p = priorities.get(prio);
    if (!p) priorities.set(prio, (p = { all: [], serving: [] }));
    (le.lb_endpoints ?? []).forEach((lbe: Msg, j: number) => {
      const ep = at(at(lp, 'lb_endpoints'), j);
      checkFields(lbe, ep, tx, ['endpoint', 'health_status', 'load_balancing_weight'], { metadata: 'used for subset balancing and TLS selection, which mosnd does not do' });
      if (!lbe.endpoint) reject(ep, 'has no endpoint');
      checkFields(lbe.endpoint, at(ep, 'endpoint'), tx, ['address'], {
        hostname: 'descriptive (the address is what mosnd connects to)',
        health_check_config: 'mosnd checks the endpoint\'s own address',
      });
      const host = { address: socketAddress(lbe.endpoint.address, at(at(ep, 'endpoint'), 'address')), weight: wrapped<number>(lbe.load_balancing_weight) ?? 1 };
      p!.all.push(host);
      if (SERVING.has(lbe.health_status)) p!.serving.push(host);
    });
  });
  return foldPriorities([...priorities.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]), factor);
}

function foldPriorities(levels: Array<{ all: RawHost[]; serving: RawHost[] }>, factor: number): RawHost[] {
  const nonEmpty = levels.filter((l) => l.all.length > 0);
  if (nonEmpty.length === 0) return [];
  const health = nonEmpty.map((l) => Math.min(100, (factor * l.serving.length) / l.all.length));
  const total = health.reduce((a, b) => a + b, 0);
  if (total === 0) return scale([{ hosts: nonEmpty[0].all, load: 1 }]); // panic: every endpoint
  // Envoy normalizes when the priorities together are under 100 % healthy.
  let left = 100;
  const loads = health.map((h) => {
    const share = total < 100 ? (h * 100) / total : h;
    const load = Math.min(left, share);
    left -= load;
    return load / 100;
  });
  return scale(nonEmpty.map((l, i) => ({ hosts: l.serving, load: loads[i] })).filter((x) => x.load > 0 && x.hosts.length > 0));
}

/** Weights in MOSN's 1..128: kept as given when one priority carries everything and they fit. */
function scale(parts: Array<{ hosts: RawHost[]; load: number }>): RawHost[] {
  const raw = new Map<string, number>();
  for (const { hosts, load } of parts) {
    const sum = hosts.reduce((a, h) => a + h.weight, 0);
    for (const h of hosts) raw.set(h.address, (raw.get(h.address) ?? 0) + (parts.length === 1 ? h.weight : (load * h.weight) / sum));
  }
  const max = Math.max(...raw.values());
  const exact = parts.length === 1 && max <= MAX_HOST_WEIGHT && [...raw.values()].every(Number.isInteger);
  return [...raw.entries()].map(([address, w]) => ({
    address,
    weight: exact ? w : Math.max(1, Math.min(MAX_HOST_WEIGHT, Math.round((w * MAX_HOST_WEIGHT) / max))),
  }));
}
