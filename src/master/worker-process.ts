/**
 * The master's handle on one worker process, with an explicit state machine:
 *
 *   spawning ──ready──▶ ready ──drain/handover──▶ draining ──exit──▶ exited
 *       │                 │  ▲                       │
 *       │                 │  └───────resume──────────┘  (upgrade rolled back)
 *       └──exit/timeout───┴──────────exit/watchdog──────────────────▶ exited (crashed)
 *
 * What bounds each state, so that no worker holds its slot forever:
 * - spawning: WORKER_READY_TIMEOUT_MS, then SIGKILL and respawn.
 * - ready: the watchdog (watchdog.ts) pings it every WATCHDOG_INTERVAL_MS; silent for
 *   WATCHDOG_KILL_MS it is killed with SIGKILL and respawned like any crash. This covers a
 *   new generation's workers held before commit too (a crash there is respawned alike).
 * - draining (graceful stop, an old generation handing over after commit): NOT watched.
 *   Its deadline is graceful_timeout + STOP_KILL_GRACE_MS, enforced by the stop or the
 *   handover itself; a draining worker is busy by design (moving connections, finishing
 *   requests), its exit is expected and never respawned, and an old worker killed between
 *   the new worker's `ack` and its own `released` loses that batch of connections (both
 *   copies closed, src/transfer/README.md) which the deadline would have let move. A worker
 *   that `resume`s is ready again and watched from then on, its silence counted afresh.
 */
import { ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import type { MosndConfig } from '../shared/config/model';
import type { LoopDelay, MasterMessage, MetricsSnapshot, WorkerMessage, WorkerStats } from '../shared/ipc';
import { isWorkerMessage } from '../shared/ipc';
import type { BoundListener } from './listen-sockets';
import { MosndError } from '../shared/errors';
import { WORKER_READY_TIMEOUT_MS, WORKER_RELOAD_ACK_TIMEOUT_MS, WORKER_STATS_TIMEOUT_MS } from '../shared/constants';

export type WorkerState = 'spawning' | 'ready' | 'draining' | 'exited';

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** It exited without being asked to. */
  unexpected: boolean;
}

export class WorkerProcess extends EventEmitter {
  state: WorkerState = 'spawning';
  readonly startedAt = Date.now();
  readonly child: ChildProcess;
  private seq = 0;
  private readonly pending = new Map<number, (m: WorkerMessage) => void>();
  fatalMessage: string | undefined;
  /** Upgrade (old worker): how its connections left, once it has reported. */
  handover: { moved: number; drained: number; closed: number; ms: number } | undefined;
  /** Upgrade (old worker): connections moved so far, from its progress messages. */
  handoverMoved = 0;
  /** Upgrade: where this (new) worker receives moved connections. */
  transferPath: string | undefined;
  /** Answers to the watchdog's pings so far, the time of the last one, and the event-loop
   *  delay it reported. */
  pongs = 0;
  lastPongAt = 0;
  /** Pings sent since the last answer: counted in pings, not time, so a master that stalled
   *  itself (and sent none meanwhile) does not take its workers for silent. */
  unansweredPings = 0;
  loopDelay: LoopDelay | undefined;
  /** Why the master killed it (the watchdog), for the exit log line. */
  killReason: string | undefined;

