/**
 * The accept gate in front of the control API: the Unix socket is ours (a plain net.Server),
 * not grpc-js's, so that every accepted connection can be checked before a byte of it is read
 * (SO_PEERCRED: the master's own user or root, see src/transfer/peer-cred.ts). A connection
 * that passes is handed to the gRPC server through its public connection injector
 * (`Server.createConnectionInjector`, made when the first connection passes); one that fails is
 * closed and reported with the peer's pid and uid. grpc-js itself never exposes the fd of a connection it accepted, which is why
 * the check cannot live inside it.
 */
import * as net from 'node:net';
import { fdOf } from '../transfer/fdpass';
import { checkPeer, describeRefusedPeer, PeerCheck } from '../transfer/peer-cred';

export type RefusedControlPeer = (message: string, check: PeerCheck) => void;

/**
 * Feeds one allowed connection to the gRPC server. Made on the first allowed connection, not
 * at listen: grpc-js and the protobuf tables cost the master ~6 MB of private memory, which a
 * master nobody has queried yet need not carry.
 */
export type ConnectionSink = (socket: net.Socket) => void;

/** Listens on `bindPath` and feeds the allowed connections to the sink `openSink` makes once; resolves once listening. */
export async function listenGated(
  openSink: () => ConnectionSink,
  bindPath: string,
  /** The path clients use (named in the refusal message), where bindPath is renamed to. */
  publicPath: string,
  onRefused: RefusedControlPeer,
  /** openSink threw (gRPC or the definition failed to load): that connection is closed, the
   *  master goes on, and the next connection tries again. */
  onSinkError: (err: Error) => void = () => {},
): Promise<net.Server> {
  let sink: ConnectionSink | undefined;
  // pauseOnConnect: nothing is read from a connection before its peer has been checked.
  const gate = net.createServer({ pauseOnConnect: true }, (socket) => {
    let check: PeerCheck;
    try {
      check = checkPeer(fdOf(socket));
    } catch {
      check = { allowed: false, cred: null };
    }
    if (!check.allowed) {
      socket.destroy();
      onRefused(describeRefusedPeer(publicPath, check), check);
      return;
    }
    if (sink === undefined) {
      try {
        sink = openSink();
      } catch (err) {
        socket.destroy();
        onSinkError(err instanceof Error ? err : new Error(String(err)));
        return;
      }
    }
    socket.resume();
    sink(socket);
  });
  await new Promise<void>((resolve, reject) => {
    gate.once('error', reject);
    gate.listen(bindPath, () => {
      gate.removeListener('error', reject);
      resolve();
    });
  });
  // Closing the gate only stops new connections: the gRPC server's shutdown ends the sessions
  // it was fed, letting calls in flight finish first.
  return gate;
}
