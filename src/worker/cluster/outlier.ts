/**
 * Passive health checking (Envoy's outlier detection) for one cluster in one worker: a host
 * whose own traffic fails `consecutive_5xx` times in a row (or `consecutive_gateway_failure`
 * times with 502/503/504) is taken out of load balancing for base_ejection_time × the number
 * of times it was ejected (capped by max_ejection_time), then put back on probation.
 *
 * What counts as a failure (Envoy's non-split mode): a 5xx response from the host, and the
 * failures of the host that mosnd sees itself: a connect failure or timeout (counted as 503),
 * a reset before the response (502), an upstream timeout (504). Any other response, and a
 * tcp_proxy connect that succeeds, resets the counts.
 *
 * Each worker judges from its own traffic, as each Envoy worker reports to one detector per
 * process: with N workers a failing host is ejected by each worker after its own
 * `consecutive_5xx` failures. The active health checker (in the master) is separate: a host
 * is picked only when it is both healthy and not ejected.
 *
 * Host states: in service → (threshold reached and the ejection cap allows) → ejected →
 * (ejection time over, checked on the pool sweep every second) → in service with its
 * multiplier kept; each `interval` a host spends in service lowers the multiplier by one.
 */
import type { OutlierDetectionConfig } from '../../shared/config/model';

/** The part of a host the detector reads and writes. */
export interface OutlierHost {
  readonly address: string;
  /** Called after the detector changed `outlier.ejectedUntil`: the host folds it into what
   *  the load balancer reads. */
  ejectionChanged(): void;
  outlier: HostOutlierState | null;
}

export class HostOutlierState {
  consecutive5xx = 0;
  consecutiveGateway = 0;
  /** 0 = in service; else the time (ms since epoch) the ejection ends. */
  ejectedUntil = 0;
  /** Ejections not yet forgiven: the ejection time multiplier. */
  multiplier = 0;
  /** When the multiplier was last raised or lowered. */
  multiplierAt = 0;
}

export interface OutlierEvent {
  host: string;
  ejected: boolean;
  /** Why it was ejected ('consecutive_5xx' / 'consecutive_gateway_failure'); '' when back. */
  reason: string;
  /** How long the ejection lasts, ms (0 when back in service). */
  durationMs: number;
}

export class OutlierDetector {
  private ejectedNow = 0;

  constructor(
    private readonly cfg: OutlierDetectionConfig,
    private readonly hosts: readonly OutlierHost[],
    private readonly onEvent: (e: OutlierEvent) => void,
  ) {
    // A host kept across a host-set change (Cluster.setHosts) keeps its state and ejection.
    for (const h of hosts) {
      h.outlier ??= new HostOutlierState();
      if (h.outlier.ejectedUntil !== 0) this.ejectedNow++;
    }
  }

  /** An HTTP response (or a local failure mapped to 502/503/504) from `host`. */
  onStatus(host: OutlierHost, status: number): void {
    const s = host.outlier;
    if (s === null || s.ejectedUntil !== 0) return; // an ejected host finishing old exchanges
    if (status < 500) {
      s.consecutive5xx = 0;
      s.consecutiveGateway = 0;
      return;
    }
    s.consecutive5xx++;
    if (status === 502 || status === 503 || status === 504) s.consecutiveGateway++;
    else s.consecutiveGateway = 0;
    if (s.consecutive5xx >= this.cfg.consecutive5xx) this.eject(host, s, 'consecutive_5xx');
    else if (this.cfg.consecutiveGatewayFailure > 0 && s.consecutiveGateway >= this.cfg.consecutiveGatewayFailure) {
      this.eject(host, s, 'consecutive_gateway_failure');
    }
  }

  /** Connection-level success (a tcp_proxy connect): resets the counts. */
  onSuccess(host: OutlierHost): void {
    this.onStatus(host, 200);
  }

  /** Every second (the pool sweep): ends ejections that are over, forgives old ones. */
  sweep(now: number): void {
    for (const h of this.hosts) {
      const s = h.outlier;
      if (s === null) continue;
      if (s.ejectedUntil !== 0) {
        if (now < s.ejectedUntil) continue;
        s.ejectedUntil = 0;
        s.multiplierAt = now;
        this.ejectedNow--;
        h.ejectionChanged();
        this.onEvent({ host: h.address, ejected: false, reason: '', durationMs: 0 });
      } else if (s.multiplier > 0 && now - s.multiplierAt >= this.cfg.intervalMs) {
        s.multiplier--;
        s.multiplierAt = now;
      }
    }
  }

  /** Hosts ejected at once: max_ejection_percent of the cluster, but always at least one. */
  private maxEjected(): number {
    return Math.max(1, Math.floor((this.hosts.length * this.cfg.maxEjectionPercent) / 100));
  }

  private eject(host: OutlierHost, s: HostOutlierState, reason: string): void {
    s.consecutive5xx = 0;
    s.consecutiveGateway = 0;
    if (this.ejectedNow >= this.maxEjected()) return; // the cap holds: it keeps serving
    const now = Date.now();
    s.multiplier++;
    s.multiplierAt = now;
    const durationMs = Math.min(this.cfg.baseEjectionTimeMs * s.multiplier, this.cfg.maxEjectionTimeMs);
    s.ejectedUntil = now + durationMs;
    this.ejectedNow++;
    host.ejectionChanged();
    this.onEvent({ host: host.address, ejected: true, reason, durationMs });
  }
}
