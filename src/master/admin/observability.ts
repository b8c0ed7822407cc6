/**
 * Everything an operator sees of the master besides the control API: the metrics collector,
 * the admin HTTP API, the Prometheus sink, the run-time log level, the health-check switch,
 * the processes of a draining older generation (for `mosnd status`), and what of all this
 * moves to the next generation at an upgrade (sockets, counters, pids).
 *
 * The master creates one per process and calls, in order: `attach(supervisor)` before the
 * workers start, `startServers()` once serving (a new generation: at commit, with the
 * sockets received), `suspendServers()` when an upgrade commits (`resumeServers()` if the
 * new generation then dies), `close()` when it stops.
 */
import { tlsCertExpiry } from './tls-metrics';
import * as fs from 'node:fs';
import type PidUsage from 'pidusage';
import type { LogLevel, MosndConfig } from '../../shared/config/model';
import { PROMETHEUS_SINK_HOST } from '../../shared/config/defaults';
import type { ListenerInfo, ProcessInfo } from '../../shared/control-types';
import type { MetricJson, MetricsSnapshot } from '../../shared/ipc';
import { Logger, reopenLogFile } from '../../shared/logger';
import type { Supervisor } from '../supervisor';
import type { WorkerProcess } from '../worker-process';
import { decodeCarry, encodeCarry, MetricsCollector } from '../metrics';
import { VERSION } from '../version';
import { HttpEndpoint } from './http-endpoint';
import { AdminBackend, adminHandler, Readiness, sinkHandler } from './routes';
import type { HealthChecker } from '../health/checker';
import { lazy } from '../../shared/lazy';

/** Process sampling is loaded on the first status or stats request (see src/shared/lazy.ts). */
const pidusage = lazy(() => require('pidusage') as typeof PidUsage);

/** Reserved names of the extra sockets in the handover's listener list. */
export const ADMIN_SOCKET_NAME = '__admin';
export const METRICS_SOCKET_NAME = '__metrics';
/** Where the sink listens (every interface, as MOSN's): the config's address check knows it too. */
export const METRICS_SINK_HOST = PROMETHEUS_SINK_HOST;

/** A socket handed to the next generation beside the proxy listeners. */
export interface ExtraSocket {
  name: string;
  host: string;
  port: number;
  fd: number;
}

/** A process of this generation, listed for the next one (shown while it drains). */
export interface GenerationProcess {
  role: 'master' | 'worker';
  id: number;
  pid: number;
}

export interface ObservabilityOptions {
  log: Logger;
  generation: number;
  /** Graceful stop (admin /quitquitquit). */
  quit: () => void;
  /** The master's active health checker, once there is one (/clusters, host health gauge). */
  health?: () => HealthChecker | null;
  /** The xDS client, when the config has dynamic_resources (/config_dump, control-plane metrics). */
  xds?: () => { configDump(): unknown[]; metrics(): MetricJson[] } | null;
}

function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

export class Observability {
  readonly collector: MetricsCollector;
  readonly admin: HttpEndpoint;
  readonly sink: HttpEndpoint;
  private supervisor: Supervisor | null = null;
  private healthFailed = false;
  /** Set by the admin API; re-applied to every worker that starts. Cleared by a reload. */
  private levelOverride: LogLevel | null = null;
  private upgrades = { ok: 0, failed: 0 };
  private lastHandoverSeconds = 0;
  private older: { generation: number; processes: GenerationProcess[]; since: number; figures: () => Promise<ProcessInfo[]> } | null = null;

  constructor(private readonly opts: ObservabilityOptions) {
    this.collector = new MetricsCollector({ masterMetrics: () => this.masterMetrics() });
    this.admin = new HttpEndpoint(ADMIN_SOCKET_NAME, adminHandler(this.backend(), opts.log));
    this.sink = new HttpEndpoint(METRICS_SOCKET_NAME, sinkHandler(() => this.collector.scrape(), opts.log));
  }

  private get log(): Logger {
    return this.opts.log;
  }

  /** Follows every worker the supervisor starts (metrics, log level). */
  attach(supervisor: Supervisor): void {
    this.supervisor = supervisor;
    supervisor.onWorkerSpawned = (w: WorkerProcess) => {
      this.collector.attach(w);
      w.once('ready', () => {
        if (this.levelOverride) w.send({ t: 'log-level', level: this.levelOverride });
      });
    };
    this.collector.start();
  }

