/**
 * What connection handlers of a worker share: the current route tables and clusters (swapped
 * as a whole on reload, so a request sees one consistent config), counters, the logger, and
 * the set of live connections (for drain and, later, handover).
 */
import type { RouteTable } from './router';
import type { ClusterManager } from './cluster/manager';
import type { Logger } from '../shared/logger';

export interface WorkerCounters {
  connectionsTotal: number;
  connectionsActive: number;
  requestsTotal: number;
  requestsActive: number;
  /** Responses by class: index 1..5 for 1xx..5xx. */
  responsesByClass: number[];
}

export interface TrackedConnection {
  /** Close when idle; finish what is in flight first. */
  drain(): void;
  /** Close now. */
  destroy(): void;
}

export class WorkerContext {
  routers = new Map<string, RouteTable>();
  readonly counters: WorkerCounters = {
    connectionsTotal: 0,
    connectionsActive: 0,
    requestsTotal: 0,
    requestsActive: 0,
    responsesByClass: [0, 0, 0, 0, 0, 0],
  };
  readonly connections = new Set<TrackedConnection>();
  draining = false;
  /** Called whenever the last connection goes away (the drain waits on it). */
  onIdle: (() => void) | null = null;

  constructor(
    readonly clusters: ClusterManager,
    public log: Logger,
  ) {}

  track(c: TrackedConnection): void {
    this.connections.add(c);
    this.counters.connectionsTotal++;
    this.counters.connectionsActive++;
  }

  untrack(c: TrackedConnection): void {
    if (this.connections.delete(c)) {
      this.counters.connectionsActive--;
      if (this.connections.size === 0 && this.onIdle) this.onIdle();
    }
  }
}
