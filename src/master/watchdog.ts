/**
 * The worker watchdog, after Envoy's guard dog (miss, then kill): a ready worker whose event
 * loop stops turning (an endless loop in JS, a SIGSTOP, a blocking call) keeps its slot and
 * its share of the accept queue forever unless someone notices. The master pings every
 * watched worker each `intervalMs`; the worker answers from its event loop (src/worker/main.ts),
 * so a wedged one cannot.
 *
 * Each tick, per watched worker: any answer since the previous tick sets its misses back to 0,
 * none adds one; then it gets a fresh ping. At `warnMs` worth of misses it is logged at warn,
 * at `killMs` worth it is logged at error (MOSND_ERR_WORKER_UNRESPONSIVE) and killed with
 * SIGKILL; its exit then takes the supervisor's ordinary respawn path (a restart, with the
 * backoff and the crash-loop limit). Counting ticks instead of reading the clock means a
 * master that stalled itself (a loaded machine, a paused VM) counts one miss for the stall,
 * not enough to kill every worker the moment it wakes up.
 *
 * Which workers are watched, and why draining ones are not, is the state machine comment in
 * worker-process.ts. The supervisor decides (`watched`, `mayKill`): ready workers while the
 * master serves or reloads; kills wait until a reload is over (it bounds its own wait for
 * every worker's answer and replaces those that do not give one).
 */
import type { Logger } from '../shared/logger';
import type { WorkerProcess } from './worker-process';
import { WATCHDOG_INTERVAL_MS, WATCHDOG_KILL_MS, WATCHDOG_MIN_INTERVAL_MS, WATCHDOG_WARN_MS } from '../shared/constants';

/** The environment variable that sets the kill threshold in ms (0: no watchdog). */
export const WATCHDOG_KILL_ENV = 'MOSND_WATCHDOG_KILL_MS';


export interface WatchdogTimings {
  intervalMs: number;
  warnMs: number;
  killMs: number;
}

/**
 * The timings for a kill threshold: the defaults of constants.ts; a threshold shorter than
 * WATCHDOG_KILL_MS scales the interval and the warn threshold down in proportion (so a test's
 * 3 s still takes ten missed pings, like the default 10 s), a longer one keeps them. 0: off.
 */
export function watchdogTimings(killMs: number = WATCHDOG_KILL_MS): WatchdogTimings | null {
  if (killMs <= 0) return null;
  const scale = Math.min(1, killMs / WATCHDOG_KILL_MS);
  return {
    killMs,
    intervalMs: Math.max(WATCHDOG_MIN_INTERVAL_MS, Math.round(WATCHDOG_INTERVAL_MS * scale)),
    warnMs: Math.round(WATCHDOG_WARN_MS * scale),
  };
}

/** The timings MOSND_WATCHDOG_KILL_MS asks for; a value that is not a whole number of ms is
 *  reported in `problem` and the defaults apply. */
export function watchdogTimingsFromEnv(env: NodeJS.ProcessEnv = process.env): { timings: WatchdogTimings | null; problem?: string } {
  const raw = env[WATCHDOG_KILL_ENV]?.trim();
  if (raw === undefined || raw === '') return { timings: watchdogTimings() };
  if (!/^\d{1,9}$/.test(raw)) {
    return {
      timings: watchdogTimings(),
      problem: `${WATCHDOG_KILL_ENV}=${JSON.stringify(raw)} is not a whole number of milliseconds; the watchdog kills after ${WATCHDOG_KILL_MS} ms`,
    };
  }
  return { timings: watchdogTimings(Number(raw)) };
}

export interface WatchdogOptions {
  timings: WatchdogTimings;
  log: Logger;
  /** The workers to watch now, with their slot index (the `workerId` of the master's logs). */
  watched: () => Array<{ id: number; worker: WorkerProcess }>;
  /** Whether a worker past the kill threshold may be killed now (else at a later tick). */
  mayKill: () => boolean;
  /** True once the master is done for good: the watchdog stops. */
  over: () => boolean;
  /** Told each kill before it happens (the kill counter of the slot). */
  onKill: (id: number) => void;
}

/** What the watchdog knows of one watched worker. */
interface Watch {
  /** The worker's answer count at the previous tick. */
  pongs: number;
  /** Consecutive ticks without an answer. */
  misses: number;
  /** The last answer, or when watching began (silence is counted from here). */
  since: number;
  killed: boolean;
}

export class Watchdog {
  private timer: NodeJS.Timeout | null = null;
  private readonly watches = new Map<WorkerProcess, Watch>();
  private seq = 0;
  private readonly warnTicks: number;
  private readonly killTicks: number;

  constructor(private readonly opts: WatchdogOptions) {
    const t = opts.timings;
    this.warnTicks = Math.max(1, Math.ceil(t.warnMs / t.intervalMs));
    this.killTicks = Math.max(this.warnTicks, Math.ceil(t.killMs / t.intervalMs));
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.opts.timings.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.watches.clear();
  }

  private tick(): void {
    if (this.opts.over()) {
      this.stop();
      return;
    }
    const now = Date.now();
    const seen = new Set<WorkerProcess>();
    for (const { id, worker: w } of this.opts.watched()) {
      seen.add(w);
      const watch = this.watches.get(w);
      if (!watch) {
        // Newly watched (just ready, or ready again after a rolled-back handover): from now.
        this.watches.set(w, { pongs: w.pongs, misses: 0, since: now, killed: false });
      } else if (watch.killed) {
        continue; // its exit is on the way
      } else if (w.pongs !== watch.pongs) {
        if (watch.misses >= this.warnTicks) {
          this.opts.log.info(
            { workerId: id, workerPid: w.pid, silentMs: w.lastPongAt - watch.since },
            `worker ${id} answers the watchdog again after ${w.lastPongAt - watch.since} ms`,
          );
        }
        watch.pongs = w.pongs;
        watch.misses = 0;
        watch.since = w.lastPongAt;
      } else {
        watch.misses++;
        const silentMs = now - watch.since;
        if (watch.misses >= this.killTicks && this.opts.mayKill()) {
          this.kill(id, w, watch, silentMs);
          continue;
        }
        if (watch.misses === this.warnTicks) {
          this.opts.log.warn(
            { workerId: id, workerPid: w.pid, silentMs, killAfterMs: this.opts.timings.killMs, lastLoopDelay: w.loopDelay },
            `worker ${id} unresponsive for ${silentMs} ms (killed at ${this.opts.timings.killMs} ms)`,
          );
        }
      }
      w.ping(++this.seq);
    }
    for (const w of this.watches.keys()) if (!seen.has(w)) this.watches.delete(w);
  }

  private kill(id: number, w: WorkerProcess, watch: Watch, silentMs: number): void {
    watch.killed = true;
    w.killReason = `unresponsive for ${silentMs} ms (watchdog)`;
    this.opts.log.error(
      { code: 'MOSND_ERR_WORKER_UNRESPONSIVE', workerId: id, workerPid: w.pid, silentMs },
      `worker ${id} unresponsive for ${silentMs} ms; killing it (SIGKILL) to start a replacement`,
    );
    this.opts.onKill(id);
    w.kill('SIGKILL');
  }
}
