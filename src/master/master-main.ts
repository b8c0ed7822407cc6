/**
 * The master process: loads the config, claims the run dir, starts the supervisor, serves
 * the control API, handles signals, and cleans up (pidfile, socket) when it stops.
 */
import pidusage from 'pidusage';
import { loadConfigOrThrow, formatIssue } from '../shared/config/load';
import type { MosndConfig } from '../shared/config/model';
import { MosndError } from '../shared/errors';
import { createLogger, Logger } from '../shared/logger';
import type { ProcessInfo, ReloadReply, StatusReply } from '../shared/control-types';
import { startControlServer, ControlServer } from './control-server';
import { Supervisor, assertUsableConfig } from './supervisor';
import { claimRunDir, controlSocketPath, ensureRunDir, pidfilePath, removePidfile, resolveRunDir, writePidfile } from './rundir';
import { VERSION } from './version';

export interface MasterOptions {
  configPath: string;
  workers?: number;
  runDir?: string;
  generation?: number;
  /** Called with one line for each config warning, before anything starts. */
  onWarning?: (line: string) => void;
}

export function loadOrThrow(path: string): { config: MosndConfig; warnings: string[] } {
  // Throws with the catalogue code of the failure: READ, JSON or INVALID.
  const r = loadConfigOrThrow(path);
  assertUsableConfig(r.config);
  return { config: r.config, warnings: r.warnings.map(formatIssue) };
}

export class Master {
  private supervisor!: Supervisor;
  private control: ControlServer | null = null;
  private log!: Logger;
  private pidfile = '';
  private runDir = '';
  private configPath: string;
  private readonly rpsSamples = new Map<number, { at: number; total: number }>();
  private exitResolve: ((code: number) => void) | null = null;

  constructor(private readonly opts: MasterOptions) {
    this.configPath = opts.configPath;
  }

  /** Starts serving; resolves with the exit code when the master has stopped. */
  async run(): Promise<number> {
    const { config, warnings } = loadOrThrow(this.configPath);
    const generation = this.opts.generation ?? 1;
    this.log = createLogger({ path: config.logPath, level: config.logLevel, generation, worker: 'master' });
    for (const w of warnings) {
      this.opts.onWarning?.(w);
      this.log.warn(`config: ${w}`);
    }
    this.runDir = resolveRunDir(this.opts.runDir, config.udsDir);
    ensureRunDir(this.runDir);
    this.pidfile = pidfilePath(this.runDir, config.pidFile);
    claimRunDir(this.runDir, this.pidfile);

    const workers = this.opts.workers ?? Supervisor.defaultWorkerCount();
    this.supervisor = new Supervisor(config, { workers, generation, log: this.log });
    const done = new Promise<number>((resolve) => (this.exitResolve = resolve));
    this.installSignals();
    await this.supervisor.start();
    writePidfile(this.pidfile, process.pid);
    this.control = await startControlServer(controlSocketPath(this.runDir), {
      status: () => this.status(),
      stop: async (fast) => {
        setImmediate(() => void this.stop(fast));
        return { accepted: true, message: fast ? 'fast stop started' : 'graceful stop started' };
      },
      reload: (p) => this.reload(p),
      upgrade: async () => {
        throw new MosndError('MOSND_ERR_UPGRADE_BINARY', 'upgrade is not available in this version');
      },
    });
    this.log.info(
      { version: VERSION, workers, runDir: this.runDir, config: config.source },
      `mosnd ${VERSION} serving with ${workers} worker${workers === 1 ? '' : 's'} (run dir ${this.runDir})`,
    );
    return done;
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
      this.log.info('reopening log files');
    });
    process.on('SIGUSR2', () => {
      this.log.warn('upgrade (SIGUSR2) is not available in this version');
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
    this.log.info({ config: file }, 'reloading');
    const r = await this.supervisor.reload(loaded.config);
    if (r.ok) {
      this.configPath = file;
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
    if (this.supervisor.state === 'starting') process.exit(1);
    await this.supervisor.stop(fast);
    if (this.control) await this.control.close();
    removePidfile(this.pidfile, process.pid);
    this.log.info('stopped');
    this.exitResolve?.(0);
  }

  async status(): Promise<StatusReply> {
    const sup = this.supervisor;
    const now = Date.now();
    const workers = sup.workers();
    const pids = [process.pid, ...workers.map((w) => w.pid)];
    const usage: Record<string, { cpu: number; memory: number } | undefined> = await pidusage(pids).catch(() => ({}));
    const stats = await Promise.all(workers.map((w) => w.stats()));
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
        requestsTotal: 0,
        rps: 0,
      },
    ];
    for (const slot of sup.slots) {
      const w = slot.worker;
      const i = w ? workers.indexOf(w) : -1;
      const st = i >= 0 ? stats[i] : undefined;
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
        state: slot.failed ? 'failed' : w ? w.state : 'restarting',
        uptimeMs: w ? now - w.startedAt : 0,
        restarts: slot.restarts,
        cpu: w ? (usage[w.pid]?.cpu ?? 0) : 0,
        memory: w ? (usage[w.pid]?.memory ?? st?.rss ?? 0) : 0,
        connections: st?.connections ?? 0,
        requestsTotal: total,
        rps: Math.max(0, rps),
      });
    }
    return {
      version: VERSION,
      generation: sup.generation,
      masterPid: process.pid,
      state: sup.state,
      startedAt: sup.startedAt,
      configSource: sup.config.source,
      processes,
      listeners: sup.listenerSummaries().map((l) => ({ ...l, protocol: l.protocol === 'tcp' ? 'tcp' : 'http' })),
      lastUpgrade: { result: 'none', atMs: 0, message: '', fromGeneration: 0, toGeneration: 0 },
    };
  }
}
