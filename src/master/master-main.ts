/**
 * The master process: loads the config, claims the run dir, starts the supervisor, serves
 * the control API, handles signals, and cleans up (pidfile, socket) when it stops.
 */
import type PidUsage from 'pidusage';
import { loadConfigOrThrow, formatIssue } from '../shared/config/load';
import type { MosndConfig } from '../shared/config/model';
import { MosndError } from '../shared/errors';
import { createLogger, Logger } from '../shared/logger';
import type { ProcessInfo, ReloadReply, StatusReply, UpgradeEvent, UpgradeRequest } from '../shared/control-types';
import { startControlServer, ControlServer } from './control-server';
import { Supervisor, assertUsableConfig } from './supervisor';
import { claimRunDir, controlSocketPath, ensureRunDir, extraPidfilePath, pidfilePath, removePidfile, resolveRunDir, writePidfile } from './rundir';
import { INSTALL_DIR, VERSION } from './version';
import { UpgradeCoordinator } from './upgrade-old';
import { sdNotify } from './sd-notify';
import { keeperWanted, runKeeper } from './keeper';
import { UpgradeJoin } from './upgrade-new';
import { askDrainingMaster, removeStaleDrainingSocket, serveWhileDraining } from './draining-control';
import { Observability } from './admin/observability';
import { HealthChecker } from './health/checker';
import { DnsClusters } from './health/dns';
import { WATCHDOG_KILL_ENV, watchdogTimingsFromEnv } from './watchdog';
import type { WorkerProcess } from './worker-process';
import * as path from 'node:path';
import { newTicketKeys, startTicketRotation, ticketRotateMs } from './tls-keys';
import { UPGRADE_FINAL_EVENT_FLUSH_MS, WATCHDOG_INTERVAL_MS, WATCHDOG_WARN_MS } from '../shared/constants';
import { lazy } from '../shared/lazy';
import type { XdsManager } from './xds/manager';
import { nodeOverrides, readDocument, snapshotPath, startXds, writeSnapshot } from './xds/start';

/** Process sampling is loaded on the first status or stats request (see src/shared/lazy.ts). */
const pidusage = lazy(() => require('pidusage') as typeof PidUsage);

export interface MasterOptions {
  configPath: string;
  workers?: number;
  runDir?: string;
  generation?: number;
  /** Upgrade: join the old generation through this socket instead of starting afresh. */
  upgradeFrom?: string;
  /** Called with one line for each config warning, before anything starts. */
  onWarning?: (line: string) => void;
}

export function loadOrThrow(path: string): { config: MosndConfig; warnings: string[] } {
  // Throws with the catalogue code of the failure: READ, JSON or INVALID.
  const r = loadConfigOrThrow(path);
  assertUsableConfig(r.config);
  return { config: r.config, warnings: r.warnings.map(formatIssue) };
}

/** A worker `status` did not ask for its figures (see Master.status). */
const NOT_ASKED = null;
/** Unanswered watchdog pings in a row at which the watchdog warns (3; scaled timings keep
 *  the ratio): `status` then takes the worker for wedged without asking it. */
const SILENT_PINGS = Math.ceil(WATCHDOG_WARN_MS / WATCHDOG_INTERVAL_MS);

export class Master {
  private supervisor!: Supervisor;
  private control: ControlServer | null = null;
  /** New generation: removes what a killed old master left in the run dir. */
  private cleanUpOlder: (() => void) | null = null;
  /** Old generation after commit: Status for the new master (draining-control.ts). */
  private drainingControl: Promise<ControlServer | null> | null = null;
  private log!: Logger;
  /** The run dir's pidfile (its lock; rundir.ts). */
  private pidfile = '';
  /** The config's `pid` file, when it is another path: a copy of the pid for other tools. */
  private extraPidfile: string | undefined;
  private runDir = '';
  private configPath: string;
  private readonly rpsSamples = new Map<number, { at: number; total: number }>();
  private exitResolve: ((code: number) => void) | null = null;

  constructor(private readonly opts: MasterOptions) {
    this.configPath = opts.configPath;
  }

