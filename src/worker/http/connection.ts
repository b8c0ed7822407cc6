/**
 * One downstream HTTP/1.1 connection: the state machine of the exchanges on it.
 *
 * Requests on a connection are handled one at a time (pipelined requests wait in a buffer
 * until the response before them is complete). Bodies are never buffered whole: they pass
 * through as the buffers arrive, with backpressure both ways.
 *
 *   Head ──request head──▶ Dispatch ──upstream acquired──▶ Exchange ──101──▶ Tunnel
 *    ▲ ▲                    │    ▲                           │ │
 *    │ └── local reply ─────┘    └── retry ──────────────────┘ │
 *    └───────── response done ─────────────────────────────────┘
 *   any state ──▶ Closed (client FIN or reset, malformed request, a response that ends the
 *                          connection, drain, handover release)
 *
 * States:
 *   Head      Between requests: reading (or waiting for) a request head. The only state in
 *             which a connection is parked and moved to another process (handover).
 *   Dispatch  A request head is read: routing, then waiting for an upstream connection.
 *             Client reads are paused while it waits; body bytes that came with the head
 *             are held.
 *   Exchange  The request is sent (or being sent upstream); the response is awaited or streams.
 *   Tunnel    After 101 Switching Protocols: bytes are copied both ways until one side closes.
 *   Closed    The socket is closing or closed; events that still arrive are ignored.
 *
 * Transitions (`state` is assigned in this file only):
 *   Head     → Dispatch   a complete request head                        startRequest()
 *   Dispatch → Exchange   an upstream connection is acquired             enterExchange()
 *   Dispatch → Head       a local reply or an error answer, keep-alive   nextRequest()
 *                         (a local reply passes through Exchange on its way)
 *   Exchange → Dispatch   the try failed before any response byte: retry reenterDispatch()
 *   Exchange → Tunnel     the upstream answered 101 to an Upgrade        enterTunnel()
 *   Exchange → Head       the response is done, or a 502/504 answer took  nextRequest()
 *                         its place; keep-alive
 *   any      → Closed     malformed request, client FIN / reset / idle timeout, drain, a
 *                         response that ends the connection, handover release: closeGracefully(),
 *                         replyAndClose(), destroy(), release(), the socket's 'close'
 *
 * This file holds the state machine: the socket events, the request head, the transitions
 * and the end of each request. The parts of an exchange are functions of the connection in
 * the files beside it (one call per event, no per-request objects of their own):
 *   request-body.ts       the request body to the upstream, held or streamed
 *   dispatch.ts           routing: local answers, or the cluster and the upstream head
 *   upstream-exchange.ts  a host and a pooled connection for each try; the request sent
 *   retry.ts              the retry budget; retry or 502/504 when a try fails
 *   exchange-timers.ts    the route timeout and the per-try timeout
 *   response-forward.ts   the response head and body to the client
 *   tunnel.ts             101: the switch to a tunnel (the copying stays in the handlers here)
 *   drain-handover.ts     drain, and parking / moving the connection for a hot upgrade
 *   request-record.ts     status counting and the finished-request record (access log, metrics)
 */
import type * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { readInto } from '../read-buffer';
import { HttpParseError } from './errors';
import { Head, HeadReader } from './head-reader';
import { parseRequestHead, RequestHead } from './request-head';
import type { ResponseHead } from './response-head';
import type { ChunkedTracker } from './chunked';
import { localReply } from './local-reply';
import { countStatus, requestRecord, type ResponseFlag } from './request-record';
import { Body, onBodyBytes, startRequestBody } from './request-body';
import { clearTimers } from './exchange-timers';
import { releaseUpstream } from './upstream-exchange';
import { upstreamFailedBeforeResponse } from './retry';
import { lingeringClose } from './linger';
import { dispatch } from './dispatch';
import { onResponseBody, onResponseHeadBytes, RESPONSE_LIMITS } from './response-forward';
import { detachForHandover, drainConnection, drainForUpgrade, isMovable, parkAtBoundary, reattachAfterHandover } from './drain-handover';
import { applyResponseHeaderMutations, RouteMatchResult } from '../router';
import { unwatchIdle, watchIdle, type IdleWatched } from '../idle-sweep';
import type { Cluster } from '../cluster/cluster';
import type { UpstreamHost } from '../cluster/host';
import type { UpstreamConn, UpstreamOwner } from '../cluster/upstream-conn';
import type { Detached, TrackedConnection, WorkerContext } from '../context';
import { tlsPeerOf, type TlsPeer } from '../tls/peer';
import { DOWNSTREAM_IDLE_TIMEOUT_MS, MAX_HEADER_BYTES, MAX_REQUEST_LINE_BYTES, REQUEST_HEAD_TIMEOUT_MS } from '../../shared/constants';

