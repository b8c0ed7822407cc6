/**
 * The listeners of a worker: each is a listening socket received from the master (the
 * master binds, every worker accepts on the same socket) plus the handler for its
 * connections, chosen by the listener's current config (so a reload can change it).
 *
 * Accepting stops in three ways: deferred (an upgrade's new worker before commit), paused
 * (the overload manager: the sockets are closed here and asked for again on recovery, so
 * connections wait in the shared accept queue for a worker that can serve them) and closed
 * (drain, admin /drain_listeners: for good). A listener at its `max_connections` closes
 * each new connection at once (Envoy's listener connection limit, counted as overflow).
 * Each connection libuv accepts brings the rest of a burst with it (accept-batch.ts).
 */
import * as net from 'node:net';
import { LISTEN_BACKLOG } from '../shared/constants';
import type { ListenerConfig } from '../shared/config/model';
import type { WorkerContext } from './context';
import { clientTimeouts, HttpConnection } from './http/connection';
import { TcpProxyConnection } from './tcp/tcp-proxy';
import { H2Front } from './h2/front';
import { AutoSniff } from './h2/sniff';
import { H1StreamFront } from './stream/h1-front';
import { TlsFront } from './tls/front';
import { acceptQueued } from './accept-batch';
import { READ_OPTIONS } from './read-buffer';

/** The listening handle under a net.Server (Node's TCP wrap): libuv calls onconnection with
 *  each accepted connection's handle. */
interface ListenHandle {
  onconnection: (status: number, client?: unknown) => void;
}

/** What serves a listener's connections, by its current config. */
type Handler = 'tls' | 'tcp' | 'http2' | 'http1-to-streams' | 'http1';

function handlerOf(cfg: ListenerConfig): Handler {
  if (cfg.kind === 'http' && cfg.tls !== undefined) return 'tls';
  if (cfg.kind === 'tcp') return 'tcp';
  if (cfg.downstreamProtocol === 'Http2' || cfg.downstreamProtocol === 'Auto') return 'http2';
  if (cfg.upstreamProtocol === 'Http2') return 'http1-to-streams';
  return 'http1';
}

/** Handlers whose plain sockets read through `onread` (read-buffer.ts); the others need 'data'
 *  events (TLS, Node's http and http2 servers). */
function readsByCallback(handler: Handler): boolean {
  return handler === 'tcp' || handler === 'http1';
}

interface Entry {
  server: net.Server;
  config: ListenerConfig;
  /** The HTTP/2 entry (downstream_protocol Http2 or Auto), made at the first such connection. */
  h2: H2Front | null;
  /** HTTP/1.1 clients to HTTP/2 upstreams (upstream_protocol Http2), made at the first such connection. */
  h1s?: H1StreamFront;
  /** The TLS entry (an enabled tls_context), made at the first connection; a reload that
   *  changes the listener's TLS replaces it (new handshakes only). */
  tls: TlsFront | null;
}

export class WorkerListeners {
  private readonly entries = new Map<string, Entry>();
  private configs = new Map<string, ListenerConfig>();
  /** Handles received while accepting is deferred (upgrade before commit). */
  private readonly held = new Map<string, unknown>();
  private deferred: boolean;
  /** Stopped by the overload manager; handles that arrive meanwhile are held. */
  private paused = false;
  /** closeAll() was called (drain, /drain_listeners, a handover): recovering from overload must
   *  not reopen what was closed on purpose. A socket the master sends again clears it. */
  private stopped = false;
  /** Open connections per listener name (kept across re-adoption of the socket). */
  private readonly open = new Map<string, number>();

  constructor(
    private readonly ctx: WorkerContext,
    deferAccept = false,
  ) {
    this.deferred = deferAccept;
  }

  config(name: string): ListenerConfig | undefined {
    return this.configs.get(name);
  }

  /** Starts accepting on every held listener (the upgrade was committed). */
  async startAccepting(): Promise<void> {
    this.deferred = false;
    const held = [...this.held];
    this.held.clear();
    await Promise.all(held.map(([name, handle]) => this.adopt(name, handle)));
  }

