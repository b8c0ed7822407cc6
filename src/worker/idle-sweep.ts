/**
 * Idle timeouts without a timer per socket. A Node socket timeout (`socket.setTimeout`) is
 * pushed back on every read and every write, which re-inserts a timer four times per proxied
 * HTTP/1.1 request. Here one interval per worker looks at the watched sockets instead: a
 * socket whose byte counters (read + written, queued writes included, as Node's own timer
 * counts a write when it is made) have not moved for its idle time is reported idle, once per
 * idle period, as Node's 'timeout' event would be. The check costs nothing per request.
 *
 * The sweep period follows the shortest idle time watched (see IDLE_SWEEP_* in constants), so
 * a timeout fires up to a quarter of itself late.
 */
import type * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { IDLE_SWEEP_DIVISOR, IDLE_SWEEP_MAX_MS, IDLE_SWEEP_MIN_MS } from '../shared/constants';

export interface IdleWatched {
  readonly socket: net.Socket;
  /** Idle time after which onIdle() is called, ms. */
  readonly idleMs: number;
  /** Bookkeeping of the sweep (initialised by watch()). */
  sweepProgress: number;
  sweepSince: number;
  /** No byte in or out for idleMs. Called again after another idleMs without one. */
  onIdle(): void;
}

const watched = new Set<IdleWatched>();
let timer: NodeJS.Timeout | null = null;
let periodMs = IDLE_SWEEP_MAX_MS;

function progress(s: net.Socket): number {
  return s.bytesRead + (s.bytesWritten ?? 0);
}

export function watchIdle(w: IdleWatched): void {
  w.sweepProgress = progress(w.socket);
  w.sweepSince = performance.now();
  watched.add(w);
  const want = Math.min(IDLE_SWEEP_MAX_MS, Math.max(IDLE_SWEEP_MIN_MS, Math.floor(w.idleMs / IDLE_SWEEP_DIVISOR)));
  if (timer === null || want < periodMs) {
    if (timer !== null) clearInterval(timer);
    periodMs = want;
    timer = setInterval(sweep, periodMs);
    timer.unref();
  }
}

export function unwatchIdle(w: IdleWatched): void {
  watched.delete(w);
  if (watched.size === 0 && timer !== null) {
    clearInterval(timer);
    timer = null;
    periodMs = IDLE_SWEEP_MAX_MS;
  }
}

function sweep(): void {
  const now = performance.now();
  for (const w of watched) {
    const p = progress(w.socket);
    if (p !== w.sweepProgress) {
      w.sweepProgress = p;
      w.sweepSince = now;
    } else if (now - w.sweepSince >= w.idleMs) {
      w.sweepSince = now; // once per idle period, as a socket timer that nothing refreshes
      w.onIdle();
    }
  }
}
