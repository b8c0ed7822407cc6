/**
 * The Upgrade tunnel (WebSocket and the like). A request with Upgrade is forwarded with its
 * Upgrade/Connection fields; when the upstream answers 101 Switching Protocols, the 101 head
 * goes to the client and the connection becomes a tunnel: from then on bytes are copied both
 * ways unchanged, with backpressure, and a FIN or a close on one side is passed to the other.
 * The upstream connection is never pooled again. A 101 to a request that did not ask for an
 * upgrade fails the try like any malformed response (response-forward.ts).
 *
 * The copying is the Tunnel branch of the connection's event handlers (connection.ts:
 * onData, onUpstreamData, onClientEnd, onUpstreamEnd, onUpstreamClose, the drains), one
 * write per buffer with no call in between; this file switches the connection over.
 */
import { buildDownstreamHead } from './serialize';
import type { ResponseHead } from './response-head';
import { countStatus } from './request-record';
import { clearTimers } from './exchange-timers';
import type { HttpConnection } from './connection';

/**
 * The upstream answered 101 to an Upgrade request: the 101 goes to the client, then bytes
 * that were waiting on either side (a pipelined client buffer, bytes after the 101 head).
 */
export function startTunnel(c: HttpConnection, resp: ResponseHead, rest: Buffer | null): void {
  clearTimers(c);
  c.resp = resp;
  c.respStarted = true;
  countStatus(c, 101);
  c.socket.write(
    buildDownstreamHead({
      status: 101,
      reason: resp.reason,
      headers: resp.headers,
      connection: resp.summary.connection,
      switching: true,
      connectionHeader: '',
      transferEncoding: '',
      contentLength: -1,
    }),
    'latin1',
  );
  c.enterTunnel();
  c.upstreamReusable = false;
  c.bodyDone = true;
  if (c.pipelined !== null) {
    const p = c.pipelined;
    c.pipelined = null;
    c.conn!.socket.write(p);
  }
  if (rest !== null) c.socket.write(rest);
  c.socket.resume();
}
