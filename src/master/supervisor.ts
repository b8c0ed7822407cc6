/**
 * The master: owns the listening sockets, keeps N workers serving them, restarts the ones
 * that die (exponential backoff, crash-loop limit) or stop answering its watchdog
 * (watchdog.ts: it kills them, the restart follows), applies reloads, stops gracefully.
 *
 * Master states: starting → serving ⇄ reloading → stopping → stopped.
 */
import * as os from 'node:os';
import type { MosndConfig, ListenerConfig } from '../shared/config/model';
import type { Logger } from '../shared/logger';
import { MosndError } from '../shared/errors';
import { BoundListener, bindListener, formatAddress, sameAddress } from './listen-sockets';
import { WorkerExit, WorkerProcess } from './worker-process';
import { Watchdog, WatchdogTimings, watchdogTimings } from './watchdog';
import {
  CRASH_LOOP_LIMIT,
  CRASH_WINDOW_MS,
  RESPAWN_BACKOFF_INITIAL_MS,
  RESPAWN_BACKOFF_MAX_MS,
  RESPAWN_BACKOFF_RESET_MS,
  STOP_KILL_GRACE_MS,
} from '../shared/constants';

export type MasterState = 'starting' | 'serving' | 'reloading' | 'handing-over' | 'stopping' | 'stopped';

/** How a new generation starts: with sockets received from the old one, not accepting
 *  until commit, each worker receiving connections on a transfer socket. */
export interface UpgradeStart {
  listeners: BoundListener[];
  transferPath: (workerId: number) => string;
}

/** One worker position: the process in it now, and its restart history. */
export interface WorkerSlot {
  id: number;
  worker: WorkerProcess | null;
  restarts: number;
  deaths: number[];
  backoffMs: number;
  respawnTimer: NodeJS.Timeout | null;
  /** Given up after a crash loop. */
  failed: boolean;
  /** Workers of this slot the watchdog killed (each also counts in `restarts` once respawned). */
  watchdogKills: number;
}

export interface SupervisorOptions {
  workers: number;
  generation: number;
  log: Logger;
  /** The watchdog's timings (watchdog.ts); null: no watchdog. Default: constants.ts. */
  watchdog?: WatchdogTimings | null;
}

export class Supervisor {
  state: MasterState = 'starting';
  config: MosndConfig;
  readonly listeners = new Map<string, BoundListener>();
  readonly slots: WorkerSlot[] = [];
  readonly startedAt = Date.now();
  private readonly log: Logger;
  readonly generation: number;
  private stopPromise: Promise<void> | null = null;
  private stoppingFast = false;
  /** Called once every worker has exited after a stop. */
  onStopped: (() => void) | null = null;
  /** Called with each worker process as soon as it is created (metrics, log level). */
  onWorkerSpawned: ((w: WorkerProcess) => void) | null = null;
  /** The hosts the master's health checker sees as unhealthy now: each worker started gets
   *  them with its init (it starts with every host healthy). */
  unhealthyHosts: (() => Array<{ cluster: string; address: string }>) | null = null;
  /** TLS session ticket keys (base64) every worker gets before its init. */
  tlsTicketKeys: string | null = null;

  /** New ticket keys (rotation): every running worker, and each one started later, gets them. */
  setTlsTicketKeys(keys: string): void {
    this.tlsTicketKeys = keys;
    for (const s of this.slots) s.worker?.send({ t: 'tls-keys', keys });
  }
  private readonly watchdog: Watchdog | null;

  constructor(config: MosndConfig, private readonly opts: SupervisorOptions) {
    this.config = config;
    this.log = opts.log;
    this.generation = opts.generation;
    const timings = opts.watchdog === undefined ? watchdogTimings() : opts.watchdog;
    this.watchdog = timings
      ? new Watchdog({
          timings,
          log: this.log,
          // Ready workers while serving (a new generation's held workers included) or
          // reloading; never while starting (start() owns those workers' fate), stopping or
          // handing over (draining workers have their own deadline: worker-process.ts).
          watched: () =>
            this.state === 'serving' || this.state === 'reloading'
              ? this.slots.filter((s) => s.worker?.state === 'ready').map((s) => ({ id: s.id, worker: s.worker! }))
              : [],
          // A reload waits for every worker's answer (bounded) and replaces the silent ones
          // itself; a kill meanwhile would race that replacement.
          mayKill: () => this.state === 'serving',
          over: () => this.state === 'stopped',
          onKill: (id) => this.slots[id].watchdogKills++,
        })
      : null;
  }

