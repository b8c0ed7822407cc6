/**
 * What connection handlers of a worker share: the current route tables and clusters (swapped
 * as a whole on reload, so a request sees one consistent config), counters, the logger, and
 * the set of live connections (for drain and, later, handover).
 */
import type { RouteTable } from './router';
import type { ClusterManager } from './cluster/manager';
import type { Logger } from '../shared/logger';
import type { DetachedConn } from '../transfer/movable';

export interface WorkerCounters {
  connectionsTotal: number;
  connectionsActive: number;
  requestsTotal: number;
  requestsActive: number;
  /** Responses by class: index 1..5 for 1xx..5xx. */
  responsesByClass: number[];
  /** Connections closed at accept because their listener was at max_connections. */
  connectionsOverflow: number;
  /** Connections taken from an accept queue beside the one libuv hands over per loop turn
   *  (accept-batch.ts): how often clients arrive in bursts. */
  acceptedInBatch: number;
  /** Requests answered 503 (flag OM) by the overload manager. */
  overloadShed: number;
  /** HTTP/2 connections closed with ENHANCE_YOUR_CALM for resetting too many streams. */
  h2RapidResetCloses: number;
  /** HTTP/2 connections closed by nghttp2's flood guards: CONTINUATION frames past its limit
   *  (CVE-2024-27316), or frames that need an answer (PING, SETTINGS...) queued faster than
   *  the client reads them (CVE-2019-9512/9515). */
  h2Floods: { continuation: number; control: number };
  /** Downstream HTTP/2 sessions open, and streams open on them. */
  h2SessionsActive: number;
  h2StreamsActive: number;
}

/** A connection taken off its sockets for a handover (the shape src/transfer moves). */
export type Detached = DetachedConn;

/** One finished HTTP request, for the access log and the latency histograms. */
export interface RequestRecord {
  listener: string;
  clientIp: string;
  method: string;
  path: string;
  /** Status sent to the client; 0 when none was (the client left first). */
  status: number;
  /** Request body bytes received, response body bytes sent. */
  bytesIn: number;
  bytesOut: number;
  /** From the request head to the end of the response, ms. */
  durationMs: number;
  /** From sending upstream to the response head, ms; -1 when no upstream answered. */
  upstreamMs: number;
  cluster: string;
  upstreamHost: string;
  /** Envoy response flag ('' for none): NR, NC, UH, UF, UO, UT, UC, DC, OM. */
  flag: string;
  attempts: number;
  /** A gRPC call's grpc-status (stream/grpc.ts); -1 for other requests or when none came. */
  grpcStatus: number;
  /** The verified TLS client certificate's subject ("CN=alice,OU=x"); '' without one. */
  clientCert: string;
}

export interface TrackedConnection {
  /** Close when idle; finish what is in flight first. */
  drain(): void;
  /** Close now. */
  destroy(): void;
  /** Overload: give back what can be given without failing anyone (idle keep-alive). */
  shed(): void;
  /** At a boundary where it can move to another process (nothing in flight, nothing unflushed). */
  movable(): boolean;
  /** Stops kernel reads now and describes what moves. Only when movable(). */
  detach(): Detached;
  /** The move failed: read again and keep serving here. */
  reattach(): void;
  /** The new owner has it: drop this process's copy without a FIN (no end(), only close). */
  release(): void;
  /** A hot upgrade started. Connections that cannot move (HTTP/2) drain here instead of
   *  waiting to be moved; the others park at their next boundary on their own. */
  handoverStarted?(): void;
}

export class WorkerContext {
  routers = new Map<string, RouteTable>();
  readonly counters: WorkerCounters = {
    connectionsTotal: 0,
    connectionsActive: 0,
    requestsTotal: 0,
    requestsActive: 0,
    responsesByClass: [0, 0, 0, 0, 0, 0],
    connectionsOverflow: 0,
    acceptedInBatch: 0,
    overloadShed: 0,
    h2RapidResetCloses: 0,
    h2Floods: { continuation: 0, control: 0 },
    h2SessionsActive: 0,
    h2StreamsActive: 0,
  };
  readonly connections = new Set<TrackedConnection>();
  draining = false;
  /** The overload manager (overload.ts) sheds load: new requests get 503 (OM), no keep-alive. */
  overloaded = false;
  /** The overload manager stopped accepting (short of memory or file descriptors). */
  acceptPaused = false;
  /** An upgrade is moving connections away: park them at request boundaries instead of
   *  reading the next request. Setting it tells every connection (handoverStarted). */
  get handoverMode(): boolean {
    return this.inHandover;
  }

  set handoverMode(on: boolean) {
    const started = on && !this.inHandover;
    this.inHandover = on;
    if (started) for (const c of [...this.connections]) c.handoverStarted?.();
  }

  private inHandover = false;
  /** Observers of finished requests (access log, metrics); null costs nothing per request. */
  onRequest: ((r: RequestRecord) => void) | null = null;
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

  /**
   * A connection whose protocol is not known yet (Auto sniffing its first bytes): drained and
   * waited for like the others, but counted only once the handler it goes to tracks it.
   */
  holdUncounted(c: TrackedConnection): void {
    this.connections.add(c);
  }

  releaseUncounted(c: TrackedConnection): void {
    if (this.connections.delete(c) && this.connections.size === 0 && this.onIdle) this.onIdle();
  }

  untrack(c: TrackedConnection): void {
    if (this.connections.delete(c)) {
      this.counters.connectionsActive--;
      if (this.connections.size === 0 && this.onIdle) this.onIdle();
    }
  }
}
