/**
 * The master's view of the metrics: one scrape for all workers of all generations.
 *
 * Workers keep plain numbers and answer `metrics` requests with a snapshot in
 * prom-client's `getMetricsAsJSON()` shape (src/worker/metrics.ts). The collector polls
 * every worker each METRICS_POLL_INTERVAL_MS and keeps the last snapshot of each; a scrape
 * asks for fresh ones and merges them with `AggregatorRegistry.aggregate()` (sum).
 *
 * Counters never go backwards:
 * - when a worker's process is gone, the counters and histograms of its last snapshot join
 *   `retired` (a worker that exits gracefully sends a final snapshot first; one killed
 *   loses at most the last poll interval);
 * - across an upgrade, the old master passes its totals (`carry()`), which become the new
 *   master's `base`; the final totals arrive with the handover's `done` and replace it.
 * Gauges (open connections, pool sizes) only come from live workers.
 */
import type * as Zlib from 'node:zlib';
import type * as PromClient from 'prom-client';
import type { Registry } from 'prom-client';
import { lazy } from '../shared/lazy';
import type { MetricJson, MetricsSnapshot } from '../shared/ipc';
import type { WorkerProcess } from './worker-process';
import { METRICS_POLL_INTERVAL_MS, METRICS_RETIRE_WAIT_MS, SCRAPE_WORKER_TIMEOUT_MS } from '../shared/constants';

export { METRICS_POLL_INTERVAL_MS, SCRAPE_WORKER_TIMEOUT_MS };

/** Loaded when first needed (a scrape, a retired worker, an upgrade): ~12 MB of the master's
 *  memory that a master nobody scrapes does not carry (see src/shared/lazy.ts). */
const promClient = lazy(() => require('prom-client') as typeof PromClient);
const zlib = lazy(() => require('node:zlib') as typeof Zlib);
/** The carried totals travel in one handover message (64 KiB at most, with the listener
 *  list beside them): above this, histograms are dropped, then everything. */
export const CARRY_MAX_BYTES = 48 * 1024;

interface Source {
  worker: WorkerProcess;
  last: MetricsSnapshot | null;
  /** Settles once the process is gone and its last snapshot has joined `retired`. */
  retired: Promise<void>;
}

const isCumulative = (m: MetricJson): boolean => m.type === 'counter' || m.type === 'histogram';

/** Only what must stay monotonic: counters and histograms. */
export function cumulativeOnly(s: MetricsSnapshot): MetricsSnapshot {
  return s.filter(isCumulative);
}

/** Sums snapshots (same name and labels) into one, with prom-client's aggregator. */
export async function mergeSnapshots(parts: MetricsSnapshot[]): Promise<MetricsSnapshot> {
  const reg = promClient().AggregatorRegistry.aggregate(parts.filter((p) => p.length > 0));
  return (await reg.getMetricsAsJSON()) as unknown as MetricsSnapshot;
}

export interface CollectorOptions {
  /** The master's own metrics (restarts, generation, upgrades), built on each scrape. */
  masterMetrics: () => MetricsSnapshot;
}

export class MetricsCollector {
  private readonly sources = new Map<WorkerProcess, Source>();
  private retiredTotals: MetricsSnapshot = [];
  private base: MetricsSnapshot = [];
  /** Retirements are merged one at a time (each merge reads the previous total). */
  private retiring: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private polling = false;

  constructor(private readonly opts: CollectorOptions) {}

  /** Follows a worker from its spawn: keeps its snapshots, retires them when it is gone. */
  attach(worker: WorkerProcess): void {
    if (this.sources.has(worker)) return;
    const src: Source = { worker, last: null, retired: Promise.resolve() };
    worker.on('metrics', (snapshot: MetricsSnapshot) => {
      src.last = snapshot;
    });
    // 'close' comes after 'exit' and after the IPC channel is drained: the final snapshot,
    // if the worker sent one, has been received by then.
    const gone = new Promise<void>((resolve) => worker.child.once('close', () => resolve()));
    src.retired = gone.then(() => this.retire(src));
    this.sources.set(worker, src);
  }

