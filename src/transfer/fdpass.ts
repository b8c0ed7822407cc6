/**
 * Typed wrapper around the fd-passing addon (src/transfer/native/fdpass.c): a
 * SOCK_SEQPACKET Unix socket channel that carries a message and up to 253 fds
 * per send, between processes that share no parent. See README.md "Native layer".
 */
import cluster from 'cluster';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { MosndError } from '../shared/errors';
import { CONNECT_RETRY_INTERVAL_MS, SEND_TIMEOUT_MS } from './constants';
import { checkPeer, describeRefusedPeer, PeerCheck } from './peer-cred';

/** The kernel refuses more fds in one SCM_RIGHTS message (SCM_MAX_FD). */
export const MAX_FDS_PER_MESSAGE = 253;
/**
 * Largest message we send or accept. SEQPACKET keeps boundaries, so one send is
 * one recv of a buffer this size. 64 KiB holds the metadata of a full batch of
 * 253 connections (addresses, ids, a few hundred bytes each) with room to spare,
 * and stays well under the default socket send buffer (net.core.wmem_default,
 * 208 KiB) that bounds one AF_UNIX message. Larger payloads are split by the
 * protocol above this layer.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** Only one handover peer talks to us at a time; a few spare slots absorb a retrying peer. */
export const LISTEN_BACKLOG = 16;
// The waits of a channel live with the protocol's other timings (constants.ts).
export { CONNECT_RETRY_INTERVAL_MS, SEND_TIMEOUT_MS };

/** Mode of the channel's socket file: only our own user may connect (the run directory is 0700 too). */
const SOCKET_FILE_MODE = 0o600;
const ADDON_PATH = path.join(__dirname, '..', '..', 'build', 'Release', 'fdpass.node');
const READABLE = 1;
const WRITABLE = 2;

type PollHandle = { readonly __pollHandle: unique symbol };
export interface SocketInfo {
  type: 'stream' | 'dgram' | 'seqpacket' | 'other';
  domain: 'inet' | 'inet6' | 'unix' | 'other';
  listening: boolean;
}
export interface ReceivedMessage { data: Buffer; fds: number[] }
interface RawMessage extends ReceivedMessage { truncated: boolean }

/** The addon as built from fdpass.c. Each call throws an Error whose code is the errno name. */
interface Addon {
  seqpacketListen(path: string, backlog: number): number;
  seqpacketConnect(path: string): number;
  accept(fd: number): number;
  send(fd: number, data: Buffer, fds: number[]): number;
  recv(fd: number, maxBytes: number, maxFds?: number): RawMessage | null;
  close(fd: number): void;
  dup(fd: number): number;
  /** waitpid(pid, WNOHANG): pid when reaped, 0 while running, -1 when not our child. */
  reap(pid: number): number;
  getSocketInfo(fd: number): SocketInfo;
  /** SO_PEERCRED of a connected Unix socket. */
  peerCred(fd: number): { pid: number; uid: number; gid: number };
  /** One AF_UNIX datagram to `path` ('@name' = abstract namespace); bytes sent. */
  datagramSend(path: string, data: Buffer): number;
  pollOpen(fd: number, callback: (status: number, events: number) => void): PollHandle;
  pollSet(handle: PollHandle, events: number): void;
  pollClose(handle: PollHandle): void;
}

let loaded: Addon | undefined;

/** Loads the addon on first use, so that importing this module never throws. */
export function native(): Addon {
  if (loaded === undefined) {
    try {
      loaded = require(ADDON_PATH) as Addon;
    } catch (e) {
      throw new MosndError(
        'MOSND_ERR_TRANSFER_ADDON',
        `the fd-passing addon ${ADDON_PATH} cannot be loaded; build it with "npx node-gyp rebuild" in the install directory (${(e as Error).message})`,
        [],
        { cause: e },
      );
    }
  }
  return loaded;
}

function checkTimeout(timeoutMs: number): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
  }
}

function closedError(): MosndError {
  return new MosndError('MOSND_ERR_TRANSFER_CLOSED', 'the fd channel is closed');
}

