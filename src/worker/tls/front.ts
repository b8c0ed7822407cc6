/**
 * The TLS entry of a listener whose filter chain has an enabled `tls_context` (or set). Node's
 * `tls` (OpenSSL) does the handshake: one `tls.Server` per listener config, never listening
 * itself; the worker's accept path hands it each connection (`emit('connection')`, as the
 * HTTP/2 entry does). A reload that changes the listener's TLS makes a new TlsFront: new
 * handshakes get the new certificates, established connections keep theirs and are not
 * touched (their OpenSSL state is their own).
 *
 * - Certificates: the first context's is the default (no SNI, or an SNI no certificate
 *   names); SNI picks another by its names, exact first, then `*.suffix` (one label).
 * - mTLS: `verify_client` asks for a client certificate and checks it against `ca_cert`;
 *   a certificate from another CA, or none when one is required, closes the connection
 *   (counted, reason client_cert). Checked after the handshake so every refusal is counted.
 * - ALPN picks the codec: "h2" → HTTP/2, "http/1.1" → HTTP/1.1, none → the listener's
 *   downstream_protocol (Auto still sniffs).
 * - Session tickets use the keys every worker shares (ticket-keys.ts), and a fixed session
 *   id context, so a ticket resumes on any worker and on the next generation.
 * - A handshake that fails (plaintext on the TLS port, a truncated ClientHello, a client that
 *   never finishes within TLS_HANDSHAKE_TIMEOUT_MS) closes that connection and is counted.
 *
 * While its handshake runs a connection is tracked (not counted: its handler counts it) so a
 * drain or an upgrade waits for it; it is never moved (TLS state cannot leave the process).
 */
import { createHash } from 'node:crypto';
import type * as net from 'node:net';
import * as tls from 'node:tls';
import type { ListenerTlsConfig, ServerCertConfig } from '../../shared/config/model';
import type { Detached, TrackedConnection, WorkerContext } from '../context';
import { TLS_HANDSHAKE_TIMEOUT_MS, TLS_SESSION_TIMEOUT_S } from '../../shared/constants';
import { classifyHandshakeError, countHandshake, countHandshakeFailure } from './stats';
import { describePeer } from './peer';
import { onTicketKeys, ticketKeys } from './ticket-keys';

/** Where a connection goes once its handshake is done. */
export interface TlsTargets {
  http2(socket: tls.TLSSocket): void;
  http1(socket: tls.TLSSocket): void;
  /** No ALPN agreed: the listener's own protocol. */
  listenerProtocol(socket: tls.TLSSocket): void;
}

function contextOptions(c: ServerCertConfig): tls.SecureContextOptions {
  const keys = ticketKeys();
  return {
    cert: c.certChain,
    key: c.privateKey,
    ...(c.ca !== undefined ? { ca: c.ca } : {}),
    ...(c.ciphers !== undefined ? { ciphers: c.ciphers } : {}),
    ...(c.ecdhCurve !== undefined ? { ecdhCurve: c.ecdhCurve } : {}),
    ...(c.minVersion !== undefined ? { minVersion: c.minVersion } : {}),
    ...(c.maxVersion !== undefined ? { maxVersion: c.maxVersion } : {}),
    sessionTimeout: TLS_SESSION_TIMEOUT_S,
    ...(keys !== null ? { ticketKeys: keys } : {}),
  };
}

class Handshaking implements TrackedConnection {
  constructor(
    readonly socket: net.Socket,
    private readonly ctx: WorkerContext,
  ) {
    ctx.holdUncounted(this);
    // Closed without either TLS event (e.g. destroyed by a fast stop): stop holding it.
    socket.once('close', () => this.done());
  }

  done(): void {
    this.ctx.releaseUncounted(this);
  }

  /** The handshake is bounded by TLS_HANDSHAKE_TIMEOUT_MS; the handler it reaches drains it. */
  drain(): void {}
  shed(): void {}
  handoverStarted(): void {}
  movable(): boolean {
    return false;
  }
  detach(): Detached {
    throw new Error('a TLS connection is never moved');
  }
  reattach(): void {}
  release(): void {
    this.destroy();
  }
  destroy(): void {
    this.socket.destroy();
    this.done();
  }
}

const kHandshaking = Symbol('mosnd.tlsHandshaking');

export class TlsFront {
  private readonly server: tls.Server;
  private readonly exact = new Map<string, tls.SecureContext>();
  private readonly wildcard = new Map<string, tls.SecureContext>();
  private readonly contexts: tls.SecureContext[] = [];
  private readonly stopKeys: () => void;

