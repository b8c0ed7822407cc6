/**
 * Name resolution of STRICT_DNS and LOGICAL_DNS clusters, run by the master.
 *
 * Design: like the active health checks (checker.ts), once per generation in the master, not
 * once per worker: every worker gets the same host set at the same time, and a name server
 * sees one query per name per refresh, whatever the worker count. Each cluster resolves all
 * its names now and then every `dns_refresh_rate` after the previous round ended (MOSN's and
 * Envoy's default 5 s). The host set is the configured hosts in order, each IP literal as it
 * is and each name replaced by its addresses (STRICT_DNS: all of them; LOGICAL_DNS: the first,
 * Envoy's "one address at a time"), each with the configured host's port and weight. A new
 * set goes to `onChange` (the master stores it in the serving config, for the admin API and
 * for workers started later, and sends it to every worker, IPC `cluster-hosts`), which applies
 * it like a reload of that cluster's hosts: hosts still there keep their connections.
 *
 * Failures: a name that does not resolve keeps its last resolved addresses (MOSN and Envoy do
 * the same), with a warning when it starts failing and a note when it resolves again. A name
 * that never resolved contributes no host (Envoy: no host until the first resolution), so
 * traffic goes to the hosts that exist; a cluster left with none answers 503 (UH).
 * At start the master waits for the first round (at most DNS_WARMING_TIMEOUT_MS) before
 * spawning workers, so they start with the resolved set; until a first round ends (past that
 * bound, or for a cluster added by a reload) a cluster has its configured hosts, whose names
 * are then resolved by each connect, as for a SIMPLE cluster.
 *
 * Resolution uses the system resolver (`dns.lookup`, getaddrinfo: /etc/hosts, nsswitch), as
 * MOSN does by default, with `dns_lookup_family` V4_ONLY / V6_ONLY as the address family. A
 * lookup is bounded by the resolver's own timeout and attempts (resolv.conf); the next round
 * starts only after every lookup of the previous one answered, so a slow resolver delays
 * refreshes but never piles up queries.
 * On reload, a cluster whose names, type, family and refresh rate are unchanged keeps its
 * session and its current set (given again to `onChange`, the new config carries the names).
 */
import * as dns from 'node:dns';
import { isIP } from 'node:net';
import type { ClusterConfig, DnsConfig, HostConfig } from '../../shared/config/model';
import type { Logger } from '../../shared/logger';
import { DNS_WARMING_TIMEOUT_MS } from '../../shared/constants';

export interface DnsClustersOptions {
  log: Logger;
  /** A cluster's resolved host set changed (or is given again after a reload). */
  onChange: (cluster: string, hosts: HostConfig[]) => void;
}

