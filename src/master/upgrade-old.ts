/**
 * The serving master's side of `mosnd upgrade` (see src/transfer/README.md for the protocol):
 * start the new install as a new master, hand it the listening sockets, wait for its
 * workers, commit, move the connections, exit. Until commit, any failure leaves this
 * generation serving untouched (the new workers never accepted); after commit, a new master
 * that dies makes this generation resume.
 *
 * Handover states: idle → spawning → listeners-sent → ready → committed → handing-over → done
 *                                  ↘ failed (rolled back) ↙
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MosndError, isMosndError } from '../shared/errors';
import type { Logger } from '../shared/logger';
import type { UpgradeEvent, UpgradeRequest } from '../shared/control-types';
import { FdChannel, FdChannelServer } from '../transfer/fdpass';
import { decodeMasterMessage, encode, ListenerDesc, MasterChannelMessage, OldProcessDesc, PROTOCOL_VERSION } from '../transfer/messages';
import {
  CHANNEL_WATCH_FOREVER_MS,
  COMMIT_ACK_TIMEOUT_MS,
  DEFAULT_UPGRADE_TIMEOUT_MS,
  EXIT_REASON_WAIT_MS,
  NEW_MASTER_DEATH_POLL_MS,
  NEW_MASTER_HELLO_TIMEOUT_MS,
  UPGRADE_PROGRESS_INTERVAL_MS,
} from '../transfer/constants';
import type { Supervisor } from './supervisor';

export const UPGRADE_SOCKET_NAME = 'upgrade.sock';

export type HandoverState =
  | 'idle'
  | 'spawning'
  | 'listeners-sent'
  | 'ready'
  | 'committed'
  | 'handing-over'
  | 'done'
  | 'failed';


export interface UpgradeContext {
  supervisor: Supervisor;
  log: Logger;
  runDir: string;
  configPath: string;
  workers: number;
  /** Called when the new generation serves (after commit): give up the pidfile and socket. */
  onCommitted(): void;
  /** Called when the new generation died after commit: take the pidfile and socket back. */
  onResumed(): Promise<void>;
  /** What travels with the listeners besides them: the admin/metrics sockets (reserved
   *  names), this generation's metric totals (encoded, '' for none) and its pids. */
  handoverExtras?(): Promise<{ sockets: Array<ListenerDesc & { fd: number }>; counters: string; processes: OldProcessDesc[]; tlsTicketKeys?: string }>;
  /** The final metric totals, sent with `done` once the old workers have exited. */
  finalCounters?(): Promise<string>;
}

export interface UpgradeOutcome {
  ok: boolean;
  message: string;
  fromGeneration: number;
  toGeneration: number;
  atMs: number;
}

/** Checks that DIR is an installed, built mosnd; returns its CLI entry script. */
export function resolveInstall(dir: string): string {
  const root = path.resolve(dir);
  const bad = (why: string): never => {
    throw new MosndError('MOSND_ERR_UPGRADE_BINARY', `${root} is not a usable mosnd install: ${why}`);
  };
  let pkg: { bin?: string | Record<string, string> };
  try {
    pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  } catch {
    return bad('no readable package.json');
  }
  const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.mosnd;
  if (!bin) return bad('its package.json declares no "mosnd" bin');
  const entry = path.resolve(root, bin);
  if (!fs.existsSync(entry)) return bad(`its bin ${bin} is missing`);
  if (!fs.existsSync(path.join(root, 'dist', 'master', 'cli.js'))) return bad('it is not built (no dist/; run npm ci)');
  return entry;
}

export class UpgradeCoordinator {
  state: HandoverState = 'idle';
  last: UpgradeOutcome | undefined;
  /** Pids of the new masters this process spawned (libuv reaps them, not the keeper). */
  readonly spawnedPids = new Set<number>();

  constructor(private readonly ctx: UpgradeContext) {}