  // ---------------------------------------------------------------- servers

  /**
   * Serves the admin API and the metrics sink the config asks for: on a socket received
   * from the previous generation when its address is the configured one, else bound here.
   * Received sockets that are not used are closed.
   */
  async startServers(config: MosndConfig, inherited: Map<string, ExtraSocket> = new Map()): Promise<void> {
    const use = async (ep: HttpEndpoint, want: { host: string; port: number } | undefined, what: string): Promise<void> => {
      const got = inherited.get(ep.name);
      inherited.delete(ep.name);
      if (!want) {
        if (got) closeFd(got.fd);
        return;
      }
      if (got && got.host === want.host && (want.port === 0 || got.port === want.port)) await ep.adopt(got.fd);
      else {
        if (got) closeFd(got.fd);
        await ep.listen(want.host, want.port);
      }
      this.log.info({ listener: ep.name, address: ep.describe() }, `${what} listening on ${ep.describe()}`);
    };
    await use(this.admin, config.admin, 'admin API');
    await use(this.sink, config.prometheusPort !== undefined ? { host: METRICS_SINK_HOST, port: config.prometheusPort } : undefined, 'metrics sink');
    for (const s of inherited.values()) closeFd(s.fd);
  }

  /** Upgrade committed: the new generation serves these sockets now. */
  suspendServers(): void {
    this.admin.suspend();
    this.sink.suspend();
  }

  /** The new generation died after commit: serve them here again. */
  async resumeServers(): Promise<void> {
    await this.admin.resume();
    await this.sink.resume();
  }

  async close(): Promise<void> {
    this.collector.stop();
    await Promise.all([this.admin.close(), this.sink.close()]);
  }

  // ---------------------------------------------------------------- upgrade

  /** What the next generation receives with the listeners. */
  async handoverExtras(): Promise<{ sockets: ExtraSocket[]; counters: string; processes: GenerationProcess[] }> {
    const sockets: ExtraSocket[] = [];
    for (const ep of [this.admin, this.sink]) {
      const fd = ep.fd();
      const a = ep.address;
      if (fd !== undefined && a) sockets.push({ name: ep.name, host: a.host, port: a.port, fd });
    }
    const processes: GenerationProcess[] = [{ role: 'master', id: 0, pid: process.pid }];
    for (const s of this.supervisor?.slots ?? []) {
      if (s.worker && s.worker.state !== 'exited') processes.push({ role: 'worker', id: s.id + 1, pid: s.worker.pid });
    }
    return { sockets, counters: await this.finalCounters(), processes };
  }

  /** This generation's totals (counters and histograms), encoded for the handover. */
  async finalCounters(): Promise<string> {
    const carry = await this.collector.carry();
    const text = encodeCarry(carry);
    if (!text && carry.length > 0) this.log.warn('the metrics totals are too large to hand over; the next generation starts its counters at zero');
    return text;
  }

  /** New generation: the older generations' totals become this one's base. */
  adoptCounters(text: string | undefined): void {
    const snapshot = text ? decodeCarry(text) : undefined;
    if (text && !snapshot) this.log.warn('the previous generation sent unreadable metrics totals; ignored');
    if (snapshot) this.collector.setBase(snapshot);
  }

  /** New generation: list the older one's processes in `mosnd status` while they live;
   *  `figures` asks their own master what they hold (draining-control.ts). */
  setOlderGeneration(generation: number, processes: GenerationProcess[], figures: () => Promise<ProcessInfo[]> = async () => []): void {
    this.older = { generation, processes, since: Date.now(), figures };
  }

  /** The older generation reported `done`: its workers are gone and its master exits (or
   *  stays as a container's keeper, which is not draining anything). */
  olderGenerationDone(): void {
    this.older = null;
  }

  recordUpgrade(result: 'ok' | 'failed'): void {
    this.upgrades[result]++;
  }

  recordHandover(seconds: number): void {
    this.lastHandoverSeconds = seconds;
  }

