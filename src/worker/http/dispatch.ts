/**
 * Dispatch: what the route table says about a request whose head is read. No route (404),
 * a missing cluster (503), a direct_response and a redirect are answered here without an
 * upstream; otherwise the cluster is chosen (weighted clusters included), the retry budget
 * set, and the head to send upstream built once (header mutations, prefix/host rewrite,
 * x-forwarded-for, x-request-id) so every try sends the same bytes. Then the first try starts.
 */
import { applyRequestHeaderMutations, pickCluster, redirectLocation, rewritePath } from '../router';
import type { RequestHead } from './request-head';
import { buildUpstreamHead, sendableCodings } from './serialize';
import { nextRequestId } from './request-id';
import { retryBudget } from './retry';
import { armRouteTimer } from './exchange-timers';
import { tryUpstream } from './upstream-exchange';
import { State, type HttpConnection } from './connection';
import { setXfcc, type TlsPeer } from '../tls/peer';

/**
 * XFCC from the client's certificate (routes may match it), the client's own removed; without
 * mTLS a client's XFCC is only removed (Envoy's default, SANITIZE: an upstream that trusts
 * XFCC must not be handed one the client wrote).
 */
function setTlsRequestHeaders(peer: TlsPeer | null, req: RequestHead): void {
  const watch = [req.summary.forwardedForIndex, req.summary.requestIdIndex];
  setXfcc(req.headers, peer, watch);
  req.summary.forwardedForIndex = watch[0];
  req.summary.requestIdIndex = watch[1];
}

export function dispatch(c: HttpConnection, req: RequestHead): void {
  if (c.ctx.overloaded) {
    // The overload manager sheds load (overload.ts): answered here, before any allocation
    // for routing or an upstream, and the connection closes after the answer.
    c.flag = 'OM';
    c.closeAfter = true;
    c.ctx.counters.overloadShed++;
    c.localResponse(503, 'overloaded\n');
    return;
  }
  if (c.tls !== null || req.summary.hasXfcc) setTlsRequestHeaders(c.tls, req);
  const table = c.ctx.routers.get(c.routerName);
  const route = table?.match(req);
  if (!route) {
    c.flag = 'NR';
    c.localResponse(404, 'no route\n');
    return;
  }
  c.route = route;
  const action = route.route.action;
  if (action.kind === 'direct') {
    c.localResponse(action.status, action.body);
    return;
  }
  if (action.kind === 'redirect') {
    const location = redirectLocation(route, req, c.tls !== null ? 'https' : 'http');
    c.localResponse(action.responseCode, '', ['location', location]);
    return;
  }
  const clusterName = action.cluster ?? pickCluster(route);
  const cluster = c.ctx.clusters.get(clusterName);
  if (!cluster) {
    c.flag = 'NC';
    c.localResponse(503, 'no cluster\n');
    return;
  }
  c.cluster = cluster;
  if (!cluster.admitRequest()) {
    c.flag = 'UO';
    c.finishWithError(503, 'upstream overflow\n');
    return;
  }
  c.retriesLeft = retryBudget(action.retry, cluster);

  const headers = applyRequestHeaderMutations(route, req.headers);
  const path = action.prefixRewrite !== undefined ? rewritePath(route, req.path) : req.path;
  c.upstreamHead = buildUpstreamHead({
    method: req.method,
    path,
    headers,
    host: action.hostRewrite ?? req.host,
    upgrade: req.upgrade,
    connection: req.summary.connection,
    clientIp: c.clientIp,
    forwardedForIndex: req.summary.forwardedForIndex,
    requestId: req.summary.requestIdIndex === -1 ? nextRequestId() : undefined,
    transferEncoding: req.chunked ? sendableCodings(req.summary.transferEncoding) : '',
    contentLength: req.chunked ? -1 : req.contentLength,
    https: c.tls !== null,
  });
  if (c.bodyDone) armRouteTimer(c);
  tryUpstream(c, undefined);
  // Waiting for a connection to open (none idle in the pool): read no more of the body
  // meanwhile (no unbounded buffering). sendRequest() resumes.
  if (c.state === State.Dispatch && c.conn === null && c.cancelAcquire !== null) c.socket.pause();
}
