/**
 * The upstream side of an exchange: pick a host of the cluster, ask its pool for a
 * connection, send the request head and the body bytes held so far, and give the connection
 * back (reusable or not) when the exchange is over. A connect failure is retried on another
 * host while the retry budget lasts: nothing was sent, so that is always safe. Failures after
 * the request went out are decided in retry.ts.
 */
import { performance } from 'node:perf_hooks';
import type { UpstreamHost } from '../cluster/host';
import type { UpstreamConn } from '../cluster/upstream-conn';
import type { PoolFailure } from '../cluster/pool';
import { startTryTimer } from './exchange-timers';
import { State, type HttpConnection } from './connection';

/** Picks a host and asks its pool for a connection (first try and every retry). */
export function tryUpstream(c: HttpConnection, exclude: UpstreamHost | undefined): void {
  const cluster = c.cluster!;
  const host = cluster.pickHost(exclude);
  if (!host) {
    c.flag = 'UH';
    c.finishWithError(503, 'no healthy upstream\n');
    return;
  }
  c.host = host;
  c.upstreamAddress = host.address; // logged even when the connect fails (UF), as Envoy does
  host.activeRequests++;
  host.stats.rqTotal++;
  c.attempts++;
  c.cancelAcquire = host.pool.acquire((err, conn, reused) => onAcquired(c, err, conn, reused));
}

function onAcquired(c: HttpConnection, err: PoolFailure | null, conn: UpstreamConn | null, reused: boolean): void {
  c.cancelAcquire = null;
  if (c.state !== State.Dispatch) {
    // The client went away while we waited.
    // c.host may already be cleared: the connection knows its own pool.
    if (conn) conn.host.pool.release(conn, true);
    return;
  }
  if (err !== null || conn === null) {
    c.host!.activeRequests--;
    c.cluster!.endRetry(c); // this try is over (releaseUpstream is not reached on this path)
    if (err === 'overflow') {
      c.flag = 'UO';
      c.finishWithError(503, 'upstream overflow\n');
      return;
    }
    reportHost(c, c.host, 503); // a local connect failure, as Envoy maps it
    // Nothing was sent: a connect failure is always safe to retry.
    if (startRetry(c)) {
      tryUpstream(c, c.host!);
      return;
    }
    c.flag = 'UF';
    c.finishWithError(503, 'upstream connect error\n');
    return;
  }
  sendRequest(c, conn, reused);
}

/** The connection is ours: the exchange starts with the head and the body held so far. */
function sendRequest(c: HttpConnection, conn: UpstreamConn, reused: boolean): void {
  c.conn = conn;
  conn.owner = c;
  conn.requests++;
  c.enterExchange();
  c.resp = null;
  c.respReader.reset();
  c.interimHeads = 0;
  c.upstreamReusable = true;
  c.connWasReused = reused;
  c.upstreamAddress = conn.host.address;
  c.tUp = performance.now();
  const s = conn.socket;
  if (c.held.length === 0) {
    s.write(c.upstreamHead, 'latin1'); // the common case: one write, no cork machinery
  } else {
    s.cork();
    s.write(c.upstreamHead, 'latin1');
    for (const b of c.held) s.write(b);
    s.uncork();
  }
  if (!c.replayable || !c.bodyDone) c.held = [];
  if (c.bodyDone) {
    startTryTimer(c);
    // Keep reading the client while waiting, so a client that resets is noticed now and
    // the upstream request is cancelled (a pipelined request is held and reads pause).
    if (c.pipelined === null) c.socket.resume();
  } else {
    // Expect: 100-continue is forwarded; the upstream's 100 reaches the client.
    c.replayable = false;
    c.socket.resume();
  }
}

/** How the host did, for the cluster's outlier detection (nothing without outlier_detection). */
export function reportHost(c: HttpConnection, host: UpstreamHost | null, status: number): void {
  const o = c.cluster?.outlier;
  if (o && host !== null) o.onStatus(host, status);
}

/**
 * Spends one of the route's retries (num_retries) if any is left and the cluster's max_retries
 * circuit breaker lets another retry be in flight. False: fail as without a retry.
 */
export function startRetry(c: HttpConnection): boolean {
  if (c.retriesLeft <= 0) return false;
  c.retriesLeft--;
  return c.cluster!.startRetry(c);
}

/**
 * Gives the upstream connection back to its pool (or closes it), or stops waiting for one.
 * The try is over: a retry no longer counts against max_retries.
 */
export function releaseUpstream(c: HttpConnection, reusable: boolean): void {
  if (c.cluster !== null) c.cluster.endRetry(c);
  if (c.cancelAcquire !== null) {
    c.cancelAcquire();
    c.cancelAcquire = null;
    if (c.host) c.host.activeRequests--;
    c.host = null;
  }
  const conn = c.conn;
  if (conn === null) return;
  c.conn = null;
  if (c.host) {
    c.host.activeRequests--;
    c.host = null;
  }
  conn.socket.resume();
  conn.host.pool.release(conn, reusable);
}
