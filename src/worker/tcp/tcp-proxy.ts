/**
 * L4 proxy for one client connection: connect to a host of the cluster (trying other hosts
 * on failure), then copy bytes both ways with backpressure. Half-close travels: a FIN from
 * one side is passed on with end() and the other direction keeps flowing until its FIN.
 * An upstream that cannot be reached closes the client connection.
 *
 * A pair can also be adopted from an older generation (both sockets already connected) and
 * handed on to a newer one: see movable()/detach().
 */
import * as net from 'node:net';
import type { Detached, TrackedConnection, WorkerContext } from '../context';
import type { UpstreamHost } from '../cluster/host';
import { isQuiet, socketFd, startReading, stopReading } from '../socket-io';
import { READ_OPTIONS, readInto, type ReadSink } from '../read-buffer';
import { TCP_KEEPALIVE_DELAY_MS, TCP_PROXY_MAX_CONNECT_ATTEMPTS } from '../../shared/constants';

export interface TcpProxyOptions {
  listener: string;
  cluster: string;
  /** Close the pair after this long without traffic; 0 = never. */
  idleTimeoutMs: number;
}

/** A pair moved from another process: the upstream socket and bytes that were in hand. */
export interface AdoptedPair {
  upstream: net.Socket;
  hostAddress: string;
  toUpstream: Buffer | null;
  toClient: Buffer | null;
}

export class TcpProxyConnection implements TrackedConnection, ReadSink {
  private upstream: net.Socket | null = null;
  private host: UpstreamHost | null = null;
  private hostAddress = '';
  private attempts = 0;
  /** Hosts this connection has tried (and failed to reach). */
  private readonly tried = new Set<UpstreamHost>();
  private closed = false;
  private moved = false;
  private clientEnded = false;
  private upstreamEnded = false;
  /** Client bytes read before the upstream connected. */
  private early: Buffer[] = [];
  /** A pair adopted from an older generation, not reading until startAdopted(). */
  private held: AdoptedPair | null = null;

  constructor(
    private readonly client: net.Socket,
    private readonly ctx: WorkerContext,
    private readonly opts: TcpProxyOptions,
    adopted?: AdoptedPair,
  ) {
    ctx.track(this);
    client.setNoDelay(true);
    client.setKeepAlive(true, TCP_KEEPALIVE_DELAY_MS);
    // Every socket of a pair reads through `onread` (read-buffer.ts): the client as the listener
    // (listeners.ts) or the handover (handover.ts) opened it, the upstream as dialed below.
    readInto(client, this, true);
    client.on('end', () => this.onClientEnd());
    client.on('drain', () => this.upstream?.resume());
    client.on('error', () => {});
    client.on('close', () => this.onClose());
    if (opts.idleTimeoutMs > 0) {
      client.setTimeout(opts.idleTimeoutMs, () => this.destroy());
    }
    if (adopted) {
      this.hostAddress = adopted.hostAddress;
      const cluster = ctx.clusters.get(opts.cluster);
      this.host = cluster?.hosts.find((h) => h.address === adopted.hostAddress) ?? null;
      if (this.host) this.host.activeRequests++;
      adopted.upstream.on('error', () => {});
      adopted.upstream.once('close', () => this.onUpstreamClose(true, this.host));
      // Held (both sockets paused) until the old owner has let go: startAdopted().
      this.held = adopted;
      readInto(adopted.upstream, this, true);
      this.attachUpstream(adopted.upstream);
    } else {
      this.connect(undefined);
    }
  }

