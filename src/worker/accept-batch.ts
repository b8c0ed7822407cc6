/**
 * Takes a burst of connections from a listener's accept queue in one event-loop turn.
 *
 * libuv 1.45+ (Node 20) accepts a single connection each time the loop finds a listening
 * socket readable. Under load one turn serves hundreds of ready sockets and lasts 10-20 ms, so
 * when many clients connect at once (a load balancer's pool opening, clients reconnecting after a
 * restart) they sit in the kernel's queue for seconds, their requests already sent. On each
 * connection libuv hands the listener, this takes up to ACCEPT_BATCH_MAX - 1 more with accept4
 * (the project's addon, src/transfer/native), non-blocking and close-on-exec as libuv's; the
 * listener wraps them in sockets as it does libuv's (listeners.ts).
 *
 * Where the addon is missing (not Linux), the listener keeps libuv's one-per-turn pace.
 */
import type * as net from 'node:net';
import { ACCEPT_BATCH_MAX } from '../shared/constants';
import { fdOf, native } from '../transfer/fdpass';

type Accept = (fd: number) => number;

/** accept4 of the addon, looked up once; null where the addon cannot load. */
let acceptFn: Accept | null | undefined;

function accept4(): Accept | null {
  if (acceptFn === undefined) {
    try {
      acceptFn = native().accept;
    } catch {
      acceptFn = null;
    }
  }
  return acceptFn;
}

/**
 * Accepts what else waits on `server`'s queue, up to the batch bound, and hands each new fd
 * to `onFd` (which wraps it in a socket). `stillAccepting` is asked before each one: a handler
 * may close the listener (drain, overload) and then the rest stays queued for a sibling worker
 * or the next generation. Returns how many were taken.
 */
export function acceptQueued(server: net.Server, stillAccepting: () => boolean, onFd: (fd: number) => void): number {
  const accept = accept4();
  if (accept === null || !stillAccepting()) return 0;
  let listenFd: number;
  try {
    listenFd = fdOf(server); // valid while stillAccepting() holds: the listener is open
  } catch {
    return 0;
  }
  let taken = 0;
  while (taken < ACCEPT_BATCH_MAX - 1 && stillAccepting()) {
    let fd: number;
    try {
      fd = accept(listenFd);
    } catch {
      // EMFILE and the like: leave the queue to libuv, which sheds such load its own way.
      return taken;
    }
    if (fd < 0) return taken; // queue empty
    taken++;
    onFd(fd);
  }
  return taken;
}