  setConfigs(listeners: ListenerConfig[]): void {
    this.configs = new Map(listeners.map((l) => [l.name, l]));
    for (const [name, e] of this.entries) {
      const cfg = this.configs.get(name);
      if (!cfg) continue;
      if (e.tls !== null && JSON.stringify(cfg.tls) !== JSON.stringify(e.config.tls)) {
        e.tls.retire();
        e.tls = null;
      }
      e.config = cfg;
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** Starts accepting on a listening handle received from the master. */
  adopt(name: string, handle: unknown): Promise<void> {
    const config = this.configs.get(name);
    if (!config) return Promise.reject(new Error(`no config for listener ${name}`));
    if (this.deferred || this.paused) {
      this.held.set(name, handle);
      return Promise.resolve();
    }
    this.stopped = false;
    const old = this.entries.get(name);
    if (old) old.server.close();
    const server = net.createServer({ allowHalfOpen: true, noDelay: true });
    const entry: Entry = { server, config, h2: null, tls: old?.tls ?? null };
    server.on('error', (err) => this.ctx.log.error({ err, listener: name }, 'listener error'));
    this.entries.set(name, entry);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(handle as net.Server, LISTEN_BACKLOG, () => {
        server.off('error', reject);
        this.takeAccepts(entry, name);
        resolve();
      });
    });
  }

  /**
   * The worker makes the sockets of its accepted connections itself, instead of net.Server's
   * 'connection' handler: a plain HTTP/1.1 or tcp_proxy listener's sockets read through `onread`
   * (read-buffer.ts: no Readable machinery, no tick per read), which only a socket's
   * constructor can set up, and libuv's one connection per loop turn brings the rest of a burst
   * with it (accept-batch.ts). Node's handler did nothing else mosnd uses: connections are
   * counted and limited per listener here, and server.close() needs no count to stop accepting.
   */
  private takeAccepts(entry: Entry, name: string): void {
    const handle = (entry.server as unknown as { _handle: ListenHandle | null })._handle;
    if (handle === null) return;
    const still = (): boolean => this.entries.get(name) === entry;
    handle.onconnection = (status, client) => {
      if (status !== 0 || client === undefined) {
        entry.server.emit('error', Object.assign(new Error(`accept failed (${status})`), { errno: status, syscall: 'accept' }));
        return;
      }
      this.accepted(entry, { handle: client });
      this.ctx.counters.acceptedInBatch += acceptQueued(entry.server, still, (fd) => this.accepted(entry, { fd }));
    };
  }

  /** A new client connection: its socket, made as Node would, then served by onConnection. */
  private accepted(entry: Entry, from: { handle: unknown } | { fd: number }): void {
    const handler = handlerOf(entry.config);
    const socket = new net.Socket({
      ...(from as net.SocketConstructorOpts),
      allowHalfOpen: true,
      readable: true,
      writable: true,
      ...(readsByCallback(handler) ? { onread: READ_OPTIONS } : {}),
    });
    socket.setNoDelay(true);
    this.onConnection(entry, socket, handler);
  }

  /** Overload: stop accepting. Returns false when it already was not accepting. */
  pauseAccepting(): boolean {
    if (this.paused || this.deferred || this.stopped) return false;
    this.paused = true;
    for (const name of [...this.entries.keys()]) this.close(name);
    return true;
  }

  /**
   * Overload is over: accept again. Returns true when the sockets must be asked of the master
   * (they were closed here); handles that arrived meanwhile are adopted now.
   */
  resumeAccepting(): boolean {
    if (!this.paused) return false;
    this.paused = false;
    const held = [...this.held];
    this.held.clear();
    for (const [name, handle] of held) void this.adopt(name, handle).catch(() => undefined);
    return !this.stopped;
  }

