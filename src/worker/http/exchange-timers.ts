/**
 * The two timeouts of an exchange. The route timeout (the route's `timeout`, else
 * DEFAULT_ROUTE_TIMEOUT_MS) starts when the whole request is in hand and bounds the wait for
 * the response head across all tries: when it fires the client gets 504. The per-try timeout
 * (`retry_policy.retry_timeout`) starts when a try has sent the whole request; when it fires
 * the try is given up and retried if that is allowed (retry.ts). Both stop at the response
 * head: a slow body is bounded by the upstream stream idle timeout instead.
 *
 * They are deadlines on the connection, not timers: one sweep per worker
 * (EXCHANGE_TIMEOUT_SWEEP_MS) fires the ones that passed, so a request costs two field writes
 * instead of a timer created and cleared.
 */
import { performance } from 'node:perf_hooks';
import { DEFAULT_ROUTE_TIMEOUT_MS, EXCHANGE_TIMEOUT_SWEEP_MS } from '../../shared/constants';
import type { HttpConnection } from './connection';
import { releaseUpstream, reportHost } from './upstream-exchange';
import { upstreamFailedBeforeResponse } from './retry';

/**
 * Connections with a deadline set (cleared ones are dropped by the next sweep). One interval
 * per worker checks them every EXCHANGE_TIMEOUT_SWEEP_MS, and only while there are any.
 */
const armed = new Set<HttpConnection>();
let sweeper: NodeJS.Timeout | null = null;

function track(c: HttpConnection): void {
  armed.add(c);
  if (sweeper === null) {
    sweeper = setInterval(sweep, EXCHANGE_TIMEOUT_SWEEP_MS);
    sweeper.unref();
  }
}

function sweep(): void {
  const now = performance.now();
  for (const c of armed) {
    // The earlier of the two deadlines fires first, as separate timers would.
    if (c.tryDeadline !== 0 && now >= c.tryDeadline && (c.routeDeadline === 0 || c.tryDeadline <= c.routeDeadline)) {
      c.tryDeadline = 0;
      onTryTimeout(c);
    }
    if (c.routeDeadline !== 0 && now >= c.routeDeadline) {
      c.routeDeadline = 0;
      onRouteTimeout(c);
    }
    if (c.tryDeadline !== 0 && now >= c.tryDeadline) {
      c.tryDeadline = 0;
      onTryTimeout(c);
    }
    if (c.routeDeadline === 0 && c.tryDeadline === 0) armed.delete(c);
  }
  if (armed.size === 0 && sweeper !== null) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

/** Starts the route timeout, once per request (a retry does not restart it). */
export function armRouteTimer(c: HttpConnection): void {
  if (c.routeDeadline !== 0 || c.route === null) return;
  const action = c.route.route.action;
  if (action.kind !== 'cluster') return;
  const ms = action.timeoutMs > 0 ? action.timeoutMs : DEFAULT_ROUTE_TIMEOUT_MS;
  c.routeDeadline = performance.now() + ms;
  track(c);
}

/** (Re)starts the per-try timeout, when the route has one. */
export function startTryTimer(c: HttpConnection): void {
  c.tryDeadline = 0;
  const action = c.route?.route.action;
  if (!action || action.kind !== 'cluster' || !action.retry || action.retry.retryTimeoutMs <= 0) return;
  c.tryDeadline = performance.now() + action.retry.retryTimeoutMs;
  track(c);
}

export function clearTimers(c: HttpConnection): void {
  c.routeDeadline = 0;
  c.tryDeadline = 0;
}

function onRouteTimeout(c: HttpConnection): void {
  if (c.resp !== null) return; // the head arrived: the timeout bounds the wait for it
  c.cluster!.stats.rqTimeout++;
  c.flag = 'UT';
  if (c.conn !== null) reportHost(c, c.conn.host, 504); // the host had the request and did not answer
  releaseUpstream(c, false);
  c.finishWithError(504, 'upstream request timeout\n');
}

function onTryTimeout(c: HttpConnection): void {
  if (c.resp !== null) return;
  c.cluster!.stats.rqTimeout++;
  upstreamFailedBeforeResponse(c, 'timeout');
}
