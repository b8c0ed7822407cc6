/**
 * One downstream HTTP/2 connection (an nghttp2 session from Node's http2): its streams go to
 * the stream proxy (stream/proxy.ts), and it is the TrackedConnection the worker drains.
 *
 * Limits: SETTINGS (max concurrent streams, max header list size) are set on the server
 * (front.ts) and enforced by nghttp2. Here: rapid reset (CVE-2023-44487), counted as streams
 * the client resets before our response ended; past H2_RAPID_RESET_MAX in
 * H2_RAPID_RESET_WINDOW_MS the session gets GOAWAY ENHANCE_YOUR_CALM and is closed (that
 * connection only). The listener's idle timeout closes a session with no stream open.
 *
 * Drain and upgrade: an HTTP/2 connection is never moved to another process (its HPACK and
 * stream state live in nghttp2): movable() is false. drain() sends a graceful GOAWAY in two
 * steps (the highest stream id first, then after a round trip the last one processed, with
 * session.close(): streams in flight finish, no new ones); a hot upgrade drains it the same
 * way (handoverStarted), and the old worker waits for it until graceful_timeout, as for any
 * connection it cannot move.
 */
import * as http2 from 'node:http2';
import { UnmovableConnection } from '../unmovable';
import type { WorkerContext } from '../context';
import { setXfcc, tlsPeerOf, type TlsPeer } from '../tls/peer';
import { requestFromH2 } from '../stream/headers';
import type { UpstreamProtocol } from '../stream/types';
import { StreamExchange } from '../stream/proxy';
import { H2DownstreamStream, type H2StreamOwner } from './server-stream';
import { H2_GOAWAY_RTT_MAX_MS, H2_RAPID_RESET_MAX, H2_RAPID_RESET_WINDOW_MS } from '../../shared/constants';

const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR } = http2.constants;

/** nghttp2's error codes for the flood guards (nghttp2.h; Node gives them as err.errno). */
const NGHTTP2_ERR_FLOODED = -904;
const NGHTTP2_ERR_TOO_MANY_CONTINUATIONS = -905;

/** The largest stream id (2^31 - 1): a GOAWAY naming it refuses no stream already sent. */
const MAX_STREAM_ID = 2 ** 31 - 1;

/** What a session needs of its listener's config. */
export interface H2ListenerInfo {
  listenerName: string;
  routerName: string;
  /** The listener's upstream_protocol for its HTTP/2 streams (Auto: Http2, MOSN's rule). */
  upstreamProtocol: UpstreamProtocol;
  idleMs: number;
}

export class H2Connection extends UnmovableConnection implements H2StreamOwner {
  readonly clientIp: string;
  readonly listenerName: string;
  readonly routerName: string;
  readonly upstreamProtocol: UpstreamProtocol;
  readonly idleMs: number;
  private resetWindowStart = 0;
  private resets = 0;
  private closing = false;
  /** Over TLS (ALPN h2): the client's certificate, as XFCC on every request (tls/peer.ts). */
  readonly tls: TlsPeer | null;
  /** Streams opened and not yet closed. */
  private openStreams = 0;
  /** The client's SETTINGS arrived (it sent its preface): a two-step GOAWAY can be answered. */
  private peerSpoke = false;

  constructor(
    private readonly session: http2.ServerHttp2Session,
    private readonly ctx: WorkerContext,
    info: H2ListenerInfo,
  ) {
    super();
    const ip = session.socket?.remoteAddress ?? '';
    this.clientIp = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
    this.tls = tlsPeerOf(session.socket);
    this.listenerName = info.listenerName;
    this.routerName = info.routerName;
    this.upstreamProtocol = info.upstreamProtocol;
    this.idleMs = info.idleMs;
    session.on('stream', (stream: http2.ServerHttp2Stream, _headers: unknown, flags: number, raw: string[]) => this.onStream(stream, flags, raw));
    session.on('error', (err: Error & { errno?: number }) => this.onSessionError(err));
    session.once('remoteSettings', () => (this.peerSpoke = true));
    ctx.counters.h2SessionsActive++;
    session.on('close', () => {
      ctx.counters.h2SessionsActive--;
      ctx.untrack(this);
    });
    // No stream open for the idle timeout: the connection goes (stream timers cover the rest).
    session.setTimeout(info.idleMs, () => {
      if (this.openStreams === 0) this.drain();
    });
    ctx.track(this);
    if (ctx.draining || ctx.handoverMode) this.drain();
  }

