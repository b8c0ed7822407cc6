/**
 * One HTTP/1.1 request as a DownstreamStream (types.ts), for listeners whose HTTP/1.1 clients go
 * to HTTP/2 upstreams (h1-front.ts; the HTTP/1.1 → HTTP/1.1 case keeps its direct path in
 * src/worker/http/). Node's HTTP/1.1 server (llhttp) parses the request and frames the response:
 * request data comes de-chunked with its trailers; pausing the request stops reading the socket;
 * the response goes with Content-Length when the upstream gave one, else chunked with the
 * upstream's trailers (an HTTP/1.0 client: delimited by the close); write() false until 'drain'
 * is the backpressure. A reset closes the connection (HTTP/1.1 has no other way to fail a
 * response already started).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tlsPeerOf, type TlsPeer } from '../tls/peer';
import { isHopByHop } from '../http/serialize';
import type { DownstreamStream, ResetReason, ResponseHeaders, StreamHandler, UpstreamProtocol } from './types';

/** What the connection gives its requests. */
export interface H1StreamOwner {
  readonly clientIp: string;
  readonly listenerName: string;
  readonly routerName: string;
  readonly upstreamProtocol: UpstreamProtocol;
  readonly idleMs: number;
  /** The connection is draining: the response says Connection: close. */
  readonly closing: boolean;
  /** A request of the connection ended (response complete or the stream failed). */
  onRequestDone(): void;
}

export class H1DownstreamStream implements DownstreamStream {
  handler: StreamHandler | null = null;
  readonly clientIp: string;
  readonly listenerName: string;
  readonly routerName: string;
  readonly upstreamProtocol: UpstreamProtocol;
  /** The client's TLS connection, when the listener terminates TLS (XFCC, https, access log). */
  readonly tls: TlsPeer | null;
  /** Our side ended the response (completed or reset). */
  private ended = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly owner: H1StreamOwner,
    /** The request ended with its head (the proxy was told so): its 'end' is not passed on. */
    bodyless: boolean,
  ) {
    this.clientIp = owner.clientIp;
    this.listenerName = owner.listenerName;
    this.routerName = owner.routerName;
    this.upstreamProtocol = owner.upstreamProtocol;
    this.tls = tlsPeerOf(req.socket);
    req.on('data', (d: Buffer) => this.handler?.onRequestData(d));
    if (bodyless) req.resume();
    else req.on('end', () => this.handler?.onRequestEnd(lowerFlat(req.rawTrailers)));
    req.on('error', () => {
      /* 'close' of the response follows */
    });
    res.on('drain', () => this.handler?.onDrain());
    res.on('close', () => {
      owner.onRequestDone();
      if (!this.ended) this.handler?.onReset('client-reset');
    });
    // A request body that stalls (the proxy ignores it once the response started).
    res.setTimeout(owner.idleMs, () => this.handler?.onIdle());
  }

  pauseRequest(): void {
    this.req.pause();
  }

  resumeRequest(): void {
    this.req.resume();
  }

  sendContinue(): void {
    if (!this.res.headersSent) this.res.writeContinue();
  }

  sendHeaders(h: ResponseHeaders, endStream: boolean, _trailers: boolean): void {
    const res = this.res;
    if (res.headersSent || res.destroyed) return;
    // Node frames the body itself (length, chunked or close): no framing or hop-by-hop field
    // of the upstream's (a route's header mutation could add one) goes out.
    const flat: string[] = [];
    for (let i = 0; i + 1 < h.headers.length; i += 2) if (!isHopByHop(h.headers[i], false)) flat.push(h.headers[i], h.headers[i + 1]);
    if (h.contentLength >= 0) flat.push('content-length', String(h.contentLength));
    if (this.owner.closing) res.shouldKeepAlive = false;
    try {
      res.writeHead(h.status, flat);
    } catch {
      // A field Node refuses: the request fails, not the worker.
      this.reset('upstream-reset');
      return;
    }
    if (endStream) {
      this.ended = true;
      res.end();
    }
  }

  sendData(data: Buffer): boolean {
    if (this.res.destroyed || this.res.writableEnded) return true;
    return this.res.write(data);
  }

  end(trailers: string[]): void {
    const res = this.res;
    if (res.destroyed || res.writableEnded) return;
    this.ended = true;
    if (trailers.length > 0) {
      const pairs: [string, string][] = [];
      for (let i = 0; i + 1 < trailers.length; i += 2) pairs.push([trailers[i], trailers[i + 1]]);
      try {
        res.addTrailers(pairs);
      } catch {
        // A trailer Node refuses is dropped; the body is complete.
      }
    }
    res.end();
  }

  reset(_reason: ResetReason): void {
    this.ended = true;
    this.res.destroy();
  }
}

/** Raw trailer fields with their names lower-cased (HTTP/2 requires it). */
function lowerFlat(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push(raw[i].toLowerCase(), raw[i + 1]);
  return out;
}