  /** Old generations' totals (upgrade): added to every scrape from now on. */
  setBase(snapshot: MetricsSnapshot): void {
    this.base = cumulativeOnly(snapshot);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.poll(), METRICS_POLL_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The Prometheus text of everything (workers, retired, older generations, master). */
  async scrape(): Promise<{ text: string; contentType: string }> {
    const reg = await this.aggregate(false);
    return { text: await reg.metrics(), contentType: reg.contentType };
  }

  /** The same figures as JSON (for /stats and /clusters). */
  async snapshot(): Promise<MetricsSnapshot> {
    const reg = await this.aggregate(false);
    return (await reg.getMetricsAsJSON()) as unknown as MetricsSnapshot;
  }

  /**
   * Upgrade: this generation's totals (counters and histograms only) for the next one.
   * Waits for the workers that already exited to be retired, so a handover's final counts
   * are in.
   */
  async carry(): Promise<MetricsSnapshot> {
    const exited = [...this.sources.values()].filter((s) => s.worker.state === 'exited').map((s) => s.retired);
    await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, METRICS_RETIRE_WAIT_MS).unref())]);
    await this.retiring;
    const reg = await this.aggregate(true);
    return (await reg.getMetricsAsJSON()) as unknown as MetricsSnapshot;
  }

  private async aggregate(cumulative: boolean): Promise<Registry> {
    await this.refresh(SCRAPE_WORKER_TIMEOUT_MS);
    // Read everything in one synchronous step: a retirement moves a worker's counts from
    // `sources` to `retiredTotals` in one step too, so a scrape never counts them twice or
    // misses them.
    const parts: MetricsSnapshot[] = [this.base, this.retiredTotals, this.opts.masterMetrics()];
    for (const s of this.sources.values()) if (s.last) parts.push(s.last);
    const use = cumulative ? parts.map(cumulativeOnly) : parts;
    return promClient().AggregatorRegistry.aggregate(use.filter((p) => p.length > 0));
  }

  /**
   * Asks every serving worker for a snapshot (each answer is kept through the 'metrics'
   * event). A worker still starting has nothing to count yet; one that exited is retired.
   */
  private async refresh(timeoutMs: number): Promise<void> {
    await Promise.all(
      [...this.sources.values()]
        .filter((s) => s.worker.state === 'ready' || s.worker.state === 'draining')
        .map((s) => s.worker.metrics(timeoutMs)),
    );
  }

  /** The periodic poll; skipped while the previous one still waits for a slow worker. */
  private poll(): void {
    if (this.polling) return;
    this.polling = true;
    void this.refresh(SCRAPE_WORKER_TIMEOUT_MS).finally(() => (this.polling = false));
  }

  private retire(src: Source): Promise<void> {
    this.retiring = this.retiring.then(async () => {
      if (src.last) {
        const merged = await mergeSnapshots([this.retiredTotals, cumulativeOnly(src.last)]);
        this.retiredTotals = merged;
      }
      this.sources.delete(src.worker);
    });
    return this.retiring;
  }
}

/** The carried totals as they travel in the handover: deflated JSON, base64. */
export function encodeCarry(snapshot: MetricsSnapshot): string {
  const pack = (s: MetricsSnapshot): string => zlib().deflateRawSync(Buffer.from(JSON.stringify(s))).toString('base64');
  let text = pack(snapshot);
  if (text.length <= CARRY_MAX_BYTES) return text;
  text = pack(snapshot.filter((m) => m.type !== 'histogram'));
  return text.length <= CARRY_MAX_BYTES ? text : '';
}

/** Decodes and checks carried totals; undefined when absent or malformed (never throws). */
export function decodeCarry(text: string): MetricsSnapshot | undefined {
  if (!text) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(zlib().inflateRawSync(Buffer.from(text, 'base64'), { maxOutputLength: 16 * 1024 * 1024 }).toString('utf8'));
  } catch {
    return undefined;
  }
  return isSnapshot(v) ? v : undefined;
}

function isSnapshot(v: unknown): v is MetricsSnapshot {
  if (!Array.isArray(v)) return false;
  return v.every((m: Partial<MetricJson>) => {
    if (typeof m !== 'object' || m === null) return false;
    if (typeof m.name !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(m.name) || typeof m.help !== 'string') return false;
    if (m.type !== 'counter' && m.type !== 'gauge' && m.type !== 'histogram') return false;
    if (m.aggregator !== 'sum' || !Array.isArray(m.values)) return false;
    return m.values.every(
      (x) =>
        typeof x === 'object' &&
        x !== null &&
        typeof x.value === 'number' &&
        Number.isFinite(x.value) &&
        typeof x.labels === 'object' &&
        x.labels !== null &&
        Object.values(x.labels).every((l) => typeof l === 'string' || typeof l === 'number') &&
        (x.metricName === undefined || typeof x.metricName === 'string'),
    );
  });
}