/** How long a client may take (from the listener's config; see connection_idle_timeout). */
export interface ClientTimeouts {
  /** Nothing moving on the connection: idle keep-alive, or a request body that stalls. */
  idleMs: number;
  /** From the first byte of a request head to its end. */
  headersMs: number;
}

const DEFAULT_CLIENT_TIMEOUTS: ClientTimeouts = { idleMs: DOWNSTREAM_IDLE_TIMEOUT_MS, headersMs: REQUEST_HEAD_TIMEOUT_MS };

/** The client timeouts of a listener's config, defaults applied. */
export function clientTimeouts(cfg: { idleTimeoutMs?: number; headersTimeoutMs?: number }): ClientTimeouts {
  return {
    idleMs: cfg.idleTimeoutMs ?? DOWNSTREAM_IDLE_TIMEOUT_MS,
    headersMs: cfg.headersTimeoutMs ?? REQUEST_HEAD_TIMEOUT_MS,
  };
}

/** The states of the header; a const enum, so the sibling modules compare inlined numbers. */
export const enum State {
  /** Between requests. */
  Head,
  /** Route chosen, waiting for an upstream connection (client reads paused). */
  Dispatch,
  /** Request sent (or being sent), response awaited or streaming. */
  Exchange,
  /** After 101: bytes copied both ways. */
  Tunnel,
  Closed,
}

/** The socket's connection, for the shared socket listeners. */
const kConnection = Symbol('mosnd.httpConnection');
type OwnedSocket = net.Socket & { [kConnection]: HttpConnection };

function onSocketError(): void {
  /* 'close' follows and cleans up */
}

const REQUEST_LIMITS = {
  maxHeadBytes: MAX_HEADER_BYTES,
  maxLineBytes: MAX_REQUEST_LINE_BYTES,
  tooLargeStatus: 431,
  badStatus: 400,
  skipLeadingCrlf: true,
};

/**
 * The fields are the state of the connection and of its current exchange. They are open to
 * the modules beside this file that implement parts of an exchange; nothing outside
 * src/worker/http/ uses more than the constructor and the UpstreamOwner / TrackedConnection
 * methods. One class, every field set at construction: every function that takes an
 * HttpConnection sees one shape.
 */
export class HttpConnection implements UpstreamOwner, TrackedConnection, IdleWatched {
  /** Assigned only in this file (see the transitions in the header). */
  state = State.Head;
  readonly reader = new HeadReader(REQUEST_LIMITS);
  readonly clientIp: string;
  /** Set on a TLS connection (tls/peer.ts): never moved on upgrade (its OpenSSL state stays in
   *  this process), drained instead; its requests carry XFCC and x-forwarded-proto https. */
  readonly tls: TlsPeer | null;
  /** Bytes received after the current request (pipelining), replayed when it is done. */
  pipelined: Buffer | null = null;
  closeAfter = false;
  /** The client sent its FIN: answer what it sent, then close. */
  clientEnded = false;
  readonly openedAt = performance.now();
  /** The listener's idle timeout; checked by the worker's idle sweep (idle-sweep.ts). */
  readonly idleMs: number;
  sweepProgress = 0;
  sweepSince = 0;
  /** Requests started on this connection. */
  served = 0;

