/**
 * One HTTP/2 client session to an upstream host (Node's http2.connect, i.e. nghttp2, does the
 * framing), as the host's session pool (cluster/h2-pool.ts) uses it: it counts the streams it
 * carries against the peer's SETTINGS_MAX_CONCURRENT_STREAMS, remembers a GOAWAY's
 * last_stream_id (to tell streams the peer never processed), keeps itself alive with PINGs
 * and reports to the pool when it is ready, has room again, leaves the pool, and is closed.
 *
 * States: connecting (until the peer's first SETTINGS: only then is its stream limit known)
 * → ready → retired (GOAWAY received, idle-closed, error, or closed: no new streams; streams in
 * flight finish) → closed. A session that never got ready failed to connect.
 *
 * Transport: cleartext with prior knowledge (h2c) over a socket this file opens
 * (openTransport). TLS upstreams will pass a TLS socket (ALPN h2) from the same place:
 * Node takes any duplex through `createConnection`.
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import type { UpstreamHost } from '../cluster/host';
import {
  H2_MAX_HEADER_FIELDS,
  H2_MAX_HEADER_LIST_BYTES,
  H2_UPSTREAM_ASSUMED_STREAMS,
  H2_UPSTREAM_PING_INTERVAL_MS,
  H2_UPSTREAM_PING_TIMEOUT_MS,
  TCP_KEEPALIVE_DELAY_MS,
} from '../../shared/constants';

const { NGHTTP2_REFUSED_STREAM } = http2.constants;

/** What a session tells its pool. */
export interface SessionOwner {
  /** The peer's SETTINGS arrived (first time: the session is ready) or a stream ended. */
  onCapacity(s: H2UpstreamSession): void;
  /** No new streams go on this session any more (it may still carry some). */
  onRetired(s: H2UpstreamSession, connectFailed: boolean): void;
  /** The session is closed: it no longer counts against max_connections. */
  onClosed(s: H2UpstreamSession): void;
}

/**
 * The transport of a session: a TCP socket for h2c. The hook where a TLS socket (ALPN h2)
 * will be made for TLS clusters.
 */
export function openTransport(host: UpstreamHost): net.Socket {
  const socket = net.connect({ host: host.host, port: host.port, noDelay: true });
  socket.setKeepAlive(true, TCP_KEEPALIVE_DELAY_MS);
  return socket;
}

export class H2UpstreamSession {
  readonly session: http2.ClientHttp2Session;
  /** The peer's first SETTINGS arrived. */
  ready = false;
  /** Out of the pool: no new streams. */
  retired = false;
  /** Streams reserved or open on this session. */
  active = 0;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS (assumed until its SETTINGS arrive). */
  maxStreams = H2_UPSTREAM_ASSUMED_STREAMS;
  /** The last_stream_id of a GOAWAY from the peer, -1 before any. */
  goawayLastStreamId = -1;
  /** When `active` last fell to 0 (the pool's idle sweep reads it). */
  idleSince = Date.now();
  private lastPingAt = Date.now();
  /** When the PING in flight went out, 0 when none is. */
  private pingSentAt = 0;
  private readonly connectTimer: NodeJS.Timeout;

  constructor(
    readonly host: UpstreamHost,
    private readonly owner: SessionOwner,
    connectTimeoutMs: number,
  ) {
    const socket = openTransport(host);
    const session = http2.connect(`http://${host.address}`, {
      createConnection: () => socket,
      settings: { enablePush: false, maxHeaderListSize: H2_MAX_HEADER_LIST_BYTES },
      maxHeaderListPairs: H2_MAX_HEADER_FIELDS,
    });
    this.session = session;
    // The peer's SETTINGS, not the TCP connect, make the session ready: only then is its
    // stream limit known (and a peer that does not speak HTTP/2 never gets here).
    this.connectTimer = setTimeout(() => this.destroy(), connectTimeoutMs);
    session.on('remoteSettings', (settings: http2.Settings) => {
      if (settings.maxConcurrentStreams !== undefined) this.maxStreams = settings.maxConcurrentStreams;
      if (!this.ready) {
        this.ready = true;
        clearTimeout(this.connectTimer);
        this.lastPingAt = Date.now();
      }
      if (!this.retired) owner.onCapacity(this);
    });
    session.on('goaway', (_code: number, lastStreamId: number) => {
      // Node closes (NO_ERROR: after the streams in flight) or destroys the session itself.
      this.goawayLastStreamId = lastStreamId;
      this.retire();
    });
    session.on('error', () => {
      /* 'close' follows; each stream reports its own failure */
    });
    session.on('close', () => {
      clearTimeout(this.connectTimer);
      this.retire();
      owner.onClosed(this);
    });
  }

  /**
   * Opens a stream of a request (counted by the pool already); null when the session can no
   * longer take one (a GOAWAY that arrived meanwhile): the request was not sent.
   */
  request(headers: http2.OutgoingHttpHeaders, endStream: boolean): http2.ClientHttp2Stream | null {
    if (this.session.closed || this.session.destroyed || this.goawayLastStreamId >= 0) return null;
    return this.session.request(headers, { endStream, waitForTrailers: !endStream });
  }

  /** Whether the peer did not process `stream` (safe to send again on another session). */
  refused(stream: http2.ClientHttp2Stream): boolean {
    if (stream.rstCode === NGHTTP2_REFUSED_STREAM) return true;
    const id = stream.id;
    return this.goawayLastStreamId >= 0 && (id === undefined || id > this.goawayLastStreamId);
  }

  /** A stream the pool counted is over. */
  streamDone(): void {
    this.active--;
    if (this.active === 0) this.idleSince = Date.now();
    if (!this.retired) this.owner.onCapacity(this);
  }

  /** Room for one more stream. */
  hasRoom(): boolean {
    return this.ready && !this.retired && this.active < this.maxStreams;
  }

  /**
   * The pool's sweep: PING keep-alive (one in flight at a time; unanswered past the timeout,
   * the session is dead and destroyed).
   */
  tick(now: number): void {
    if (!this.ready || this.session.destroyed) return;
    if (this.pingSentAt !== 0) {
      if (now - this.pingSentAt >= H2_UPSTREAM_PING_TIMEOUT_MS) this.destroy();
      return;
    }
    if (now - this.lastPingAt < H2_UPSTREAM_PING_INTERVAL_MS) return;
    this.pingSentAt = now;
    let sent = false;
    try {
      sent = this.session.ping((err) => {
        this.pingSentAt = 0;
        this.lastPingAt = Date.now();
        if (err !== null) this.destroy();
      });
    } catch {
      // The session is closing: its 'close' retires it.
    }
    if (!sent) this.pingSentAt = 0;
  }

  /** Graceful: no new streams, GOAWAY, closed when the streams in flight end. */
  close(): void {
    this.retire();
    if (!this.session.closed && !this.session.destroyed) this.session.close();
  }

  /** At once: the streams in flight fail. */
  destroy(): void {
    this.retire();
    if (!this.session.destroyed) this.session.destroy();
  }

  private retire(): void {
    if (this.retired) return;
    this.retired = true;
    this.owner.onRetired(this, !this.ready);
  }
}
