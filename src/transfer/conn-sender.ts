/**
 * Old-worker side of moving live connections: every connection that reaches a movable
 * boundary is detached (kernel reads stopped in the same tick), sent in batches of at most
 * 253 fds with the bytes already read, and released only when the new worker acknowledges
 * it. No acknowledgement in time → the connection is taken back and served here until the
 * drain deadline (rollback, never a drop).
 */
import type { DetachedConn, MovableConnection } from './movable';
import { FdChannel, MAX_FDS_PER_MESSAGE } from './fdpass';
import { ConnDesc, decodeConnMessage, encode } from './messages';
import { CONN_ACK_TIMEOUT_MS, MAX_BATCH_JSON_BYTES, MAX_CONN_DATA_BYTES } from './constants';
import { testKillPoint } from './test-hooks';

interface Pending<C extends MovableConnection> {
  conn: C;
  desc: ConnDesc;
}

export interface SendResult<C extends MovableConnection = MovableConnection> {
  moved: number;
  refused: C[];
  /** The channel failed: stop moving, drain what is left. */
  broken: boolean;
}

export class ConnectionSender {
  private nextId = 1;

  constructor(private readonly ch: FdChannel) {}

  /** Detaches and sends `conns` (all movable now); resolves when every batch is answered. */
  async send<C extends MovableConnection>(conns: C[]): Promise<SendResult<C>> {
    const result: SendResult<C> = { moved: 0, refused: [], broken: false };
    let batch: Pending<C>[] = [];
    let fds: number[] = [];
    let jsonBytes = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const b = batch;
      const f = fds;
      batch = [];
      fds = [];
      jsonBytes = 0;
      if (result.broken) {
        for (const p of b) p.conn.reattach();
        return;
      }
      await this.sendBatch(b, f, result);
    };
    for (const conn of conns) {
      if (!conn.movable()) continue;
      const d = conn.detach();
      const desc = this.describe(d, fds.length);
      if (desc === null) {
        // Too much already-read data to carry: keep it here, it finishes by draining.
        conn.reattach();
        result.refused.push(conn);
        continue;
      }
      const size = JSON.stringify(desc).length;
      if (fds.length + d.fds.length > MAX_FDS_PER_MESSAGE || jsonBytes + size > MAX_BATCH_JSON_BYTES) {
        // Re-describe with the new fd positions after flushing.
        await flush();
        const again = this.describe(d, 0)!;
        batch.push({ conn, desc: again });
        fds.push(...d.fds);
        jsonBytes += JSON.stringify(again).length;
        continue;
      }
      batch.push({ conn, desc });
      fds.push(...d.fds);
      jsonBytes += size;
    }
    await flush();
    return result;
  }

  private describe(d: DetachedConn, fdBase: number): ConnDesc | null {
    const id = this.nextId++;
    const b64 = (b: Buffer | null): string | null => {
      if (b === null || b.length === 0) return '';
      return b.length > MAX_CONN_DATA_BYTES ? null : b.toString('base64');
    };
    if (d.kind === 'http') {
      const data = b64(d.data);
      if (data === null) return null;
      return { kind: 'http', id, listener: d.listener, fd: fdBase, data };
    }
    const toUpstream = b64(d.toUpstream);
    const toClient = b64(d.toClient);
    if (toUpstream === null || toClient === null) return null;
    return {
      kind: 'tcp',
      id,
      listener: d.listener,
      cluster: d.cluster,
      host: d.host,
      clientFd: fdBase,
      upstreamFd: fdBase + 1,
      toUpstream,
      toClient,
    };
  }

  private async sendBatch<C extends MovableConnection>(batch: Pending<C>[], fds: number[], result: SendResult<C>): Promise<void> {
    try {
      await this.ch.send(encode({ t: 'conns', items: batch.map((p) => p.desc) }), fds);
      const reply = await this.ch.recv(CONN_ACK_TIMEOUT_MS, { maxFds: 0 });
      const m = decodeConnMessage(reply.data, reply.fds.length);
      if (m.t !== 'ack') throw new Error(`expected an ack, got ${m.t}`);
      testKillPoint('old-worker:acked');
      const accepted = new Set(m.accepted);
      const taken = batch.filter((p) => accepted.has(p.desc.id));
      for (const p of batch) {
        if (!accepted.has(p.desc.id)) {
          p.conn.reattach();
          result.refused.push(p.conn);
        }
      }
      // The new side reads these only once told they are let go here: if this message cannot
      // be sent, they stay here (reattach) and the new side drops its unread copies.
      try {
        await this.ch.send(encode({ t: 'released', ids: taken.map((p) => p.desc.id) }));
      } catch {
        result.broken = true;
        for (const p of taken) p.conn.reattach();
        return;
      }
      for (const p of taken) {
        p.conn.release();
        result.moved++;
      }
      if (taken.length > 0) testKillPoint('old-worker:released');
    } catch {
      // No answer (or a bad one): everything stays here. The new side never reads a
      // connection before its `released`, so a late ack cannot leave two readers.
      result.broken = true;
      for (const p of batch) p.conn.reattach();
    }
  }
}
