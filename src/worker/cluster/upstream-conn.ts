/**
 * One connection to an upstream host. While an exchange owns it, socket events go to that
 * owner; while it sits idle in the pool, any event (data, FIN, error) retires it, because an
 * idle HTTP/1.1 connection that talks or closes is no longer safe to reuse.
 */
import type * as net from 'node:net';
import type { UpstreamHost } from './host';

export interface UpstreamOwner {
  onUpstreamData(data: Buffer): void;
  onUpstreamEnd(): void;
  onUpstreamClose(hadError: boolean, err: Error | undefined): void;
  onUpstreamDrain(): void;
}

export class UpstreamConn {
  readonly socket: net.Socket;
  readonly host: UpstreamHost;
  owner: UpstreamOwner | null = null;
  /** Requests sent on this connection so far. */
  requests = 0;
  /** When it was put back in the pool (for the idle sweep). */
  idleSince = 0;
  closed = false;
  private lastError: Error | undefined;

  constructor(socket: net.Socket, host: UpstreamHost, onRetire: (c: UpstreamConn) => void) {
    this.socket = socket;
    this.host = host;
    socket.on('data', (d: Buffer) => {
      if (this.owner) this.owner.onUpstreamData(d);
      else socket.destroy(); // unsolicited bytes on an idle connection
    });
    socket.on('end', () => {
      if (this.owner) this.owner.onUpstreamEnd();
      else socket.destroy();
    });
    socket.on('drain', () => {
      if (this.owner) this.owner.onUpstreamDrain();
    });
    socket.on('error', (e) => {
      this.lastError = e;
    });
    socket.on('close', (hadError) => {
      this.closed = true;
      onRetire(this);
      const owner = this.owner;
      this.owner = null;
      if (owner) owner.onUpstreamClose(hadError, this.lastError);
    });
  }

  destroy(): void {
    this.owner = null;
    if (!this.socket.destroyed) this.socket.destroy();
  }
}