  // ---- the current request: routing and the upstream (dispatch.ts, upstream-exchange.ts) ----
  req: RequestHead | null = null;
  route: RouteMatchResult | null = null;
  cluster: Cluster | null = null;
  host: UpstreamHost | null = null;
  conn: UpstreamConn | null = null;
  cancelAcquire: (() => void) | null = null;
  /** The upstream connection of this try came from the pool (it may have been closed under us). */
  connWasReused = false;
  upstreamHead = '';
  // ---- the request body (request-body.ts) ----
  bodyKind = Body.None;
  bodyRemaining = 0;
  bodyChunks: ChunkedTracker | null = null;
  bodyDone = true;
  /** Request bytes read but not yet sent upstream (body start), kept for a replay. */
  held: Buffer[] = [];
  /** Every byte of the request is in `held`/the head: it can be sent again on retry. */
  replayable = true;
  // ---- retries and timeouts (retry.ts, exchange-timers.ts) ----
  attempts = 0;
  retriesLeft = 0;
  /** performance.now() by which the response head must have come (route timeout), 0 = none. */
  routeDeadline = 0;
  /** performance.now() by which this try must have had its response head, 0 = none. */
  tryDeadline = 0;
  // ---- figures of the current request: access log, metrics (request-record.ts) ----
  flag: ResponseFlag = '';
  status = 0;
  t0 = 0;
  tUp = 0;
  upMs = -1;
  bytesIn = 0;
  bytesOut = 0;
  upstreamAddress = '';

  // ---- the response (response-forward.ts) ----
  readonly respReader = new HeadReader(RESPONSE_LIMITS);
  resp: ResponseHead | null = null;
  /** Interim (1xx) heads received in this try, bounded by MAX_INTERIM_RESPONSES. */
  interimHeads = 0;
  respRemaining = 0;
  respChunks: ChunkedTracker | null = null;
  /** Decode chunked framing for an HTTP/1.0 client. */
  dechunk = false;
  /** Any byte of the response was written to the client. */
  respStarted = false;
  upstreamReusable = true;

  // ---- handover (drain-handover.ts) ----
  /** Kernel reads are stopped: the connection waits at a request boundary to be moved. */
  parked = false;
  moved = false;
  /** Bytes taken off the connection by detach(), given back by reattach(). */
  detachedData: Buffer | null = null;

  /** Armed at the first byte of a request head that did not come whole: the head deadline. */
  private headTimer: NodeJS.Timeout | null = null;

  // ---- feed(): the loop that replays pipelined bytes without recursing ----
  private feeding = false;
  private refeed: Buffer | null = null;

  constructor(
    readonly socket: net.Socket,
    readonly ctx: WorkerContext,
    readonly routerName: string,
    readonly listenerName: string = '',
    private readonly timeouts: ClientTimeouts = DEFAULT_CLIENT_TIMEOUTS,
    /** The socket was opened with `onread` (listeners.ts, handover.ts, ../read-buffer.ts); else
     *  it emits 'data' (TLS). Either way its bytes come to onBytes(). */
    readsByCallback = false,
  ) {
    const ip = socket.remoteAddress ?? '';
    this.clientIp = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    this.tls = tlsPeerOf(socket);
    socket.setNoDelay(true);
    this.idleMs = timeouts.idleMs;
    // Shared listeners that find the connection on the socket, not six closures per
    // connection: an idle keep-alive connection is mostly its objects, and 10,000 of them
    // are held by one worker.
    (socket as OwnedSocket)[kConnection] = this;
    readInto(socket, this, readsByCallback);
    socket.on('end', HttpConnection.onSocketEnd);
    socket.on('drain', HttpConnection.onSocketDrain);
    socket.on('error', onSocketError);
    socket.on('close', HttpConnection.onSocketClose);
    ctx.track(this);
    watchIdle(this);
  }

  /** ReadSink (../read-buffer.ts): every byte from the client. */
  onBytes(d: Buffer): void {
    this.feed(d);
  }

  private static onSocketEnd(this: net.Socket): void {
    (this as OwnedSocket)[kConnection].onClientEnd();
  }

  private static onSocketDrain(this: net.Socket): void {
    (this as OwnedSocket)[kConnection].onClientDrain();
  }

  private static onSocketClose(this: net.Socket): void {
    (this as OwnedSocket)[kConnection].onClientClose();
  }

  // ===================================================================== downstream input

  /**
   * Every byte from the client enters here. A request that completes synchronously (a local
   * answer: 404, direct_response, redirect) starts the next pipelined one from inside this
   * call; its bytes come back through feed() and wait in `refeed` for this loop instead of
   * being handled one call deeper. Thousands of pipelined local answers in one read once
   * overflowed the stack and killed the worker; now the depth is constant.
   */
  feed(data: Buffer): void {
    if (this.feeding) {
      // Only the request that just ended can hand bytes back, once, before this returns.
      this.refeed = data;
      return;
    }
    this.feeding = true;
    try {
      let d: Buffer | null = data;
      while (d !== null) {
        this.onData(d);
        d = this.refeed;
        this.refeed = null;
      }
    } finally {
      this.feeding = false;
    }
  }

