/**
 * Direct control of a socket's kernel reads, for handing a live connection over.
 * `socket.pause()` is not enough: libuv keeps reading into the stream buffer until the
 * high-water mark. These stop (and restart) the handle's reads in the same tick, using the
 * same `reading` flag Node's own net code keeps, so Node's view stays consistent.
 */
import type * as net from 'node:net';

interface StreamHandle {
  reading: boolean;
  fd: number;
  readStop(): number;
  readStart(): number;
}

function handleOf(s: net.Socket): StreamHandle | null {
  return ((s as unknown as { _handle: StreamHandle | null })._handle ?? null) as StreamHandle | null;
}

export function stopReading(s: net.Socket): void {
  const h = handleOf(s);
  if (h && h.reading) {
    h.reading = false;
    h.readStop();
  }
}

export function startReading(s: net.Socket): void {
  const h = handleOf(s);
  if (h && !h.reading && !s.destroyed) {
    h.reading = true;
    h.readStart();
  }
}

export function socketFd(s: net.Socket): number {
  const h = handleOf(s);
  return h && typeof h.fd === 'number' ? h.fd : -1;
}

/** Nothing waits in user space in either direction: the socket can change owner. */
export function isQuiet(s: net.Socket): boolean {
  return !s.destroyed && s.writableLength === 0 && s.readableLength === 0 && socketFd(s) >= 0;
}