/** "ip:port" the way MOSN writes host addresses (IPv6 in brackets). */
function hostAddress(ip: string, port: number): string {
  return isIP(ip) === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

class ClusterSession {
  /** Last good addresses of each name (absent: never resolved). */
  private readonly resolved = new Map<string, string[]>();
  /** Names failing now (warned once per failing spell). */
  private readonly failing = new Set<string>();
  /** The set last given to onChange (null before the first round). */
  current: HostConfig[] | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private firstDone: (() => void) | null = null;
  /** Settles when the first round has ended (or the session was stopped first). */
  readonly firstRound = new Promise<void>((resolve) => (this.firstDone = resolve));

  constructor(
    readonly name: string,
    readonly dns: DnsConfig,
    /** What makes two sessions the same (a reload keeps a session whose spec is unchanged). */
    readonly spec: string,
    private readonly owner: DnsClusters,
  ) {}

  start(): void {
    this.round();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.settleFirst();
  }

  private settleFirst(): void {
    this.firstDone?.();
    this.firstDone = null;
  }

  private round(): void {
    this.timer = null;
    const names = [...new Set(this.dns.hosts.filter((h) => isIP(h.host) === 0).map((h) => h.host))];
    let left = names.length;
    if (left === 0) return this.roundDone();
    for (const name of names) {
      dns.lookup(name, { all: true, family: this.dns.family }, (err, addrs) => {
        if (this.stopped) return;
        this.onResult(name, err, addrs);
        if (--left === 0) this.roundDone();
      });
    }
  }

  private onResult(name: string, err: NodeJS.ErrnoException | null, addrs: dns.LookupAddress[] | undefined): void {
    const ips = err || !addrs ? [] : [...new Set(addrs.map((a) => a.address))];
    const log = this.owner.log;
    if (ips.length === 0) {
      if (!this.failing.has(name)) {
        this.failing.add(name);
        const kept = this.resolved.get(name);
        log.warn(
          { cluster: this.name, host: name, err: err?.code ?? 'no address', kept: kept ?? [] },
          `cluster ${this.name}: cannot resolve ${name} (${err?.code ?? 'no address'}); ` +
            (kept ? `keeping its last addresses ${kept.join(', ')}` : 'it has no host until it resolves'),
        );
      }
      return;
    }
    if (this.failing.delete(name)) log.info({ cluster: this.name, host: name, addresses: ips }, `cluster ${this.name}: ${name} resolves again`);
    this.resolved.set(name, ips);
  }

  private roundDone(): void {
    if (this.stopped) return;
    const next = this.hostSet();
    if (this.current === null || JSON.stringify(next) !== JSON.stringify(this.current)) {
      this.current = next;
      this.owner.log.info(
        { cluster: this.name, hosts: next.map((h) => h.address) },
        `cluster ${this.name}: ${this.dns.type} hosts ${next.map((h) => h.address).join(', ') || '(none)'}`,
      );
      this.owner.changed(this.name, next);
    }
    this.settleFirst();
    this.timer = setTimeout(() => this.round(), this.dns.refreshMs);
    // Never keeps the master alive by itself: stop() clears it anyway.
    this.timer.unref();
  }

  /** The configured hosts in order, names replaced by their addresses; no address twice. */
  private hostSet(): HostConfig[] {
    const out: HostConfig[] = [];
    const seen = new Set<string>();
    const push = (h: HostConfig): void => {
      if (seen.has(h.address)) return;
      seen.add(h.address);
      out.push(h);
    };
    for (const h of this.dns.hosts) {
      if (isIP(h.host) !== 0) {
        push(h);
        continue;
      }
      const ips = this.resolved.get(h.host) ?? [];
      for (const ip of this.dns.type === 'LOGICAL_DNS' ? ips.slice(0, 1) : ips) {
        push({ address: hostAddress(ip, h.port), host: ip, port: h.port, weight: h.weight });
      }
    }
    return out;
  }
}

export class DnsClusters {
  private sessions = new Map<string, ClusterSession>();
  readonly log: Logger;

  constructor(private readonly opts: DnsClustersOptions) {
    this.log = opts.log;
  }

  /**
   * Starts, keeps or restarts the sessions for `clusters` (the DNS ones); stops the rest.
   * Resolves when every session started here has ended its first round, or after
   * `warmingMs` (the caller may wait, to start workers with resolved hosts, or not).
   */
  update(clusters: readonly ClusterConfig[], warmingMs = DNS_WARMING_TIMEOUT_MS): Promise<void> {
    const next = new Map<string, ClusterSession>();
    for (const c of clusters) {
      if (!c.dns) continue;
      const spec = JSON.stringify(c.dns);
      const old = this.sessions.get(c.name);
      if (old && old.spec === spec) {
        next.set(c.name, old);
        // The new config carries the names again: its hosts become the resolved set.
        if (old.current !== null) this.opts.onChange(c.name, old.current);
        continue;
      }
      const s = new ClusterSession(c.name, c.dns, spec, this);
      next.set(c.name, s);
    }
    for (const [name, s] of this.sessions) if (next.get(name) !== s) s.stop();
    const started = [...next.values()].filter((s) => this.sessions.get(s.name) !== s);
    this.sessions = next;
    for (const s of started) s.start();
    if (started.every((s) => s.current !== null)) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, warmingMs)));
    return Promise.race([Promise.all(started.map((s) => s.firstRound)).then(() => undefined), bound]).finally(() => clearTimeout(timer));
  }

  /** From a session: its new set goes out, unless the session was replaced meanwhile. */
  changed(cluster: string, hosts: HostConfig[]): void {
    if (this.sessions.get(cluster)?.current === hosts) this.opts.onChange(cluster, hosts);
  }

  stop(): void {
    for (const s of this.sessions.values()) s.stop();
    this.sessions.clear();
  }
}
