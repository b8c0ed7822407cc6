/**
 * The stream proxy: one object per request stream, for any codec that gives a DownstreamStream
 * (today HTTP/2, src/worker/h2/). It knows no protocol: it routes with the route table
 * (router/), answers locally (overload 503, no route 404, no cluster/host 503, overflow 503,
 * direct_response, redirect), picks the cluster and host (cluster/, lb/), runs tries on the
 * upstream codec of the stream's upstream protocol (HTTP/1.1 connections, h1-upstream.ts;
 * HTTP/2 sessions, h2-upstream.ts) with the same retry budget, route and per-try
 * timeouts as the HTTP/1.1 path, streams bodies both ways with backpressure (a full upstream
 * pauses the client's stream, a slow client pauses the upstream), reports hosts for outlier
 * detection, and ends with the same RequestRecord (ctx.onRequest: access log, metrics).
 *
 * Life of a stream: start() → local answer | tryUpstream() → onAcquired() (the request goes
 * out on an UpstreamTry) → onResponseHead() → onResponseData()* → onResponseEnd() → finish(). A failure before the
 * response head is retried when safe (retryAfterFailure), else answered 502/504; after it the
 * stream is reset. A client reset at any point cancels the upstream and finishes. A stream an
 * HTTP/2 upstream refused unprocessed (GOAWAY, REFUSED_STREAM) is sent again on a new session
 * whatever its method, when its body is still in hand (a copy is kept while it streams, up to
 * STREAM_REPLAY_BUFFER_BYTES, or GRPC_RETRY_BUFFER_BYTES for a gRPC call retry_on may retry).
 */
import { performance } from 'node:perf_hooks';
import { applyRequestHeaderMutations, applyResponseHeaderMutations, pickCluster, redirectLocation, rewritePath, type RouteMatchResult } from '../router';
import type { Cluster } from '../cluster/cluster';
import type { UpstreamHost } from '../cluster/host';
import type { UpstreamConn } from '../cluster/upstream-conn';
import type { H2UpstreamSession } from '../h2/upstream-session';
import type { PoolFailure } from '../cluster/pool';
import type { WorkerContext } from '../context';
import { buildUpstreamHead } from '../http/serialize';
import { countStatus, requestRecord, type ResponseFlag } from '../http/request-record';
import { IDEMPOTENT, retryBudget } from '../http/retry';
import { nextRequestId } from '../http/request-id';
import { DEFAULT_ROUTE_TIMEOUT_MS, GRPC_RETRY_BUFFER_BYTES, H2_REFUSED_STREAM_RETRIES, STREAM_REPLAY_BUFFER_BYTES } from '../../shared/constants';
import { Http1UpstreamTry } from './h1-upstream';
import { Http2UpstreamTry } from './h2-upstream';
import { h2RequestFields, requestContentLength, takeExpectContinue, wantsTrailers } from './headers';
import type { OutgoingHttpHeaders } from 'node:http2';
import type {
  DownstreamStream,
  RequestHeaders,
  ResetReason,
  ResponseHeaders,
  StreamHandler,
  UpstreamEvents,
  UpstreamFailure,
  UpstreamTry,
} from './types';
import { boundByGrpcTimeout, clampGrpcTimeout, grpcAnswerFields, grpcStatusIn, isGrpcRequest, localGrpcStatus } from './grpc';