  /** Rows for the older generation's processes that still run (state `draining`), with the
   *  connections and requests their master reports (0 when it does not answer). */
  async olderProcesses(): Promise<ProcessInfo[]> {
    const o = this.older;
    if (!o) return [];
    const alive = o.processes.filter((p) => isRunning(p.pid));
    if (alive.length === 0) {
      this.older = null;
      return [];
    }
    const now = Date.now();
    const reported = o.figures().then((rows) => new Map(rows.map((r) => [r.pid, r])));
    return Promise.all(
      alive.map(async (p) => {
        const u = await pidusage()(p.pid).catch(() => undefined);
        const r = (await reported).get(p.pid);
        return {
          role: p.role,
          workerId: p.id,
          generation: o.generation,
          pid: p.pid,
          state: 'draining',
          uptimeMs: u ? u.elapsed : now - o.since,
          restarts: 0,
          cpu: u?.cpu ?? 0,
          memory: u?.memory ?? 0,
          connections: r?.connections ?? 0,
          h2Sessions: r?.h2Sessions ?? 0,
          h2Streams: r?.h2Streams ?? 0,
          requestsTotal: r?.requestsTotal ?? 0,
          rps: r?.rps ?? 0,
          liveness: null, // another master's workers: it watches them, not this one
        } satisfies ProcessInfo;
      }),
    );
  }

  // ---------------------------------------------------------------- logs

  setLogLevel(level: LogLevel): void {
    this.levelOverride = level;
    this.log.level = level;
    for (const w of this.supervisor?.workers() ?? []) w.send({ t: 'log-level', level });
  }

  /** A reload applies the config's level everywhere (the workers do it themselves). */
  reloaded(config: MosndConfig): void {
    this.levelOverride = null;
    this.log.level = config.logLevel;
    const moved = (ep: HttpEndpoint, want: { host: string; port: number } | undefined): boolean => {
      const a = ep.address;
      if (!ep.serving || !a) return want !== undefined;
      return !want || want.host !== a.host || (want.port !== 0 && want.port !== a.port);
    };
    const sinkWant = config.prometheusPort !== undefined ? { host: METRICS_SINK_HOST, port: config.prometheusPort } : undefined;
    if (moved(this.admin, config.admin) || moved(this.sink, sinkWant)) {
      this.log.warn('the admin or metrics address changed: a reload keeps the running ones; the change applies at the next start or upgrade');
    }
  }

  /** SIGUSR1: reopen the master's log file and tell every worker to reopen theirs. */
  reopenLogs(): void {
    if (!reopenLogFile(this.log)) this.log.error('cannot reopen the log file; still writing to the old one');
    for (const w of this.supervisor?.workers() ?? []) w.send({ t: 'reopen-logs' });
    this.log.info('log files reopened');
  }

  // ---------------------------------------------------------------- admin backend

  readiness(): Readiness {
    const sup = this.supervisor;
    if (!sup) return { ready: false, state: 'PRE_INITIALIZING', reason: 'the master is starting' };
    if (sup.state !== 'serving' && sup.state !== 'reloading') {
      return { ready: false, state: sup.state === 'starting' ? 'PRE_INITIALIZING' : 'DRAINING', reason: `the master is ${sup.state}` };
    }
    if (this.healthFailed) return { ready: false, state: 'DRAINING', reason: 'the health check was set to fail (POST /healthcheck/ok to undo)' };
    if (sup.listeners.size === 0) return { ready: false, state: 'DRAINING', reason: 'the listeners were drained' };
    const notReady = sup.slots.filter((s) => s.failed || !s.worker || s.worker.state !== 'ready');
    if (notReady.length > 0) {
      return { ready: false, state: 'INITIALIZING', reason: `worker ${notReady.map((s) => s.id + 1).join(', ')} not ready` };
    }
    return { ready: true };
  }

