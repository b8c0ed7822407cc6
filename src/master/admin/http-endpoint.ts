/**
 * One HTTP server of the master (the admin API, the Prometheus sink) whose listening socket
 * moves across upgrades like the proxy listeners do:
 *
 *   listen/adopt ──▶ serving ──suspend (upgrade committed)──▶ suspended ──resume (new generation died)──▶ serving
 *                       └──────────────────close────────────────────┘
 *
 * `fd()` is the socket to hand to the next generation. `suspend()` stops serving here but
 * keeps a duplicate of the socket, so the old generation can take it back without a new
 * bind if the new one dies; nobody else can bind the address meanwhile.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { MosndError } from '../../shared/errors';
import { fdOf, native } from '../../transfer/fdpass';
import { formatAddress } from '../listen-sockets';
import { ADMIN_CLOSE_GRACE_MS, ADMIN_HEADERS_TIMEOUT_MS, ADMIN_KEEPALIVE_TIMEOUT_MS, ADMIN_REQUEST_TIMEOUT_MS } from '../../shared/constants';

export class HttpEndpoint {
  private server: http.Server | null = null;
  private kept: number | null = null;
  private bound: { host: string; port: number } | null = null;

  constructor(
    /** Reserved handover name, e.g. `__admin`. */
    readonly name: string,
    private readonly handler: http.RequestListener,
  ) {}

  get serving(): boolean {
    return this.server !== null;
  }

  /** The bound address (with the real port when the config said 0). */
  get address(): { host: string; port: number } | null {
    return this.bound;
  }

  describe(): string {
    return this.bound ? formatAddress(this.bound.host, this.bound.port) : '';
  }

  /** Binds and serves `host:port`. */
  listen(host: string, port: number): Promise<void> {
    return this.start((s, cb) => s.listen({ host, port, exclusive: true }, cb), `${formatAddress(host, port)}`);
  }

  /** Serves a listening socket received from the previous generation (the fd is owned from now on). */
  adopt(fd: number): Promise<void> {
    return this.start((s, cb) => s.listen({ fd }, cb), `inherited socket ${fd}`);
  }

  /** The listening socket, to hand over (still owned by this endpoint). */
  fd(): number | undefined {
    if (this.server) return fdOf(this.server as unknown as net.Server);
    return this.kept ?? undefined;
  }

  /** Upgrade committed: the next generation serves this socket; keep a copy to resume. */
  suspend(): void {
    const s = this.server;
    if (!s) return;
    this.kept = native().dup(fdOf(s as unknown as net.Server));
    this.server = null;
    s.close();
    s.closeIdleConnections();
  }

  /** The next generation died after commit: serve the kept socket again. */
  async resume(): Promise<void> {
    if (this.server || this.kept === null) return;
    const fd = this.kept;
    this.kept = null;
    await this.adopt(fd);
  }

  async close(): Promise<void> {
    if (this.kept !== null) {
      native().close(this.kept);
      this.kept = null;
    }
    const s = this.server;
    if (!s) return;
    this.server = null;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        s.closeAllConnections();
        resolve();
      }, ADMIN_CLOSE_GRACE_MS);
      force.unref();
      s.close(() => {
        clearTimeout(force);
        resolve();
      });
      s.closeIdleConnections();
    });
  }

  private start(listen: (s: http.Server, cb: () => void) => void, what: string): Promise<void> {
    const s = http.createServer(this.handler);
    s.headersTimeout = ADMIN_HEADERS_TIMEOUT_MS;
    s.requestTimeout = ADMIN_REQUEST_TIMEOUT_MS;
    s.keepAliveTimeout = ADMIN_KEEPALIVE_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(
          new MosndError(
            'MOSND_ERR_LISTEN',
            `${this.name === '__admin' ? 'the admin API' : 'the metrics sink'} cannot listen on ${what}: ${err.code === 'EADDRINUSE' ? 'the address is already in use' : err.message}`,
          ),
        );
      };
      s.once('error', onError);
      listen(s, () => {
        s.off('error', onError);
        s.on('error', () => {
          /* accept errors (EMFILE) are retried by libuv; nothing to do here */
        });
        const a = s.address() as net.AddressInfo;
        this.bound = { host: a.address, port: a.port };
        this.server = s;
        resolve();
      });
    });
  }
}
