/**
 * The worker's event-loop delay, reported with each answer to the master's watchdog ping:
 * perf_hooks.monitorEventLoopDelay samples how late a timer of LOOP_DELAY_RESOLUTION_MS
 * fires (the histogram holds the whole interval, so the resolution is taken off). Each
 * report covers the window since the previous one, then the histogram starts afresh.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { LoopDelay } from '../shared/ipc';

/** The sampling timer's period: 50 wake-ups a second cost a few µs each (nothing next to
 *  proxying), and ~50 samples per one-second watchdog window still catch every stall longer
 *  than 20 ms (the histogram records the late timer's whole interval). */
const LOOP_DELAY_RESOLUTION_MS = 20;

const NS_PER_MS = 1e6;

export class LoopDelayMonitor {
  private readonly histogram = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });

  constructor() {
    this.histogram.enable();
  }

  /** The delay since the last call (zeros when no sample was taken), and a fresh window. */
  take(): LoopDelay {
    const h = this.histogram;
    // An empty histogram answers odd percentiles (its lowest bucket): report nothing instead.
    const delay = (ns: number): number => (h.count === 0 ? 0 : Math.max(0, Math.round((ns / NS_PER_MS - LOOP_DELAY_RESOLUTION_MS) * 100) / 100));
    const out = { p99Ms: delay(h.percentile(99)), maxMs: delay(h.max) };
    h.reset();
    return out;
  }
}
