/**
 * The two timeouts of an exchange. The route timeout (the route's `timeout`, else
 * DEFAULT_ROUTE_TIMEOUT_MS) starts when the whole request is in hand and bounds the wait for
 * the response head across all tries: when it fires the client gets 504. The per-try timeout
 * (`retry_policy.retry_timeout`) starts when a try has sent the whole request; when it fires
 * the try is given up and retried if that is allowed (retry.ts). Both stop at the response
 * head: a slow body is bounded by the upstream stream idle timeout instead.
 */
import { DEFAULT_ROUTE_TIMEOUT_MS } from '../../shared/constants';
import type { HttpConnection } from './connection';
import { releaseUpstream, reportHost } from './upstream-exchange';
import { upstreamFailedBeforeResponse } from './retry';

/** Starts the route timeout, once per request (a retry does not restart it). */
export function armRouteTimer(c: HttpConnection): void {
  if (c.routeTimer !== null || c.route === null) return;
  const action = c.route.route.action;
  if (action.kind !== 'cluster') return;
  const ms = action.timeoutMs > 0 ? action.timeoutMs : DEFAULT_ROUTE_TIMEOUT_MS;
  c.routeTimer = setTimeout(() => onRouteTimeout(c), ms);
}

/** (Re)starts the per-try timeout, when the route has one. */
export function startTryTimer(c: HttpConnection): void {
  if (c.tryTimer !== null) clearTimeout(c.tryTimer);
  c.tryTimer = null;
  const action = c.route?.route.action;
  if (!action || action.kind !== 'cluster' || !action.retry || action.retry.retryTimeoutMs <= 0) return;
  c.tryTimer = setTimeout(() => onTryTimeout(c), action.retry.retryTimeoutMs);
}

export function clearTimers(c: HttpConnection): void {
  if (c.routeTimer !== null) clearTimeout(c.routeTimer);
  if (c.tryTimer !== null) clearTimeout(c.tryTimer);
  c.routeTimer = null;
  c.tryTimer = null;
}

function onRouteTimeout(c: HttpConnection): void {
  c.routeTimer = null;
  if (c.resp !== null) return; // the head arrived: the timeout bounds the wait for it
  c.cluster!.stats.rqTimeout++;
  c.flag = 'UT';
  if (c.conn !== null) reportHost(c, c.conn.host, 504); // the host had the request and did not answer
  releaseUpstream(c, false);
  c.finishWithError(504, 'upstream request timeout\n');
}

function onTryTimeout(c: HttpConnection): void {
  c.tryTimer = null;
  if (c.resp !== null) return;
  c.cluster!.stats.rqTimeout++;
  upstreamFailedBeforeResponse(c, 'timeout');
}