  private upgrade: UpgradeCoordinator | null = null;
  /** TLS session ticket keys (48 random bytes, base64) shared by every worker; an upgrade hands
   *  them to the next generation so clients resume their sessions across it. */
  private tlsTicketKeys = newTicketKeys();
  private stopTicketRotation: () => void = () => {};
  /** Metrics, admin API, metrics sink, run-time log level. */
  private obs!: Observability;
  /** Active health checks of the upstream hosts: one probe stream per host for all workers. */
  private health: HealthChecker | null = null;
  /** Resolution of STRICT_DNS / LOGICAL_DNS clusters (src/master/health/dns.ts). */
  private dns: DnsClusters | null = null;
  private workerCount = 1;
  private lastUpgrade: StatusReply['lastUpgrade'] = { result: 'none', atMs: 0, message: '', fromGeneration: 0, toGeneration: 0 };
  /** The xDS client of this generation, when the config has dynamic_resources (src/master/xds/). */
  private xds: XdsManager | null = null;

  /** Starts serving; resolves with the exit code when the master has stopped. */
  async run(): Promise<number> {
    if (this.opts.upgradeFrom) return this.runUpgraded(this.opts.upgradeFrom);
    const loaded = loadOrThrow(this.configPath);
    const { warnings } = loaded;
    let config = loaded.config;
    const generation = this.opts.generation ?? 1;
    this.log = createLogger({ path: config.logPath, level: config.logLevel, generation, worker: 'master' });
    for (const w of warnings) {
      this.opts.onWarning?.(w);
      this.log.warn(`config: ${w}`);
    }
    this.runDir = resolveRunDir(this.opts.runDir, config.udsDir);
    ensureRunDir(this.runDir);
    this.pidfile = pidfilePath(this.runDir);
    this.extraPidfile = extraPidfilePath(this.runDir, config.pidFile);
    // Writes the pidfile now, before binding or spawning: a second start racing this one is refused.
    claimRunDir(this.runDir, this.pidfile);
    if (this.extraPidfile) {
      try {
        writePidfile(this.extraPidfile, process.pid);
      } catch (e) {
        removePidfile(this.pidfile, process.pid);
        throw new MosndError('MOSND_ERR_RUNDIR', `cannot write the pid file ${this.extraPidfile} (config "pid"): ${(e as Error).message}`);
      }
    }

    const done = new Promise<number>((resolve) => (this.exitResolve = resolve));
    this.installSignals();
    let workers = 0;
    try {
      config = await this.dynamicConfig(config);
      workers = this.createRuntime(config, generation);
      await this.warmUpstreams();
      await this.supervisor.start();
      this.xds?.attach((c) => this.applyDynamic(c), config);
      this.watchUpstreams();
      await this.obs.startServers(config);
    } catch (e) {
      this.xds?.stop();
      this.stopUpstreamWatch();
      await this.obs?.close();
      if (this.supervisor?.state === 'serving') await this.supervisor.stop(true);
      this.removePidfiles();
      throw e;
    }
    await this.startControl();
    sdNotify(this.log, { READY: 1, MAINPID: process.pid, STATUS: `serving generation ${generation} with ${workers} workers` });
    this.log.info(
      { version: VERSION, workers, runDir: this.runDir, config: config.source },
      `mosnd ${VERSION} serving with ${workers} worker${workers === 1 ? '' : 's'} (run dir ${this.runDir})`,
    );
    return done;
  }

  /** The supervisor, observability and health checker of this generation; returns the worker count. */
  private createRuntime(config: MosndConfig, generation: number): number {
    const workers = this.opts.workers ?? Supervisor.defaultWorkerCount();
    this.workerCount = workers;
    const watchdog = watchdogTimingsFromEnv();
    if (watchdog.problem) this.log.warn(watchdog.problem);
    if (!watchdog.timings) this.log.warn(`the worker watchdog is off (${WATCHDOG_KILL_ENV}=0): a wedged worker keeps its slot`);
    this.supervisor = new Supervisor(config, { workers, generation, log: this.log, watchdog: watchdog.timings });
    this.supervisor.tlsTicketKeys = this.tlsTicketKeys;
    const rotation = ticketRotateMs();
    if (rotation.problem) this.log.warn(rotation.problem);
    this.stopTicketRotation = startTicketRotation(rotation.ms, (keys) => {
      this.tlsTicketKeys = keys;
      this.supervisor.setTlsTicketKeys(keys);
      this.log.info({ everyMs: rotation.ms }, 'TLS session ticket keys rotated');
    });
    this.obs = new Observability({ log: this.log, generation, quit: () => void this.stop(false), health: () => this.health, xds: () => this.xds });
    this.createHealthChecker();
    this.obs.attach(this.supervisor);
    return workers;
  }

