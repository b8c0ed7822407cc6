/**
 * Whether a request may be sent again, and how often. The budget is the route's
 * `retry_policy.num_retries` (when `retry_on`). Each retry also needs room under the
 * cluster's max_retries circuit breaker, which (as in Envoy and MOSN) bounds the retries in
 * flight across the cluster, each counted from its start until its try ends; with no room the
 * request fails as it would without the retry and the overflow is counted
 * (upstream_rq_retry_overflow). A connect failure spends the budget freely: nothing was sent
 * (upstream-exchange.ts).
 * After the request went out, a failure before any response byte reached the client is
 * retried only when that is safe: the method is idempotent (RFC 9110 §9.2.2), every byte of
 * the request is still in hand, and it is not an Upgrade. A reset on a reused keep-alive
 * connection (the upstream had closed it while it sat in the pool) is retried without
 * spending the budget, so that race never fails a GET. Otherwise the client gets 504 for a
 * timeout and 502 for the rest. A retry avoids the host that failed when another one is
 * available, and the failure counts against that host for outlier detection.
 */
import type { RetryPolicy } from '../../shared/config/model';
import type { Cluster } from '../cluster/cluster';
import type { UpstreamHost } from '../cluster/host';
import type { HttpConnection } from './connection';
import { releaseUpstream, reportHost, startRetry, tryUpstream } from './upstream-exchange';

/** Methods a retry may resend (RFC 9110 §9.2.2). */
export const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** How many times the current request may be sent again. */
export function retryBudget(retry: RetryPolicy | undefined, cluster: Cluster): number {
  return retry && retry.retryOn ? retry.numRetries : 0;
}

/**
 * The upstream failed before any response byte reached the client: retry when that is
 * safe (the whole request is still in hand and it is idempotent, or the failed
 * connection was a reused one that the upstream had closed), else answer 502/504.
 */
export function upstreamFailedBeforeResponse(
  c: HttpConnection,
  why: 'reset' | 'protocol' | 'timeout',
  closedConnHost: UpstreamHost | null = null,
): void {
  const reusedConn = c.connWasReused;
  // The host of this try: taken before the release forgets it, so a retry avoids it.
  const failed = closedConnHost ?? c.conn?.host ?? null;
  if (closedConnHost === null) releaseUpstream(c, false);
  else {
    c.conn = null;
    c.cluster!.endRetry(c); // the try is over
  }
  // A reused keep-alive connection the upstream had closed is a race, not the host failing:
  // it is sent again on another connection without spending a retry (nor a max_retries slot).
  const race = reusedConn && why === 'reset';
  if (!race) reportHost(c, failed, why === 'timeout' ? 504 : 502);
  const req = c.req!;
  const canResend = c.replayable && c.bodyDone && IDEMPOTENT.has(req.method) && req.upgrade === undefined;
  if (canResend && race) c.cluster!.stats.rqRetry++;
  if (canResend && (race || startRetry(c))) {
    c.reenterDispatch();
    c.respReader.reset();
    c.resp = null;
    tryUpstream(c, race ? undefined : failed ?? undefined);
    return;
  }
  if (why === 'timeout') {
    c.flag = 'UT';
    c.finishWithError(504, 'upstream request timeout\n');
  } else {
    c.flag = 'UC';
    c.finishWithError(502, 'upstream connection closed before the response\n');
  }
}