export class StreamExchange implements StreamHandler, UpstreamEvents {
  route: RouteMatchResult | null = null;
  cluster: Cluster | null = null;
  private host: UpstreamHost | null = null;
  private up: UpstreamTry | null = null;
  private cancelAcquire: (() => void) | null = null;
  /** The upstream codec: HTTP/2 sessions, else HTTP/1.1 connections. */
  private readonly upstreamH2: boolean;
  private upstreamHead = '';
  private h2Headers: OutgoingHttpHeaders | null = null;
  /** Sends again of a stream refused unprocessed (H2_REFUSED_STREAM_RETRIES bounds them). */
  private refusedRetries = 0;
  private chunkedUp = false;
  // ---- the request body ----
  private bodyDone: boolean;
  private held: Buffer[] = [];
  /** Every byte of the request is in hand (`held`): it can be sent again on a retry. */
  private replayable = true;
  private reqTrailers: string[] = [];
  /** A gRPC request (grpc.ts): answered the gRPC way, its grpc-timeout bounds the route's. */
  private readonly grpc: boolean;
  /** The body is copied while it streams, for a retry on a grpc-status (up to GRPC_RETRY_BUFFER_BYTES)
   *  or, to an HTTP/2 upstream, for a stream it refuses unprocessed (up to STREAM_REPLAY_BUFFER_BYTES). */
  private keepCopy = false;
  /** The most body bytes that copy holds (past it the body streams without one). */
  private copyLimit = 0;
  private heldBytes = 0;
  /** The request's Content-Length (-1: none). nghttp2 already refuses a body that disagrees
   *  with it; checked here too, as a body sent past it would be read upstream as a new request. */
  private declaredLength = -1;
  // ---- retries and timeouts ----
  attempts = 0;
  private retriesLeft = 0;
  private routeTimer: NodeJS.Timeout | null = null;
  private tryTimer: NodeJS.Timeout | null = null;
  private connWasReused = false;
  // ---- the figures of the request record (request-record.ts reads these names) ----
  flag: ResponseFlag = '';
  status = 0;
  readonly t0 = performance.now();
  private tUp = 0;
  upMs = -1;
  bytesIn = 0;
  bytesOut = 0;
  upstreamAddress = '';
  /** The call's grpc-status (upstream headers or trailers, or our own answer); -1: none. */
  grpcStatus = -1;
  readonly listenerName: string;
  readonly clientIp: string;
  // ---- the response ----
  private respStarted = false;
  private finished = false;

  constructor(
    private readonly ds: DownstreamStream,
    readonly ctx: WorkerContext,
    private readonly req: RequestHeaders,
    endStream: boolean,
  ) {
    this.bodyDone = endStream;
    this.listenerName = ds.listenerName;
    this.clientIp = ds.clientIp;
    this.upstreamH2 = ds.upstreamProtocol === 'Http2';
    this.grpc = isGrpcRequest(req.headers);
  }

  start(): void {
    const c = this.ctx.counters;
    c.requestsTotal++;
    c.requestsActive++;
    if (this.ctx.overloaded) {
      this.flag = 'OM';
      c.overloadShed++;
      this.localAnswer(503, 'overloaded\n');
      return;
    }
    const req = this.req;
    const table = this.ctx.routers.get(this.ds.routerName);
    const route = table?.match({ method: req.method, path: req.path, host: req.authority, headers: req.headers });
    if (!route) {
      this.flag = 'NR';
      this.localAnswer(404, 'no route\n');
      return;
    }
    this.route = route;
    const action = route.route.action;
    if (action.kind === 'direct') {
      this.localAnswer(action.status, action.body);
      return;
    }
    if (action.kind === 'redirect') {
      this.localAnswer(action.responseCode, '', ['location', redirectLocation(route, { path: req.path, host: req.authority }, req.scheme)]);
      return;
    }
    const cluster = this.ctx.clusters.get(action.cluster ?? pickCluster(route));
    if (!cluster) {
      this.flag = 'NC';
      this.localAnswer(503, 'no cluster\n');
      return;
    }
    this.cluster = cluster;
    if (!cluster.admitRequest()) {
      // The max_requests circuit breaker, as for HTTP/1.1 (dispatch.ts).
      this.flag = 'UO';
      this.localAnswer(503, 'upstream overflow\n');
      return;
    }
    this.retriesLeft = retryBudget(action.retry, cluster);
    const grpcRetry = this.grpc && this.retriesLeft > 0 && action.retry?.grpcStatuses !== undefined;
    this.copyLimit = grpcRetry ? GRPC_RETRY_BUFFER_BYTES : this.upstreamH2 ? STREAM_REPLAY_BUFFER_BYTES : 0;
    this.keepCopy = this.copyLimit > 0;
    const expectContinue = takeExpectContinue(req);
    const length = requestContentLength(req);
    this.declaredLength = length;
    if (this.upstreamH2) {
      const fields = applyRequestHeaderMutations(route, req.headers);
      this.h2Headers = h2RequestFields({
        method: req.method,
        path: action.prefixRewrite !== undefined ? rewritePath(route, req.path) : req.path,
        authority: action.hostRewrite ?? req.authority,
        headers: this.grpc ? clampGrpcTimeout(fields, this.routeTimeoutMs()) : fields,
        clientIp: this.clientIp,
        requestId: hasField(req.headers, 'x-request-id') ? undefined : nextRequestId(),
        contentLength: length,
        teTrailers: wantsTrailers(req),
      });
    } else {
      this.upstreamHead = this.h1Head(route, action, length);
    }
    // Request data waits for an upstream connection: hold what came, read no more. A client
    // that waits for 100 Continue is told to send now that the request will be proxied.
    if (!this.bodyDone) {
      this.ds.pauseRequest();
      if (expectContinue) this.ds.sendContinue();
    }
    if (this.bodyDone) this.armRouteTimer();
    this.tryUpstream(undefined);
  }

