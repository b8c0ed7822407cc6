/**
 * The new master's side of an upgrade: connect to the old master's upgrade socket, receive
 * the listening sockets, report ready once the workers hold them, wait for commit. If the
 * old master disappears before commit, this generation commits by itself: the old workers
 * stop accepting when their master is gone, so someone must.
 */
import { MosndError } from '../shared/errors';
import type { ListenerConfig, MosndConfig } from '../shared/config/model';
import { FdChannel, native } from '../transfer/fdpass';
import { decodeMasterMessage, encode, ListenerDesc, MasterChannelMessage, NewWorkerDesc, OldProcessDesc, PROTOCOL_VERSION } from '../transfer/messages';
import { COMMIT_WAIT_TIMEOUT_MS, NEW_MASTER_HELLO_TIMEOUT_MS, OLD_GENERATION_EXIT_WAIT_MS } from '../transfer/constants';
import { BoundListener, bindListener, listenerFromFd } from './listen-sockets';
import { testKillPoint } from '../transfer/test-hooks';

/** Extra sockets (admin API, metrics sink) travel with the listeners under names starting with this. */
export const RESERVED_SOCKET_PREFIX = '__';

export class UpgradeJoin {
  private received: Array<{ desc: ListenerDesc; fd: number }> = [];
  /** The old generation's admin/metrics sockets, by reserved name (taken at commit). */
  readonly reserved = new Map<string, ListenerDesc & { fd: number }>();
  /** The old generation's processes (shown as draining by `mosnd status`). */
  oldProcesses: OldProcessDesc[] = [];
  /** The old generation's TLS session ticket keys (base64), '' when it sent none. */
  tlsTicketKeys = '';

  private constructor(
    private readonly ch: FdChannel,
    /** The generation of the old master; this one is oldGeneration + 1. */
    readonly oldGeneration: number,
    /** The old generation's metric totals (see messages.ts), '' for none. */
    readonly counters: string,
  ) {}

  get generation(): number {
    return this.oldGeneration + 1;
  }

  static async connect(socketPath: string, version: string): Promise<UpgradeJoin> {
    const ch = await FdChannel.connect(socketPath, NEW_MASTER_HELLO_TIMEOUT_MS);
    try {
      await ch.send(encode({ t: 'hello', v: PROTOCOL_VERSION, pid: process.pid, version }));
      testKillPoint('new-master:hello');
      const raw = await ch.recv(NEW_MASTER_HELLO_TIMEOUT_MS);
      let m: MasterChannelMessage;
      try {
        m = decodeMasterMessage(raw.data, raw.fds.length);
      } catch (e) {
        for (const fd of raw.fds) native().close(fd);
        throw e;
      }
      if (m.t !== 'listeners') {
        for (const fd of raw.fds) native().close(fd);
        throw new MosndError('MOSND_ERR_TRANSFER_PROTOCOL', `expected the listeners, got "${m.t}"`);
      }
      const join = new UpgradeJoin(ch, m.generation, typeof m.counters === 'string' ? m.counters : '');
      const all = m.listeners.map((desc, i) => ({ desc, fd: raw.fds[i] }));
      join.received = all.filter((r) => !r.desc.name.startsWith(RESERVED_SOCKET_PREFIX));
      for (const r of all) if (r.desc.name.startsWith(RESERVED_SOCKET_PREFIX)) join.reserved.set(r.desc.name, { ...r.desc, fd: r.fd });
      join.oldProcesses = m.processes ?? [];
      join.tlsTicketKeys = m.tlsTicketKeys ?? '';
      testKillPoint('new-master:listeners');
      return join;
    } catch (e) {
      ch.close();
      throw e;
    }
  }

  /**
   * The sockets for this config: a received one wherever the address matches (same socket,
   * same accept queue, no bind), a fresh bind for new addresses. Received sockets this
   * config does not use are closed here (the old generation closes its copies on exit).
   */
  bindListeners(config: MosndConfig): BoundListener[] {
    const out: BoundListener[] = [];
    const used = new Set<number>();
    try {
      for (const l of config.listeners) {
        const match = this.received.find((r) => !used.has(r.fd) && sameSocketAddress(r.desc, l));
        if (match) {
          used.add(match.fd);
          out.push(listenerFromFd(l, match.fd));
        } else if (l.bindPort) {
          out.push(bindListener(l));
        }
      }
    } catch (e) {
      for (const b of out) b.handle.close();
      for (const r of this.received) if (!used.has(r.fd)) native().close(r.fd);
      throw e;
    }
    for (const r of this.received) if (!used.has(r.fd)) native().close(r.fd);
    return out;
  }

  async ready(workers: NewWorkerDesc[]): Promise<void> {
    await this.sendUnlessOrphaned(encode({ t: 'ready', workers }));
    testKillPoint('new-master:ready');
  }

  /** 'commit' when told to, 'orphaned' when the old master is gone (commit anyway). */
  async waitCommit(): Promise<'commit' | 'orphaned'> {
    try {
      const m = await this.recv(COMMIT_WAIT_TIMEOUT_MS);
      if (m.t === 'commit') return 'commit';
      throw new MosndError('MOSND_ERR_TRANSFER_PROTOCOL', `expected "commit", got "${m.t}"`);
    } catch (e) {
      if (e instanceof MosndError && e.code === 'MOSND_ERR_TRANSFER_CLOSED') return 'orphaned';
      throw e;
    }
  }

  async serving(): Promise<void> {
    await this.sendUnlessOrphaned(encode({ t: 'serving', pid: process.pid }));
    testKillPoint('new-master:serving');
  }

  /**
   * A send to an old master that is gone fails with MOSND_ERR_TRANSFER_CLOSED: not an error
   * here, since waitCommit() then answers 'orphaned' and this generation commits by itself.
   * (Throwing made the new master exit, and with the old one dead nobody served.)
   */
  private async sendUnlessOrphaned(data: Buffer): Promise<void> {
    try {
      await this.ch.send(data);
    } catch (e) {
      if (!(e instanceof MosndError && e.code === 'MOSND_ERR_TRANSFER_CLOSED')) throw e;
    }
  }

  /** The old generation's final figures, or null if it went away without them. */
  async waitDone(): Promise<{ moved: number; drained: number; closed: number; counters: string } | null> {
    try {
      const m = await this.recv(OLD_GENERATION_EXIT_WAIT_MS);
      return m.t === 'done' ? { moved: m.moved, drained: m.drained, closed: m.closed, counters: m.counters ?? '' } : null;
    } catch {
      return null;
    } finally {
      this.ch.close();
    }
  }

  async abort(reason: string, details: string[] = []): Promise<void> {
    try {
      await this.ch.send(encode({ t: 'abort', reason, details }));
    } catch {
      /* the old master will see us exit */
    }
    this.ch.close();
  }

  private async recv(timeoutMs: number): Promise<MasterChannelMessage> {
    const m = await this.ch.recv(timeoutMs, { maxFds: 0 });
    return decodeMasterMessage(m.data, m.fds.length);
  }
}

/** Same socket: same host and port; a config port 0 ("any") matches by listener name. */
function sameSocketAddress(d: ListenerDesc, l: ListenerConfig): boolean {
  const norm = (h: string): string => h.toLowerCase();
  if (norm(d.host) !== norm(l.host)) return false;
  return l.port === 0 ? d.name === l.name : d.port === l.port;
}