  /** `handler`: what serves the connection, as decided when its socket was made (accepted()). */
  private onConnection(entry: Entry, socket: net.Socket, handler: Handler): void {
    if (this.ctx.draining) {
      socket.destroy();
      return;
    }
    const cfg = entry.config;
    if (cfg.maxConnections !== undefined) {
      const open = this.open.get(cfg.name) ?? 0;
      if (open >= cfg.maxConnections) {
        this.ctx.counters.connectionsOverflow++;
        socket.destroy();
        return;
      }
      this.open.set(cfg.name, open + 1);
      socket.once('close', () => this.open.set(cfg.name, (this.open.get(cfg.name) ?? 1) - 1));
    }
    switch (handler) {
      case 'tls':
        this.acceptTls(entry, socket);
        return;
      case 'tcp':
        new TcpProxyConnection(socket, this.ctx, { listener: cfg.name, cluster: cfg.tcpCluster ?? '', idleTimeoutMs: cfg.tcpIdleTimeoutMs ?? 0 });
        return;
      case 'http2':
        this.acceptHttp2(entry, socket, cfg);
        return;
      case 'http1-to-streams':
        this.h1Streams(entry).serve(socket, null);
        return;
      case 'http1':
        new HttpConnection(socket, this.ctx, cfg.routerConfigName ?? '', cfg.name, clientTimeouts(cfg), true);
    }
  }

  /** HTTP/1.1 clients whose requests go to HTTP/2 upstreams: through the stream proxy (stream/h1-front.ts). */
  private h1Streams(entry: Entry): H1StreamFront {
    return (entry.h1s ??= new H1StreamFront(this.ctx, () => ({
      listenerName: entry.config.name,
      routerName: entry.config.routerConfigName ?? '',
      upstreamProtocol: 'Http2',
      ...clientTimeouts(entry.config),
    })));
  }

  private h2Front(entry: Entry): H2Front {
    return (entry.h2 ??= new H2Front(this.ctx, () => ({
      listenerName: entry.config.name,
      routerName: entry.config.routerConfigName ?? '',
      upstreamProtocol: entry.config.upstreamProtocol === 'Http1' ? 'Http1' : 'Http2',
      idleMs: clientTimeouts(entry.config).idleMs,
    })));
  }

  /** Http2 (prior knowledge) goes to nghttp2 at once (h2/front.ts); Auto sniffs the first bytes (h2/sniff.ts). */
  private acceptHttp2(entry: Entry, socket: net.Socket, cfg: ListenerConfig): void {
    const timeouts = clientTimeouts(cfg);
    const front = this.h2Front(entry);
    if (cfg.downstreamProtocol === 'Http2') {
      front.serve(socket, null);
      return;
    }
    new AutoSniff(socket, this.ctx, timeouts.idleMs, {
      http2: (read) => front.serve(socket, read),
      http1: (read) => {
        if (cfg.upstreamProtocol === 'Http2') {
          this.h1Streams(entry).serve(socket, read);
          return;
        }
        const conn = new HttpConnection(socket, this.ctx, cfg.routerConfigName ?? '', cfg.name, timeouts);
        // Resumed before the bytes are replayed: a request they start may pause it again.
        socket.resume();
        conn.inject(read);
      },
    });
  }

  /** TLS (tls/front.ts): the handshake, then ALPN picks the codec; no ALPN: the listener's protocol. */
  private acceptTls(entry: Entry, socket: net.Socket): void {
    const http1 = (s: net.Socket): void => {
      const cfg = entry.config;
      if (cfg.upstreamProtocol === 'Http2') {
        this.h1Streams(entry).serve(s, null);
        return;
      }
      const conn = new HttpConnection(s, this.ctx, cfg.routerConfigName ?? '', cfg.name, clientTimeouts(cfg));
      // A handshake that finished during a drain or an upgrade: this connection cannot move.
      if (this.ctx.draining || this.ctx.handoverMode) conn.drain();
    };
    const front = (entry.tls ??= new TlsFront(this.ctx, entry.config.name, entry.config.tls!, {
      http2: (s) => this.h2Front(entry).serve(s, null),
      http1,
      listenerProtocol: (s) => {
        if (entry.config.downstreamProtocol === 'Http1' || entry.config.downstreamProtocol === undefined) http1(s);
        else this.acceptHttp2(entry, s, entry.config);
      },
    }));
    front.serve(socket);
  }

  /** Stops accepting on one listener; its live connections are left alone. */
  close(name: string): void {
    const e = this.entries.get(name);
    if (!e) return;
    this.entries.delete(name);
    e.server.close();
  }

  closeAll(): void {
    this.stopped = true;
    for (const name of [...this.entries.keys()]) this.close(name);
  }
}
