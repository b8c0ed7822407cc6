/**
 * Worker process entry. Started by the master with an IPC channel; serves the listeners the
 * master hands it. Worker states: starting (waiting for config and listeners) → ready →
 * draining → exit. If the master disappears (IPC disconnect), the worker drains and exits so
 * no orphan keeps serving an old config.
 */
import { setTicketKeys } from './tls/ticket-keys';
import { createLogger, Logger, reopenLogFile } from '../shared/logger';
import type { MasterMessage, MasterToWorker, WorkerMessage, WorkerStats } from '../shared/ipc';
import { isMasterMessage } from '../shared/ipc';
import { ClusterManager } from './cluster/manager';
import { WorkerContext } from './context';
import { WorkerListeners } from './listeners';
import { buildRouteTables } from './runtime';
import * as path from 'node:path';
import { handOver, makeAdopter, resumeHere } from './handover';
import { handBack, returnSocketPath } from './orphan';
import { ConnectionReceiver } from '../transfer/conn-receiver';
import type { MosndConfig } from '../shared/config/model';
import { WorkerMetrics } from './metrics';
import { AccessLog } from './access-log';
import { LoopDelayMonitor } from './loop-delay';
import { OverloadManager } from './overload';

import { WORKER_EXIT_FLUSH_MS as EXIT_FLUSH_MS, WORKER_FINAL_METRICS_WAIT_MS as FINAL_METRICS_WAIT_MS } from '../shared/constants';
import { DEFAULT_GRACEFUL_TIMEOUT_MS } from '../shared/config/defaults';

type WorkerState = 'starting' | 'ready' | 'handing-over' | 'draining';

class Worker {
  private state: WorkerState = 'starting';
  private ctx: WorkerContext | null = null;
  private listeners: WorkerListeners | null = null;
  private expected = new Set<string>();
  private log: Logger | null = null;
  private config: MosndConfig | null = null;
  /** Listener handles that arrived before init (cannot happen with the master's ordering, kept safe). */
  private early: Array<{ name: string; handle: unknown }> = [];
  /** Host health states that arrived before init: a new worker's unhealthy hosts come first. */
  private earlyHealth: Array<MasterToWorker['hostHealth']> = [];
  private receiver: ConnectionReceiver | null = null;
  /** Old worker, upgrade rolled back: takes back what the orphaned new workers held (orphan.ts). */
  private returnReceiver: ConnectionReceiver | null = null;
  /** The run dir, learnt from a transfer path (ours, or the handover target's). */
  private runDir: string | null = null;
  private generation = 0;
  private workerId = 0;
  /** A reload acknowledged only once its new listeners are served. */
  private reloadAck: { seq: number; waiting: Set<string> } | null = null;
  private readonly metrics = new WorkerMetrics();
  private accessLog: AccessLog | null = null;
  private readonly loopDelay = new LoopDelayMonitor();
  private overload: OverloadManager | null = null;

  handle(msg: MasterMessage, handle: unknown): void {
    switch (msg.t) {
      case 'init':
        this.init(msg);
        return;
      case 'listener':
        if (!this.listeners) this.early.push({ name: msg.name, handle });
        else void this.adopt(msg.name, handle);
        return;
      case 'reload':
        this.reload(msg);
        return;
      case 'drain':
        this.drain(msg.deadlineMs);
        return;
      case 'stats':
        send({ t: 'stats', seq: msg.seq, stats: this.stats() });
        return;
      case 'ping':
        // Answered here, in the event loop: a loop that is wedged cannot, which is the point.
        send({ t: 'pong', seq: msg.seq, loopDelay: this.loopDelay.take() });
        return;
      case 'log-level':
        if (this.log) this.log.level = msg.level;
        return;
      case 'metrics':
        if (this.ctx) send({ t: 'metrics', seq: msg.seq, final: false, snapshot: this.metrics.snapshot(this.ctx) });
        return;
      case 'drain-listeners':
        this.listeners?.closeAll();
        return;
      case 'reopen-logs':
        this.reopenLogs();
        return;
      case 'tls-keys':
        setTicketKeys(Buffer.from(msg.keys, 'base64'));
        return;
      case 'host-health':
        if (this.ctx) this.ctx.clusters.setHostHealth(msg.cluster, msg.address, msg.healthy);
        else this.earlyHealth.push(msg);
        return;
      case 'cluster-hosts':
        // Before the init it cannot come (sent to running workers only); a worker started
        // later has the set in its init config.
        this.ctx?.clusters.setClusterHosts(msg.cluster, msg.hosts);
        return;
      case 'accept':
        void this.listeners?.startAccepting().catch((err: Error) => this.fatal(`cannot accept: ${err.message}`));
        return;
      case 'handover':
        void this.handover(msg.target, msg.deadlineMs);
        return;
      case 'resume':
        if (this.state === 'handing-over' && this.ctx) {
          this.state = 'ready';
          resumeHere(this.ctx);
          this.openReturnSocket();
        }
        return;
    }
  }