  private onStream(stream: http2.ServerHttp2Stream, flags: number, raw: string[]): void {
    this.openStreams++;
    this.ctx.counters.h2StreamsActive++;
    stream.once('close', () => {
      this.openStreams--;
      this.ctx.counters.h2StreamsActive--;
    });
    const ds = new H2DownstreamStream(stream, this);
    const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    try {
      const req = requestFromH2(raw);
      setXfcc(req.headers, this.tls); // ours with mTLS; a client's own is always removed
      const exchange = new StreamExchange(ds, this.ctx, req, endStream);
      ds.handler = exchange;
      exchange.start();
    } catch (err) {
      // A bug must cost this stream, not the worker and every connection on it.
      this.ctx.log.error({ err, client: this.clientIp }, 'http2 stream failed');
      ds.reset('upstream-reset');
    }
  }

  /**
   * nghttp2 ends a session it finds flooded (NGHTTP2_ERR_FLOODED: frames that need an answer,
   * PING or SETTINGS, queued faster than the client reads them) or past its CONTINUATION limit
   * (NGHTTP2_ERR_TOO_MANY_CONTINUATIONS): counted and logged as the attacks they are. Other
   * session errors are a client's broken framing: debug only.
   */
  private onSessionError(err: Error & { errno?: number }): void {
    const kind = err.errno === NGHTTP2_ERR_FLOODED ? 'control' : err.errno === NGHTTP2_ERR_TOO_MANY_CONTINUATIONS ? 'continuation' : null;
    if (kind === null) {
      this.ctx.log.debug({ err: err.message, client: this.clientIp }, 'http2 session error');
      return;
    }
    this.ctx.counters.h2Floods[kind]++;
    this.ctx.log.warn({ client: this.clientIp, listener: this.listenerName, kind, err: err.message }, 'http2 flood from a client; connection closed');
  }

  /** Rapid reset: too many streams reset by the client in the window closes this connection. */
  onClientReset(): void {
    const now = Date.now();
    if (now - this.resetWindowStart > H2_RAPID_RESET_WINDOW_MS) {
      this.resetWindowStart = now;
      this.resets = 0;
    }
    if (++this.resets <= H2_RAPID_RESET_MAX || this.session.destroyed) return;
    this.ctx.counters.h2RapidResetCloses++;
    this.ctx.log.warn(
      { client: this.clientIp, listener: this.listenerName, resets: this.resets, windowMs: H2_RAPID_RESET_WINDOW_MS },
      'http2 client reset too many streams (rapid reset); closing the connection with ENHANCE_YOUR_CALM',
    );
    this.session.destroy(new Error('rapid reset'), NGHTTP2_ENHANCE_YOUR_CALM);
  }

  // ===================================================================== TrackedConnection

  /**
   * Graceful GOAWAY: the streams in flight finish, the client opens new ones elsewhere. First a
   * GOAWAY with the highest stream id (streams the client sent meanwhile are still served),
   * then, once a PING shows the client has read it, the final one (session.close()).
   */
  drain(): void {
    if (this.closing || this.session.destroyed) return;
    this.closing = true;
    const s = this.session;
    if (!this.peerSpoke) {
      // No SETTINGS from the client yet: no stream of its can be on the wire, and a client
      // that has not even sent its preface cannot answer the PING (it would cost the drain
      // H2_GOAWAY_RTT_MAX_MS for nothing).
      s.close();
      return;
    }
    let finalSent = false;
    const sendFinal = (): void => {
      if (finalSent) return;
      finalSent = true;
      clearTimeout(timer);
      if (!s.destroyed) s.close();
    };
    const timer = setTimeout(sendFinal, H2_GOAWAY_RTT_MAX_MS);
    timer.unref();
    try {
      s.goaway(NGHTTP2_NO_ERROR, MAX_STREAM_ID);
      if (!s.ping(() => sendFinal())) sendFinal();
    } catch {
      sendFinal(); // the session is closing under us already
    }
  }

  destroy(): void {
    if (!this.session.destroyed) this.session.destroy();
  }
}