  get busy(): boolean {
    return this.state !== 'idle' && this.state !== 'done' && this.state !== 'failed';
  }

  /**
   * Runs one upgrade, streaming progress. Resolves when this generation has handed
   * everything over (the caller then exits); throws MosndError when the upgrade failed and
   * this generation keeps serving.
   */
  async run(req: UpgradeRequest, emit: (e: UpgradeEvent) => void): Promise<UpgradeOutcome> {
    if (this.busy) throw new MosndError('MOSND_ERR_UPGRADE_BUSY', `an upgrade is already in progress (${this.state})`);
    const { supervisor, log } = this.ctx;
    if (supervisor.state !== 'serving') {
      throw new MosndError('MOSND_ERR_UPGRADE_BUSY', `cannot upgrade while the master is ${supervisor.state}`);
    }
    this.state = 'spawning';
    const from = supervisor.generation;
    const to = from + 1;
    const say = (phase: string, message: string, generation = to): void => {
      log.info({ phase, upgradeTo: to }, `upgrade: ${message}`);
      emit({ phase, message, done: false, ok: false, atMs: Date.now(), generation });
    };
    let child: ChildProcess | null = null;
    let server: FdChannelServer | null = null;
    let ch: FdChannel | null = null;
    let committed = false;
    /** Once `commit` is sent, the new workers may accept (and later receive moved
     *  connections): from then on they are never killed, they give back what they hold. */
    let commitSent = false;
    try {
      const entry = resolveInstall(req.binaryDir);
      const configPath = req.configPath ? path.resolve(req.configPath) : this.ctx.configPath;
      const timeoutMs = req.timeoutMs > 0 ? req.timeoutMs : DEFAULT_UPGRADE_TIMEOUT_MS;
      const deadline = Date.now() + timeoutMs;
      const sockPath = path.join(this.ctx.runDir, UPGRADE_SOCKET_NAME);
      try {
        fs.unlinkSync(sockPath); // left by a master that died mid-upgrade; we own the run dir
      } catch {
        /* none */
      }
      server = FdChannel.listen(sockPath, undefined, (message, peer) =>
        log.warn({ peerPid: peer.cred?.pid, peerUid: peer.cred?.uid }, message),
      );
      child = spawn(
        process.execPath,
        [entry, 'start', '-c', configPath, '--run-dir', this.ctx.runDir, '--workers', String(this.ctx.workers), '--upgrade-from', sockPath],
        { detached: true, stdio: ['ignore', 'inherit', 'inherit'], env: process.env },
      );
      if (child.pid) this.spawnedPids.add(child.pid);
      const exited = new Promise<string>((resolve) => {
        child!.once('exit', (code, signal) => resolve(`the new master exited (${signal ?? `code ${code}`})`));
        child!.once('error', (err) => resolve(`the new master could not start: ${err.message}`));
      });
      say('spawned', `new generation ${to} started from ${path.dirname(path.dirname(entry))} (pid ${child.pid})`);

      // Spawn to ready is bounded by --timeout; each wait also by its own limit. A wait cut
      // by the deadline says so (not "no message within 1 ms").
      const bounded = <T>(wait: (ms: number) => Promise<T>, limitMs: number): Promise<T> => {
        const left = Math.max(1, deadline - Date.now());
        return raceExit(wait(Math.min(limitMs, left)), exited).catch((e: unknown) => {
          if (left <= limitMs && isMosndError(e) && e.code === 'MOSND_ERR_TRANSFER_TIMEOUT') {
            throw new MosndError('MOSND_ERR_UPGRADE_FAILED', `the new generation was not ready within ${timeoutMs} ms (--timeout)`);
          }
          throw e;
        });
      };
      const srv = server;
      ch = await bounded((ms) => srv.accept(ms), NEW_MASTER_HELLO_TIMEOUT_MS);
      server.close(); // one peer only; removes upgrade.sock now, so a kill later leaves no file
      const peer = ch;
      const hello = await bounded((ms) => this.recv(peer, ms), NEW_MASTER_HELLO_TIMEOUT_MS);
      if (hello.t !== 'hello' || hello.v !== PROTOCOL_VERSION) {
        throw new MosndError('MOSND_ERR_UPGRADE_FAILED', `the new master speaks an unknown handover protocol (${JSON.stringify(hello)})`);
      }
      const listeners = [...supervisor.listeners.values()];
      const extras = (await this.ctx.handoverExtras?.()) ?? { sockets: [], counters: '', processes: [] };
      // A send to a master that just died fails with "closed the channel": raceExit names its exit.
      const sent = ch.send(
        encode({
          t: 'listeners',
          generation: from,
          listeners: [
            ...listeners.map((l) => ({ name: l.name, host: l.address, port: l.port })),
            ...extras.sockets.map((x) => ({ name: x.name, host: x.host, port: x.port })),
          ],
          counters: extras.counters,
          processes: extras.processes,
          ...(extras.tlsTicketKeys !== undefined ? { tlsTicketKeys: extras.tlsTicketKeys } : {}),
        }),
        [...listeners.map((l) => l.handle.fd), ...extras.sockets.map((x) => x.fd)],
      );
      await raceExit(sent, exited);
      this.state = 'listeners-sent';
      say('listeners', `${listeners.length} listening socket${listeners.length === 1 ? '' : 's'} handed over`);

      const ready = await bounded((ms) => this.recv(peer, ms), timeoutMs);
      if (ready.t === 'abort') {
        throw new MosndError('MOSND_ERR_UPGRADE_FAILED', `the new generation failed: ${ready.reason}`, ready.details);
      }
      if (ready.t !== 'ready') throw new MosndError('MOSND_ERR_UPGRADE_FAILED', `unexpected "${ready.t}" from the new master`);
      this.state = 'ready';
      say('ready', `${ready.workers.length} new worker${ready.workers.length === 1 ? '' : 's'} ready`);

      commitSent = true;
      await raceExit(ch.send(encode({ t: 'commit' })), exited);
      const serving = await raceExit(this.recv(ch, COMMIT_ACK_TIMEOUT_MS), exited);
      if (serving.t !== 'serving') throw new MosndError('MOSND_ERR_UPGRADE_FAILED', `unexpected "${serving.t}" after commit`);
      committed = true;
      this.state = 'committed';
      this.ctx.onCommitted();

      // From here the new generation serves. If it dies, this one resumes.
      this.state = 'handing-over';
      let newDied: string | null = null;
      void exited.then((why) => {
        if (this.state === 'handing-over') newDied = why;
      });
      const watchChannel = this.recv(ch, CHANNEL_WATCH_FOREVER_MS).catch(() => null);
      void watchChannel.then(() => {
        // A dying master closes the channel a moment before its exit is reported; wait for
        // that, so the reason is its exit and the rollback knows it is dead (see catch).
        setTimeout(() => {
          if (this.state === 'handing-over' && newDied === null) newDied = 'the new master closed the handover channel';
        }, EXIT_REASON_WAIT_MS).unref();
      });
      const targets = ready.workers.map((w) => w.transferPath);
      const progress = setInterval(() => {
        if (newDied !== null) return;
        const p = supervisor.handoverProgress();
        say('moving', `${p.moved} connections moved so far (${p.reported}/${p.workers} old workers finished)`, from);
      }, UPGRADE_PROGRESS_INTERVAL_MS);
      let totals: { moved: number; drained: number; closed: number; ms: number };
      try {
        const handing = supervisor.handOver(targets, supervisor.config.gracefulTimeoutMs);
        // Said once the workers have their orders (handOver sends them before its first
        // await): if this master dies from here on, they still move their connections
        // instead of draining them as orphans.
        say('committed', `generation ${to} (pid ${serving.pid}) accepts connections; generation ${from} stops accepting`);
        totals = await Promise.race([
          handing,
          new Promise<never>((_, reject) => {
            const t = setInterval(() => {
              if (newDied !== null) {
                clearInterval(t);
                reject(new MosndError('MOSND_ERR_UPGRADE_FAILED', `${newDied} during the handover`));
              }
            }, NEW_MASTER_DEATH_POLL_MS);
            void handing.finally(() => clearInterval(t));
          }),
        ]);
      } finally {
        clearInterval(progress);
      }
      say(
        'moved',
        `${totals.moved} connections moved, ${totals.drained} finished here, ${totals.closed} closed at the deadline (handover ${totals.ms} ms)`,
        from,
      );
      try {
        const counters = (await this.ctx.finalCounters?.()) ?? '';
        await ch.send(encode({ t: 'done', moved: totals.moved, drained: totals.drained, closed: totals.closed, counters }));
      } catch {
        /* the new master does not need it to serve */
      }
      this.state = 'done';
      const outcome = { ok: true, message: `upgraded to generation ${to}`, fromGeneration: from, toGeneration: to, atMs: Date.now() };
      this.last = outcome;
      child.unref();
      return outcome;
    } catch (e) {
      this.state = 'failed';
      const err = isMosndError(e)
        ? e
        : new MosndError('MOSND_ERR_UPGRADE_FAILED', `the upgrade failed: ${(e as Error).message}`);
      // Before commit the new generation holds nothing of value: its whole process group goes.
      // Once commit was sent its workers may hold connections (accepted, or moved to them):
      // only a new master still alive goes (off the channel, it must not serve on), and the
      // orphaned workers hand their connections back to this generation once it has resumed
      // (src/worker/orphan.ts), or drain them if it cannot take them. (A master killed by a
      // signal has exitCode null too.)
      const newMasterAlive = child !== null && child.exitCode === null && child.signalCode === null;
      if (child?.pid && (!commitSent || newMasterAlive)) {
        try {
          process.kill(commitSent ? child.pid : -child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      if (committed) {
        supervisor.resume();
        await this.ctx.onResumed();
      }
      log.error({ code: err.code, details: err.details }, `upgrade failed, generation ${from} keeps serving: ${err.message}`);
      this.last = { ok: false, message: err.message, fromGeneration: from, toGeneration: to, atMs: Date.now() };
      throw err.code === 'MOSND_ERR_UPGRADE_BINARY' || err.code === 'MOSND_ERR_UPGRADE_FAILED'
        ? err
        : new MosndError('MOSND_ERR_UPGRADE_FAILED', err.message, err.details);
    } finally {
      ch?.close();
      server?.close();
    }
  }

  private async recv(ch: FdChannel, timeoutMs: number): Promise<MasterChannelMessage> {
    const m = await ch.recv(timeoutMs, { maxFds: 0 });
    return decodeMasterMessage(m.data, m.fds.length);
  }
}

/** Rejects with the child's exit reason if it exits first (and leaves nothing dangling). */
function raceExit<T>(p: Promise<T>, exited: Promise<string>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    p.then(
      (v) => {
        settled = true;
        resolve(v);
      },
      (e) => {
        settled = true;
        if (!(isMosndError(e) && e.code === 'MOSND_ERR_TRANSFER_CLOSED')) return reject(e);
        // The channel closes as the new master dies, a moment before its exit is reported:
        // "exited (SIGKILL)" or "exited (code 1)" says more than "closed the channel".
        const t = setTimeout(() => reject(e), EXIT_REASON_WAIT_MS);
        void exited.then((why) => {
          clearTimeout(t);
          reject(new MosndError('MOSND_ERR_UPGRADE_FAILED', why));
        });
      },
    );
    void exited.then((why) => {
      if (!settled) reject(new MosndError('MOSND_ERR_UPGRADE_FAILED', why));
    });
  });
}