  /** The HTTP/1.1 request head of an HTTP/1.1 upstream. */
  private h1Head(route: RouteMatchResult, action: Extract<RouteMatchResult['route']['action'], { kind: 'cluster' }>, length: number): string {
    const req = this.req;
    // No length and a body to come: chunked upstream (it also carries the request's trailers).
    this.chunkedUp = !this.bodyDone && length < 0;
    const fields = applyRequestHeaderMutations(route, req.headers);
    let head = buildUpstreamHead({
      method: req.method,
      path: action.prefixRewrite !== undefined ? rewritePath(route, req.path) : req.path,
      headers: this.grpc ? clampGrpcTimeout(fields, this.routeTimeoutMs()) : fields,
      host: action.hostRewrite ?? req.authority,
      upgrade: undefined,
      connection: '',
      clientIp: this.clientIp,
      forwardedForIndex: -1,
      requestId: hasField(req.headers, 'x-request-id') ? undefined : nextRequestId(),
      transferEncoding: this.chunkedUp ? 'chunked' : '',
      contentLength: this.chunkedUp ? -1 : length,
    });
    // TE: trailers is kept (RFC 9110 §10.1.4: with its Connection option on HTTP/1.1);
    // serialize.ts drops TE as hop-by-hop for HTTP/1.1 clients, where it is.
    if (wantsTrailers(req)) head = `${head.slice(0, -2)}te: trailers\r\nconnection: te\r\n\r\n`;
    return head;
  }

  // ===================================================================== upstream tries

  private tryUpstream(exclude: UpstreamHost | undefined): void {
    const host = this.cluster!.pickHost(exclude);
    if (!host) {
      this.flag = 'UH';
      this.errorAnswer(503, 'no healthy upstream\n');
      return;
    }
    this.host = host;
    this.upstreamAddress = host.address;
    host.activeRequests++;
    host.stats.rqTotal++;
    this.attempts++;
    this.cancelAcquire = this.upstreamH2
      ? host.h2Pool().acquire((err, session) => this.onH2Acquired(err, session))
      : host.pool.acquire((err, conn, reused) => this.onAcquired(err, conn, reused));
  }

  private onAcquired(err: PoolFailure | null, conn: UpstreamConn | null, reused: boolean): void {
    this.cancelAcquire = null;
    if (this.finished) {
      if (conn) conn.host.pool.release(conn, true);
      return;
    }
    if (err !== null || conn === null) {
      this.onAcquireFailed(err);
      return;
    }
    this.connWasReused = reused;
    this.startTry(new Http1UpstreamTry(conn, this, this.upstreamHead, this.req.method, this.chunkedUp));
  }

  private onH2Acquired(err: PoolFailure | null, session: H2UpstreamSession | null): void {
    this.cancelAcquire = null;
    if (this.finished) {
      session?.streamDone();
      return;
    }
    if (err !== null || session === null) {
      this.onAcquireFailed(err);
      return;
    }
    this.connWasReused = false;
    this.startTry(new Http2UpstreamTry(session, this, this.h2Headers!));
  }

  private onAcquireFailed(err: PoolFailure | null): void {
    this.host!.activeRequests--;
    const host = this.host;
    this.host = null;
    if (err === 'overflow') {
      this.flag = 'UO';
      this.errorAnswer(503, 'upstream overflow\n');
      return;
    }
    this.reportHost(host, 503);
    this.cluster!.endRetry(this);
    if (this.startRetry()) {
      this.tryUpstream(host ?? undefined);
      return;
    }
    this.flag = 'UF';
    this.errorAnswer(503, 'upstream connect error\n');
  }

