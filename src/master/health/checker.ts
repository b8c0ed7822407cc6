/**
 * Active health checks of upstream hosts (MOSN's cluster `health_check`), run by the master.
 *
 * Design: one probe stream per host per generation, not one per worker. Workers only read
 * `UpstreamHost.healthy` (every load balancer skips unhealthy hosts; a cluster with none
 * healthy answers 503, flag UH). The master probes each host of each cluster that has a
 * health_check, one probe at a time per host (the next starts an interval, plus jitter, after
 * the previous one ended); `unhealthy_threshold` failures in a row take a host out and
 * `healthy_threshold` successes in a row bring it back. Every host starts healthy, as in
 * MOSN, until proven otherwise. Each change goes to `onChange`, which the master broadcasts
 * to every worker (IPC `host-health`); a worker spawned later gets `unhealthyHosts()` right
 * after its init. On reload, `update()` keeps the sessions of hosts whose check is unchanged,
 * restarts the changed ones keeping their state, and counts hosts no longer checked healthy.
 *
 * Probes: see probe.ts (TCP connect, or HTTP GET with 2xx = healthy) and grpc-probe.ts
 * (grpc.health.v1.Health/Check answered SERVING).
 */
import type { ClusterConfig, HealthCheckConfig, HostConfig } from '../../shared/config/model';
import type { Logger } from '../../shared/logger';
import { probe, ProbeTarget } from './probe';

/** Without `interval_jitter`, up to this fraction of the interval is added at random, so the
 *  probes of many hosts (and of several clusters with the same interval) drift apart instead
 *  of firing together; 10% keeps thresholds × interval close to what the config says. */
const DEFAULT_JITTER_FRACTION = 0.1;
/** The first probe of a host starts at a random point within this much (or one interval, if
 *  shorter): MOSN's first check comes after 1 s; spreading over it avoids a burst at start. */
const FIRST_CHECK_SPREAD_MS = 1_000;

export interface HostHealthView {
  cluster: string;
  address: string;
  healthy: boolean;
  /** Consecutive failed / successful checks up to the last one (one of them is 0). */
  failures: number;
  successes: number;
  /** The last probe's outcome in words ('' before the first). */
  lastResult: string;
  /** When the last probe ended (ms since the epoch, 0 before the first). */
  lastCheckAt: number;
}

export interface HealthCheckerOptions {
  log: Logger;
  /** A host's state flipped (or a host no longer checked counts as healthy again). */
  onChange: (cluster: string, address: string, healthy: boolean) => void;
  /** Random source for jitter, [0, 1). */
  random?: () => number;
}

const keyOf = (cluster: string, address: string): string => `${cluster}\u0000${address}`;

class HostSession {
  healthy = true;
  failures = 0;
  successes = 0;
  lastResult = '';
  lastCheckAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private cancel: (() => void) | null = null;
  private stopped = false;
  private readonly target: ProbeTarget;

  constructor(
    readonly cluster: string,
    readonly host: HostConfig,
    readonly config: HealthCheckConfig,
    /** What makes two sessions the same check (a reload keeps a session whose spec is unchanged). */
    readonly spec: string,
    private readonly owner: HealthChecker,
  ) {
    const port = config.httpPort ?? host.port;
    this.target = {
      host: host.host,
      port,
      timeoutMs: config.timeoutMs,
      ...(config.httpPath !== undefined
        ? { httpPath: config.httpPath, authority: config.httpPort === undefined ? host.address : hostPort(host.host, port) }
        : {}),
      ...(config.grpcService !== undefined ? { grpcService: config.grpcService, authority: config.grpcAuthority ?? host.address } : {}),
    };
  }