  constructor(
    readonly id: number,
    readonly generation: number,
    workerScript: string = path.join(__dirname, '..', 'worker', 'main.js'),
  ) {
    super();
    this.child = fork(workerScript, [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Debugging aid: MOSND_WORKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp" profiles workers.
      execArgv: (process.env.MOSND_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean),
      env: { ...process.env, MOSND_WORKER_ID: String(id), MOSND_GENERATION: String(generation) },
    });
    this.child.on('message', (m: unknown) => {
      if (isWorkerMessage(m)) this.onMessage(m);
    });
    this.child.on('error', () => {
      /* 'exit' follows */
    });
    this.child.once('exit', (code, signal) => {
      const unexpected = this.state !== 'draining';
      this.state = 'exited';
      for (const resolve of this.pending.values()) resolve({ t: 'ack', seq: -1, ok: false, error: 'worker exited' });
      this.pending.clear();
      this.emit('exit', { code, signal, unexpected } satisfies WorkerExit);
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  private onMessage(m: WorkerMessage): void {
    switch (m.t) {
      case 'ready':
        if (this.state === 'spawning') {
          this.state = 'ready';
          this.emit('ready');
        }
        return;
      case 'fatal':
        this.fatalMessage = m.message;
        return;
      case 'want-listeners':
        if (this.state === 'ready') this.emit('want-listeners');
        return;
      case 'pong':
        this.pongs++;
        this.unansweredPings = 0;
        this.lastPongAt = Date.now();
        this.loopDelay = m.loopDelay;
        return;
      case 'handover-progress':
        this.handoverMoved = m.moved;
        return;
      case 'handover-done':
        this.handover = { moved: m.moved, drained: m.drained, closed: m.closed, ms: m.ms };
        this.emit('handover-done', this.handover);
        return;
      case 'metrics': {
        // Every snapshot (asked for, or the final one before a graceful exit) is kept by the
        // master's metrics collector, which listens for this event.
        this.emit('metrics', m.snapshot, m.final);
        const resolve = m.final ? undefined : this.pending.get(m.seq);
        if (resolve) {
          this.pending.delete(m.seq);
          resolve(m);
        }
        return;
      }
      case 'ack':
      case 'stats': {
        const resolve = this.pending.get(m.seq);
        if (resolve) {
          this.pending.delete(m.seq);
          resolve(m);
        }
        return;
      }
    }
  }

  send(m: MasterMessage, handle?: unknown): void {
    if (this.state === 'exited' || !this.child.connected) return;
    try {
      this.child.send(m, handle as never, (err) => {
        if (err) this.emit('send-error', err);
      });
    } catch (err) {
      this.emit('send-error', err);
    }
  }

  /** Sends the config and every listener, then waits for `ready`. */
  start(config: MosndConfig, listeners: BoundListener[], upgrade?: { transferPath: string }): Promise<void> {
    this.transferPath = upgrade?.transferPath;
    this.send({
      t: 'init',
      config,
      generation: this.generation,
      workerId: this.id,
      listeners: listeners.map((l) => l.name),
      deferAccept: upgrade !== undefined,
      transferPath: upgrade?.transferPath,
    });
    for (const l of listeners) this.send({ t: 'listener', name: l.name }, l.handle);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        this.kill(); // a hung worker must not keep the slot; its exit goes through the respawn path
        reject(new MosndError('MOSND_ERR_WORKER_START', `worker ${this.id} was not ready within ${WORKER_READY_TIMEOUT_MS} ms`));
      }, WORKER_READY_TIMEOUT_MS);
      const onReady = (): void => {
        cleanup();
        resolve();
      };
      const onExit = (e: WorkerExit): void => {
        cleanup();
        const why = this.fatalMessage ?? `exited with ${e.signal ?? `code ${e.code}`}`;
        reject(new MosndError('MOSND_ERR_WORKER_START', `worker ${this.id} failed to start: ${why}`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('ready', onReady);
        this.off('exit', onExit);
      };
      this.on('ready', onReady);
      this.on('exit', onExit);
    });
  }

  private request(build: (seq: number) => MasterMessage, timeoutMs: number): Promise<WorkerMessage | undefined> {
    const seq = ++this.seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(seq, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.send(build(seq));
    });
  }

  async stats(): Promise<WorkerStats | undefined> {
    if (this.state === 'exited') return undefined;
    const m = await this.request((seq) => ({ t: 'stats', seq }), WORKER_STATS_TIMEOUT_MS);
    return m && m.t === 'stats' ? m.stats : undefined;
  }

  /** The worker's metrics snapshot, or undefined if it does not answer in time. */
  async metrics(timeoutMs: number): Promise<MetricsSnapshot | undefined> {
    if (this.state === 'exited') return undefined;
    const m = await this.request((seq) => ({ t: 'metrics', seq }), timeoutMs);
    return m && m.t === 'metrics' ? m.snapshot : undefined;
  }

  /** Applies a new config; resolves with an error sentence, or undefined on success. */
  async reload(config: MosndConfig, listeners: BoundListener[], added: BoundListener[]): Promise<string | undefined> {
    const reply = this.request(
      (seq) => ({ t: 'reload', seq, config, listeners: listeners.map((l) => l.name), added: added.map((l) => l.name) }),
      WORKER_RELOAD_ACK_TIMEOUT_MS,
    );
    for (const l of added) this.send({ t: 'listener', name: l.name }, l.handle);
    const m = await reply;
    if (!m) return `worker ${this.id} did not acknowledge the reload in time`;
    if (m.t === 'ack' && !m.ok) return `worker ${this.id}: ${m.error ?? 'reload failed'}`;
    return undefined;
  }

  /** Upgrade (old worker): move connections to the new worker at `target`, then exit. */
  handOver(target: string, deadlineMs: number): void {
    if (this.state === 'exited') return;
    this.state = 'draining';
    this.send({ t: 'handover', target, deadlineMs });
  }

  /** The watchdog's heartbeat; the answer only counts `pongs` (any answer proves the loop turns). */
  ping(seq: number): void {
    this.unansweredPings++;
    this.send({ t: 'ping', seq });
  }

  drain(deadlineMs: number): void {
    if (this.state === 'exited') return;
    this.state = 'draining';
    this.send({ t: 'drain', deadlineMs });
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.state !== 'exited') this.child.kill(signal);
  }

  /** Resolves when the process has exited (at once if it already has). */
  exited(): Promise<void> {
    if (this.state === 'exited') return Promise.resolve();
    return new Promise((resolve) => this.once('exit', () => resolve()));
  }
}