  static defaultWorkerCount(): number {
    return Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length);
  }

  /** Listener handles held without accepting (upgrade before commit). */
  private deferAccept = false;
  private upgradeStart: UpgradeStart | undefined;

  /** Binds every listener and starts the workers; rejects (having cleaned up) on failure. */
  async start(upgrade?: UpgradeStart): Promise<void> {
    this.upgradeStart = upgrade;
    this.deferAccept = upgrade !== undefined;
    try {
      if (upgrade) for (const l of upgrade.listeners) this.listeners.set(l.name, l);
      else for (const l of this.config.listeners) if (l.bindPort) this.listeners.set(l.name, bindListener(l));
    } catch (e) {
      this.closeListeners();
      throw e;
    }
    for (let i = 0; i < this.opts.workers; i++) {
      this.slots.push({
        id: i,
        worker: null,
        restarts: 0,
        deaths: [],
        backoffMs: RESPAWN_BACKOFF_INITIAL_MS,
        respawnTimer: null,
        failed: false,
        watchdogKills: 0,
      });
    }
    const results = await Promise.allSettled(this.slots.map((s) => this.spawn(s)));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) {
      this.state = 'stopping';
      for (const s of this.slots) s.worker?.kill();
      await Promise.all(this.slots.map((s) => s.worker?.exited()));
      this.closeListeners();
      this.state = 'stopped';
      throw failure.reason;
    }
    this.state = 'serving';
    this.watchdog?.start();
    if (this.deferAccept) return; // listening is announced at commit
    this.announceListeners();
  }

  private announceListeners(): void {
    for (const l of this.listeners.values()) {
      this.log.info(
        { listener: l.name, address: formatAddress(l.address, l.port), kind: l.config.kind },
        `listener ${l.name} listening on ${formatAddress(l.address, l.port)} (${l.config.kind === 'tcp' ? 'tcp_proxy' : 'http'})`,
      );
    }
  }

  private spawn(slot: WorkerSlot): Promise<void> {
    const w = new WorkerProcess(slot.id, this.generation);
    slot.worker = w;
    this.onWorkerSpawned?.(w);
    w.on('exit', (e: WorkerExit) => this.onWorkerExit(slot, w, e));
    w.on('send-error', (err: Error) => this.log.debug({ err, workerId: slot.id }, 'IPC send failed'));
    // A worker that stopped accepting under overload has recovered: it gets its sockets again.
    w.on('want-listeners', () => {
      for (const l of this.listeners.values()) w.send({ t: 'listener', name: l.name }, l.handle);
    });
    const upgrade = this.deferAccept && this.upgradeStart ? { transferPath: this.upgradeStart.transferPath(slot.id) } : undefined;
    // Before the init and its listeners (IPC keeps the order; the worker holds them until the
    // init): a worker (re)started now knows every host's state before it accepts anything.
    if (this.tlsTicketKeys !== null) w.send({ t: 'tls-keys', keys: this.tlsTicketKeys });
    for (const h of this.unhealthyHosts?.() ?? []) w.send({ t: 'host-health', cluster: h.cluster, address: h.address, healthy: false });
    return w.start(this.config, [...this.listeners.values()], upgrade).then(() => {
      this.log.debug({ workerId: slot.id, workerPid: w.pid }, 'worker ready');
    });
  }

  /**
   * A DNS cluster's names resolved to a new host set: it becomes the serving config's host
   * list (the admin API shows it, a worker started later gets it in its init) and every
   * worker applies it.
   */
  setClusterHosts(cluster: string, hosts: MosndConfig['clusters'][number]['hosts']): void {
    const c = this.config.clusters.find((x) => x.name === cluster);
    if (!c) return;
    c.hosts = hosts;
    for (const s of this.slots) s.worker?.send({ t: 'cluster-hosts', cluster, hosts });
  }

  /** The health checker changed a host's state: every worker, starting or serving, applies it. */
  setHostHealth(cluster: string, address: string, healthy: boolean): void {
    for (const s of this.slots) s.worker?.send({ t: 'host-health', cluster, address, healthy });
  }

  private onWorkerExit(slot: WorkerSlot, w: WorkerProcess, e: WorkerExit): void {
    if (slot.worker !== w) return;
    if (this.state === 'stopping' || this.state === 'stopped' || this.state === 'handing-over' || !e.unexpected) {
      this.maybeStopped();
      return;
    }
    if (this.state === 'starting') return; // start() reports it
    const now = Date.now();
    const lived = now - w.startedAt;
    slot.deaths = slot.deaths.filter((t) => now - t < CRASH_WINDOW_MS);
    slot.deaths.push(now);
    if (lived >= RESPAWN_BACKOFF_RESET_MS) slot.backoffMs = RESPAWN_BACKOFF_INITIAL_MS;
    const detail = { workerId: slot.id, workerPid: w.pid, code: e.code, signal: e.signal, reason: w.fatalMessage ?? w.killReason };
    if (slot.deaths.length > CRASH_LOOP_LIMIT) {
      slot.failed = true;
      slot.worker = null;
      this.log.error(
        { ...detail, code: 'MOSND_ERR_WORKER_CRASHLOOP' },
        `worker ${slot.id} died ${slot.deaths.length} times in ${CRASH_WINDOW_MS / 1000} s; not restarting it (the other workers keep serving)`,
      );
      return;
    }
    const delay = slot.backoffMs;
    slot.backoffMs = Math.min(slot.backoffMs * 2, RESPAWN_BACKOFF_MAX_MS);
    this.log.warn({ ...detail, respawnInMs: delay }, `worker ${slot.id} exited unexpectedly; restarting`);
    slot.respawnTimer = setTimeout(() => {
      slot.respawnTimer = null;
      if (this.state !== 'serving' && this.state !== 'reloading') return;
      slot.restarts++;
      this.spawn(slot).catch((err: Error) => this.log.error({ err: err.message, workerId: slot.id }, 'worker restart failed'));
    }, delay);
  }

  /**
   * Applies a validated config: listeners whose address is unchanged keep their socket (and
   * connections); new ones are bound first, so a bind failure rejects the reload with the
   * running config untouched; removed ones stop accepting and their connections drain.
   */
  async reload(next: MosndConfig): Promise<{ ok: boolean; errors: string[] }> {
    if (this.state !== 'serving') {
      return { ok: false, errors: [`cannot reload while ${this.state}`] };
    }
    this.state = 'reloading';
    try {
      const added: BoundListener[] = [];
      const kept = new Map<string, BoundListener>();
      try {
        for (const l of next.listeners) {
          const old = this.listeners.get(l.name);
          if (old && sameAddress(old.config, l)) {
            kept.set(l.name, { ...old, config: l });
          } else if (l.bindPort) {
            const b = bindListener(l);
            added.push(b);
            kept.set(l.name, b);
          }
        }
      } catch (e) {
        for (const b of added) b.handle.close();
        return { ok: false, errors: [(e as Error).message] };
      }
      const removed = [...this.listeners.values()].filter((l) => kept.get(l.name)?.handle !== l.handle);
      this.config = next;
      const all = [...kept.values()];
      // Config and listeners change together, before any await: a worker spawned meanwhile
      // starts from a consistent pair.
      this.listeners.clear();
      for (const l of all) this.listeners.set(l.name, l);
      // A worker still starting got the old config with its init: it gets this reload too (it
      // arrives after the init and the listeners sent with it), but the reply does not wait
      // for it to finish starting.
      for (const s of this.slots) {
        const w = s.worker;
        if (w?.state !== 'spawning') continue;
        void w.reload(next, all, added).then((err) => {
          if (err === undefined || s.worker !== w || w.state === 'exited') return;
          this.log.error({ workerId: s.id, err }, 'a starting worker could not apply the reload; restarting it');
          w.kill();
        });
      }
      // Each failure stays with the very process that failed: by the time the answers are in,
      // its slot may hold a replacement (a worker that died mid-reload was respawned).
      const failed = (
        await Promise.all(
          this.slots.map(async (s) => {
            const w = s.worker;
            if (!w || w.state !== 'ready') return undefined;
            const error = await w.reload(next, all, added);
            return error === undefined ? undefined : { worker: w, error };
          }),
        )
      ).filter((f): f is { worker: WorkerProcess; error: string } => f !== undefined);
      for (const l of removed) l.handle.close();
      for (const b of added) {
        this.log.info({ listener: b.name, address: formatAddress(b.address, b.port) }, `listener ${b.name} listening on ${formatAddress(b.address, b.port)}`);
      }
      for (const l of removed) this.log.info({ listener: l.name }, `listener ${l.name} removed`);
      // A worker that could not apply the config is replaced by one started with it.
      for (const f of failed) if (f.worker.state !== 'exited') f.worker.kill();
      return { ok: failed.length === 0, errors: failed.map((f) => f.error) };
    } finally {
      if (this.state === 'reloading') this.state = 'serving';
    }
  }

  /**
   * Graceful (fast=false): workers stop accepting, finish requests in flight up to
   * graceful_timeout, close idle connections. Fast: connections are closed now.
   */
  stop(fast: boolean): Promise<void> {
    if (this.stopPromise) {
      if (fast && !this.stoppingFast) {
        // A fast stop asked for during a graceful one (a second Ctrl-C, `stop --fast`): cut now.
        this.stoppingFast = true;
        this.log.info('fast stop: closing the connections still draining');
        for (const s of this.slots) s.worker?.drain(0);
        setTimeout(() => {
          for (const s of this.slots) s.worker?.kill('SIGKILL');
        }, STOP_KILL_GRACE_MS).unref();
      }
      return this.stopPromise;
    }
    this.stoppingFast = fast;
    this.state = 'stopping';
    this.watchdog?.stop();
    const deadline = fast ? 0 : this.config.gracefulTimeoutMs;
    this.log.info({ fast, deadlineMs: deadline }, fast ? 'fast stop' : 'graceful stop');
    for (const s of this.slots) {
      if (s.respawnTimer) clearTimeout(s.respawnTimer);
      s.respawnTimer = null;
      s.worker?.drain(deadline);
    }
    // The workers hold their own copies of the sockets; closing ours only drops the master's.
    this.closeListeners();
    this.stopPromise = (async () => {
      const killer = setTimeout(() => {
        for (const s of this.slots) s.worker?.kill('SIGKILL');
      }, deadline + STOP_KILL_GRACE_MS);
      await Promise.all(this.slots.map((s) => s.worker?.exited()));
      clearTimeout(killer);
      this.state = 'stopped';
    })();
    return this.stopPromise;
  }

  /**
   * Admin /drain_listeners: every listener stops accepting (the workers close their
   * servers, the master its sockets, so new clients are refused); open connections keep
   * running. A reload binds the configured listeners again.
   */
  drainListeners(): void {
    for (const s of this.slots) s.worker?.send({ t: 'drain-listeners' });
    this.closeListeners();
    this.listeners.clear();
    this.log.warn('listeners drained: no new connections are accepted');
  }

  /**
   * Binds a listener of the config that has `bind_port: false` (admin `POST /listeners/bind`):
   * every worker gets its socket and serves it with the config it already has.
   */
  bindLater(name: string): { ok: boolean; status: number; message: string } {
    const l = this.config.listeners.find((x) => x.name === name);
    if (!l) return { ok: false, status: 404, message: `no listener named ${JSON.stringify(name)} in the config` };
    if (this.listeners.has(name)) return { ok: true, status: 200, message: `listener ${name} is already bound` };
    if (this.state !== 'serving') return { ok: false, status: 503, message: `cannot bind while ${this.state}` };
    let b: BoundListener;
    try {
      b = bindListener(l);
    } catch (e) {
      return { ok: false, status: 409, message: (e as Error).message };
    }
    this.listeners.set(name, b);
    for (const s of this.slots) s.worker?.send({ t: 'listener', name }, b.handle);
    const at = formatAddress(b.address, b.port);
    this.log.info({ listener: name, address: at }, `listener ${name} listening on ${at}`);
    return { ok: true, status: 200, message: `listener ${name} listening on ${at}` };
  }

  /** New generation, upgrade committed: the workers start accepting. */
  acceptAll(): void {
    this.deferAccept = false;
    for (const s of this.slots) s.worker?.send({ t: 'accept' });
    this.announceListeners();
  }

  /** The transfer socket of each worker of this (new) generation. */
  transferPaths(): Array<{ id: number; pid: number; transferPath: string }> {
    return this.slots
      .filter((s) => s.worker?.transferPath)
      .map((s) => ({ id: s.id, pid: s.worker!.pid, transferPath: s.worker!.transferPath! }));
  }

  /**
   * Old generation, upgrade committed: every worker stops accepting and moves its
   * connections to a worker of the new generation. Resolves with the totals when all
   * old workers have exited.
   */
  async handOver(targets: string[], deadlineMs: number): Promise<{ moved: number; drained: number; closed: number; ms: number }> {
    this.state = 'handing-over';
    const workers = this.workers();
    for (const s of this.slots) {
      if (s.respawnTimer) clearTimeout(s.respawnTimer);
      s.respawnTimer = null;
    }
    workers.forEach((w, i) => w.handOver(targets[i % targets.length], deadlineMs));
    const killer = setTimeout(() => {
      for (const w of workers) w.kill('SIGKILL');
    }, deadlineMs + STOP_KILL_GRACE_MS);
    await Promise.all(workers.map((w) => w.exited()));
    clearTimeout(killer);
    const total = { moved: 0, drained: 0, closed: 0, ms: 0 };
    for (const w of workers) {
      total.ms = Math.max(total.ms, w.handover?.ms ?? 0);
      total.moved += w.handover?.moved ?? 0;
      total.drained += w.handover?.drained ?? 0;
      total.closed += w.handover?.closed ?? 0;
    }
    return total;
  }

  /** Old generation, the new one died after commit: accept and serve here again. */
  resume(): void {
    if (this.state !== 'handing-over') return;
    this.state = 'serving';
    for (const w of this.workers()) {
      if (w.state !== 'draining') continue;
      w.state = 'ready';
      w.send({ t: 'resume' });
      for (const l of this.listeners.values()) w.send({ t: 'listener', name: l.name }, l.handle);
    }
  }

  /** Totals of handovers reported so far (for progress). */
  handoverProgress(): { moved: number; reported: number; workers: number } {
    const ws = this.slots.map((s) => s.worker).filter((w): w is WorkerProcess => w !== null);
    return {
      moved: ws.reduce((n, w) => n + (w.handover?.moved ?? w.handoverMoved), 0),
      reported: ws.filter((w) => w.handover !== undefined).length,
      workers: ws.length,
    };
  }

  private maybeStopped(): void {
    if (this.state === 'stopped' && this.onStopped) this.onStopped();
  }

  private closeListeners(): void {
    for (const l of this.listeners.values()) l.handle.close();
  }

  listenerSummaries(): Array<{ name: string; address: string; protocol: string }> {
    return [...this.listeners.values()].map((l) => ({
      name: l.name,
      address: formatAddress(l.address, l.port),
      protocol: l.config.kind,
    }));
  }

  workers(): WorkerProcess[] {
    return this.slots.map((s) => s.worker).filter((w): w is WorkerProcess => w !== null && w.state !== 'exited');
  }
}

export function describeListenerChange(a: ListenerConfig, b: ListenerConfig): string {
  return `${a.name}: ${formatAddress(a.host, a.port)} -> ${formatAddress(b.host, b.port)}`;
}

export function assertUsableConfig(config: MosndConfig): void {
  // With xDS the listeners may all come from the control plane.
  if (config.listeners.length === 0 && !config.xds) {
    throw new MosndError('MOSND_ERR_CONFIG_INVALID', 'the configuration has no listener: nothing to serve');
  }
}
