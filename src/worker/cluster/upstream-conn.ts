/**
 * One connection to an upstream host. While an exchange owns it, socket events go to that
 * owner; while it sits idle in the pool, any event (data, FIN, error) retires it, because an
 * idle HTTP/1.1 connection that talks or closes is no longer safe to reuse.
 */
import type * as net from 'node:net';
import type { UpstreamHost } from './host';
import { UPSTREAM_STREAM_IDLE_TIMEOUT_MS } from '../../shared/constants';
import { unwatchIdle, watchIdle, type IdleWatched } from '../idle-sweep';
import { readInto, type ReadSink } from '../read-buffer';

export interface UpstreamOwner {
  onUpstreamData(data: Buffer): void;
  onUpstreamEnd(): void;
  onUpstreamClose(hadError: boolean, err: Error | undefined): void;
  onUpstreamDrain(): void;
}

export class UpstreamConn implements IdleWatched, ReadSink {
  readonly socket: net.Socket;
  readonly host: UpstreamHost;
  owner: UpstreamOwner | null = null;
  /** Requests sent on this connection so far. */
  requests = 0;
  /** When it was put back in the pool (for the idle sweep). */
  idleSince = 0;
  closed = false;
  /** An upstream that goes quiet in the middle of an exchange (after the head too) is given
   *  up on; idle in the pool, the pool's own idle timeout applies instead (idle-sweep.ts). */
  readonly idleMs = UPSTREAM_STREAM_IDLE_TIMEOUT_MS;
  sweepProgress = 0;
  sweepSince = 0;
  private lastError: Error | undefined;

  /**
   * `readsByCallback`: the socket was opened with `onread` (plain TCP), else it emits 'data'
   * (TLS); either way its bytes come to onBytes().
   */
  constructor(socket: net.Socket, host: UpstreamHost, onRetire: (c: UpstreamConn) => void, readsByCallback = false) {
    this.socket = socket;
    this.host = host;
    readInto(socket, this, readsByCallback);
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
    watchIdle(this);
    socket.on('close', (hadError) => {
      this.closed = true;
      unwatchIdle(this);
      onRetire(this);
      const owner = this.owner;
      this.owner = null;
      if (owner) owner.onUpstreamClose(hadError, this.lastError);
    });
  }

  /** ReadSink (../read-buffer.ts): every byte from the upstream. */
  onBytes(d: Buffer): void {
    if (this.owner) this.owner.onUpstreamData(d);
    else this.socket.destroy(); // unsolicited bytes on an idle connection
  }

  onIdle(): void {
    if (this.owner) this.socket.destroy(new Error('upstream stream idle timeout'));
  }

  destroy(): void {
    this.owner = null;
    if (!this.socket.destroyed) this.socket.destroy();
  }
}
