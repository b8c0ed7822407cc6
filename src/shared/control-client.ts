/**
 * The CLI's end of the control API: one gRPC client on the master's Unix socket.
 * Every failure comes out as a MosndError: MOSND_ERR_NOT_RUNNING when nothing listens
 * on the socket, the master's own code when a handler refused, MOSND_ERR_CONTROL for
 * anything else (timeouts, protocol trouble, permissions).
 */
import type * as GrpcJs from '@grpc/grpc-js';
import { MosndError } from './errors';
import { fromStatusError, loadControlApi, type Grpc } from './control-proto';
import type {
  ReloadReply,
  StatusReply,
  StopReply,
  UpgradeEvent,
  UpgradeRequest,
  UpgradeResult,
} from './control-types';

import {
  CONTROL_CONNECT_TIMEOUT_MS as CONNECT_TIMEOUT_MS,
  CONTROL_RELOAD_DEADLINE_MS as RELOAD_DEADLINE_MS,
  CONTROL_STATUS_DEADLINE_MS as STATUS_DEADLINE_MS,
  CONTROL_STOP_DEADLINE_MS as STOP_DEADLINE_MS,
  CONTROL_UPGRADE_DEADLINE_MARGIN_MS as UPGRADE_DEADLINE_MARGIN_MS,
  DEFAULT_UPGRADE_TIMEOUT_MS,
} from './constants';

// The timings live in constants.ts (control API); the names this module always exported stay.
export { CONNECT_TIMEOUT_MS, STATUS_DEADLINE_MS, STOP_DEADLINE_MS, RELOAD_DEADLINE_MS, DEFAULT_UPGRADE_TIMEOUT_MS, UPGRADE_DEADLINE_MARGIN_MS };

type Callback<T> = (err: GrpcJs.ServiceError | null, value?: T) => void;
type UnaryMethod<Req, Rep> = (req: Req, options: GrpcJs.CallOptions, cb: Callback<Rep>) => GrpcJs.ClientUnaryCall;

const NO_UPGRADE: UpgradeResult = { result: 'none', atMs: 0, message: '', fromGeneration: 0, toGeneration: 0 };

export class ControlClient {
  readonly socketPath: string;
  private readonly grpc: Grpc;
  private readonly client: GrpcJs.Client;
  private closed = false;

  constructor(socketPath: string) {
    this.socketPath = socketPath;
    const { grpc, Control } = loadControlApi();
    this.grpc = grpc;
    this.client = new Control(`unix:${socketPath}`, grpc.credentials.createInsecure(), {
      // One local peer: no retries behind the caller's back (stop and upgrade are not idempotent).
      'grpc.enable_retries': 0,
    });
  }

  async status(deadlineMs = STATUS_DEADLINE_MS): Promise<StatusReply> {
    const reply = await this.unary<object, StatusReply>('Status', {}, deadlineMs);
    return { ...reply, lastUpgrade: reply.lastUpgrade ?? NO_UPGRADE };
  }

  async stop(fast: boolean): Promise<StopReply> {
    const r = await this.unary<object, StopReply & { _drainTimeoutMs?: string }>('Stop', { fast }, STOP_DEADLINE_MS);
    // Only what the master said: pid 0 and an unset drain time mean "not told" (an older
    // master), which the caller must not mistake for pid 0 or a fast stop.
    return {
      accepted: r.accepted,
      message: r.message,
      ...(r.pid ? { pid: r.pid } : {}),
      ...(r._drainTimeoutMs === 'drainTimeoutMs' && typeof r.drainTimeoutMs === 'number' ? { drainTimeoutMs: r.drainTimeoutMs } : {}),
    };
  }

  reload(configPath?: string): Promise<ReloadReply> {
    return this.unary('Reload', configPath === undefined ? {} : { configPath }, RELOAD_DEADLINE_MS);
  }

  /**
   * Starts an upgrade and reports each progress event to onEvent; resolves with the
   * final event (done = true; check its ok). The call deadline is the request's
   * timeout (or DEFAULT_UPGRADE_TIMEOUT_MS) plus UPGRADE_DEADLINE_MARGIN_MS.
   */
  upgrade(req: UpgradeRequest, onEvent: (e: UpgradeEvent) => void): Promise<UpgradeEvent> {
    const timeoutMs = (req.timeoutMs > 0 ? req.timeoutMs : DEFAULT_UPGRADE_TIMEOUT_MS) + UPGRADE_DEADLINE_MARGIN_MS;
    return new Promise((resolve, reject) => {
      const method = (this.client as unknown as Record<string, (r: UpgradeRequest, o: GrpcJs.CallOptions) => GrpcJs.ClientReadableStream<UpgradeEvent>>).Upgrade;
      const call = method.call(this.client, req, { deadline: Date.now() + timeoutMs });
      const watchdog = this.watchConnect(() => call.cancel());
      let last: UpgradeEvent | undefined;
      let failed = false;
      call.on('data', (event: UpgradeEvent) => {
        if (failed) return;
        last = event;
        try {
          onEvent(event);
        } catch (err) {
          // The caller's own failure ends the call; it is reported as is.
          failed = true;
          watchdog.stop();
          call.cancel();
          reject(err);
        }
      });
      call.on('error', (err: GrpcJs.ServiceError) => {
        watchdog.stop();
        if (!failed) reject(this.toMosndError('Upgrade', err, timeoutMs, watchdog.fired));
        failed = true;
      });
      call.on('status', (status: GrpcJs.StatusObject) => {
        watchdog.stop();
        if (failed || status.code !== this.grpc.status.OK) return;
        if (last?.done) resolve(last);
        else reject(new MosndError('MOSND_ERR_CONTROL', 'the master ended the upgrade stream without a final event'));
      });
    });
  }