  start(): void {
    this.schedule(this.owner.random() * Math.min(this.config.intervalMs, FIRST_CHECK_SPREAD_MS));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.cancel?.();
    this.cancel = null;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.check(), delayMs);
    // The checker never keeps the master alive by itself: stop() clears it anyway.
    this.timer.unref();
  }

  private check(): void {
    this.timer = null;
    this.cancel = probe(this.target, (r) => {
      this.cancel = null;
      if (this.stopped) return;
      this.lastResult = r.reason;
      this.lastCheckAt = Date.now();
      if (r.ok) this.onSuccess();
      else this.onFailure(r.reason);
      const jitter = this.config.intervalJitterMs ?? this.config.intervalMs * DEFAULT_JITTER_FRACTION;
      this.schedule(this.config.intervalMs + this.owner.random() * jitter);
    });
  }

  private onSuccess(): void {
    this.failures = 0;
    this.successes++;
    if (this.healthy || this.successes < this.config.healthyThreshold) return;
    this.healthy = true;
    const n = this.successes;
    this.owner.flipped(this, `${n} successful check${n === 1 ? '' : 's'}`);
  }

  private onFailure(reason: string): void {
    this.successes = 0;
    this.failures++;
    this.owner.log.debug({ cluster: this.cluster, host: this.host.address, reason }, `health check of ${this.host.address} failed: ${reason}`);
    if (!this.healthy || this.failures < this.config.unhealthyThreshold) return;
    this.healthy = false;
    const n = this.failures;
    this.owner.flipped(this, `${n} failed check${n === 1 ? '' : 's'}: ${reason}`);
  }

  view(): HostHealthView {
    return {
      cluster: this.cluster,
      address: this.host.address,
      healthy: this.healthy,
      failures: this.failures,
      successes: this.successes,
      lastResult: this.lastResult,
      lastCheckAt: this.lastCheckAt,
    };
  }
}

export class HealthChecker {
  private sessions = new Map<string, HostSession>();
  readonly random: () => number;

  constructor(private readonly opts: HealthCheckerOptions) {
    this.random = opts.random ?? Math.random;
  }

  get log(): Logger {
    return this.opts.log;
  }

  /** Starts, keeps, restarts or stops the checks so they follow `clusters` (start and reload). */
  update(clusters: ClusterConfig[]): void {
    const next = new Map<string, HostSession>();
    const started: HostSession[] = [];
    for (const c of clusters) {
      const hc = c.healthCheck;
      if (!hc) continue;
      for (const h of c.hosts) {
        const key = keyOf(c.name, h.address);
        const spec = JSON.stringify([hc, h.host, h.port]);
        const old = this.sessions.get(key);
        if (old && old.spec === spec) {
          next.set(key, old);
          continue;
        }
        const s = new HostSession(c.name, h, hc, spec, this);
        if (old) {
          // The check changed (interval, path, port...): the host keeps its state, the
          // streak starts over under the new rules.
          old.stop();
          s.healthy = old.healthy;
        }
        next.set(key, s);
        started.push(s);
      }
    }
    for (const [key, old] of this.sessions) {
      if (next.has(key)) continue;
      old.stop();
      if (!old.healthy) {
        this.log.info(
          { cluster: old.cluster, host: old.host.address, healthy: true },
          `host ${old.host.address} of cluster ${old.cluster} is no longer health checked; it counts as healthy`,
        );
        this.opts.onChange(old.cluster, old.host.address, true);
      }
    }
    this.sessions = next;
    for (const s of started) s.start();
  }

  /** Called by a session whose state just flipped. */
  flipped(s: HostSession, why: string): void {
    if (this.sessions.get(keyOf(s.cluster, s.host.address)) !== s) return;
    const state = s.healthy ? 'healthy' : 'unhealthy';
    this.log.info({ cluster: s.cluster, host: s.host.address, healthy: s.healthy }, `host ${s.host.address} of cluster ${s.cluster} is now ${state} (${why})`);
    this.opts.onChange(s.cluster, s.host.address, s.healthy);
  }

  /** The hosts seen as unhealthy now (what a newly started worker must apply). */
  unhealthyHosts(): Array<{ cluster: string; address: string }> {
    const out: Array<{ cluster: string; address: string }> = [];
    for (const s of this.sessions.values()) if (!s.healthy) out.push({ cluster: s.cluster, address: s.host.address });
    return out;
  }

  /** The state of one checked host, or undefined if that host has no health check. */
  hostHealth(cluster: string, address: string): HostHealthView | undefined {
    return this.sessions.get(keyOf(cluster, address))?.view();
  }

  /** Every checked host. */
  all(): HostHealthView[] {
    return [...this.sessions.values()].map((s) => s.view());
  }

  /** Stops every probe (the master stops, or hands over to a new generation). */
  stop(): void {
    for (const s of this.sessions.values()) s.stop();
    this.sessions.clear();
  }
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