  /**
   * Upgrade start: receive the sockets from the old generation, start the workers holding
   * them (not accepting), report ready, and take over at commit.
   */
  private async runUpgraded(sockPath: string): Promise<number> {
    const join = await UpgradeJoin.connect(sockPath, VERSION);
    let loaded: { config: MosndConfig; warnings: string[] };
    try {
      loaded = loadOrThrow(this.configPath);
    } catch (e) {
      const err = e as MosndError;
      await join.abort(err.message, err.details ?? []);
      throw e;
    }
    const { warnings } = loaded;
    let config = loaded.config;
    const generation = join.generation;
    if (join.tlsTicketKeys !== '') this.tlsTicketKeys = join.tlsTicketKeys;
    this.log = createLogger({ path: config.logPath, level: config.logLevel, generation, worker: 'master' });
    for (const w of warnings) this.log.warn(`config: ${w}`);
    try {
      // The new generation subscribes and has the dynamic config before it takes anything over.
      this.runDir = resolveRunDir(this.opts.runDir, config.udsDir);
      config = await this.dynamicConfig(config, snapshotPath(this.runDir, generation));
    } catch (e) {
      const err = e as MosndError;
      await join.abort(err.message, err.details ?? []);
      throw e;
    }
    this.runDir = resolveRunDir(this.opts.runDir, config.udsDir);
    this.pidfile = pidfilePath(this.runDir);
    this.extraPidfile = extraPidfilePath(this.runDir, config.pidFile);
    const workers = this.createRuntime(config, generation);
    this.obs.adoptCounters(join.counters);
    const done = new Promise<number>((resolve) => (this.exitResolve = resolve));
    try {
      const listeners = join.bindListeners(config);
      await this.warmUpstreams();
      await this.supervisor.start({
        listeners,
        transferPath: (id) => path.join(this.runDir, `xfer-${generation}-${id}.sock`),
      });
      // Checking from now on, the state is known when this generation starts accepting.
      this.watchUpstreams();
      this.xds?.attach((c) => this.applyDynamic(c), config);
    } catch (e) {
      const err = e as MosndError;
      await join.abort(err.message, err.details ?? []);
      throw e;
    }
    await join.ready(this.supervisor.transferPaths());
    const how = await join.waitCommit();
    // Commit: accept, then own the pidfile and the control socket.
    this.supervisor.acceptAll();
    this.installSignals();
    this.writePidfiles();
    await this.startControl();
    const committedAt = Date.now();
    this.obs.recordUpgrade('ok');
    this.obs.setOlderGeneration(join.oldGeneration, join.oldProcesses, () => askDrainingMaster(this.runDir, join.oldGeneration));
    await this.obs.startServers(config, new Map(join.reserved)).catch((err: Error) =>
      this.log.error({ err: err.message }, `admin API / metrics sink not served: ${err.message}`),
    );
    await join.serving();
    // Under systemd the service's main process is now this one (needs NotifyAccess=all).
    sdNotify(this.log, { MAINPID: process.pid, READY: 1, STATUS: `serving generation ${generation} with ${workers} workers` });
    this.log.info(
      { version: VERSION, workers, generation, from: join.oldGeneration, orphaned: how === 'orphaned' },
      `mosnd ${VERSION} serving with ${workers} worker${workers === 1 ? '' : 's'} as generation ${generation} (upgraded from ${join.oldGeneration})`,
    );
    this.lastUpgrade = {
      result: 'ok',
      atMs: Date.now(),
      message: 'the old generation is handing over its connections',
      fromGeneration: join.oldGeneration,
      toGeneration: generation,
    };
    const oldMaster = join.oldProcesses.find((p) => p.role === 'master')?.pid;
    this.cleanUpOlder = () => removeStaleDrainingSocket(this.runDir, join.oldGeneration, oldMaster);
    void join.waitDone().then((totals) => {
      this.cleanUpOlder?.();
      if (totals) {
        this.obs.adoptCounters(totals.counters);
        this.obs.recordHandover((Date.now() - committedAt) / 1000);
        this.obs.olderGenerationDone();
      }
      this.lastUpgrade = {
        result: 'ok',
        atMs: Date.now(),
        message: totals
          ? `${totals.moved} connections moved, ${totals.drained} finished in the old generation, ${totals.closed} closed`
          : 'the old generation exited without reporting',
        fromGeneration: join.oldGeneration,
        toGeneration: generation,
      };
    });
    return done;
  }