  private onData(data: Buffer): void {
    switch (this.state) {
      case State.Head:
        if (this.parked) this.holdPipelined(data);
        else this.onHeadBytes(data);
        return;
      case State.Dispatch:
      case State.Exchange:
        if (!this.bodyDone) onBodyBytes(this, data);
        else this.holdPipelined(data);
        return;
      case State.Tunnel:
        if (this.conn && !this.conn.socket.write(data)) this.socket.pause();
        return;
      default:
        return;
    }
  }

  private onHeadBytes(data: Buffer): void {
    let head: Head | null;
    let req: RequestHead;
    try {
      head = this.reader.push(data);
      if (head === null) {
        // Most heads come whole in one read and never get here: no timer on the fast path.
        this.headTimer ??= setTimeout(() => this.onHeadTimeout(), this.timeouts.headersMs);
        return;
      }
      req = parseRequestHead(head.text);
    } catch (e) {
      this.protocolError(e);
      return;
    }
    this.clearHeadTimer();
    this.startRequest(req, head.rest);
  }

  private clearHeadTimer(): void {
    if (this.headTimer !== null) {
      clearTimeout(this.headTimer);
      this.headTimer = null;
    }
  }

  /** The head deadline passed with the head still incomplete: a slowloris or a stuck client. */
  private onHeadTimeout(): void {
    this.headTimer = null;
    if (this.state !== State.Head || !this.reader.hasPartial || this.parked) return;
    this.protocolError(new HttpParseError(408, 'request head timeout'), 'SI');
  }

  private protocolError(e: unknown, flag: ResponseFlag = ''): void {
    const status = e instanceof HttpParseError ? e.status : 400;
    const reason = e instanceof HttpParseError ? e.reason : 'bad request';
    this.clearHeadTimer();
    this.ctx.counters.requestsTotal++;
    countStatus(this, status);
    this.flag = flag;
    this.t0 = 0;
    this.bytesIn = this.bytesOut = 0;
    this.upMs = -1;
    this.upstreamAddress = '';
    if (this.ctx.onRequest !== null) this.ctx.onRequest(requestRecord(this, '-', '-'));
    this.ctx.log.debug({ client: this.clientIp, status, reason }, 'malformed request');
    this.replyAndClose(status, `${reason}\n`);
  }

  holdPipelined(data: Buffer): void {
    this.pipelined = this.pipelined === null ? data : Buffer.concat([this.pipelined, data]);
    // Stop reading: the next request waits for this response anyway.
    this.socket.pause();
  }

  // ===================================================================== transitions

  /** Dispatch → Exchange: an upstream connection is acquired, the request goes out. */
  enterExchange(): void {
    this.state = State.Exchange;
  }

  /** Exchange → Dispatch: the try failed before any response byte; another one starts. */
  reenterDispatch(): void {
    this.state = State.Dispatch;
  }

  /** Exchange → Tunnel: the upstream switched protocols. */
  enterTunnel(): void {
    this.state = State.Tunnel;
  }

  // ===================================================================== a new request

  private startRequest(req: RequestHead, rest: Buffer | null): void {
    const c = this.ctx.counters;
    c.requestsTotal++;
    c.requestsActive++;
    this.served++;
    this.req = req;
    this.flag = '';
    this.status = 0;
    this.t0 = performance.now();
    this.upMs = -1;
    this.bytesIn = 0;
    this.bytesOut = 0;
    this.upstreamAddress = '';
    this.respStarted = false;
    this.attempts = 0;
    if (this.ctx.draining) this.closeAfter = true;

    startRequestBody(this, req);
    this.state = State.Dispatch;
    // Client reads pause only if the request has to wait for an upstream connection
    // (dispatch.ts): a pooled one is taken in this same call, and a pause undone at once
    // costs a tick and two events per request.
    if (rest !== null) this.onData(rest);
    if (this.state !== State.Dispatch) return; // a body error already answered

    dispatch(this, req);
  }

  // ===================================================================== upstream events