  private connect(exclude: UpstreamHost | undefined): void {
    const cluster = this.ctx.clusters.get(this.opts.cluster);
    let host = cluster?.pickHost(exclude);
    if (cluster && host && this.tried.has(host)) {
      // The balancer avoids only the host just tried: do not go back to an earlier failure.
      host = cluster.hosts.find((h) => h.healthy && !this.tried.has(h)) ?? host;
    }
    if (!cluster || !host || this.attempts >= TCP_PROXY_MAX_CONNECT_ATTEMPTS) {
      this.destroy();
      return;
    }
    this.attempts++;
    this.tried.add(host);
    this.host = host;
    this.hostAddress = host.address;
    host.activeRequests++;
    host.stats.cxTotal++;
    cluster.stats.rqTotal++;
    // The upstream's bytes come to onBytes through `onread` (read-buffer.ts).
    const up = net.connect({
      host: host.host,
      port: host.port,
      noDelay: true,
      allowHalfOpen: true,
      onread: READ_OPTIONS,
    });
    readInto(up, this, true);
    const timer = setTimeout(() => up.destroy(new Error('connect timeout')), cluster.config.connectTimeoutMs);
    let connected = false;
    up.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      cluster.outlier?.onSuccess(host);
      if (this.closed) {
        up.destroy();
        return;
      }
      this.attachUpstream(up);
    });
    up.on('error', () => {});
    up.once('close', () => {
      clearTimeout(timer);
      if (!connected) {
        host.activeRequests--;
        host.stats.cxConnectFail++;
        cluster.stats.cxConnectFail++;
        cluster.outlier?.onStatus(host, 503); // a local failure, as Envoy maps it
        if (!this.closed) this.connect(host);
        return;
      }
      this.onUpstreamClose(false, host);
    });
  }

  private onUpstreamClose(_adopted: boolean, host: UpstreamHost | null): void {
    if (host) host.activeRequests--;
    this.upstream = null;
    // After FINs both ways the client is flushing its last bytes (destroySoon): do not cut them.
    if (!this.moved && !this.bothEnded()) this.destroy();
  }

  private bothEnded(): boolean {
    return this.clientEnded && this.upstreamEnded;
  }

  private attachUpstream(up: net.Socket): void {
    this.upstream = up;
    up.setKeepAlive(true, TCP_KEEPALIVE_DELAY_MS);
    for (const b of this.early) up.write(b);
    this.early = [];
    if (this.clientEnded) up.end();
    else if (this.held === null) this.client.resume();
    up.on('drain', () => this.client.resume());
    up.on('end', () => {
      this.upstreamEnded = true;
      this.client.end();
      this.maybeDone();
    });
  }

  /** ReadSink (read-buffer.ts): bytes of the client or of the upstream. */
  onBytes(d: Buffer, from: net.Socket): void {
    if (from === this.client) this.onClientData(d);
    else this.toClient(d);
  }

  private toClient(d: Buffer): void {
    if (!this.client.write(d)) this.upstream?.pause();
  }

  private onClientData(d: Buffer): void {
    const up = this.upstream;
    if (up === null) {
      this.early.push(d);
      this.client.pause(); // nothing more until the upstream is there
      return;
    }
    if (!up.write(d)) this.client.pause();
  }

  private onClientEnd(): void {
    this.clientEnded = true;
    if (this.upstream !== null) this.upstream.end();
    this.maybeDone();
  }

  private maybeDone(): void {
    // Both directions finished: wait for the writes to flush, then close.
    if (this.bothEnded()) {
      this.client.destroySoon();
      this.upstream?.destroySoon();
    }
  }

  private onClose(): void {
    this.closed = true;
    // After FINs both ways the upstream is flushing its last bytes (destroySoon): do not cut them.
    if (!this.moved && !this.bothEnded()) this.upstream?.destroy();
    this.ctx.untrack(this);
  }

  drain(): void {
    // A TCP stream has no request boundary: it is left to finish until the drain deadline.
  }

  shed(): void {
    // Overload: a live stream is never idle in a way we could tell; cutting it would fail it.
  }

  destroy(): void {
    this.client.destroy();
    this.upstream?.destroy();
  }

  // ===================================================================== handover

  /** The old owner let go of this pair: deliver what it had in hand, then read both sides. */
  startAdopted(): void {
    const a = this.held;
    if (a === null) return;
    this.held = null;
    if (a.toUpstream) a.upstream.write(a.toUpstream);
    if (a.toClient) this.client.write(a.toClient);
    this.client.resume();
    a.upstream.resume();
  }

  /** The old owner kept this pair: close our unread copies (no FIN: it still holds them). */
  discardAdopted(): void {
    if (this.held === null) return;
    this.moved = true; // not a failure of the pair: it lives on in the old worker
    this.client.destroy();
    this.held.upstream.destroy();
  }

  movable(): boolean {
    const up = this.upstream;
    return (
      up !== null &&
      !this.closed &&
      !this.moved &&
      !this.clientEnded &&
      !this.upstreamEnded &&
      this.early.length === 0 &&
      isQuiet(this.client) &&
      isQuiet(up)
    );
  }

  detach(): Detached {
    const up = this.upstream!;
    stopReading(this.client);
    stopReading(up);
    return {
      kind: 'tcp',
      listener: this.opts.listener,
      cluster: this.opts.cluster,
      host: this.hostAddress,
      fds: [socketFd(this.client), socketFd(up)],
      toUpstream: null,
      toClient: null,
    };
  }

  reattach(): void {
    if (this.closed || !this.upstream) return;
    startReading(this.client);
    startReading(this.upstream);
  }

  release(): void {
    this.moved = true;
    this.client.destroy();
    this.upstream?.destroy();
  }
}
