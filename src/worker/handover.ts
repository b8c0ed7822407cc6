/**
 * Both worker roles of an upgrade.
 *
 * Old worker (`handOver`): stop accepting, then keep moving every connection that reaches a
 * movable boundary to the new worker until none is left or the deadline passes. Connections
 * the peer refuses, or all of them if the channel fails, finish here by draining.
 *
 * New worker (`adopter`): turns a received description and its fds into live connection
 * objects of this worker.
 */
import type * as net from 'node:net';
import { FdChannel, native, socketFromFd } from '../transfer/fdpass';
import { ConnectionSender } from '../transfer/conn-sender';
import type { Adopter } from '../transfer/conn-receiver';
import { CONN_CHANNEL_CONNECT_TIMEOUT_MS, HANDOVER_POLL_MS } from '../transfer/constants';
import type { TrackedConnection, WorkerContext } from './context';
import type { WorkerListeners } from './listeners';
import { clientTimeouts, HttpConnection } from './http/connection';
import { TcpProxyConnection } from './tcp/tcp-proxy';
import { READ_OPTIONS } from './read-buffer';

export interface HandoverResult {
  moved: number;
  /** Finished here (client closed, refused by the peer, or drained after a failure). */
  drained: number;
  /** Still open at the deadline and cut. */
  closed: number;
  /** From the handover order to the last connection gone, ms. */
  ms: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function handOver(
  ctx: WorkerContext,
  listeners: WorkerListeners,
  /** The new worker's transfer socket, or a channel already connected to it. */
  target: string | FdChannel,
  deadlineMs: number,
  /** False once the upgrade was rolled back (stop moving; keep everything here). */
  active: () => boolean,
  /** Told the running total after each acknowledged batch. */
  onProgress: (moved: number) => void = () => {},
): Promise<HandoverResult> {
  const log = ctx.log;
  ctx.handoverMode = true;
  listeners.closeAll();
  const started = Date.now();
  const deadline = started + deadlineMs;
  const startCount = ctx.connections.size;
  let sender: ConnectionSender | null = null;
  let ch: FdChannel | null = null;
  try {
    ch = typeof target === 'string' ? await FdChannel.connect(target, CONN_CHANNEL_CONNECT_TIMEOUT_MS) : target;
    sender = new ConnectionSender(ch);
  } catch (err) {
    log.warn({ err: (err as Error).message, target: String(target) }, 'cannot reach the new worker; draining connections here');
  }
  const stay = new Set<TrackedConnection>();
  let moved = 0;
  let draining = false;
  const startDraining = (): void => {
    if (draining) return;
    draining = true;
    ctx.handoverMode = false;
    for (const c of [...ctx.connections]) c.drain();
  };
  if (!sender) startDraining();
  while (ctx.connections.size > 0 && Date.now() < deadline && active()) {
    if (sender && !draining) {
      const movable = [...ctx.connections].filter((c) => !stay.has(c) && c.movable());
      if (movable.length > 0) {
        const r = await sender.send(movable);
        moved += r.moved;
        if (r.moved > 0) onProgress(moved);
        for (const c of r.refused) {
          stay.add(c);
          c.drain();
        }
        if (r.broken) {
          // Rolled back meanwhile (the new generation died): the connections stay here and are
          // served on, not drained (the batch in flight was taken back by the sender).
          if (!active()) break;
          log.warn('the connection handover channel failed; draining the rest here');
          startDraining();
        }
        continue;
      }
    }
    await sleep(HANDOVER_POLL_MS);
  }
  ch?.close();
  if (!active()) return { moved, drained: 0, closed: 0, ms: Date.now() - started };
  const closed = ctx.connections.size;
  for (const c of [...ctx.connections]) c.destroy();
  const result = { moved, drained: Math.max(0, startCount - moved - closed), closed, ms: Date.now() - started };
  log.info(result, 'handover finished');
  return result;
}

/** Aborted handover (the new generation died): serve everything here again. */
export function resumeHere(ctx: WorkerContext): void {
  ctx.handoverMode = false;
  for (const c of [...ctx.connections]) c.reattach();
}

export function makeAdopter(ctx: WorkerContext, listeners: WorkerListeners): Adopter {
  return (desc, fds) => {
    const sockets: net.Socket[] = [];
    try {
      const cfg = listeners.config(desc.listener);
      if (!cfg) return refuse(fds);
      if (desc.kind === 'http') {
        if (cfg.kind !== 'http') return refuse(fds);
        // Paused: nothing is read until the old owner has let go (start()). Moved connections are
        // plain TCP (TLS ones are drained, not moved), so they read through `onread` as the
        // listener's own do: a keep-alive connection lives on for hours after an upgrade.
        const socket = socketFromFd(fds[0], true, true, READ_OPTIONS);
        sockets.push(socket);
        const conn = new HttpConnection(socket, ctx, cfg.routerConfigName ?? '', cfg.name, clientTimeouts(cfg), true);
        const data = desc.data ? Buffer.from(desc.data, 'base64') : null;
        return {
          start: () => {
            socket.resume();
            conn.inject(data);
          },
          discard: () => socket.destroy(),
        };
      }
      if (cfg.kind !== 'tcp' || cfg.tcpCluster !== desc.cluster) return refuse(fds);
      const client = socketFromFd(fds[0], true, true, READ_OPTIONS);
      sockets.push(client);
      const upstream = socketFromFd(fds[1], true, true, READ_OPTIONS);
      sockets.push(upstream);
      const pair = new TcpProxyConnection(
        client,
        ctx,
        { listener: cfg.name, cluster: desc.cluster, idleTimeoutMs: cfg.tcpIdleTimeoutMs ?? 0 },
        {
          upstream,
          hostAddress: desc.host,
          toUpstream: desc.toUpstream ? Buffer.from(desc.toUpstream, 'base64') : null,
          toClient: desc.toClient ? Buffer.from(desc.toClient, 'base64') : null,
        },
      );
      return { start: () => pair.startAdopted(), discard: () => pair.discardAdopted() };
    } catch (e) {
      // Sockets own their fds: destroy closes them; the rest are closed by hand.
      for (const s of sockets) s.destroy();
      refuse(fds.slice(sockets.length));
      throw e;
    }
  };
}

function refuse(fds: number[]): null {
  for (const fd of fds) native().close(fd);
  return null;
}
