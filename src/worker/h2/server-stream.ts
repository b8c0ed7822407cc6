/**
 * One HTTP/2 request stream as a DownstreamStream (stream/types.ts): Node's ServerHttp2Stream
 * (nghttp2 frames it) adapted to the stream proxy. Request data is delivered as it arrives;
 * pausing the Node stream stops consuming it, so nghttp2 stops opening the client's flow-control
 * window: a slow upstream slows the client down, nothing piles up here. Response data is written
 * with Node's backpressure (write() false until 'drain', which follows the client's window).
 * Trailers: the response is sent with waitForTrailers when the upstream body may end with
 * trailers, and the trailer section (possibly empty) closes the stream.
 */
import * as http2 from 'node:http2';
import { h2Fields } from '../stream/headers';
import type { DownstreamStream, ResetReason, ResponseHeaders, StreamHandler, UpstreamProtocol } from '../stream/types';

const {
  NGHTTP2_CANCEL,
  NGHTTP2_INTERNAL_ERROR,
  NGHTTP2_REFUSED_STREAM,
  NGHTTP2_PROTOCOL_ERROR,
} = http2.constants;

const RESET_CODES: Readonly<Record<ResetReason, number>> = {
  'client-reset': NGHTTP2_CANCEL,
  'upstream-reset': NGHTTP2_INTERNAL_ERROR,
  'protocol-error': NGHTTP2_PROTOCOL_ERROR,
  timeout: NGHTTP2_CANCEL,
  drain: NGHTTP2_REFUSED_STREAM,
};

/** What the session gives its streams. */
export interface H2StreamOwner {
  readonly clientIp: string;
  readonly listenerName: string;
  readonly routerName: string;
  readonly upstreamProtocol: UpstreamProtocol;
  readonly idleMs: number;
  /** The client reset one of its streams (rapid-reset accounting). */
  onClientReset(): void;
}

export class H2DownstreamStream implements DownstreamStream {
  handler: StreamHandler | null = null;
  readonly clientIp: string;
  readonly listenerName: string;
  readonly routerName: string;
  readonly upstreamProtocol: UpstreamProtocol;
  private trailers: string[] | null = null;
  private requestTrailers: string[] = [];
  /** Our side ended the stream (a response completed or a reset of ours). */
  private ended = false;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly owner: H2StreamOwner,
  ) {
    this.clientIp = owner.clientIp;
    this.listenerName = owner.listenerName;
    this.routerName = owner.routerName;
    this.upstreamProtocol = owner.upstreamProtocol;
    stream.on('data', (d: Buffer) => this.handler?.onRequestData(d));
    stream.on('trailers', (_h: unknown, _f: unknown, raw: string[]) => {
      for (let i = 0; i + 1 < raw.length; i += 2) this.requestTrailers.push(raw[i], raw[i + 1]);
    });
    stream.on('end', () => this.handler?.onRequestEnd(this.requestTrailers));
    stream.on('drain', () => this.handler?.onDrain());
    stream.on('wantTrailers', () => this.sendTrailers());
    stream.on('aborted', () => {
      if (!this.ended) owner.onClientReset();
    });
    stream.on('error', () => {
      /* 'close' follows */
    });
    stream.on('close', () => {
      if (!this.ended) this.handler?.onReset('client-reset');
    });
    stream.setTimeout(owner.idleMs, () => this.handler?.onIdle());
  }

  pauseRequest(): void {
    this.stream.pause();
  }

  resumeRequest(): void {
    this.stream.resume();
  }

  sendContinue(): void {
    if (this.stream.destroyed || this.stream.headersSent) return;
    this.stream.additionalHeaders({ ':status': 100 });
  }

  sendHeaders(h: ResponseHeaders, endStream: boolean, trailers: boolean): void {
    if (this.stream.destroyed || this.stream.headersSent) return;
    const fields = h2Fields(h.headers, h.contentLength);
    fields[':status'] = h.status;
    if (endStream) this.ended = true;
    try {
      this.stream.respond(fields, { endStream, waitForTrailers: trailers && !endStream });
    } catch {
      // A field Node refuses (it validates names and values again): the stream fails, not the worker.
      this.reset('upstream-reset');
    }
  }

  sendData(data: Buffer): boolean {
    if (this.stream.destroyed || this.stream.writableEnded) return true;
    return this.stream.write(data);
  }

  end(trailers: string[]): void {
    if (this.stream.destroyed || this.stream.writableEnded) return;
    this.ended = true;
    this.trailers = trailers;
    this.stream.end();
  }

  private sendTrailers(): void {
    if (this.stream.destroyed) return;
    try {
      this.stream.sendTrailers(h2Fields(this.trailers ?? [], -1));
    } catch {
      this.stream.close(NGHTTP2_INTERNAL_ERROR);
    }
  }

  reset(reason: ResetReason): void {
    this.ended = true;
    if (!this.stream.destroyed) this.stream.close(RESET_CODES[reason]);
  }
}
