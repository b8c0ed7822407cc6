/**
 * HTTP/2 session pool of one upstream host: requests get a stream on a multiplexed session
 * (h2/upstream-session.ts) instead of a connection of their own.
 *
 * - A request takes a stream on the first ready session with room (streams below the peer's
 *   SETTINGS_MAX_CONCURRENT_STREAMS); sessions fill in order, so load stays on few sessions.
 * - With no room it waits in a queue, and sessions are opened for the waiters that the
 *   sessions still connecting will not take (H2_UPSTREAM_ASSUMED_STREAMS each until their
 *   SETTINGS say), up to the cluster's max_connections circuit breaker, which bounds sessions
 *   here as it bounds connections on HTTP/1.1.
 * - The circuit breakers count streams: max_requests (Cluster.admitRequest) bounds the
 *   streams in flight; max_pending_requests bounds the requests waiting here for a stream,
 *   past which a request overflows (503, flag UO).
 * - A session that gets a GOAWAY, errors or closes leaves the pool at once (its streams in
 *   flight finish or fail on their own); one that never connected fails the waiters that no
 *   other connecting session will take. Idle sessions close after the cluster's idle_timeout;
 *   sessions are PINGed (upstream-session.ts tick) on the same sweep.
 */
import type { UpstreamHost } from './host';
import type { Cluster } from './cluster';
import type { PoolFailure } from './pool';
import { H2UpstreamSession, type SessionOwner } from '../h2/upstream-session';
import { H2_UPSTREAM_ASSUMED_STREAMS } from '../../shared/constants';

/** With a session, the stream it carries is already counted on it (streamDone gives it back). */
export type H2AcquireCallback = (err: PoolFailure | null, session: H2UpstreamSession | null) => void;

interface Waiter {
  cb: H2AcquireCallback;
  /** Served, failed or cancelled. */
  done: boolean;
}

export class Http2Pool implements SessionOwner {
  /** Sessions that take new streams, connecting or ready. */
  private readonly sessions: H2UpstreamSession[] = [];
  /** Every session not closed yet, retired ones too (their streams finish). */
  private readonly all = new Set<H2UpstreamSession>();
  private readonly waiters: Waiter[] = [];
  /** Waiters not done. */
  private waiting = 0;
  /** Sessions open or opening, retired ones included until they close. */
  open = 0;
  private closing = false;

  constructor(
    private readonly host: UpstreamHost,
    private readonly cluster: Cluster,
  ) {}

  /** Streams in flight on this host's sessions (for the metrics). */
  get streams(): number {
    let n = 0;
    for (const s of this.all) n += s.active;
    return n;
  }

  /**
   * Calls `cb` with a session that has a stream counted for the caller (synchronously when
   * one has room). Returns a function that stops waiting.
   */
  acquire(cb: H2AcquireCallback): () => void {
    if (this.waiting === 0) {
      const s = this.pick();
      if (s !== null) {
        s.active++;
        cb(null, s);
        return noop;
      }
    }
    if (this.cluster.pendingRequests >= this.cluster.circuitBreakers.maxPendingRequests) {
      this.cluster.stats.rqPendingOverflow++;
      cb('overflow', null);
      return noop;
    }
    const w: Waiter = { cb, done: false };
    this.waiters.push(w);
    this.waiting++;
    this.cluster.pendingRequests++;
    this.grow();
    return () => {
      if (w.done) return;
      w.done = true;
      this.waiting--;
      this.cluster.pendingRequests--;
    };
  }

  private pick(): H2UpstreamSession | null {
    for (const s of this.sessions) if (s.hasRoom()) return s;
    return null;
  }

  private nextWaiter(): Waiter | null {
    while (this.waiters.length > 0) {
      const w = this.waiters.shift()!;
      if (w.done) continue;
      w.done = true;
      this.waiting--;
      this.cluster.pendingRequests--;
      return w;
    }
    return null;
  }

  /** Streams the sessions still connecting are expected to take. */
  private connectingRoom(): number {
    let room = 0;
    for (const s of this.sessions) if (!s.ready) room += H2_UPSTREAM_ASSUMED_STREAMS;
    return room;
  }

  /** Opens sessions for the waiters no connecting session will take, up to max_connections. */
  private grow(): void {
    let room = this.connectingRoom();
    while (this.waiting > room && this.cluster.openConnections < this.cluster.circuitBreakers.maxConnections) {
      this.open++;
      this.cluster.openConnections++;
      this.host.stats.cxTotal++;
      const s = new H2UpstreamSession(this.host, this, this.cluster.config.connectTimeoutMs);
      this.sessions.push(s);
      this.all.add(s);
      room += H2_UPSTREAM_ASSUMED_STREAMS;
    }
  }

  /** Hands streams of sessions with room to the waiters, oldest first. */
  private serve(): void {
    while (this.waiting > 0) {
      const s = this.pick();
      if (s === null) break;
      const w = this.nextWaiter();
      if (w === null) break;
      s.active++;
      w.cb(null, s);
    }
    if (this.waiting > 0) this.grow();
  }

  // ===================================================================== SessionOwner

  onCapacity(s: H2UpstreamSession): void {
    if (this.closing && s.active === 0) {
      s.close();
      return;
    }
    this.serve();
  }

  onRetired(s: H2UpstreamSession, connectFailed: boolean): void {
    const i = this.sessions.indexOf(s);
    if (i !== -1) this.sessions.splice(i, 1);
    if (connectFailed) {
      this.host.stats.cxConnectFail++;
      this.cluster.stats.cxConnectFail++;
      // The waiters this session was to take fail (as an HTTP/1.1 connect failure fails its
      // request: the proxy retries or answers 503 UF); the others keep waiting.
      // Taken out of the queue before any is told: a callback may retry at once (acquire),
      // and that new waiter must get its own session, not this failure.
      const room = this.connectingRoom();
      const failed: Waiter[] = [];
      while (this.waiting > room) failed.push(this.nextWaiter()!);
      for (const w of failed) w.cb('connect-failure', null);
      return;
    }
    this.serve();
  }

  onClosed(s: H2UpstreamSession): void {
    this.all.delete(s);
    this.open--;
    this.cluster.openConnections--;
    if (this.waiting > 0) this.grow();
  }

  // ===================================================================== sweep and close

  /** PINGs (keep-alive) and closes sessions idle for `maxIdleMs`. */
  sweep(now: number, maxIdleMs: number): void {
    for (const s of [...this.sessions]) {
      if (s.ready && s.active === 0 && now - s.idleSince >= maxIdleMs) s.close();
      else s.tick(now);
    }
  }

  /** Stop using this host: idle sessions close now, busy ones when their streams end; waiters fail. */
  close(): void {
    this.closing = true;
    for (const s of [...this.sessions]) if (s.active === 0) s.close();
    const failed: Waiter[] = [];
    let w: Waiter | null;
    while ((w = this.nextWaiter()) !== null) failed.push(w);
    for (const f of failed) f.cb('overflow', null);
  }
}

function noop(): void {}
