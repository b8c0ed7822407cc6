/**
 * The HTTP/2 upstream codec of the stream proxy: one try of one stream, as a stream of a
 * pooled session (cluster/h2-pool.ts, h2/upstream-session.ts). The request goes out as
 * HEADERS (headers.ts h2RequestFields), the body with Node's backpressure (write() false until
 * 'drain', which follows the upstream's flow-control window), and the request's trailers (or
 * an empty end) when the client's body ends. The response comes back as stream events: head
 * (responseFromH2; interim 1xx are dropped), data (pausing the Node stream stops opening the
 * upstream's window: a slow client slows the upstream down), trailers (gRPC's grpc-status,
 * grpc-message and custom metadata), end.
 *
 * Failures: a stream the upstream did not process (REFUSED_STREAM, or above the last_stream_id
 * of its GOAWAY) fails as 'refused' (the proxy sends it again on another session); any other
 * close before the end is a 'reset'.
 */
import * as http2 from 'node:http2';
import type { H2UpstreamSession } from '../h2/upstream-session';
import type { UpstreamHost } from '../cluster/host';
import { h2Fields, responseFromH2 } from './headers';
import type { UpstreamEvents, UpstreamFailure, UpstreamTry } from './types';
import { UPSTREAM_STREAM_IDLE_TIMEOUT_MS } from '../../shared/constants';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } = http2.constants;

export class Http2UpstreamTry implements UpstreamTry {
  readonly host: UpstreamHost;
  private stream: http2.ClientHttp2Stream | null = null;
  private headSeen = false;
  private trailers: string[] = [];
  private reqTrailers: readonly string[] = [];
  /** The response is complete. */
  private done = false;
  /** Failed or abandoned: no more events go to the stream proxy. */
  private over = false;
  /** The stream counted on the session was given back. */
  private returned = false;

  constructor(
    private readonly session: H2UpstreamSession,
    private readonly events: UpstreamEvents,
    private readonly headers: http2.OutgoingHttpHeaders,
  ) {
    this.host = session.host;
  }

  start(held: readonly Buffer[], end: boolean, trailers: readonly string[]): void {
    const noBody = end && trailers.length === 0 && held.every((b) => b.length === 0);
    let stream: http2.ClientHttp2Stream | null;
    let why: UpstreamFailure = 'refused';
    try {
      // null: the session closed meanwhile (a GOAWAY): the request was not sent.
      stream = this.session.request(this.headers, noBody);
    } catch {
      // A field Node refuses (a route's header mutation can add one): sending again won't help.
      stream = null;
      why = 'protocol';
    }
    if (stream === null) {
      this.giveBack();
      // Reported after start() returns: the proxy is still setting this try up.
      queueMicrotask(() => this.fail(why));
      return;
    }
    this.stream = stream;
    stream.on('response', (_h: unknown, flags: number, raw: string[]) => this.onHead(raw, (flags & NGHTTP2_FLAG_END_STREAM) !== 0));
    stream.on('data', (d: Buffer) => {
      if (!this.over) this.events.onResponseData(d);
    });
    stream.on('trailers', (_h: unknown, _f: unknown, raw: string[]) => {
      for (let i = 0; i + 1 < raw.length; i += 2) this.trailers.push(raw[i], raw[i + 1]);
    });
    stream.on('end', () => this.finish());
    stream.on('drain', () => {
      if (!this.over) this.events.onUpstreamDrain();
    });
    stream.on('wantTrailers', () => this.sendTrailers());
    stream.on('error', () => {
      /* 'close' follows */
    });
    stream.on('close', () => {
      this.giveBack();
      if (this.done || this.over) return;
      this.fail(this.session.refused(stream) ? 'refused' : 'reset');
    });
    stream.setTimeout(UPSTREAM_STREAM_IDLE_TIMEOUT_MS, () => stream.close(NGHTTP2_CANCEL));
    if (noBody) return;
    for (const b of held) stream.write(b);
    if (end) this.endRequest(trailers);
  }

  sendData(data: Buffer): boolean {
    const s = this.stream;
    if (s === null || s.destroyed || s.writableEnded) return true;
    return s.write(data);
  }

  endRequest(trailers: readonly string[]): void {
    const s = this.stream;
    if (s === null || s.destroyed || s.writableEnded) return;
    this.reqTrailers = trailers;
    s.end();
  }

  private sendTrailers(): void {
    const s = this.stream;
    if (s === null || s.destroyed) return;
    try {
      s.sendTrailers(h2Fields(this.reqTrailers, -1));
    } catch {
      s.close(NGHTTP2_CANCEL);
    }
  }

  pause(): void {
    this.stream?.pause();
  }

  resume(): void {
    this.stream?.resume();
  }

  private onHead(raw: string[], endStream: boolean): void {
    if (this.over) return;
    this.headSeen = true;
    // The body may end with trailers unless the head ends the stream (a gRPC error answered
    // "trailers-only" carries grpc-status in the head itself).
    this.events.onResponseHead(responseFromH2(raw), endStream, !endStream);
  }

  private finish(): void {
    if (this.done || this.over) return;
    if (!this.headSeen) return; // 'close' reports it
    this.done = true;
    this.events.onResponseEnd(this.trailers);
  }

  private fail(why: UpstreamFailure): void {
    if (this.done || this.over) return;
    this.over = true;
    this.events.onUpstreamFailed(why, !this.headSeen);
  }

  abandon(): void {
    this.over = true;
  }

  /**
   * The stream proxy is done with this try: a stream still open (the client went away, a
   * timeout, an answer before the whole request was sent) is reset with CANCEL; a complete
   * one closes by itself.
   */
  release(requestDone: boolean): void {
    this.over = true;
    const s = this.stream;
    if (s === null) {
      this.giveBack();
      return;
    }
    if (!s.destroyed && !s.closed && (!this.done || !requestDone)) s.close(NGHTTP2_CANCEL);
    else s.resume();
  }

  /** The session's count of this stream, given back once. */
  private giveBack(): void {
    if (this.returned) return;
    this.returned = true;
    this.session.streamDone();
  }
}
