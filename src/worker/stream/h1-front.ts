/**
 * HTTP/1.1 clients through the stream proxy: the entry of a listener whose downstream protocol
 * is Http1 (or an Auto listener's HTTP/1.1 connections) and whose upstream protocol is Http2
 * (MOSN's `http-sample` chain: HTTP/1.1 in, HTTP/2 out). Only those listeners come here: an
 * HTTP/1.1 → HTTP/1.1 listener keeps the direct path of src/worker/http/, which this costs
 * nothing.
 *
 * Node's HTTP/1.1 server (llhttp, strict mode) parses and frames, like Node's http2 does for
 * HTTP/2 (h2/front.ts): one server object per listener, never listening itself; the worker's
 * accept path hands it each connection. Each request becomes an H1DownstreamStream and a
 * StreamExchange; the head limits are those of the direct path (MAX_HEADER_BYTES,
 * MAX_HEADER_COUNT), the listener's timeouts apply (request_headers_timeout to a head,
 * connection_idle_timeout to keep-alive and to a stalled body).
 *
 * Drain and upgrade: such a connection is not moved to another process (Node's parser state
 * lives here): it drains, answering Connection: close on the response in flight, or closing
 * after the fresh-connection grace when idle.
 */
import * as http from 'node:http';
import { UnmovableConnection } from '../unmovable';
import type * as net from 'node:net';
import type { WorkerContext } from '../context';
import { requestFromH1 } from './headers';
import { setXfcc } from '../tls/peer';
import { StreamExchange } from './proxy';
import { H1DownstreamStream, type H1StreamOwner } from './h1-downstream';
import type { UpstreamProtocol } from './types';
import { DRAIN_FRESH_CONNECTION_GRACE_MS, H1_STREAM_TIMEOUT_CHECK_MS, MAX_HEADER_BYTES, MAX_HEADER_COUNT } from '../../shared/constants';

/** What a connection needs of its listener's config. */
export interface H1StreamListenerInfo {
  listenerName: string;
  routerName: string;
  upstreamProtocol: UpstreamProtocol;
  idleMs: number;
  headersMs: number;
}

export class H1StreamFront {
  private readonly server: http.Server;
  private readonly conns = new WeakMap<net.Socket, H1StreamConnection>();

  constructor(
    private readonly ctx: WorkerContext,
    /** Read at each new connection: a reload may have changed the listener's config. */
    private readonly info: () => H1StreamListenerInfo,
  ) {
    this.server = http.createServer({
      maxHeaderSize: MAX_HEADER_BYTES,
      insecureHTTPParser: false,
      requireHostHeader: false,
      connectionsCheckingInterval: H1_STREAM_TIMEOUT_CHECK_MS,
    });
    // Node keeps the first maxHeadersCount fields and drops the rest silently: one more than
    // the limit is kept, so a request over it is seen and refused (onRequest), as the direct path does.
    this.server.maxHeadersCount = MAX_HEADER_COUNT + 1;
    this.server.requestTimeout = 0; // a stream may last (gRPC-style); a stalled body is onIdle's
    // Node tracks its connections' head timeouts from 'listening' on (the server never listens
    // itself: the worker's accept path hands it sockets), checking every
    // H1_STREAM_TIMEOUT_CHECK_MS.
    this.server.emit('listening');
    this.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res));
    // The proxy answers Expect: 100-continue itself once the request is routed (proxy.ts).
    this.server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res));
    // A request Node's parser refuses: 431 for a head over the limit, 408 for one slower than
    // request_headers_timeout, else 400; then closed.
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      if (socket.writable && socket.bytesWritten === 0) {
        const status =
          err.code === 'HPE_HEADER_OVERFLOW'
            ? '431 Request Header Fields Too Large'
            : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
              ? '408 Request Timeout'
              : '400 Bad Request';
        socket.end(`HTTP/1.1 ${status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
      }
      socket.destroy();
    });
  }

  /** Serves `socket` (`read`: bytes already taken from it, e.g. by Auto sniffing). */
  serve(socket: net.Socket, read: Buffer | null): void {
    const info = this.info();
    // The listener's current timeouts (a reload may have changed them) for this connection on.
    this.server.headersTimeout = info.headersMs;
    this.server.keepAliveTimeout = info.idleMs;
    this.conns.set(socket, new H1StreamConnection(socket, this.ctx, info));
    this.server.emit('connection', socket);
    // Bytes read while sniffing go to the parser as if just received (Node's parser may read
    // the socket's handle directly, past anything put back in its buffer).
    if (read !== null && read.length > 0) socket.emit('data', read);
    socket.resume();
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const conn = this.conns.get(req.socket);
    if (conn === undefined) {
      res.destroy();
      return;
    }
    if (req.rawHeaders.length / 2 > MAX_HEADER_COUNT) {
      res.shouldKeepAlive = false;
      res.writeHead(431, { 'content-length': '0' });
      res.end();
      return;
    }
    conn.inFlight++;
    // No body (RFC 9112 §6.3: neither Transfer-Encoding nor a Content-Length above 0): the
    // request is complete with its head, as an HTTP/2 HEADERS with END_STREAM.
    const te = req.headers['transfer-encoding'];
    const cl = req.headers['content-length'];
    const bodyless = te === undefined && (cl === undefined || cl === '0');
    const ds = new H1DownstreamStream(req, res, conn, bodyless);
    try {
      const headers = requestFromH1(req.method ?? 'GET', req.url ?? '/', req.rawHeaders);
      setXfcc(headers.headers, ds.tls); // ours with mTLS; a client's own is always removed
      const exchange = new StreamExchange(ds, this.ctx, headers, bodyless);
      ds.handler = exchange;
      exchange.start();
    } catch (err) {
      this.ctx.log.error({ err, client: conn.clientIp }, 'http/1.1 stream failed');
      ds.reset('upstream-reset');
    }
  }
}

class H1StreamConnection extends UnmovableConnection implements H1StreamOwner {
  readonly clientIp: string;
  readonly listenerName: string;
  readonly routerName: string;
  readonly upstreamProtocol: UpstreamProtocol;
  readonly idleMs: number;
  closing = false;
  /** Requests whose response is not complete. */
  inFlight = 0;

  constructor(
    private readonly socket: net.Socket,
    private readonly ctx: WorkerContext,
    info: H1StreamListenerInfo,
  ) {
    super();
    const ip = socket.remoteAddress ?? '';
    this.clientIp = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    this.listenerName = info.listenerName;
    this.routerName = info.routerName;
    this.upstreamProtocol = info.upstreamProtocol;
    this.idleMs = info.idleMs;
    socket.once('close', () => ctx.untrack(this));
    ctx.track(this);
    if (ctx.draining || ctx.handoverMode) this.drain();
  }

  onRequestDone(): void {
    this.inFlight--;
    if (this.closing && this.inFlight === 0) this.closeIfIdle();
  }

  private closeIfIdle(): void {
    setTimeout(() => {
      if (this.inFlight === 0) this.socket.destroy();
    }, DRAIN_FRESH_CONNECTION_GRACE_MS).unref();
  }

  // ===================================================================== TrackedConnection

  /** The response in flight says Connection: close; idle, the connection closes after the grace. */
  drain(): void {
    if (this.closing) return;
    this.closing = true;
    if (this.inFlight === 0) this.closeIfIdle();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