  private async startControl(): Promise<void> {
    this.control = await startControlServer(controlSocketPath(this.runDir), {
      status: () => this.status(),
      stop: async (fast) => {
        setImmediate(() => void this.stop(fast));
        // Says how long the drain may take, so that `mosnd stop` waits for this master's own
        // graceful_timeout (it may differ from the default, and a reload may have changed it).
        return {
          accepted: true,
          message: fast ? 'fast stop started' : 'graceful stop started',
          pid: process.pid,
          drainTimeoutMs: fast ? 0 : this.supervisor.config.gracefulTimeoutMs,
        };
      },
      reload: (p) => this.reload(p),
      upgrade: (req, emit) => this.runUpgrade(req, emit),
    }, (message, peer) => this.log.warn({ peerPid: peer.cred?.pid, peerUid: peer.cred?.uid }, message),
    (err) => this.log.error({ err: err.message }, 'the control API could not be loaded; the control connection was closed'));
  }

  private coordinator(): UpgradeCoordinator {
    if (this.upgrade?.busy) return this.upgrade; // its run() refuses a second upgrade
    this.upgrade = new UpgradeCoordinator({
      supervisor: this.supervisor,
      log: this.log,
      runDir: this.runDir,
      configPath: this.configPath,
      workers: this.workerCount,
      onCommitted: () => {
        // The new generation holds its own xDS stream now; ours would only NACK (nothing to apply to).
        this.xds?.pause();
        // The new master owns the pidfile and control socket now; ours must not be removed
        // on exit (removePidfile checks the pid; the control server checks the inode).
        // It serves the admin API and metrics sink from now on, on the sockets it received.
        this.obs.suspendServers();
        this.startDrainingControl();
      },
      handoverExtras: async () => ({ ...(await this.obs.handoverExtras()), tlsTicketKeys: this.tlsTicketKeys }),
      finalCounters: () => this.obs.finalCounters(),
      onResumed: async () => {
        this.xds?.resume();
        void this.closeDrainingControl();
        await this.obs.resumeServers().catch((err: Error) => this.log.error({ err: err.message }, 'cannot serve the admin API again'));
        this.writePidfiles();
        // Take the socket path back first. The old server still carries the Upgrade call
        // that reports this failure: awaiting its close here would wait for that call, cut
        // it after the grace period ("shutting down") and leave no control socket meanwhile.
        const previous = this.control;
        await this.startControl();
        void previous?.close();
      },
    });
    return this.upgrade;
  }

  /** Committed: the new master shows this generation's workers and asks us for their figures. */
  private startDrainingControl(): void {
    const generation = this.supervisor.generation;
    this.drainingControl = serveWhileDraining(this.runDir, generation, () => this.status()).catch((err: Error) => {
      this.log.warn({ err: err.message }, `mosnd status will show generation ${generation}'s workers without figures: ${err.message}`);
      return null;
    });
  }

  private async closeDrainingControl(): Promise<void> {
    const server = await this.drainingControl;
    this.drainingControl = null;
    await server?.close();
  }

