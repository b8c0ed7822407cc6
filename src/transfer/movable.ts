/**
 * What the handover needs of a connection it moves, defined here so that src/transfer depends on
 * no worker type: the worker's connections (TrackedConnection in src/worker/context.ts) satisfy
 * this interface, and the worker names the detached form after the type below.
 */

/** A connection taken off its sockets for a handover: fds plus bytes already read. */
export type DetachedConn =
  | { kind: 'http'; listener: string; fds: [number]; data: Buffer | null }
  | {
      kind: 'tcp';
      listener: string;
      cluster: string;
      host: string;
      fds: [number, number];
      toUpstream: Buffer | null;
      toClient: Buffer | null;
    };

export interface MovableConnection {
  /** At a boundary where it can move to another process (nothing in flight, nothing unflushed). */
  movable(): boolean;
  /** Stops kernel reads now and describes what moves. Only when movable(). */
  detach(): DetachedConn;
  /** The move failed: read again and keep serving here. */
  reattach(): void;
  /** The new owner has it: drop this process's copy without a FIN (no end(), only close). */
  release(): void;
}
