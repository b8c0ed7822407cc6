/**
 * HTTP/1.1 connection pool of one upstream host: idle connections are reused last-in
 * first-out (the warmest first), new ones are opened up to the cluster's max_connections
 * circuit breaker, and past it requests wait in a bounded pending queue (max_pending_requests)
 * or overflow (503, flag UO).
 */
import { UpstreamConn } from './upstream-conn';
import { dial } from '../../shared/tls-dial';
import type { UpstreamHost } from './host';
import type { Cluster } from './cluster';
import { TCP_KEEPALIVE_DELAY_MS } from '../../shared/constants';
import { READ_OPTIONS } from '../read-buffer';

export type PoolFailure = 'connect-failure' | 'connect-timeout' | 'overflow';

export type AcquireCallback = (err: PoolFailure | null, conn: UpstreamConn | null, reused: boolean) => void;

interface Waiter {
  cb: AcquireCallback;
  /** No longer pending: cancelled, or handed a connection. */
  cancelled: boolean;
  /** Set when a connection is being opened for this waiter: cancelling must stop it. */
  cancelConnect: (() => void) | null;
}

export class Http1Pool {
  private readonly idle: UpstreamConn[] = [];
  private readonly waiters: Waiter[] = [];
  /** Connections of this host that are open or opening. */
  open = 0;
  private closing = false;

  constructor(
    private readonly host: UpstreamHost,
    private readonly cluster: Cluster,
  ) {}

  get idleCount(): number {
    return this.idle.length;
  }

  /**
   * Calls `cb` with a connection (possibly synchronously, for an idle one). Returns a
   * function that cancels the request if it is still waiting or connecting.
   */
  acquire(cb: AcquireCallback): () => void {
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (!conn.closed) {
        cb(null, conn, true);
        return noop;
      }
    }
    const cb0 = this.cluster.circuitBreakers;
    if (this.cluster.openConnections >= cb0.maxConnections) {
      if (this.cluster.pendingRequests >= cb0.maxPendingRequests) {
        this.cluster.stats.rqPendingOverflow++;
        cb('overflow', null, false);
        return noop;
      }
      const w: Waiter = { cb, cancelled: false, cancelConnect: null };
      this.waiters.push(w);
      this.cluster.pendingRequests++;
      return () => {
        if (w.cancelConnect !== null) {
          // Already out of the queue, its connection still opening: stop that, so the
          // callback never reaches a requester that gave up.
          const cancel = w.cancelConnect;
          w.cancelConnect = null;
          cancel();
        } else if (!w.cancelled) {
          w.cancelled = true;
          this.cluster.pendingRequests--;
        }
      };
    }
    return this.connect(cb);
  }

  private connect(cb: AcquireCallback): () => void {
    let done = false;
    this.open++;
    this.cluster.openConnections++;
    this.host.stats.cxTotal++;
    // Plain TCP, or TLS when the cluster has a tls_context (shared/tls-dial.ts). Plain sockets
    // read through `onread` (../read-buffer.ts).
    const { socket, ready, readsByCallback } = dial(this.host.host, this.host.port, this.cluster.config.tls, { onread: READ_OPTIONS });
    socket.setKeepAlive(true, TCP_KEEPALIVE_DELAY_MS);
    const conn = new UpstreamConn(socket, this.host, (c) => this.retire(c), readsByCallback);
    const timer = setTimeout(() => fail('connect-timeout'), this.cluster.config.connectTimeoutMs);
    const fail = (why: PoolFailure): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.host.stats.cxConnectFail++;
      this.cluster.stats.cxConnectFail++;
      socket.destroy();
      cb(why, null, false);
    };
    socket.once(ready, () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      cb(null, conn, false);
    });
    socket.once('error', () => fail('connect-failure'));
    return () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
    };
  }

  /** Gives a connection back after an exchange; `reusable` false closes it. */
  release(conn: UpstreamConn, reusable: boolean): void {
    conn.owner = null;
    const max = this.cluster.config.maxRequestPerConn;
    if (!reusable || conn.closed || this.closing || (max > 0 && conn.requests >= max)) {
      conn.destroy();
      return;
    }
    while (this.waiters.length > 0) {
      const w = this.waiters.shift()!;
      if (w.cancelled) continue;
      w.cancelled = true;
      this.cluster.pendingRequests--;
      w.cb(null, conn, true);
      return;
    }
    conn.idleSince = Date.now();
    this.idle.push(conn);
  }

  /** A connection closed (any state): account for it and let a waiter open a new one. */
  private retire(conn: UpstreamConn): void {
    this.open--;
    this.cluster.openConnections--;
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
    while (this.waiters.length > 0 && this.cluster.openConnections < this.cluster.circuitBreakers.maxConnections) {
      const w = this.waiters.shift()!;
      if (w.cancelled) continue;
      w.cancelled = true;
      this.cluster.pendingRequests--;
      const cancel = this.connect((err, c, reused) => {
        w.cancelConnect = null;
        w.cb(err, c, reused);
      });
      // The callback above is asynchronous, so this is set before it can run.
      w.cancelConnect = cancel;
    }
  }

  /** Closes idle connections older than `maxIdleMs` and trims the idle list to `maxIdle`. */
  sweep(now: number, maxIdleMs: number, maxIdle: number): void {
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const c = this.idle[i];
      if (now - c.idleSince >= maxIdleMs || i >= maxIdle) c.destroy();
    }
  }

  /** Stop reusing: idle connections close now, active ones when released; waiters fail. */
  close(): void {
    this.closing = true;
    for (const c of this.idle.splice(0)) c.destroy();
    for (const w of this.waiters.splice(0)) {
      if (w.cancelled) continue;
      this.cluster.pendingRequests--;
      w.cb('overflow', null, false);
    }
  }
}

function noop(): void {}
