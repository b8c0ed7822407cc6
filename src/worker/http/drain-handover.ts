/**
 * What the worker asks of a connection beyond serving it (TrackedConnection): drain for a
 * graceful stop, and the hooks of a hot upgrade (src/worker/handover.ts,
 * src/transfer/README.md). During a handover a connection parks at its next request boundary
 * (kernel reads stopped, bytes that still arrive kept with it). It is movable in Head with no
 * request in flight and nothing unflushed; detach then hands over its fd with the bytes read
 * and not yet processed (a partial head, a pipelined request), and reattach resumes serving
 * here if the move fails. release() and inject() are the connection's own (connection.ts).
 */
import { performance } from 'node:perf_hooks';
import type { Detached } from '../context';
import { isQuiet, socketFd, startReading, stopReading } from '../socket-io';
import { DRAIN_FRESH_CONNECTION_GRACE_MS, TLS_UPGRADE_IDLE_GRACE_MS } from '../../shared/constants';
import { State, type HttpConnection } from './connection';

/**
 * Stop at this request boundary. Reads stop on the next turn of the loop: stopping inside
 * a 'data' callback would be undone by the stream's read-ahead; bytes that arrive before
 * then are kept with the connection.
 */
export function parkAtBoundary(c: HttpConnection): void {
  if (c.parked) return;
  c.parked = true;
  setImmediate(() => {
    if (c.parked) stopReading(c.socket);
  });
}

export function isMovable(c: HttpConnection): boolean {
  return c.state === State.Head && !c.closeAfter && !c.clientEnded && !c.moved && c.req === null && isQuiet(c.socket);
}

export function detachForHandover(c: HttpConnection): Detached {
  stopReading(c.socket);
  c.parked = true;
  const partial = c.reader.takePartial();
  const p = c.pipelined;
  c.pipelined = null;
  const data = partial && p ? Buffer.concat([partial, p]) : (partial ?? p);
  c.detachedData = data;
  return { kind: 'http', listener: c.listenerName, fds: [socketFd(c.socket)], data };
}

export function reattachAfterHandover(c: HttpConnection): void {
  c.parked = false;
  let data = c.detachedData;
  c.detachedData = null;
  if (c.pipelined !== null) {
    data = data === null ? c.pipelined : Buffer.concat([data, c.pipelined]);
    c.pipelined = null;
  }
  if (c.state !== State.Head) return;
  startReading(c.socket);
  c.socket.resume();
  if (data !== null) c.feed(data);
}

/**
 * Upgrade, for a connection that cannot move (TLS): its next answer carries Connection: close;
 * if idle now it gets TLS_UPGRADE_IDLE_GRACE_MS to send that next request and is closed only if
 * it stays silent (why: see the constant).
 */
export function drainForUpgrade(c: HttpConnection): void {
  c.closeAfter = true;
  if (c.state !== State.Head || c.reader.hasPartial) return; // closes after this exchange
  closeIfStillIdleAfter(c, TLS_UPGRADE_IDLE_GRACE_MS);
}

/** Closes the connection after `ms` unless a request started meanwhile (it then closes after it). */
function closeIfStillIdleAfter(c: HttpConnection, ms: number): void {
  setTimeout(() => {
    if (c.state === State.Head && !c.reader.hasPartial) c.closeGracefully();
  }, ms).unref();
}

/** Drain: close now if idle between requests, else after the current response. */
export function drainConnection(c: HttpConnection): void {
  if (c.parked) {
    // Parked for a handover that will not happen: answer what waits, then close.
    c.closeAfter = true;
    reattachAfterHandover(c);
    if (c.state === State.Head && !c.reader.hasPartial && c.pipelined === null) c.closeGracefully();
    return;
  }
  c.closeAfter = true;
  if (c.state !== State.Head || c.reader.hasPartial) return; // closes after this exchange
  // A connection that has not sent its first request yet was most likely opened to send
  // one (it may already be in the kernel): give it a moment instead of closing under it.
  const age = performance.now() - c.openedAt;
  if (c.served === 0 && age < DRAIN_FRESH_CONNECTION_GRACE_MS) {
    closeIfStillIdleAfter(c, DRAIN_FRESH_CONNECTION_GRACE_MS - age);
    return;
  }
  c.closeGracefully();
}

