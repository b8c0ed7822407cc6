/**
 * Lingering close: the answer is written and our FIN follows it, then whatever the client
 * still sends is read and dropped until it closes too, or LINGER_IDLE_MS pass without a
 * byte, or LINGER_MAX_MS in all. Closing at once while its request body is still arriving
 * leaves unread bytes in the kernel, which then resets the connection, and a client that
 * gets the RST before it read the answer never sees the answer (a 404 or 413 to an upload).
 * The connection must already ignore its data (state Closed): the bytes only go to waste.
 */
import type * as net from 'node:net';
import { LINGER_IDLE_MS, LINGER_MAX_MS } from '../../shared/constants';

export function lingeringClose(socket: net.Socket): void {
  socket.end();
  if (socket.destroyed) return;
  const idle = setTimeout(() => socket.destroy(), LINGER_IDLE_MS);
  const max = setTimeout(() => socket.destroy(), LINGER_MAX_MS);
  const onData = (): void => void idle.refresh(); // one timer, pushed back per chunk
  socket.on('data', onData);
  // The client closed its side too: nothing more can arrive, the close is clean.
  socket.once('end', () => socket.destroy());
  socket.once('close', () => {
    clearTimeout(idle);
    clearTimeout(max);
    socket.off('data', onData);
  });
  socket.resume(); // it may be paused by backpressure on a body nobody reads any more
}