  private init(msg: MasterToWorker['init']): void {
    this.config = msg.config;
    this.generation = msg.generation;
    this.workerId = msg.workerId;
    if (msg.transferPath) this.runDir = path.dirname(msg.transferPath);
    this.log = createLogger({
      path: msg.config.logPath,
      level: msg.config.logLevel,
      generation: msg.generation,
      worker: msg.workerId,
    });
    const clusters = new ClusterManager(msg.config.clusters, (cluster, e) => {
      if (e.ejected) {
        this.log?.warn({ cluster, host: e.host, reason: e.reason, ejectionMs: e.durationMs }, `outlier detection ejected ${e.host} of cluster ${cluster} for ${e.durationMs} ms (${e.reason})`);
      } else {
        this.log?.info({ cluster, host: e.host }, `outlier detection: ${e.host} of cluster ${cluster} is back in service`);
      }
    });
    for (const h of this.earlyHealth.splice(0)) clusters.setHostHealth(h.cluster, h.address, h.healthy);
    const ctx = new WorkerContext(clusters, this.log);
    ctx.routers = buildRouteTables(msg.config);
    this.ctx = ctx;
    this.accessLog = new AccessLog(msg.generation, msg.workerId);
    process.on('exit', () => this.accessLog?.flushSync());
    this.observeRequests(msg.config);
    this.listeners = new WorkerListeners(ctx, msg.deferAccept);
    this.listeners.setConfigs(msg.config.listeners);
    this.overload = new OverloadManager(
      ctx,
      this.listeners,
      msg.config.overload,
      () => send({ t: 'want-listeners' }),
      () => this.state === 'ready',
    );
    this.overload.start();
    if (msg.transferPath) {
      this.receiver = new ConnectionReceiver(msg.transferPath, makeAdopter(ctx, this.listeners), (err) =>
        this.log?.warn({ err: err.message }, 'connection handover receive error'),
      );
    }
    this.expected = new Set(msg.listeners);
    for (const e of this.early.splice(0)) void this.adopt(e.name, e.handle);
    this.maybeReady();
  }

  private fatal(message: string): never {
    this.log?.error(message);
    send({ t: 'fatal', message });
    process.exit(1);
  }

  private async adopt(name: string, handle: unknown): Promise<void> {
    try {
      await this.listeners!.adopt(name, handle);
    } catch (err) {
      this.fatal(`cannot serve listener ${name}: ${(err as Error).message}`);
    }
    this.expected.delete(name);
    const pending = this.reloadAck;
    if (pending && pending.waiting.delete(name) && pending.waiting.size === 0) {
      this.reloadAck = null;
      send({ t: 'ack', seq: pending.seq, ok: true });
    }
    this.maybeReady();
  }

  private maybeReady(): void {
    if (this.state !== 'starting' || this.expected.size > 0) return;
    this.state = 'ready';
    this.log?.debug('worker ready');
    send({ t: 'ready', pid: process.pid });
  }

  private reload(msg: MasterToWorker['reload']): void {
    const ctx = this.ctx!;
    try {
      const routers = buildRouteTables(msg.config);
      this.metrics.remember(ctx); // the clusters this replaces keep their counts
      ctx.clusters.update(msg.config.clusters);
      ctx.routers = routers;
      this.listeners!.setConfigs(msg.config.listeners);
      const keep = new Set(msg.listeners);
      for (const name of this.listeners!.names()) if (!keep.has(name)) this.listeners!.close(name);
      // Still starting: a listener this reload removed is no longer waited for (the master
      // closed its socket; a handle still queued for us is lost).
      for (const name of [...this.expected]) if (!keep.has(name)) this.expected.delete(name);
      this.config = msg.config;
      this.overload?.setConfig(msg.config.overload);
      this.observeRequests(msg.config);
      if (this.log && this.log.level !== msg.config.logLevel) this.log.level = msg.config.logLevel;
      if (this.state === 'ready' && msg.added.length > 0) {
        // Acknowledge once the new listeners accept, so `mosnd reload` returning means served.
        this.reloadAck = { seq: msg.seq, waiting: new Set(msg.added) };
      } else {
        send({ t: 'ack', seq: msg.seq, ok: true });
      }
      this.maybeReady();
    } catch (err) {
      send({ t: 'ack', seq: msg.seq, ok: false, error: (err as Error).message });
    }
  }

