/**
 * The HTTP/2 entry of a listener whose downstream_protocol is Http2 or Auto. Node's http2
 * module (nghttp2) does the framing: one http2 server object per listener, never listening
 * itself; the worker's own accept path hands it each connection (`emit('connection')`), with
 * the bytes already read for sniffing put back first (unshift: Node's http2 reads what waits
 * in the socket's buffer before it takes over the socket).
 *
 * Auto listeners sniff the first bytes first (sniff.ts). A TLS listener whose client agreed
 * ALPN "h2" hands its TLS socket to `serve()` (tls/front.ts).
 */
import * as http2 from 'node:http2';
import type * as net from 'node:net';
import type { WorkerContext } from '../context';
import { H2Connection, type H2ListenerInfo } from './session';
import { H2_MAX_CONCURRENT_STREAMS, H2_MAX_HEADER_FIELDS, H2_MAX_HEADER_LIST_BYTES } from '../../shared/constants';

export class H2Front {
  private readonly server: http2.Http2Server;

  constructor(
    private readonly ctx: WorkerContext,
    /** Read at each new connection: a reload may have changed the listener's config. */
    private readonly info: () => H2ListenerInfo,
  ) {
    this.server = http2.createServer({
      settings: { maxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS, maxHeaderListSize: H2_MAX_HEADER_LIST_BYTES },
      maxHeaderListPairs: H2_MAX_HEADER_FIELDS,
    });
    this.server.on('session', (session: http2.ServerHttp2Session) => new H2Connection(session, this.ctx, this.info()));
    // Errors of a session are handled by its H2Connection; these keep the server object from
    // treating them as unhandled.
    this.server.on('sessionError', () => undefined);
    this.server.on('error', (err) => this.ctx.log.debug({ err: err.message }, 'http2 server error'));
  }

  /** Serves `socket` as HTTP/2; `read` are bytes already taken from it (the sniffed preface). */
  serve(socket: net.Socket, read: Buffer | null): void {
    if (read !== null && read.length > 0) socket.unshift(read);
    // A TLS client that agreed no ALPN (prior knowledge on an Http2 listener, or sniffed on an
    // Auto one): Node's http2 server would take alpnProtocol false for HTTP/1.1 and drop the
    // connection, but the listener's config (or the preface) already says HTTP/2.
    const t = socket as net.Socket & { encrypted?: boolean; alpnProtocol?: string | false };
    if (t.encrypted === true && t.alpnProtocol !== 'h2') t.alpnProtocol = 'h2';
    this.server.emit('connection', socket);
  }
}