  private backend(): AdminBackend {
    const sup = (): Supervisor => {
      if (!this.supervisor) throw new Error('the master is not serving yet');
      return this.supervisor;
    };
    return {
      version: VERSION,
      serverInfo: () => {
        const s = sup();
        const r = this.readiness();
        const uptime = Math.floor((Date.now() - s.startedAt) / 1000);
        return {
          version: VERSION,
          generation: s.generation,
          state: r.ready ? 'LIVE' : r.state,
          master_state: s.state,
          uptime_current_epoch: `${uptime}s`,
          uptime_seconds: uptime,
          pid: process.pid,
          workers: s.slots.length,
          config: s.config.source,
          node: process.version,
        };
      },
      readiness: () => this.readiness(),
      mosnState: () => {
        const st = sup().state;
        return st === 'serving' || st === 'reloading' ? 'Running' : st === 'starting' ? 'Starting' : st === 'handing-over' ? 'Upgrading' : st === 'stopping' ? 'Stopping' : 'Stopped';
      },
      scrape: () => this.collector.scrape(),
      snapshot: () => this.collector.snapshot(),
      listeners: (): ListenerInfo[] => sup().listenerSummaries().map((l) => ({ ...l, protocol: l.protocol === 'tcp' ? 'tcp' : 'http' })),
      config: () => sup().config,
      dynamicConfig: () => this.opts.xds?.()?.configDump(),
      hostHealth: (cluster, address) => this.opts.health?.()?.hostHealth(cluster, address),
      generation: () => sup().generation,
      logLevel: () => this.log.level as LogLevel,
      setLogLevel: (level) => this.setLogLevel(level),
      setHealthFailed: (failed) => {
        this.healthFailed = failed;
      },
      drainListeners: async () => sup().drainListeners(),
      bindListener: (name: string) => sup().bindLater(name),
      quit: () => this.opts.quit(),
    };
  }

  /** The master's own series: process-level, so they may carry `worker` and `generation`. */
  private masterMetrics(): MetricsSnapshot {
    const sup = this.supervisor;
    const m = (name: string, type: MetricJson['type'], help: string, values: MetricJson['values']): MetricJson => ({
      name,
      help,
      type,
      values,
      aggregator: 'sum',
    });
    const gen = sup?.generation ?? this.opts.generation;
    return [
      m('mosnd_generation', 'gauge', 'Generation of the serving master (1 at start, +1 per upgrade)', [{ labels: {}, value: gen }]),
      m('mosnd_workers_ready', 'gauge', 'Workers ready and serving', [
        { labels: { generation: gen }, value: sup ? sup.slots.filter((s) => s.worker?.state === 'ready').length : 0 },
      ]),
      m(
        'mosnd_worker_restarts_total',
        'counter',
        'Worker processes restarted after an unexpected exit, per worker position',
        (sup?.slots ?? []).map((s) => ({ labels: { worker: String(s.id + 1) }, value: s.restarts })),
      ),
      m(
        'mosnd_worker_watchdog_kills_total',
        'counter',
        'Workers killed by the watchdog after not answering its heartbeat for the kill threshold, per worker position',
        (sup?.slots ?? []).map((s) => ({ labels: { worker: String(s.id + 1) }, value: s.watchdogKills })),
      ),
      m(
        'mosnd_worker_event_loop_delay_seconds',
        'gauge',
        'Event-loop delay of each ready worker since its previous watchdog answer (p99 and max), per worker position',
        (sup?.slots ?? []).flatMap((s) => {
          const d = s.worker?.state === 'ready' ? s.worker.loopDelay : undefined;
          if (!d) return [];
          const worker = String(s.id + 1);
          return [
            { labels: { worker, quantile: '0.99' }, value: d.p99Ms / 1000 },
            { labels: { worker, quantile: '1' }, value: d.maxMs / 1000 },
          ];
        }),
      ),
      tlsCertExpiry(sup?.config),
      m('mosnd_upgrades_total', 'counter', 'Upgrades (mosnd upgrade, SIGUSR2) by result', [
        { labels: { result: 'ok' }, value: this.upgrades.ok },
        { labels: { result: 'failed' }, value: this.upgrades.failed },
      ]),
      m('mosnd_upgrade_last_handover_seconds', 'gauge', 'Duration of the last handover, from commit until the old generation exited', [
        { labels: {}, value: this.lastHandoverSeconds },
      ]),
      m(
        'mosnd_upstream_host_healthy',
        'gauge',
        'Whether the master\'s active health check sees the host as healthy (1) or not (0); hosts without a health check count as healthy',
        (sup?.config.clusters ?? []).flatMap((c) =>
          c.hosts.map((h) => ({
            labels: { cluster: c.name, host: h.address },
            value: this.opts.health?.()?.hostHealth(c.name, h.address)?.healthy === false ? 0 : 1,
          })),
        ),
      ),
      ...(this.opts.xds?.()?.metrics() ?? []),
    ];
  }
}

function closeFd(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed */
  }
}
