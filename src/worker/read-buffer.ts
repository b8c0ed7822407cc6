/**
 * Reads without the Readable stream machinery, for the sockets the worker dials itself (plain
 * TCP upstreams of the HTTP/1.1 pools and of tcp_proxy): they are opened with Node's `onread`
 * option, so libuv reads into a buffer we give and calls back with the byte count. That skips,
 * per read, push(), a 'data' emit and the nextTick of maybeReadMore.
 *
 * Which buffer: small reads (a response head, a small body) go into one buffer shared by every
 * such socket of the worker, and are copied out at once (the consumer may keep them: a partial
 * head, a write the kernel did not take at once keeps its buffer until flushed). After a large
 * read the socket is streaming a body: its next read goes into a fresh buffer of its own that is
 * handed to the consumer as is, because copying 64 KiB reads into fresh memory halved the
 * throughput of 1 MB responses. A socket whose last read was large keeps that fresh buffer
 * until its next read (libuv holds the buffer it will read into); a small read brings it back
 * to the shared one.
 *
 * Sockets the worker is handed (accepted clients, connections adopted in an upgrade) and TLS
 * sockets (Node's have no `onread`) keep 'data' events.
 */
import type * as net from 'node:net';

/** 64 KiB: libuv's own read size, so a read takes what one default read would. */
const READ_BYTES = 64 * 1024;
/** Reads up to this size are copied out of the shared buffer; a larger one means a body is
 *  streaming, and the next read goes into a buffer of the socket's own. */
const COPY_MAX_BYTES = 16 * 1024;

const shared = Buffer.allocUnsafe(READ_BYTES);

/** `onread` options for a socket whose bytes go to `deliver`, each in a Buffer of its own. */
export function readInto(deliver: (data: Buffer) => void): net.OnReadOpts {
  let streaming = false;
  return {
    // Asked for the buffer of the next read, after each read.
    buffer: () => (streaming ? Buffer.allocUnsafe(READ_BYTES) : shared),
    callback: (n: number, buf: Uint8Array): boolean => {
      let data: Buffer;
      if (buf === shared) {
        data = Buffer.allocUnsafe(n);
        shared.copy(data, 0, 0, n);
      } else {
        data = (buf as Buffer).subarray(0, n);
      }
      streaming = n > COPY_MAX_BYTES;
      deliver(data);
      return true; // keep reading: consumers pause the socket themselves under backpressure
    },
  };
}
