/**
 * New-worker side of moving live connections: listens on its transfer socket, adopts each
 * connection of a batch (the adopter builds the worker's connection object on the fds) and
 * acknowledges the batch in one message. Fds it cannot use are closed; a malformed message
 * closes that channel (the old worker then keeps its connections).
 */
import { FdChannel, FdChannelServer } from './fdpass';
import { ConnDesc, decodeConnMessage, encode } from './messages';
import { native } from './fdpass';
import { PEER_DEATH_POLL_MS, PEER_DEATH_WAIT_MS, RECEIVER_IDLE_WAIT_MS, RELEASE_WAIT_MS } from './constants';
import { peerCred } from './peer-cred';
import { MosndError, isMosndError } from '../shared/errors';
import { testKillPoint } from './test-hooks';

import * as fs from 'node:fs';

/**
 * The transfer path is named after the generation and worker id (`xfer-<gen>-<id>.sock`), so a
 * later run of the same generation number reuses it: a worker killed before it could remove
 * its socket (a failed upgrade, SIGKILL) leaves a file that would make every later upgrade
 * fail with EADDRINUSE. Whatever is there belongs to a dead or retired worker of this run dir
 * (a live, orphaned one no longer receives connections), so it is replaced; that worker's own
 * close() leaves the new file alone (it checks the inode).
 */
function removeStaleSocket(path: string): void {
  try {
    if (fs.lstatSync(path).isSocket()) fs.unlinkSync(path);
  } catch {
    /* nothing there */
  }
}

/**
 * Builds a live connection from a description and its fds; false = refused. The adopter
 * owns the fds it is given in every case (they are private duplicates): on refusal or
 * error it closes them itself, so a half-built connection can never leave an fd that both
 * libuv and this receiver think they own.
 */
export type Adopter = (desc: ConnDesc, fds: number[]) => AdoptedConnection | null;

/**
 * A connection built on received fds but not yet reading: the old owner may still take it
 * back until it says `released`. start() begins reading (and handles bytes that came along);
 * discard() closes this process's copies (no FIN: the old owner still holds the socket).
 */
export interface AdoptedConnection {
  start(): void;
  discard(): void;
}

export class ConnectionReceiver {
  private readonly server: FdChannelServer;
  private readonly channels = new Set<FdChannel>();
  private closed = false;
  adopted = 0;

  constructor(
    readonly path: string,
    private readonly adopt: Adopter,
    private readonly onError: (err: Error) => void,
  ) {
    removeStaleSocket(path);
    // A peer of another user is closed unread; its pid and uid reach the worker's log.
    this.server = FdChannel.listen(path, undefined, (message) => onError(new Error(message)));
    void this.acceptLoop();
  }

  private async acceptLoop(): Promise<void> {
    while (!this.closed) {
      let ch: FdChannel;
      try {
        ch = await this.server.accept(RECEIVER_IDLE_WAIT_MS);
      } catch (e) {
        if (this.closed) return;
        if (isMosndError(e) && e.code === 'MOSND_ERR_TRANSFER_TIMEOUT') continue;
        this.onError(e as Error);
        return;
      }
      this.channels.add(ch);
      void this.serve(ch);
    }
  }

  private async serve(ch: FdChannel): Promise<void> {
    const peerPid = peerPidOf(ch);
    try {
      while (!this.closed) {
        let msg;
        try {
          msg = await ch.recv(RECEIVER_IDLE_WAIT_MS);
        } catch (e) {
          if (isMosndError(e) && e.code === 'MOSND_ERR_TRANSFER_TIMEOUT') continue;
          throw e;
        }
        let m;
        try {
          m = decodeConnMessage(msg.data, msg.fds.length);
        } catch (e) {
          for (const fd of msg.fds) native().close(fd);
          throw e;
        }
        if (m.t !== 'conns') {
          for (const fd of msg.fds) native().close(fd);
          continue;
        }
        testKillPoint('new-worker:conns');
        const accepted: number[] = [];
        const refused: number[] = [];
        const held = new Map<number, AdoptedConnection>();
        const used = new Set<number>();
        for (const desc of m.items) {
          const idx = desc.kind === 'http' ? [desc.fd] : [desc.clientFd, desc.upstreamFd];
          if (idx.some((i) => used.has(i))) {
            refused.push(desc.id);
            continue;
          }
          for (const i of idx) used.add(i);
          const fds = idx.map((i) => native().dup(msg.fds[i]));
          let conn: AdoptedConnection | null = null;
          try {
            conn = this.adopt(desc, fds);
          } catch (e) {
            this.onError(e as Error);
          }
          if (conn) {
            accepted.push(desc.id);
            held.set(desc.id, conn);
          } else {
            refused.push(desc.id);
          }
        }
        // The received fds themselves are always ours to close: connections hold duplicates.
        for (const fd of msg.fds) native().close(fd);
        try {
          await ch.send(encode({ t: 'ack', accepted, refused }));
          if (held.size > 0) await this.awaitRelease(ch, held, peerPid);
        } finally {
          // Whatever was not released stays with the old owner: drop our unread copies.
          for (const c of held.values()) c.discard();
        }
      }
    } catch (e) {
      if (!(isMosndError(e) && e.code === 'MOSND_ERR_TRANSFER_CLOSED') && !this.closed) this.onError(e as Error);
    } finally {
      this.channels.delete(ch);
      ch.close();
    }
  }

  /** Starts the connections the old owner says it let go of; the rest are discarded. */
  private async awaitRelease(ch: FdChannel, held: Map<number, AdoptedConnection>, peerPid: number): Promise<void> {
    let raw;
    try {
      raw = await ch.recv(RELEASE_WAIT_MS, { maxFds: 0 });
    } catch (e) {
      // The old worker died between our ack and its `released` (its copies died with it): the
      // batch is ours alone, serve it rather than drop it. Alive, it took the batch back.
      if (isMosndError(e) && e.code === 'MOSND_ERR_TRANSFER_CLOSED' && (await processDied(peerPid))) {
        const n = held.size;
        for (const c of held.values()) {
          this.adopted++;
          c.start();
        }
        held.clear();
        this.onError(new Error(`the old worker (pid ${peerPid}) died before releasing ${n} connection(s): they are served here`));
        return;
      }
      throw e;
    }
    const m = decodeConnMessage(raw.data, raw.fds.length);
    if (m.t !== 'released') throw new MosndError('MOSND_ERR_TRANSFER_PROTOCOL', `expected "released", got "${m.t}"`);
    for (const id of m.ids) {
      const c = held.get(id);
      if (!c) continue;
      held.delete(id);
      this.adopted++;
      c.start();
    }
  }

  close(): void {
    this.closed = true;
    for (const ch of this.channels) ch.close();
    this.server.close();
  }
}

/** The pid of the process at the other end of the channel (0 if it cannot be told). */
function peerPidOf(ch: FdChannel): number {
  try {
    return peerCred(ch.fd).pid;
  } catch {
    return 0;
  }
}

/** True if `pid` is gone or a zombie within PEER_DEATH_WAIT_MS. */
async function processDied(pid: number): Promise<boolean> {
  if (pid <= 0) return false;
  const deadline = Date.now() + PEER_DEATH_WAIT_MS;
  for (;;) {
    let state = '';
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      return true; // gone
    }
    if (state === 'Z' || state === 'X') return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, PEER_DEATH_POLL_MS));
  }
}