  onUpstreamData(data: Buffer): void {
    if (this.state === State.Tunnel) {
      if (!this.socket.write(data)) this.conn?.socket.pause();
      return;
    }
    if (this.resp === null) {
      onResponseHeadBytes(this, data);
      return;
    }
    onResponseBody(this, data);
  }

  onUpstreamEnd(): void {
    if (this.state === State.Tunnel) {
      this.socket.end();
      return;
    }
    if (this.resp !== null && this.resp.framing === 'close') {
      this.upstreamReusable = false;
      this.responseDone();
      return;
    }
    // FIN before the response was complete: the upstream closed on us.
    this.conn?.socket.destroy();
  }

  onUpstreamClose(): void {
    const wasConn = this.conn;
    this.conn = null;
    if (wasConn === null) return;
    if (this.host) {
      this.host.activeRequests--;
      this.host = null;
    }
    if (this.state === State.Tunnel) {
      this.socket.destroySoon();
      return;
    }
    if (this.state !== State.Exchange) return;
    if (this.resp === null) {
      upstreamFailedBeforeResponse(this, 'reset', wasConn.host);
      return;
    }
    if (this.resp.framing === 'close') {
      this.responseDone();
      return;
    }
    // Reset mid-response: the client must see the connection close, not a short body.
    this.flag = 'UC';
    this.destroy();
  }

  onUpstreamDrain(): void {
    if (this.state === State.Exchange || this.state === State.Tunnel) this.socket.resume();
  }

  private onClientDrain(): void {
    if (this.conn && (this.state === State.Exchange || this.state === State.Tunnel)) this.conn.socket.resume();
    else if (this.state === State.Head && !this.parked) this.socket.resume();
  }

  // ===================================================================== completion

  responseDone(): void {
    if (this.state !== State.Exchange) return;
    clearTimers(this);
    releaseUpstream(this, this.upstreamReusable && this.bodyDone);
    this.endRequest();
    if (this.closeAfter || !this.bodyDone) {
      this.closeGracefully();
      return;
    }
    this.nextRequest();
  }

  endRequest(): void {
    if (this.req === null) return;
    if (this.ctx.onRequest !== null) this.ctx.onRequest(requestRecord(this, this.req.method, this.req.path));
    this.ctx.counters.requestsActive--;
    if (this.cluster) this.cluster.activeRequests--;
    this.req = null;
    this.route = null;
    this.cluster = null;
    this.resp = null;
    this.respChunks = null;
    this.bodyChunks = null;
    this.held = [];
    this.upstreamHead = ''; // an idle keep-alive connection keeps no request's bytes
  }

  private nextRequest(): void {
    this.state = State.Head;
    this.reader.reset();
    if (this.ctx.handoverMode && this.tls === null) {
      parkAtBoundary(this);
      return;
    }
    const p = this.pipelined;
    this.pipelined = null;
    if (this.clientEnded && p === null) {
      this.closeGracefully();
      return;
    }
    if (this.ctx.draining || this.ctx.handoverMode) {
      // Drain (or a TLS connection during an upgrade): answer nothing more on this connection once the pipeline is empty.
      if (p === null) {
        this.closeGracefully();
        return;
      }
      this.closeAfter = true;
    }
    // A client that does not read its answers gets no more read from it until it does
    // ('drain' resumes): pipelined requests cannot pile answers up in our memory.
    if (!this.socket.writableNeedDrain) this.socket.resume();
    else this.socket.pause();
    if (p !== null) this.feed(p);
  }

  /** Answers locally (no upstream involved) and carries on with the connection. */
  localResponse(status: number, body: string, headers: string[] = []): void {
    countStatus(this, status);
    const req = this.req!;
    const close = this.closeAfter || !req.keepAlive || !this.bodyDone;
    if (this.route) headers = applyResponseHeaderMutations(this.route, headers);
    this.socket.write(localReply(status, body, close, headers, req.method === 'HEAD'), 'utf8');
    this.state = State.Exchange;
    this.responseDoneLocal(close);
  }

  private responseDoneLocal(close: boolean): void {
    clearTimers(this);
    const unreadBody = !this.bodyDone;
    this.endRequest();
    if (!close) this.nextRequest();
    else if (unreadBody) this.closeLingering();
    else this.closeGracefully();
  }