  private startTry(up: UpstreamTry): void {
    this.upstreamAddress = up.host.address;
    this.tUp = performance.now();
    this.up = up;
    up.start(this.held, this.bodyDone, this.reqTrailers);
    if (!this.keepCopy && (!this.replayable || !this.bodyDone)) this.held = [];
    if (this.bodyDone) {
      this.startTryTimer();
    } else {
      if (!this.keepCopy) this.replayable = false; // the body streams from now on
      this.ds.resumeRequest();
    }
  }

  /** Gives the try's connection back (reusable only after a clean exchange) or stops waiting. */
  /**
   * A retry, if the route's budget and the cluster's max_retries breaker (retries in flight,
   * Cluster.startRetry) both allow it; it counts until its try ends (releaseUpstream).
   */
  private startRetry(): boolean {
    if (this.retriesLeft <= 0) return false;
    this.retriesLeft--;
    return this.cluster!.startRetry(this);
  }

  private releaseUpstream(endRetry = true): void {
    if (endRetry) this.cluster?.endRetry(this);
    if (this.cancelAcquire !== null) {
      this.cancelAcquire();
      this.cancelAcquire = null;
    }
    if (this.host !== null) {
      this.host.activeRequests--;
      this.host = null;
    }
    const up = this.up;
    if (up === null) return;
    this.up = null;
    up.abandon();
    up.release(this.bodyDone);
  }

  private reportHost(host: UpstreamHost | null, status: number): void {
    const o = this.cluster?.outlier;
    if (o && host !== null) o.onStatus(host, status);
  }

  // ===================================================================== request side (StreamHandler)

  onRequestData(data: Buffer): void {
    if (this.finished) return; // answered already: the rest is read and dropped
    this.bytesIn += data.length;
    if (this.declaredLength >= 0 && this.bytesIn > this.declaredLength) {
      this.badRequestBody();
      return;
    }
    if (this.up !== null) {
      if (this.keepCopy) this.copyForRetry(data);
      if (!this.up.sendData(data)) this.ds.pauseRequest();
    } else {
      this.held.push(data);
    }
  }

  onRequestEnd(trailers: string[]): void {
    this.bodyDone = true;
    if (this.finished) return;
    if (this.declaredLength >= 0 && this.bytesIn !== this.declaredLength) {
      this.badRequestBody();
      return;
    }
    this.reqTrailers = trailers;
    this.armRouteTimer();
    if (this.up !== null) {
      this.up.endRequest(trailers);
      this.startTryTimer();
    }
  }

  /**
   * A body streaming upstream is kept too, while small enough (copyLimit), for a retry on its
   * grpc-status, or to send again a stream an HTTP/2 upstream refused unprocessed.
   */
  private copyForRetry(data: Buffer): void {
    this.heldBytes += data.length;
    if (this.heldBytes > this.copyLimit) {
      this.keepCopy = false;
      this.replayable = false;
      this.held = [];
      return;
    }
    this.held.push(data);
  }

  /** The body disagrees with its Content-Length: the stream fails, the upstream connection closes. */
  private badRequestBody(): void {
    this.ds.reset('protocol-error');
    this.finish();
  }

  onDrain(): void {
    this.up?.resume();
  }

  onReset(reason: ResetReason): void {
    if (this.finished) return;
    if (!this.respStarted || reason === 'client-reset') this.flag = 'DC';
    this.finish();
  }

  /** The stream was idle for the listener's idle timeout: a request body that stalled. */
  onIdle(): void {
    if (this.finished || this.bodyDone || this.respStarted) return;
    this.flag = 'SI';
    this.errorAnswer(408, 'request body timeout\n');
  }

  // ===================================================================== response side (UpstreamEvents)