function hasCode(e: unknown, ...codes: string[]): boolean {
  return codes.includes((e as { code?: unknown } | null)?.code as string);
}

/** Runs a send/recv syscall, turning "the peer went away" errnos into MOSND_ERR_TRANSFER_CLOSED. */
function peerGone<T>(syscall: () => T): T {
  try {
    return syscall();
  } catch (e) {
    if (hasCode(e, 'EPIPE', 'ECONNRESET')) {
      throw new MosndError('MOSND_ERR_TRANSFER_CLOSED', 'the handover peer closed the channel', [], { cause: e });
    }
    throw e;
  }
}

interface Waiter {
  /** Tries the operation once: true when it settled (resolved or rejected), false on EAGAIN. */
  attempt(): boolean;
  fail(err: Error): void;
}

/**
 * Waits for readability/writability of one fd with the addon's uv_poll handle
 * (one per fd: libuv forbids two). Waiters are served in order; the poll is
 * armed only while someone waits, so an idle channel keeps no loop alive.
 */
class Readiness {
  private readonly handle: PollHandle;
  private readonly queues: Record<number, Waiter[]> = { [READABLE]: [], [WRITABLE]: [] };
  private armed = 0;
  private closed = false;

  constructor(fd: number) {
    this.handle = native().pollOpen(fd, (status, events) => this.onEvent(status, events));
  }

  /** Runs tryOnce now and then each time the fd is ready, until it returns non-null, throws or times out. */
  wait<T>(kind: number, timeoutMs: number, tryOnce: () => T | null, onTimeout: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      checkTimeout(timeoutMs); // a throw in here is a rejection, like every other failure
      if (this.closed) return reject(closedError());
      const queue = this.queues[kind];
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        attempt: () => {
          let value: T | null;
          try {
            value = tryOnce();
          } catch (e) {
            waiter.fail(e as Error);
            return true;
          }
          if (value === null) return false;
          clearTimeout(timer);
          resolve(value);
          return true;
        },
        fail: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      if (queue.length === 0 && waiter.attempt()) return;
      timer = setTimeout(() => {
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
        this.rearm();
        reject(onTimeout());
      }, timeoutMs);
      queue.push(waiter);
      this.rearm();
    });
  }

  close(reason: Error): void {
    if (this.closed) return;
    this.closed = true;
    native().pollClose(this.handle);
    for (const queue of Object.values(this.queues)) {
      for (const waiter of queue.splice(0)) waiter.fail(reason);
    }
  }

  private onEvent(status: number, events: number): void {
    if (this.closed) return;
    if (status < 0) {
      // libuv reports POLLERR as a status and stops the handle. On a Unix socket that is
      // a pending socket error (the peer closed with our messages unread): let every
      // waiter try its syscall, which returns the error (clearing it) or queued data.
      this.armed = 0;
      events = READABLE | WRITABLE;
    }
    // A hang-up is reported as readable (and writable): the next syscall tells which.
    for (const kind of [READABLE, WRITABLE]) {
      const queue = this.queues[kind];
      if (!(events & kind)) continue;
      while (queue.length > 0 && !this.closed && queue[0].attempt()) queue.shift();
    }
    this.rearm();
  }

  private rearm(): void {
    if (this.closed) return;
    const want = (this.queues[READABLE].length ? READABLE : 0) | (this.queues[WRITABLE].length ? WRITABLE : 0);
    if (want !== this.armed) {
      native().pollSet(this.handle, want);
      this.armed = want;
    }
  }
}

/** Options of FdChannel.recv. */
export interface RecvOptions {
  /** Largest message accepted; a longer one is dropped and recv rejects. */
  maxBytes?: number;
  /** Most fds accepted in one message; more are closed on arrival and recv rejects. */
  maxFds?: number;
}

/** One connected SEQPACKET channel. The caller owns every fd it receives (and keeps those it sends). */
export class FdChannel {
  private readonly readiness: Readiness;
  private isClosed = false;

  private constructor(readonly fd: number) {
    try {
      this.readiness = new Readiness(fd);
    } catch (e) {
      native().close(fd);
      throw e;
    }
  }