  /** An error answer for the current request (nothing was sent to the client yet). */
  finishWithError(status: number, body: string): void {
    clearTimers(this);
    releaseUpstream(this, false);
    if (this.respStarted) {
      this.destroy();
      return;
    }
    countStatus(this, status);
    const req = this.req!;
    const close = this.closeAfter || !req.keepAlive || !this.bodyDone;
    this.socket.write(localReply(status, body, close, [], req.method === 'HEAD'), 'utf8');
    this.responseDoneLocal(close);
  }

  /** A bad request: answered and closed, lingering (the client may still be sending it). */
  replyAndClose(status: number, body: string): void {
    if (this.state === State.Closed) return;
    this.socket.write(localReply(status, body, true), 'utf8');
    this.closeLingering();
  }

  // ===================================================================== client lifecycle

  private onClientEnd(): void {
    // The client will send nothing more. Finish a complete exchange, then close.
    if (this.state === State.Tunnel) {
      this.conn?.socket.end();
      return;
    }
    if (this.state === State.Head) {
      this.closeGracefully();
      return;
    }
    if (!this.bodyDone) {
      this.flag = 'DC';
      this.destroy();
      return;
    }
    // Requests already sent (pipelined behind this one) are still answered; the connection
    // closes when none is left (nextRequest). A FIN is no Connection: close for them.
    this.clientEnded = true;
  }

  /** No byte from or to the client for the listener's idle timeout (idle-sweep.ts). */
  onIdle(): void {
    if (this.state === State.Head) {
      if (this.reader.hasPartial) this.onHeadTimeout();
      else this.closeGracefully();
      return;
    }
    // A request body that stopped arriving while we were reading it (not paused by us for
    // an upstream): the client stalled. Otherwise the exchange has its own timers.
    if ((this.state === State.Dispatch || this.state === State.Exchange) && !this.bodyDone && !this.socket.isPaused()) {
      this.flag = 'SI';
      this.finishWithError(408, 'request body timeout\n');
    }
  }

  private onClientClose(): void {
    const inFlight = this.req !== null;
    this.state = State.Closed;
    clearTimers(this);
    this.clearHeadTimer();
    if (inFlight) {
      if (!this.resp) this.flag = 'DC';
      releaseUpstream(this, false);
      this.endRequest();
    } else {
      releaseUpstream(this, false);
    }
    this.ctx.untrack(this);
    unwatchIdle(this);
  }

  closeGracefully(): void {
    if (this.state === State.Closed) return;
    if (this.tls !== null) {
      // close_notify and FIN, then what still arrives is read and dropped: a request that
      // crossed our close (an idle connection drained on upgrade) meets a clean close with no
      // answer byte, which clients retry, never a reset that could discard our close_notify.
      this.closeLingering();
      return;
    }
    this.state = State.Closed;
    this.socket.end();
    this.socket.destroySoon();
  }

  /** Closes after an answer while the client may still be sending: see linger.ts. */
  private closeLingering(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    lingeringClose(this.socket);
  }

  // ===================================================================== drain and handover

  movable(): boolean {
    return this.tls === null && isMovable(this);
  }

  /** A hot upgrade started: a TLS connection cannot move, so it drains (Connection: close on
   *  its next answer; closed if it stays idle); plaintext ones park at their next boundary. */
  handoverStarted(): void {
    if (this.tls !== null) drainForUpgrade(this);
  }

  detach(): Detached {
    return detachForHandover(this);
  }

  reattach(): void {
    reattachAfterHandover(this);
  }

  release(): void {
    this.moved = true;
    this.state = State.Closed;
    this.socket.destroy();
  }

  /**
   * Takes over a connection moved from an older generation: `data` are bytes the old
   * owner had read and not processed; they are handled before anything from the kernel.
   */
  inject(data: Buffer | null): void {
    if (data !== null && data.length > 0) this.feed(data);
  }

  /** Drain: close now if idle between requests, else after the current response. */
  drain(): void {
    drainConnection(this);
  }

  /** Overload: the same as a drain of this connection (idle ones close, busy ones after their answer). */
  shed(): void {
    if (!this.parked) drainConnection(this);
  }

  destroy(): void {
    this.state = State.Closed;
    releaseUpstream(this, false);
    this.socket.destroy();
  }
}