  onResponseHead(h: ResponseHeaders, endStream: boolean, trailers: boolean): void {
    if (this.grpc) {
      this.grpcStatus = grpcStatusIn(h.headers);
      if (this.retryOnGrpcStatus()) return;
    }
    this.reportHost(this.up?.host ?? null, h.status);
    this.upMs = performance.now() - this.tUp;
    this.clearTimers();
    this.respStarted = true;
    // No try follows a response head: the copy of the body for one goes.
    this.replayable = false;
    this.held = [];
    countStatus(this, h.status);
    if (this.route) applyResponseHeaderMutations(this.route, h.headers);
    this.ds.sendHeaders(h, endStream, trailers);
  }

  onResponseData(data: Buffer): void {
    this.bytesOut += data.length;
    if (!this.ds.sendData(data)) this.up?.pause();
  }

  onResponseEnd(trailers: string[]): void {
    if (this.finished) return;
    if (this.grpc) {
      const s = grpcStatusIn(trailers);
      if (s >= 0) this.grpcStatus = s;
    }
    this.ds.end(trailers);
    this.finish();
  }

  onUpstreamDrain(): void {
    this.ds.resumeRequest();
  }

  onUpstreamFailed(why: UpstreamFailure, beforeHead: boolean): void {
    if (this.finished) return;
    if (!beforeHead) {
      // Mid-response: the client must see the stream fail, not a short body.
      this.flag = 'UC';
      this.ds.reset('upstream-reset');
      this.finish();
      return;
    }
    this.retryAfterFailure(why);
  }

  /**
   * A try failed before the response head: retry when that is safe (the policy of retry.ts:
   * the whole request in hand and an idempotent method, or a reused keep-alive connection the
   * upstream had closed), else 502, or 504 for a timeout.
   */
  private retryAfterFailure(why: UpstreamFailure | 'timeout'): void {
    const failed = this.up?.host ?? null;
    if (why === 'refused' && this.replayable && this.refusedRetries < H2_REFUSED_STREAM_RETRIES) {
      // Not processed upstream (RFC 9113 §8.7): sent again on another session, any method,
      // outside the retry budget, the request body (still in hand) replayed.
      this.refusedRetries++;
      this.releaseUpstream();
      if (!this.bodyDone) this.ds.pauseRequest();
      this.tryUpstream(undefined);
      return;
    }
    const raced = this.connWasReused && why === 'reset';
    this.releaseUpstream();
    if (!raced) this.reportHost(failed, why === 'timeout' ? 504 : 502);
    const canResend = this.replayable && this.bodyDone && IDEMPOTENT.has(this.req.method);
    if (canResend && (raced || this.startRetry())) {
      this.tryUpstream(raced ? undefined : (failed ?? undefined));
      return;
    }
    if (why === 'timeout') {
      this.flag = 'UT';
      this.errorAnswer(504, 'upstream request timeout\n');
    } else {
      this.flag = 'UC';
      this.errorAnswer(502, 'upstream connection closed before the response\n');
    }
  }

  /**
   * The try answered with a grpc-status in its headers (trailers-only) that the route's
   * retry_on names: tried again when the whole request is still in hand and the budget allows
   * (as Envoy: a status in the trailers of a response under way is the client's).
   */
  private retryOnGrpcStatus(): boolean {
    const action = this.route?.route.action;
    const codes = action?.kind === 'cluster' ? action.retry?.grpcStatuses : undefined;
    if (codes === undefined || !codes.includes(this.grpcStatus)) return false;
    if (!this.bodyDone || !this.replayable) return false;
    this.cluster!.endRetry(this); // this try is over; the next one may be a retry in turn
    if (!this.startRetry()) return false;
    const failed = this.up?.host ?? null;
    this.releaseUpstream(false);
    this.tryUpstream(failed ?? undefined);
    return true;
  }

  // ===================================================================== timeouts (as exchange-timers.ts)

  private armRouteTimer(): void {
    if (this.routeTimer !== null || this.route === null || this.respStarted) return;
    const action = this.route.route.action;
    if (action.kind !== 'cluster') return;
    let ms = this.routeTimeoutMs();
    if (this.grpc) ms = boundByGrpcTimeout(ms, this.req.headers);
    this.routeTimer = setTimeout(() => this.onRouteTimeout(), ms);
  }