  /** Old generation: move every connection to the new worker at `target`, then exit. */
  private async handover(target: string, deadlineMs: number): Promise<void> {
    const ctx = this.ctx;
    if (!ctx || this.state !== 'ready') return;
    this.state = 'handing-over';
    this.runDir = path.dirname(target);
    this.closeReturnSocket(); // a second upgrade after a rollback
    const r = await handOver(
      ctx,
      this.listeners!,
      target,
      deadlineMs,
      () => this.state === 'handing-over',
      (moved) => send({ t: 'handover-progress', moved }),
    );
    if (this.state !== 'handing-over') return; // resumed meanwhile
    send({ t: 'handover-done', ...r });
    this.state = 'draining';
    this.receiver?.close(); // removes its socket file: nothing moves to this worker any more
    ctx.clusters.close();
    setTimeout(() => this.exitWithFinalMetrics(), EXIT_FLUSH_MS).unref();
  }

  drain(deadlineMs: number): void {
    if (this.state === 'draining') {
      this.cutSooner?.(deadlineMs); // a fast stop during a graceful one: the sooner deadline wins
      return;
    }
    this.state = 'draining';
    const ctx = this.ctx;
    if (!ctx) process.exit(0);
    ctx.draining = true;
    this.listeners?.closeAll();
    this.receiver?.close(); // removes its socket file: nothing moves to a stopping worker
    this.closeReturnSocket();
    const finish = (): void => {
      ctx.clusters.close();
      setTimeout(() => this.exitWithFinalMetrics(), 0).unref();
    };
    ctx.onIdle = finish;
    for (const c of [...ctx.connections]) c.drain();
    if (ctx.connections.size === 0) {
      finish();
      return;
    }
    const cut = (): void => {
      this.log?.warn({ open: ctx.connections.size }, 'drain deadline reached; closing connections');
      for (const c of [...ctx.connections]) c.destroy();
      setTimeout(() => this.exitWithFinalMetrics(), EXIT_FLUSH_MS);
    };
    let due = Date.now() + deadlineMs;
    let timer = setTimeout(cut, deadlineMs);
    timer.unref();
    this.cutSooner = (ms) => {
      if (Date.now() + ms >= due) return;
      due = Date.now() + ms;
      clearTimeout(timer);
      timer = setTimeout(cut, ms);
      timer.unref();
    };
  }

  /** While draining: moves the deadline closer (a later drain with a shorter one). */
  private cutSooner: ((deadlineMs: number) => void) | null = null;

  /** logrotate moved the files away: write to new ones at the same paths. */
  reopenLogs(): void {
    if (this.log && !reopenLogFile(this.log)) this.log.error('cannot reopen the log file; still writing to the old one');
    this.accessLog?.reopen();
  }

  /** Every finished request feeds the metrics, and the access logs of its listener if any. */
  private observeRequests(config: MosndConfig): void {
    const ctx = this.ctx!;
    const metrics = this.metrics;
    const access = this.accessLog!;
    access.configure(config.listeners);
    ctx.onRequest = access.active
      ? (r) => {
          metrics.observe(r);
          access.write(r);
        }
      : (r) => metrics.observe(r);
  }

  /** Graceful exit (drain, handover): the last metrics snapshot reaches the master first. */
  private exitWithFinalMetrics(): void {
    const exit = (): never => process.exit(0);
    if (!this.ctx || !process.connected) exit();
    const timer = setTimeout(exit, FINAL_METRICS_WAIT_MS);
    process.send!({ t: 'metrics', seq: 0, final: true, snapshot: this.metrics.snapshot(this.ctx!) } satisfies WorkerMessage, () => {
      clearTimeout(timer);
      exit();
    });
  }

