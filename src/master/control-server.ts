/**
 * The master's end of the control API: a gRPC server on a Unix socket in the run
 * directory that turns each call into a call of the master's ControlHandlers.
 *
 * The socket is bound under a temporary name, made 0600, then renamed onto the final
 * path. The rename replaces a stale socket atomically (no moment without a socket),
 * nobody can connect before the mode is set, and during an upgrade the new master can
 * take the path over while the old one finishes its calls: close() removes the socket
 * file only while it is still this server's (same inode). The rename also keeps libuv,
 * which unlinks the path it bound when the server closes, away from the final path.
 *
 * The socket itself is a plain net.Server (control-gate.ts) that checks each peer's
 * credentials before handing the connection to grpc-js.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as GrpcJs from '@grpc/grpc-js';
import { MosndError } from '../shared/errors';
import { loadControlApi, resolveProtoPath, toStatusError } from '../shared/control-proto';
import { ConnectionSink, listenGated, RefusedControlPeer } from './control-gate';
import type {
  ControlHandlers,
  ReloadRequest,
  StopRequest,
  UpgradeEvent,
  UpgradeRequest,
} from '../shared/control-types';

export type { ControlHandlers } from '../shared/control-types';

import { CONTROL_CLOSE_GRACE_MS } from '../shared/constants';

export { CONTROL_CLOSE_GRACE_MS };

/** Only the owner of the run directory may drive the master. */
const SOCKET_MODE = 0o600;
/** sun_path is 108 bytes on Linux, including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

let tempSerial = 0;

/**
 * The name the socket is bound under before the rename: in the same directory (a
 * rename cannot cross file systems), and short, so that it fits whenever the final
 * path does (`.ctl<pid><n>`, base 36, is shorter than a name like `control.sock`).
 */
function tempSocketPath(socketPath: string): string {
  return path.join(path.dirname(socketPath), `.ctl${process.pid.toString(36)}${(tempSerial++).toString(36)}`);
}

export interface ControlServer {
  readonly socketPath: string;
  /** Stops serving (graceful, then forced) and removes the socket file if still ours. */
  close(): Promise<void>;
}

/**
 * Serves the control API at socketPath. Each connection's peer is checked before a byte is
 * read (control-gate.ts): another user than the master's (root excepted) is refused and
 * reported to `onRefusedPeer` with its pid and uid.
 */
export async function startControlServer(
  socketPath: string,
  handlers: ControlHandlers,
  onRefusedPeer: RefusedControlPeer = () => {},
  /** gRPC or the control API definition failed to load at a first connection (control-gate.ts). */
  onLoadError: (err: Error) => void = () => {},
): Promise<ControlServer> {
  // The definition must be there (a broken install fails at start), but gRPC and the protobuf
  // tables are loaded when the first client connects (control-gate.ts).
  resolveProtoPath();
  refuseNonSocket(socketPath);
  const tmpPath = tempSocketPath(socketPath);
  for (const p of [socketPath, tmpPath]) {
    // libuv silently truncates a longer path and binds somewhere else.
    if (Buffer.byteLength(p) > MAX_SOCKET_PATH_BYTES) {
      throw new MosndError('MOSND_ERR_RUNDIR', `the control socket path ${p} is longer than the ${MAX_SOCKET_PATH_BYTES} bytes a Unix socket allows; use a shorter run directory`);
    }
  }
  removeIfPresent(tmpPath);

  let server: GrpcJs.Server | undefined;
  const openSink = (): ConnectionSink => {
    const { grpc, Control } = loadControlApi();
    server = new grpc.Server();
    server.addService(Control.service, serviceImpl(grpc, handlers));
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    return (socket) => injector.injectConnection(socket);
  };
  let gate: import('node:net').Server | undefined;
  try {
    gate = await listenGated(openSink, tmpPath, socketPath, onRefusedPeer, onLoadError);
    fs.chmodSync(tmpPath, SOCKET_MODE);
    fs.renameSync(tmpPath, socketPath);
  } catch (err) {
    gate?.close();
    server?.forceShutdown();
    removeIfPresent(tmpPath);
    throw new MosndError('MOSND_ERR_RUNDIR', `cannot serve the control socket ${socketPath}: ${(err as Error).message}`, [], { cause: err });
  }
  const { dev, ino } = fs.statSync(socketPath);

  let closing: Promise<void> | undefined;
  return {
    socketPath,
    close() {
      // The gate first (no new connection), then the calls in flight finish.
      closing ??= Promise.resolve(gate!.close()).then(() => (server ? shutdown(server) : undefined)).then(() => {
        try {
          const now = fs.statSync(socketPath);
          if (now.dev === dev && now.ino === ino) fs.unlinkSync(socketPath);
        } catch {
          // Already gone, or replaced and removed by its new owner: nothing to clean.
        }
      });
      return closing;
    },
  };
}

function shutdown(server: GrpcJs.Server): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, CONTROL_CLOSE_GRACE_MS);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}

/** A stale socket is replaced; anything else at the path is someone's file and kept. */
function refuseNonSocket(socketPath: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(socketPath);
  } catch {
    return;
  }
  if (!st.isSocket()) {
    throw new MosndError('MOSND_ERR_RUNDIR', `${socketPath} exists and is not a socket; refusing to replace it`);
  }
}

function removeIfPresent(p: string): void {
  try {
    fs.unlinkSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function serviceImpl(grpc: typeof GrpcJs, handlers: ControlHandlers): GrpcJs.UntypedServiceImplementation {
  /** Runs a handler for a unary call; a throw (also a synchronous one) becomes the call's status. */
  function unary<Req, Rep>(method: string, run: (req: Req) => Promise<Rep>): GrpcJs.handleUnaryCall<Req, Rep> {
    return (call, callback) => {
      Promise.resolve()
        .then(() => run(call.request))
        .then(
          (reply) => callback(null, reply),
          (err: unknown) => callback(toStatusError(grpc, err, method)),
        );
    };
  }

  const upgrade: GrpcJs.handleServerStreamingCall<UpgradeRequest, UpgradeEvent> = (call) => {
    let finished = false;
    const emit = (event: UpgradeEvent): void => {
      // The client may be gone (Ctrl-C): the upgrade goes on, its progress is dropped.
      if (finished || call.cancelled || call.destroyed || call.writableEnded) return;
      call.write({ ...event, atMs: event.atMs || Date.now() });
    };
    const req: UpgradeRequest = {
      binaryDir: call.request.binaryDir,
      configPath: call.request.configPath,
      timeoutMs: call.request.timeoutMs,
    };
    Promise.resolve()
      .then(() => handlers.upgrade(req, emit))
      .then(
        () => {
          finished = true;
          if (!call.writableEnded) call.end();
        },
        (err: unknown) => {
          finished = true;
          if (!call.writableEnded) call.emit('error', toStatusError(grpc, err, 'Upgrade'));
        },
      );
  };

  return {
    Status: unary<Record<string, never>, unknown>('Status', () => handlers.status()),
    Stop: unary<StopRequest, unknown>('Stop', (req) => handlers.stop(req.fast)),
    // An empty path is treated as absent: both mean "the file the master started with".
    Reload: unary<ReloadRequest, unknown>('Reload', (req) => handlers.reload(req.configPath || undefined)),
    Upgrade: upgrade as GrpcJs.UntypedHandleCall,
  };
}