  private routeTimeoutMs(): number {
    const action = this.route!.route.action;
    return action.kind === 'cluster' && action.timeoutMs > 0 ? action.timeoutMs : DEFAULT_ROUTE_TIMEOUT_MS;
  }

  private startTryTimer(): void {
    if (this.tryTimer !== null) clearTimeout(this.tryTimer);
    this.tryTimer = null;
    const action = this.route?.route.action;
    if (!action || action.kind !== 'cluster' || !action.retry || action.retry.retryTimeoutMs <= 0 || this.respStarted) return;
    this.tryTimer = setTimeout(() => this.onTryTimeout(), action.retry.retryTimeoutMs);
  }

  private clearTimers(): void {
    if (this.routeTimer !== null) clearTimeout(this.routeTimer);
    if (this.tryTimer !== null) clearTimeout(this.tryTimer);
    this.routeTimer = null;
    this.tryTimer = null;
  }

  private onRouteTimeout(): void {
    this.routeTimer = null;
    if (this.respStarted || this.finished) return;
    this.cluster!.stats.rqTimeout++;
    this.flag = 'UT';
    if (this.up !== null) this.reportHost(this.up.host, 504);
    this.errorAnswer(504, 'upstream request timeout\n');
  }

  private onTryTimeout(): void {
    this.tryTimer = null;
    if (this.respStarted || this.finished) return;
    this.cluster!.stats.rqTimeout++;
    this.retryAfterFailure('timeout');
  }

  // ===================================================================== answers and the end

  /** A response made here (no upstream): route header mutations apply, as on HTTP/1.1. */
  private localAnswer(status: number, body: string, extra: string[] = []): void {
    if (this.grpc && status >= 300) {
      this.grpcAnswer(status, body, extra);
      return;
    }
    countStatus(this, status);
    let headers = extra;
    if (this.route) headers = applyResponseHeaderMutations(this.route, headers);
    const bytes = Buffer.from(body, 'utf8');
    const noBody = this.req.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    const h = [...headers];
    if (bytes.length > 0 && !hasField(h, 'content-type')) h.push('content-type', 'text/plain; charset=utf-8');
    this.respStarted = true;
    // A HEAD answer states the length a GET would have had, as the HTTP/1.1 path does.
    const contentLength = status < 200 || status === 204 || status === 304 ? -1 : bytes.length;
    this.ds.sendHeaders({ status, headers: h, contentLength }, noBody || bytes.length === 0, false);
    if (!noBody && bytes.length > 0) {
      this.bytesOut += bytes.length;
      this.ds.sendData(bytes);
      this.ds.end([]);
    }
    this.finish();
  }

  /**
   * A local answer to a gRPC request (grpc.ts): HTTP 200, trailers-only (one HEADERS frame with
   * END_STREAM) with the grpc-status of that answer and its text as grpc-message.
   */
  private grpcAnswer(status: number, body: string, extra: string[]): void {
    const code = localGrpcStatus(status, this.flag);
    this.grpcStatus = code;
    countStatus(this, 200);
    let headers = [...extra, ...grpcAnswerFields(code, body)];
    if (this.route) headers = applyResponseHeaderMutations(this.route, headers);
    this.respStarted = true;
    this.ds.sendHeaders({ status: 200, headers, contentLength: -1 }, true, false);
    this.finish();
  }

  /** An error answer in place of the upstream's (nothing was sent to the client yet). */
  private errorAnswer(status: number, body: string): void {
    this.releaseUpstream();
    if (this.respStarted) {
      this.ds.reset('upstream-reset');
      this.finish();
      return;
    }
    this.localAnswer(status, body);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.clearTimers();
    this.releaseUpstream();
    this.held = [];
    // An answer that came before the whole request: read the rest and drop it, so the
    // client's flow-control window does not stall the connection.
    if (!this.bodyDone) this.ds.resumeRequest();
    if (this.ctx.onRequest !== null) this.ctx.onRequest(requestRecord(this, this.req.method, this.req.path, this.grpcStatus));
    this.ctx.counters.requestsActive--;
    if (this.cluster) this.cluster.activeRequests--;
  }
}

function hasField(flat: readonly string[], lower: string): boolean {
  for (let i = 0; i < flat.length; i += 2) if (flat[i].toLowerCase() === lower) return true;
  return false;
}