  /** Binds a SEQPACKET listener at path (mode 0600). An existing file there gives EADDRINUSE.
   *  A peer of another user (not root) is closed unread and reported to `onRefusedPeer`. */
  static listen(socketPath: string, backlog = LISTEN_BACKLOG, onRefusedPeer?: RefusedPeerHandler): FdChannelServer {
    return new FdChannelServer(socketPath, backlog, onRefusedPeer);
  }

  /** Connects to a listener; ENOENT/ECONNREFUSED reject at once (nobody listens), a full backlog is retried. */
  static async connect(socketPath: string, timeoutMs: number): Promise<FdChannel> {
    checkTimeout(timeoutMs);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return new FdChannel(native().seqpacketConnect(socketPath));
      } catch (e) {
        if (!hasCode(e, 'EAGAIN')) throw e;
      }
      if (Date.now() >= deadline) {
        throw new MosndError('MOSND_ERR_TRANSFER_TIMEOUT', `connecting to ${socketPath} did not succeed within ${timeoutMs} ms (backlog full)`);
      }
      await new Promise((r) => setTimeout(r, CONNECT_RETRY_INTERVAL_MS));
    }
  }

  /** Wraps an fd that is already a connected SEQPACKET socket (from accept, or inherited); the channel owns it. */
  static adopt(fd: number): FdChannel {
    return new FdChannel(fd);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Sends one message with up to 253 fds (dup'ed by the kernel: the caller keeps
   * its own copies). data must be 1..MAX_MESSAGE_BYTES bytes.
   */
  send(data: Buffer, fds: number[] = [], timeoutMs = SEND_TIMEOUT_MS): Promise<void> {
    if (data.length > MAX_MESSAGE_BYTES) {
      return Promise.reject(new RangeError(`a message is at most ${MAX_MESSAGE_BYTES} bytes, got ${data.length}`));
    }
    const tryOnce = (): true | null => peerGone(() => (native().send(this.fd, data, fds) < 0 ? null : true));
    return this.readiness
      .wait(WRITABLE, timeoutMs, tryOnce, () => new MosndError('MOSND_ERR_TRANSFER_TIMEOUT', `the handover peer did not take a message within ${timeoutMs} ms`))
      .then(() => undefined);
  }

  /**
   * Receives the next message. Rejects with MOSND_ERR_TRANSFER_PROTOCOL if it was
   * longer than maxBytes or carried more than maxFds fds (its fds are closed),
   * MOSND_ERR_TRANSFER_CLOSED at end of stream, MOSND_ERR_TRANSFER_TIMEOUT after timeoutMs.
   */
  recv(timeoutMs: number, options: RecvOptions = {}): Promise<ReceivedMessage> {
    const maxBytes = options.maxBytes ?? MAX_MESSAGE_BYTES;
    const maxFds = options.maxFds ?? MAX_FDS_PER_MESSAGE;
    const tryOnce = (): ReceivedMessage | null => {
      const raw = peerGone(() => native().recv(this.fd, maxBytes, maxFds));
      if (raw === null) return null;
      if (raw.truncated) {
        for (const fd of raw.fds) native().close(fd);
        throw new MosndError(
          'MOSND_ERR_TRANSFER_PROTOCOL',
          `the handover peer sent a message over the limit of ${maxBytes} bytes and ${maxFds} fds; it was dropped`,
        );
      }
      if (raw.data.length === 0) throw new MosndError('MOSND_ERR_TRANSFER_CLOSED', 'the handover peer closed the channel');
      return { data: raw.data, fds: raw.fds };
    };
    return this.readiness.wait(READABLE, timeoutMs, tryOnce, () =>
      new MosndError('MOSND_ERR_TRANSFER_TIMEOUT', `no message from the handover peer within ${timeoutMs} ms`),
    );
  }

  /** Closes the channel; pending send/recv reject with MOSND_ERR_TRANSFER_CLOSED. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.readiness.close(closedError()); // stop watching before the fd number can be reused
    native().close(this.fd);
  }
}

/** Told about a peer that accept() closed unread because of its credentials (see peer-cred.ts). */
export type RefusedPeerHandler = (message: string, check: PeerCheck) => void;

/** A listening SEQPACKET socket; close() removes its file unless another process replaced it. */
export class FdChannelServer {
  readonly fd: number;
  private readonly readiness: Readiness;
  private readonly inode: { dev: number; ino: number };
  private isClosed = false;

  constructor(
    readonly path: string,
    backlog = LISTEN_BACKLOG,
    private readonly onRefusedPeer: RefusedPeerHandler = () => {},
  ) {
    this.fd = native().seqpacketListen(path, backlog);
    try {
      fs.chmodSync(path, SOCKET_FILE_MODE);
      const st = fs.statSync(path);
      this.inode = { dev: st.dev, ino: st.ino };
      this.readiness = new Readiness(this.fd);
    } catch (e) {
      native().close(this.fd);
      fs.rmSync(path, { force: true });
      throw e;
    }
  }

  /** Waits for the next peer of our own user (or root); others are closed before a byte is read. */
  accept(timeoutMs: number): Promise<FdChannel> {
    const tryOnce = (): FdChannel | null => {
      for (;;) {
        const fd = native().accept(this.fd);
        if (fd < 0) return null;
        const check = checkPeer(fd);
        if (check.allowed) return FdChannel.adopt(fd);
        native().close(fd);
        this.onRefusedPeer(describeRefusedPeer(this.path, check), check);
      }
    };
    return this.readiness.wait(READABLE, timeoutMs, tryOnce, () =>
      new MosndError('MOSND_ERR_TRANSFER_TIMEOUT', `no handover peer connected to ${this.path} within ${timeoutMs} ms`),
    );
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.readiness.close(closedError());
    native().close(this.fd);
    try {
      const st = fs.lstatSync(this.path);
      if (st.dev === this.inode.dev && st.ino === this.inode.ino) fs.unlinkSync(this.path);
    } catch {
      // already gone: nothing to clean
    }
  }
}

function expectSocket(fd: number, listening: boolean): void {
  const info = native().getSocketInfo(fd);
  if (info.type !== 'stream' || info.listening !== listening) {
    const want = listening ? 'a listening stream socket' : 'a connected stream socket';
    const got = `a ${info.listening ? 'listening ' : ''}${info.type} ${info.domain} socket`;
    throw new MosndError('MOSND_ERR_TRANSFER_PROTOCOL', `fd ${fd} is ${got}, expected ${want}`);
  }
}

/**
 * Wraps a received connected TCP (or Unix stream) socket; the Socket owns the fd from now on.
 * `onread` (Node's option: libuv reads into the caller's buffer and calls back, no 'data'
 * events) lets an adopted connection read the way the receiver's own sockets do.
 */
export function socketFromFd(fd: number, allowHalfOpen = false, paused = false, onread?: net.OnReadOpts): net.Socket {
  expectSocket(fd, false);
  // pauseOnCreate (what a server's pauseOnConnect uses): no kernel read until resume(), even
  // once 'data' listeners are attached — a moved connection must not be read before the old
  // owner has let go of it.
  const opts = { fd, readable: true, writable: true, allowHalfOpen, pauseOnCreate: paused, ...(onread ? { onread } : {}) };
  return new net.Socket(opts as net.SocketConstructorOpts);
}

/**
 * Wraps a received listening socket (same accept queue, no new bind); the Server
 * owns the fd from now on. Not in a cluster worker: Node would ask the primary to
 * listen on that fd number in its own process; pass the Server to workers instead.
 */
export function serverFromFd(fd: number): net.Server {
  if (cluster.isWorker) {
    throw new MosndError('MOSND_ERR_TRANSFER_PROTOCOL', 'serverFromFd cannot be used in a cluster worker; adopt the listener in the primary');
  }
  expectSocket(fd, true);
  const server = net.createServer();
  server.listen({ fd });
  return server;
}

/** The fd under a Node socket or listening server (still owned by it). */
export function fdOf(handleOwner: net.Socket | net.Server): number {
  const fd = (handleOwner as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new TypeError('the socket or server has no open file descriptor');
  return fd;
}
