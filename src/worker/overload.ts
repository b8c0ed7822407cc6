/**
 * The overload manager of a worker, after Envoy's: every `refresh_interval` it measures the
 * two resources whose exhaustion kills or wedges a Node proxy, and acts before that happens.
 *
 *   resource                         at its threshold                    recovers below
 *   V8 heap used / heap limit        stop accepting, answer new          threshold - OVERLOAD_RECOVERY_MARGIN
 *                                    requests 503 (flag OM) with
 *                                    Connection: close, close idle
 *                                    keep-alive connections
 *   open fds / soft RLIMIT_NOFILE    stop accepting                      threshold - OVERLOAD_RECOVERY_MARGIN
 *
 * Stopping to accept closes this worker's copies of the listening sockets (the master keeps
 * them; src/worker/listeners.ts): connections then wait in the kernel's accept queue for a
 * worker with room, instead of being accepted here and reset because no fd or memory is left
 * for them (what libuv does at EMFILE). On recovery the worker asks the master for its sockets
 * again (`want-listeners`). Each change of state is logged once, at warn going in and info
 * coming out, and shows in the metrics (mosnd_overload_accept_paused,
 * mosnd_overload_shed_requests_total).
 */
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import type { OverloadConfig } from '../shared/config/model';
import type { WorkerContext } from './context';
import type { WorkerListeners } from './listeners';
import { OVERLOAD_RECOVERY_MARGIN } from '../shared/constants';

export interface OverloadReading {
  heapRatio: number;
  /** -1 where it cannot be measured (no /proc). */
  fdRatio: number;
}

export class OverloadManager {
  private timer: NodeJS.Timeout | null = null;
  private heapHigh = false;
  private fdHigh = false;

  constructor(
    private readonly ctx: WorkerContext,
    private readonly listeners: WorkerListeners,
    private config: OverloadConfig,
    /** Ask the master for the listening sockets again. */
    private readonly wantListeners: () => void,
    /** False while the worker is not serving normally (starting, handing over, draining). */
    private readonly serving: () => boolean,
  ) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** A reload may change the thresholds and the interval. */
  setConfig(config: OverloadConfig): void {
    const restart = config.refreshMs !== this.config.refreshMs && this.timer !== null;
    this.config = config;
    if (restart) {
      this.stop();
      this.schedule();
    }
  }

  private schedule(): void {
    this.timer = setInterval(() => this.check(measure()), this.config.refreshMs);
    this.timer.unref();
  }

  /** One step of the state machine on a reading (public for clarity, called by the timer). */
  check(r: OverloadReading): void {
    if (!this.serving()) return;
    const { heapThreshold, fdThreshold } = this.config;
    this.heapHigh = crossed(this.heapHigh, r.heapRatio, heapThreshold);
    this.fdHigh = r.fdRatio >= 0 && crossed(this.fdHigh, r.fdRatio, fdThreshold);
    const log = this.ctx.log;
    const figures = { heapRatio: round(r.heapRatio), fdRatio: round(r.fdRatio) };

    if (this.heapHigh !== this.ctx.overloaded) {
      this.ctx.overloaded = this.heapHigh;
      if (this.heapHigh) {
        log.warn(figures, `overload: heap at ${pct(r.heapRatio)} of its limit (threshold ${pct(heapThreshold)}): shedding new requests (503 OM) and idle connections`);
        for (const c of [...this.ctx.connections]) c.shed();
      } else {
        log.info(figures, 'overload: heap back under its threshold; serving requests again');
      }
    }
    const pause = this.heapHigh || this.fdHigh;
    if (pause && !this.ctx.acceptPaused) {
      if (this.listeners.pauseAccepting()) {
        this.ctx.acceptPaused = true;
        log.warn(figures, `overload: stopped accepting connections (${this.fdHigh ? `file descriptors at ${pct(r.fdRatio)} of the limit` : 'heap'}); they wait in the accept queue`);
      }
    } else if (!pause && this.ctx.acceptPaused) {
      this.ctx.acceptPaused = false;
      if (this.listeners.resumeAccepting()) this.wantListeners();
      log.info(figures, 'overload: accepting connections again');
    }
  }
}

/** Hysteresis: on at the threshold, off only OVERLOAD_RECOVERY_MARGIN below it. */
function crossed(wasHigh: boolean, ratio: number, threshold: number): boolean {
  return wasHigh ? ratio >= threshold - OVERLOAD_RECOVERY_MARGIN : ratio >= threshold;
}

function measure(): OverloadReading {
  const h = v8.getHeapStatistics();
  return { heapRatio: h.used_heap_size / h.heap_size_limit, fdRatio: fdRatio() };
}

/**
 * Open fds over the soft limit, read from /proc (re-read each time: prlimit can change it).
 * Reading /proc takes a descriptor itself: failing for want of one means we are at the limit.
 */
function fdRatio(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'latin1'));
    if (!m || m[1] === 'unlimited') return -1;
    // The directory listing itself holds one fd while it is read.
    const open = fs.readdirSync('/proc/self/fd').length - 1;
    return open / Number(m[1]);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EMFILE' || code === 'ENFILE' ? 1 : -1;
  }
}

const round = (x: number): number => Math.round(x * 1000) / 1000;
const pct = (x: number): string => `${Math.round(x * 100)}%`;