  /** Releases the connection; grpc-js then holds nothing that keeps the process alive. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }

  private unary<Req, Rep>(name: string, req: Req, deadlineMs: number): Promise<Rep> {
    return new Promise((resolve, reject) => {
      const method = (this.client as unknown as Record<string, UnaryMethod<Req, Rep>>)[name];
      let watchdog: { stop(): void; fired: boolean } | undefined;
      const call = method.call(this.client, req, { deadline: Date.now() + deadlineMs }, (err, reply) => {
        watchdog?.stop();
        if (err) reject(this.toMosndError(name, err, deadlineMs, watchdog?.fired ?? false));
        else resolve(reply as Rep);
      });
      watchdog = this.watchConnect(() => call.cancel());
    });
  }

  /**
   * Cancels the call when the connection is not up CONNECT_TIMEOUT_MS after it
   * started: a hung master (or one stopped with SIGSTOP) must not keep the CLI
   * waiting for the whole call deadline. Disarmed as soon as the channel is READY,
   * so a long call (upgrade) is never cut by it, even when the server later sends
   * GOAWAY and the channel leaves READY. A refused or missing socket fails the call
   * at once without this (grpc-js fails fast on a connection error).
   */
  private watchConnect(cancel: () => void): { stop(): void; readonly fired: boolean } {
    const channel = this.client.getChannel();
    const { READY, SHUTDOWN } = this.grpc.connectivityState;
    let settled = false;
    const watch = {
      fired: false,
      stop: () => {
        settled = true;
        clearTimeout(timer);
      },
    };
    const timer = setTimeout(() => {
      if (settled) return;
      // Timers run before I/O in a loop turn: after a stall of this process (a loaded box),
      // the master's answer may be waiting unread. Look once more after that I/O is handled.
      setImmediate(() => {
        if (settled) return;
        if (channel.getConnectivityState(false) === READY) {
          watch.stop();
          return;
        }
        settled = true;
        watch.fired = true;
        cancel();
      });
    }, CONNECT_TIMEOUT_MS);
    // The call's own socket keeps the process alive while it matters; this timer must not.
    timer.unref();
    const follow = (state: GrpcJs.connectivityState): void => {
      if (settled) return;
      if (state === READY || state === SHUTDOWN) {
        watch.stop();
        return;
      }
      // No grpc-js deadline (Infinity): its deadline timer would hold the process open.
      channel.watchConnectivityState(state, Infinity, () => follow(channel.getConnectivityState(false)));
    };
    follow(channel.getConnectivityState(false));
    return watch;
  }

  private toMosndError(method: string, err: GrpcJs.ServiceError, deadlineMs: number, connectTimedOut: boolean): MosndError {
    const fromMaster = fromStatusError(err);
    if (fromMaster) return fromMaster;
    const { status } = this.grpc;
    if (connectTimedOut) {
      return new MosndError('MOSND_ERR_CONTROL', `the master did not accept a connection on ${this.socketPath} within ${CONNECT_TIMEOUT_MS / 1000} s`);
    }
    if (err.code === status.UNAVAILABLE && /\b(ENOENT|ECONNREFUSED)\b/.test(err.details)) {
      return new MosndError('MOSND_ERR_NOT_RUNNING', `no mosnd is running: nothing listens on ${this.socketPath}`);
    }
    if (err.code === status.DEADLINE_EXCEEDED) {
      return new MosndError('MOSND_ERR_CONTROL', `the master did not answer ${method} within ${deadlineMs / 1000} s`);
    }
    if (this.closed && err.code === status.CANCELLED) {
      return new MosndError('MOSND_ERR_CONTROL', `${method} was cut short: the control client was closed`);
    }
    if (err.code === status.CANCELLED) {
      // The server cut the call: the master is shutting its control server down.
      return new MosndError('MOSND_ERR_CONTROL', `the master ended ${method} before answering (it is shutting down)`);
    }
    return new MosndError('MOSND_ERR_CONTROL', `control call ${method} failed: ${err.details || err.message}`);
  }
}