  /** The Upgrade RPC (and SIGUSR2): on success this generation exits afterwards. */
  private async runUpgrade(req: UpgradeRequest, emit: (e: UpgradeEvent) => void): Promise<void> {
    const c = this.coordinator();
    if (this.xds && !c.busy) {
      // The next generation starts from what serves here, even if the control plane is down.
      try {
        writeSnapshot(this.xds, this.runDir, this.supervisor.generation + 1);
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, 'xDS: cannot leave the resources for the next generation; it waits for the control plane');
      }
    }
    let outcome;
    try {
      outcome = await c.run(req, emit);
    } catch (e) {
      const err = e as MosndError;
      // A refusal while another upgrade runs is no failed upgrade.
      if (err.code !== 'MOSND_ERR_UPGRADE_BUSY') this.obs.recordUpgrade('failed');
      if (err.code === 'MOSND_ERR_UPGRADE_BUSY') throw e; // refused: the running upgrade's result stands
      this.lastUpgrade = { result: 'failed', atMs: Date.now(), message: err.message, fromGeneration: this.supervisor.generation, toGeneration: this.supervisor.generation + 1 };
      throw e;
    }
    // The phase tells the CLI whether to wait for this process to exit (a keeper stays).
    const keeper = keeperWanted();
    emit({
      phase: keeper ? 'done-keeper' : 'done',
      message: `${outcome.message}; generation ${outcome.fromGeneration} ${keeper ? 'stays as the container keeper' : 'exits'}`,
      done: true,
      ok: true,
      atMs: Date.now(),
      generation: outcome.toGeneration,
    });
    // Let the final event reach the client, then leave.
    setTimeout(() => void this.exitAfterUpgrade(), UPGRADE_FINAL_EVENT_FLUSH_MS);
  }

  /** The checker's changes go to every worker; a worker started later gets the unhealthy set. */
  private createHealthChecker(): void {
    const health = new HealthChecker({
      log: this.log,
      onChange: (cluster, address, healthy) => this.supervisor.setHostHealth(cluster, address, healthy),
    });
    this.health = health;
    this.supervisor.unhealthyHosts = () => health.unhealthyHosts();
    // A DNS cluster's new host set goes to the serving config and every worker, and is
    // health-checked by its resolved addresses (the workers know hosts by those).
    this.dns = new DnsClusters({
      log: this.log,
      onChange: (cluster, hosts) => {
        this.supervisor.setClusterHosts(cluster, hosts);
        this.health?.update(this.supervisor.config.clusters);
      },
    });
  }

  /** Before the workers spawn: the first resolution of DNS clusters (bounded), so the workers
   *  start with their resolved hosts. */
  private async warmUpstreams(): Promise<void> {
    await this.dns?.update(this.supervisor.config.clusters);
  }

  /**
   * Health checks and DNS resolution follow the serving config's clusters. DNS first: a DNS
   * cluster kept by a reload gets its resolved hosts back at once, so the health checker keeps
   * checking those addresses instead of restarting on the names.
   */
  private watchUpstreams(): void {
    void this.dns?.update(this.supervisor.config.clusters);
    this.health?.update(this.supervisor.config.clusters);
  }

  /** Stops the master's background work: health checks, DNS, ticket key rotation. */
  private stopUpstreamWatch(): void {
    this.health?.stop();
    this.dns?.stop();
    this.stopTicketRotation();
  }

  private async exitAfterUpgrade(): Promise<void> {
    // Checked until now: the old workers still pick hosts for what they finish.
    this.stopUpstreamWatch();
    this.xds?.stop();
    if (this.control) await this.control.close();
    await this.closeDrainingControl();
    await this.obs.close();
    this.supervisor.state = 'stopped';
    this.closeListenersAfterUpgrade();
    this.removePidfiles();
    if (keeperWanted()) {
      // PID 1 of a container: exiting would end the container with the new generation in it.
      const code = await runKeeper(this.pidfile, this.upgrade?.spawnedPids ?? new Set(), this.log);
      this.exitResolve?.(code);
      return;
    }
    this.log.info('handed over to the new generation; exiting');
    this.exitResolve?.(0);
  }

  /** This master serves: the run dir's pidfile and the config's `pid` file name it. */
  private writePidfiles(): void {
    writePidfile(this.pidfile, process.pid);
    if (!this.extraPidfile) return;
    try {
      writePidfile(this.extraPidfile, process.pid);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, `cannot write the pid file ${this.extraPidfile} (config "pid")`);
    }
  }

  /** Each file is removed only while it still names this process (a successor's stays). */
  private removePidfiles(): void {
    removePidfile(this.pidfile, process.pid);
    if (this.extraPidfile) removePidfile(this.extraPidfile, process.pid);
  }

  private closeListenersAfterUpgrade(): void {
    for (const l of this.supervisor.listeners.values()) l.handle.close();
  }

  private installSignals(): void {
    process.on('SIGTERM', () => void this.stop(false));
    process.on('SIGQUIT', () => void this.stop(false));
    process.on('SIGINT', () => void this.stop(true));
    process.on('SIGHUP', () => {
      void this.reload().then((r) => {
        if (!r.ok) this.log.error({ errors: r.errors }, 'reload rejected; the running config stays');
      });
    });
    process.on('SIGUSR1', () => {
      this.obs.reopenLogs();
    });
    process.on('SIGUSR2', () => {
      // Upgrade to the code of the running install itself (like nginx's USR2).
      void this.runUpgrade({ binaryDir: INSTALL_DIR, configPath: '', timeoutMs: 0 }, () => {}).catch((err: Error) =>
        this.log.error({ err: err.message }, 'upgrade (SIGUSR2) failed'),
      );
    });
  }

  async reload(path?: string): Promise<ReloadReply> {
    const file = path ?? this.configPath;
    let loaded: { config: MosndConfig; warnings: string[] };
    try {
      loaded = loadOrThrow(file);
    } catch (e) {
      const err = e as MosndError;
      this.log.error({ errors: err.details }, `reload rejected: ${err.message}`);
      return { ok: false, errors: err.details?.length ? err.details : [err.message], warnings: [], message: err.message };
    }
    if (this.xds) {
      // The new file with the dynamic resources of the moment, validated together.
      const r = await this.xds.reloadStatic(nodeOverrides(loaded.config), readDocument(file));
      if (!r.config) {
        this.log.error({ errors: r.errors }, 'reload rejected: the file does not fit with the dynamic resources');
        return { ok: false, errors: r.errors, warnings: loaded.warnings, message: 'reload rejected; the running configuration stays' };
      }
      loaded = { ...loaded, config: r.config };
    }
    this.log.info({ config: file }, 'reloading');
    sdNotify(this.log, { RELOADING: 1, MONOTONIC_USEC: String(process.hrtime.bigint() / 1000n), STATUS: 'reloading' });
    const r = await this.supervisor.reload(loaded.config);
    // The supervisor's config is the new one unless the reload was refused before any change.
    this.watchUpstreams();
    sdNotify(this.log, { READY: 1, STATUS: r.ok ? 'serving (reloaded)' : 'serving (reload rejected)' });
    if (r.ok) {
      this.configPath = file;
      this.obs.reloaded(loaded.config);
      this.log.info('reload applied');
    } else {
      this.log.error({ errors: r.errors }, 'reload failed');
    }
    return {
      ok: r.ok,
      errors: r.errors,
      warnings: loaded.warnings,
      message: r.ok ? 'configuration reloaded' : 'reload rejected; the running configuration stays',
    };
  }

  async stop(fast: boolean): Promise<void> {
    if (!this.supervisor || this.supervisor.state === 'stopped') return;
    if (this.supervisor.state === 'starting') {
      this.removePidfiles();
      process.exit(1);
    }
    sdNotify(this.log, { STOPPING: 1, STATUS: fast ? 'fast stop' : 'graceful stop' });
    this.xds?.stop();
    this.stopUpstreamWatch();
    await this.supervisor.stop(fast);
    await this.obs.close();
    if (this.control) await this.control.close();
    await this.closeDrainingControl();
    this.cleanUpOlder?.();
    this.removePidfiles();
    this.log.info('stopped');
    this.exitResolve?.(0);
  }

  async status(): Promise<StatusReply> {
    const sup = this.supervisor;
    const now = Date.now();
    const workers = sup.workers();
    const pids = [process.pid, ...workers.map((w) => w.pid)];
    // Sampled and asked at once: the reply waits for the slowest, at most WORKER_STATS_TIMEOUT_MS
    // for a worker that does not answer (listed as unresponsive). Not asked, so no wait: a
    // worker still starting (it has served nothing), and a ready one that left as many of the
    // watchdog's pings unanswered as the watchdog warns at (known wedged: unresponsive).
    const knownSilent = (w: WorkerProcess): boolean => w.state === 'ready' && w.unansweredPings >= SILENT_PINGS;
    const [usage, stats] = await Promise.all([
      pidusage()(pids).catch(() => ({})) as Promise<Record<string, { cpu: number; memory: number } | undefined>>,
      Promise.all(workers.map((w) => (w.state === 'spawning' ? NOT_ASKED : knownSilent(w) ? undefined : w.stats()))),
    ]);
    const processes: ProcessInfo[] = [
      {
        role: 'master',
        workerId: 0,
        generation: sup.generation,
        pid: process.pid,
        state: sup.state,
        uptimeMs: now - sup.startedAt,
        restarts: 0,
        cpu: usage[process.pid]?.cpu ?? 0,
        memory: usage[process.pid]?.memory ?? process.memoryUsage.rss(),
        connections: 0,
        h2Sessions: 0,
        h2Streams: 0,
        requestsTotal: 0,
        rps: 0,
        liveness: null,
      },
    ];
    for (const slot of sup.slots) {
      const w = slot.worker;
      const i = w ? workers.indexOf(w) : -1;
      const st = i >= 0 ? (stats[i] ?? undefined) : undefined;
      // Asked (or known silent), still there, and no answer in time.
      const silent = w !== null && i >= 0 && stats[i] === undefined && w.state !== 'exited';
      const total = st?.requestsTotal ?? 0;
      let rps = 0;
      if (w) {
        const prev = this.rpsSamples.get(w.pid);
        if (prev && now > prev.at) rps = ((total - prev.total) * 1000) / (now - prev.at);
        this.rpsSamples.set(w.pid, { at: now, total });
      }
      processes.push({
        role: 'worker',
        workerId: slot.id + 1,
        generation: sup.generation,
        pid: w?.pid ?? 0,
        state: slot.failed ? 'failed' : w ? (silent ? 'unresponsive' : w.state) : 'restarting',
        uptimeMs: w ? now - w.startedAt : 0,
        restarts: slot.restarts,
        cpu: w ? (usage[w.pid]?.cpu ?? 0) : 0,
        memory: w ? (usage[w.pid]?.memory ?? st?.rss ?? 0) : 0,
        connections: st?.connections ?? 0,
        h2Sessions: st?.h2Sessions ?? 0,
        h2Streams: st?.h2Streams ?? 0,
        requestsTotal: total,
        rps: Math.max(0, rps),
        liveness:
          w && w.loopDelay
            ? {
                heartbeatAgeMs: Math.max(0, Date.now() - w.lastPongAt),
                eventLoopDelayP99Ms: w.loopDelay.p99Ms,
                eventLoopDelayMaxMs: w.loopDelay.maxMs,
              }
            : null,
      });
    }
    processes.push(...(await this.obs.olderProcesses()));
    return {
      adminAddress: this.obs.admin.describe(),
      metricsAddress: this.obs.sink.describe(),
      version: VERSION,
      generation: sup.generation,
      masterPid: process.pid,
      state: sup.state,
      startedAt: sup.startedAt,
      configSource: sup.config.source,
      processes,
      listeners: sup.listenerSummaries().map((l) => ({ ...l, protocol: l.protocol === 'tcp' ? 'tcp' : 'http' })),
      lastUpgrade: this.lastUpgrade,
      ...(this.xds ? { controlPlane: this.xds.status() } : {}),
    };
  }

  /** With dynamic_resources: subscribe, wait for the first answers, serve what they give. */
  private async dynamicConfig(config: MosndConfig, snapshot?: string): Promise<MosndConfig> {
    if (!config.xds) return config;
    const r = await startXds(
      config,
      this.configPath,
      this.log,
      (c) => this.log[c ? 'info' : 'warn'](`xDS: control plane ${c ? 'connected' : 'disconnected'}`),
      snapshot,
    );
    this.xds = r.xds;
    return r.config;
  }

  /** An xDS update, validated: applied like a reload (listeners kept, connections untouched). */
  private async applyDynamic(config: MosndConfig): Promise<{ applied: boolean; errors: string[] }> {
    if (this.supervisor.state !== 'serving') return { applied: false, errors: [`cannot reload while ${this.supervisor.state}`] };
    const r = await this.supervisor.reload(config);
    const applied = this.supervisor.config === config;
    if (applied) {
      this.watchUpstreams();
      this.obs.reloaded(config);
    }
    return { applied, errors: r.errors };
  }
}