  private stats(): WorkerStats {
    const c = this.ctx?.counters;
    return {
      connections: c?.connectionsActive ?? 0,
      h2Sessions: c?.h2SessionsActive ?? 0,
      h2Streams: c?.h2StreamsActive ?? 0,
      requestsTotal: c?.requestsTotal ?? 0,
      rss: process.memoryUsage.rss(),
    };
  }

  crash(err: Error): never {
    this.log?.fatal({ err: { message: err.message, stack: err.stack } }, 'worker crashed');
    send({ t: 'fatal', message: `uncaught exception: ${err.message}` });
    process.exit(70); // EX_SOFTWARE
  }

  onTerm(): void {
    this.drain(this.config?.gracefulTimeoutMs ?? DEFAULT_GRACEFUL_TIMEOUT_MS);
  }

  onMasterGone(): void {
    if (this.state === 'handing-over') return; // the handover finishes on its own
    if (this.state === 'ready' && this.receiver && this.ctx && this.ctx.connections.size > 0) {
      void this.returnOrDrain(); // a new worker: maybe the upgrade rolled back (orphan.ts)
      return;
    }
    this.log?.warn('master is gone; draining');
    this.drain(this.config?.gracefulTimeoutMs ?? DEFAULT_GRACEFUL_TIMEOUT_MS);
  }

  /** New worker orphaned after commit: give the connections back to the resumed old
   *  generation if it takes them, else drain them here. */
  private async returnOrDrain(): Promise<void> {
    const ctx = this.ctx!;
    const deadlineMs = this.config?.gracefulTimeoutMs ?? 30_000;
    this.state = 'handing-over';
    const r = await handBack(ctx, this.listeners!, {
      runDir: this.runDir!,
      oldGeneration: this.generation - 1,
      workerId: this.workerId,
      deadlineMs,
      stopReceiving: () => this.receiver?.close(),
    });
    if (r === null) {
      this.log?.warn('master is gone and no old generation takes the connections back; draining');
      this.state = 'ready';
      this.drain(deadlineMs);
      return;
    }
    this.state = 'draining';
    ctx.clusters.close();
    setTimeout(() => this.exitWithFinalMetrics(), EXIT_FLUSH_MS).unref();
  }

  private openReturnSocket(): void {
    if (this.returnReceiver || !this.runDir || !this.ctx || !this.listeners) return;
    try {
      this.returnReceiver = new ConnectionReceiver(
        returnSocketPath(this.runDir, this.generation, this.workerId),
        makeAdopter(this.ctx, this.listeners),
        (err) => this.log?.warn({ err: err.message }, 'connection return receive error'),
      );
    } catch (err) {
      this.log?.warn({ err: (err as Error).message }, 'cannot open the return socket; orphaned new workers will drain');
    }
  }

  private closeReturnSocket(): void {
    this.returnReceiver?.close();
    this.returnReceiver = null;
  }
}

/**
 * To the master. A write fails with EPIPE when the master died a moment ago and the channel's
 * end has not been read yet; without a callback Node raises that as an uncaught exception and
 * the worker would crash (cutting its connections) instead of draining. The 'disconnect' that
 * follows does the right thing (onMasterGone), so the error itself is ignored.
 */
function send(m: WorkerMessage): void {
  if (process.connected) process.send!(m, undefined, {}, ignoreSendError);
}

function ignoreSendError(): void {
  /* the master is gone: 'disconnect' follows */
}

function main(): void {
  if (!process.send) {
    process.stderr.write('mosnd worker: must be started by the mosnd master\n');
    process.exit(2);
  }
  const worker = new Worker();
  process.on('message', (m: unknown, handle: unknown) => {
    if (isMasterMessage(m)) worker.handle(m, handle);
  });
  process.on('disconnect', () => worker.onMasterGone());
  // A bug must not die silently: log it with gen/worker, tell the master, exit (the master
  // restarts the worker; continuing with unknown state could corrupt other connections).
  process.on('uncaughtException', (err) => worker.crash(err));
  // The master signals the process group on `mosnd stop --fast`; workers follow the master.
  process.on('SIGINT', () => {});
  // TERM (e.g. systemd's KillMode=control-group signalling every process) is a graceful stop,
  // as for the master: finish what is in flight, within graceful_timeout.
  process.on('SIGTERM', () => worker.onTerm());
  process.on('SIGHUP', () => {});
  process.on('SIGUSR2', () => {});
  // `killall -USR1 mosnd` (logrotate) reaches workers too: reopen, never start Node's inspector.
  process.on('SIGUSR1', () => worker.reopenLogs());
}

main();
