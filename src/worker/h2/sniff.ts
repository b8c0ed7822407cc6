/**
 * Auto (MOSN's protocol sniffing): the first bytes of a connection decide its protocol. The
 * HTTP/2 connection preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", RFC 9113 §3.4) selects HTTP/2;
 * anything else, from its first byte that differs, is HTTP/1.1. Every byte read while sniffing
 * goes to the chosen codec. A request such as "PUT /" shares only its first byte with the
 * preface, so HTTP/1.1 is chosen after two bytes at most in practice.
 *
 * While undecided the connection is a TrackedConnection of its own (not counted: its handler
 * counts it), so a drain or an upgrade does not forget it: one that has not sent a byte is closed
 * after the same grace as a fresh HTTP/1.1 connection; one that is sending decides within its
 * first read. A client silent for the idle timeout is closed.
 */
import type * as net from 'node:net';
import { UnmovableConnection } from '../unmovable';
import type { WorkerContext } from '../context';
import { DRAIN_FRESH_CONNECTION_GRACE_MS } from '../../shared/constants';

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface SniffTargets {
  http2(read: Buffer): void;
  http1(read: Buffer): void;
}

export class AutoSniff extends UnmovableConnection {
  private read: Buffer | null = null;
  private decided = false;
  private readonly onData = (d: Buffer): void => this.onBytes(d);
  private readonly onGone = (): void => this.destroy();

  constructor(
    private readonly socket: net.Socket,
    private readonly ctx: WorkerContext,
    idleMs: number,
    private readonly targets: SniffTargets,
  ) {
    super();
    socket.on('data', this.onData);
    socket.on('end', this.onGone);
    socket.on('error', this.onGone);
    socket.on('close', this.onGone);
    socket.on('timeout', this.onGone);
    socket.setTimeout(idleMs);
    ctx.holdUncounted(this);
    if (ctx.draining || ctx.handoverMode) this.drain();
  }

  private onBytes(d: Buffer): void {
    const read = this.read === null ? d : Buffer.concat([this.read, d]);
    this.read = read;
    const n = Math.min(read.length, H2_PREFACE.length);
    const isPrefix = read.compare(H2_PREFACE, 0, n, 0, n) === 0;
    if (isPrefix && read.length < H2_PREFACE.length) return; // could still be HTTP/2
    this.stopSniffing();
    // The handler tracks the connection before this stops holding it (the drain's idle check).
    if (isPrefix) this.targets.http2(read);
    else this.targets.http1(read);
    this.ctx.releaseUncounted(this);
  }

  private stopSniffing(): void {
    this.decided = true;
    const s = this.socket;
    s.off('data', this.onData);
    s.off('end', this.onGone);
    s.off('error', this.onGone);
    s.off('close', this.onGone);
    s.off('timeout', this.onGone);
    s.setTimeout(0);
    s.pause();
  }

  // ===================================================================== TrackedConnection

  /** Not sent a byte yet: closed after the fresh-connection grace (it may be sending now). */
  drain(): void {
    if (this.decided) return;
    setTimeout(() => {
      if (!this.decided && this.read === null) this.destroy();
    }, DRAIN_FRESH_CONNECTION_GRACE_MS).unref();
  }

  destroy(): void {
    if (this.decided) return;
    this.stopSniffing();
    this.socket.destroy();
    this.ctx.releaseUncounted(this);
  }
}
