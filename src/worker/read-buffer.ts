/**
 * Where a socket's bytes go, and reads without the Readable stream machinery for plain TCP
 * sockets: the client sockets of plain HTTP/1.1 and tcp_proxy listeners (made by listeners.ts),
 * the upstreams the worker dials (HTTP/1.1 pools, tcp_proxy), and the connections it adopts in
 * an upgrade (handover.ts). Those are opened with Node's `onread` option, so libuv reads into a
 * buffer we give and calls back with the byte count. That skips, per read, push(), a 'data'
 * emit and the nextTick of maybeReadMore.
 *
 * Which buffer: small reads (a head, a small body) go into one buffer shared by every such
 * socket of the worker and are copied out at once (the consumer may keep them: a partial head;
 * a write the kernel did not take at once keeps its buffer until flushed). After a large read
 * the socket is streaming a body: its next read goes into a fresh buffer handed to the
 * consumer as is, because copying 64 KiB reads into fresh memory halved the throughput of
 * 1 MB responses. A socket whose last read was large keeps that fresh buffer until its next
 * read (libuv holds the buffer it will read into); a small read brings it back to the shared one.
 *
 * One callback and one buffer function serve every socket (READ_OPTIONS), so a connection
 * costs no closures: Node calls the callback as a method of the socket, which names its
 * consumer (readInto), and asks for the next buffer right after the callback returns.
 *
 * Connections adopted in an upgrade read this way too (handover.ts opens their fds with the same
 * options). TLS sockets (Node's have no `onread`) keep 'data' events; readInto gives them one
 * shared listener that feeds the same consumer, so a consumer does not care how its socket reads.
 */
import type * as net from 'node:net';

/** 64 KiB: libuv's own read size, so a read takes what one default read would. */
const READ_BYTES = 64 * 1024;
/** Reads up to this size are copied out of the shared buffer; a larger one means a body is
 *  streaming, and the next read goes into a buffer of the socket's own. */
const COPY_MAX_BYTES = 16 * 1024;

const shared = Buffer.allocUnsafe(READ_BYTES);
const kSink = Symbol('mosnd.readSink');

/** Where a socket's bytes go (`from`: the socket, for a sink that reads more than one). */
export interface ReadSink {
  onBytes(data: Buffer, from: net.Socket): void;
}

type SinkSocket = net.Socket & { [kSink]?: ReadSink };

/** Set by the callback for the buffer function that Node calls next, for the same socket. */
let nextStreaming = false;

function nextBuffer(): Buffer {
  const streaming = nextStreaming;
  nextStreaming = false;
  return streaming ? Buffer.allocUnsafe(READ_BYTES) : shared;
}

function onRead(this: SinkSocket, n: number, buf: Uint8Array): boolean {
  let data: Buffer;
  if (buf === shared) {
    data = Buffer.allocUnsafe(n);
    shared.copy(data, 0, 0, n);
  } else {
    data = (buf as Buffer).subarray(0, n);
  }
  nextStreaming = n > COPY_MAX_BYTES;
  this[kSink]?.onBytes(data, this);
  return true; // keep reading: consumers pause the socket themselves under backpressure
}

/** The `onread` option of every such socket; its bytes go to the sink set by setReadSink. */
export const READ_OPTIONS: net.OnReadOpts = { buffer: nextBuffer, callback: onRead };

function onData(this: SinkSocket, data: Buffer): void {
  this[kSink]?.onBytes(data, this);
}

/**
 * Sends the bytes of `socket` to `sink` (before its first read): through the `onread` callback
 * when the socket was opened with READ_OPTIONS (`byCallback`), else through 'data' events.
 */
export function readInto(socket: net.Socket, sink: ReadSink, byCallback: boolean): void {
  (socket as SinkSocket)[kSink] = sink;
  if (!byCallback) socket.on('data', onData);
}