  constructor(
    private readonly ctx: WorkerContext,
    private readonly listenerName: string,
    private readonly cfg: ListenerTlsConfig,
    private readonly targets: TlsTargets,
  ) {
    const [first, ...others] = cfg.certs;
    for (const c of others) {
      const sc = tls.createSecureContext(contextOptions(c));
      this.contexts.push(sc);
      for (const name of c.names) this.index(name, sc);
    }
    // The default certificate's names are indexed last: an SNI that names two certificates gets
    // the one listed first in the set, the default's names do not shadow it.
    this.server = tls.createServer({
      ...contextOptions(first),
      requestCert: cfg.verifyClient,
      // Refusals are decided in onSecure, where they are counted (see the header).
      rejectUnauthorized: false,
      ALPNProtocols: cfg.alpn,
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
      // The same in every worker and generation: OpenSSL resumes a session only in its context.
      sessionIdContext: createHash('sha256').update(`mosnd:${listenerName}`).digest('hex').slice(0, 32),
      SNICallback: (name, cb) => cb(null, this.pick(name)),
    });
    this.server.on('secureConnection', (s: tls.TLSSocket) => this.onSecure(s));
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, s: tls.TLSSocket) => this.onFailed(err, s));
    this.server.on('error', (err) => ctx.log.debug({ err: err.message, listener: listenerName }, 'tls server error'));
    this.stopKeys = onTicketKeys((k) => {
      this.server.setTicketKeys(k);
      for (const sc of this.contexts) sc.context.setTicketKeys(k);
    });
  }

  private index(name: string, sc: tls.SecureContext): void {
    if (name.startsWith('*.')) {
      if (!this.wildcard.has(name.slice(2))) this.wildcard.set(name.slice(2), sc);
    } else if (!this.exact.has(name)) {
      this.exact.set(name, sc);
    }
  }

  /** The context for an SNI name; undefined keeps the default. */
  private pick(servername: string): tls.SecureContext | undefined {
    const name = servername.toLowerCase();
    const hit = this.exact.get(name);
    if (hit !== undefined) return hit;
    const dot = name.indexOf('.');
    return dot > 0 ? this.wildcard.get(name.slice(dot + 1)) : undefined;
  }

  serve(socket: net.Socket): void {
    const h = new Handshaking(socket, this.ctx);
    (socket as unknown as Record<symbol, Handshaking>)[kHandshaking] = h;
    // The TLS socket takes this from the raw one: a client that closes during its handshake
    // (a truncated ClientHello) then closes it at once, and is counted (tlsClientError
    // ECONNRESET), instead of waiting for the handshake timeout. Half-open is allowed again
    // once the handshake is done (onSecure): the HTTP/1.1 codec answers a client's last request
    // after its FIN.
    socket.allowHalfOpen = false;
    this.server.emit('connection', socket);
  }

  /** No more connections through this config (a reload replaced it); open ones are untouched. */
  retire(): void {
    this.stopKeys();
  }

  private handshakeOf(s: tls.TLSSocket): Handshaking | undefined {
    const parent = (s as unknown as { _parent?: net.Socket })._parent;
    return (parent as unknown as Record<symbol, Handshaking | undefined> | undefined)?.[kHandshaking];
  }

  private onFailed(err: NodeJS.ErrnoException, s: tls.TLSSocket): void {
    countHandshakeFailure(this.listenerName, classifyHandshakeError(err));
    this.ctx.log.debug({ err: err.message, code: err.code, listener: this.listenerName, client: s.remoteAddress }, 'tls handshake failed');
    // Node leaves a timed-out handshake open: every failure closes here.
    s.destroy();
    this.handshakeOf(s)?.done();
  }

  private onSecure(s: tls.TLSSocket): void {
    const h = this.handshakeOf(s);
    if (this.cfg.verifyClient && !s.authorized) {
      const cert = s.getPeerCertificate();
      const presented = cert !== null && cert !== undefined && Object.keys(cert).length > 0;
      if (presented || this.cfg.requireClientCert) {
        countHandshakeFailure(this.listenerName, 'client_cert');
        this.ctx.log.debug({ listener: this.listenerName, client: s.remoteAddress, why: s.authorizationError }, 'client certificate refused');
        s.destroy();
        h?.done();
        return;
      }
    }
    s.allowHalfOpen = true;
    countHandshake(this.listenerName, s.isSessionReused());
    describePeer(s);
    // The handler tracks the connection before the handshake stops holding it (the drain's idle check).
    if (s.alpnProtocol === 'h2') this.targets.http2(s);
    else if (s.alpnProtocol === 'http/1.1') this.targets.http1(s);
    else this.targets.listenerProtocol(s);
    h?.done();
  }
}
