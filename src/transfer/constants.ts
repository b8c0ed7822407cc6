/** Timing and size limits of the handover protocol (README.md in this directory). */

/** The new master must connect to upgrade.sock this soon after it is spawned: loading Node
 *  and mosnd takes ~300 ms; 15 s covers a loaded machine without hiding a dead start. */
export const NEW_MASTER_HELLO_TIMEOUT_MS = 15_000;

/** Default for `mosnd upgrade --timeout` (defined with the control API's constants, which the
 *  CLI side shares: src/shared imports nothing from here). */
export { DEFAULT_UPGRADE_TIMEOUT_MS } from '../shared/constants';

/** The new master waits this long for `commit` after `ready`. The old master commits within
 *  its own --timeout (60 s by default, at most minutes); past 10 minutes it is wedged and this
 *  generation gives up. */
export const COMMIT_WAIT_TIMEOUT_MS = 600_000;

/** How often the old master streams progress ("N connections moved so far") while its workers
 *  hand over: four lines a second show movement without flooding the terminal. */
export const UPGRADE_PROGRESS_INTERVAL_MS = 250;

/** After the new master's channel closes, how long to wait for its exit status to name the
 *  failure: a dying process is reaped within milliseconds; 1 s covers a loaded machine. */
export const EXIT_REASON_WAIT_MS = 1_000;

/** After commit, how often the old master checks whether the new master died (then it resumes
 *  serving): 50 ms keeps the gap without an acceptor short at the cost of a flag check. */
export const NEW_MASTER_DEATH_POLL_MS = 50;

/** The old master watches the channel for the new master's close for as long as the handover
 *  lasts (bounded by graceful_timeout elsewhere): this is the longest delay a Node timer takes
 *  (2^31 - 1 ms, ~24.8 days), i.e. no deadline of its own. */
export const CHANNEL_WATCH_FOREVER_MS = 2_147_483_647;

/** The new master answers `commit` with `serving` within this time (it only tells its
 *  workers to accept and takes over the pidfile and control socket). */
export const COMMIT_ACK_TIMEOUT_MS = 5_000;

/** An old worker connects to its new peer's transfer socket within this time. */
export const CONN_CHANNEL_CONNECT_TIMEOUT_MS = 2_000;

/** Pause between connect attempts while a channel listener's backlog is full (EAGAIN):
 *  short, it drains in microseconds. */
export const CONNECT_RETRY_INTERVAL_MS = 10;

/** Default bound on one send waiting for room in the peer's receive queue (10 messages,
 *  net.unix.max_dgram_qlen). A live peer drains it in milliseconds; a peer stuck this long
 *  will not finish a handover either. */
export const SEND_TIMEOUT_MS = 10_000;

/** A batch of moved connections must be acknowledged within this time, else the old
 *  worker takes them back (readStart) and keeps serving them: adopting 253 sockets takes
 *  a few ms, so 2 s only trips on a wedged peer. */
export const CONN_ACK_TIMEOUT_MS = 2_000;

/** The new worker waits this long for `released` after its ack. The old owner answers an ack
 *  at once (same turn of its loop); waiting far longer than its own ack timeout means only a
 *  wedged old worker is ever given up on: giving up early while a `released` is still on its
 *  way would drop those connections. */
export const RELEASE_WAIT_MS = 15 * CONN_ACK_TIMEOUT_MS;

/** How often an old worker looks for connections that reached a movable boundary. Short:
 *  a parked keep-alive client waits (its next request sits in the kernel) until moved. */
export const HANDOVER_POLL_MS = 5;

/** Bytes of already-read data one moved connection may carry (base64 in JSON keeps the
 *  message under MAX_MESSAGE_BYTES); a connection holding more is drained instead. */
export const MAX_CONN_DATA_BYTES = 16 * 1024;

/** JSON budget of one batch message, under fdpass MAX_MESSAGE_BYTES (64 KiB) with room
 *  for the envelope. */
export const MAX_BATCH_JSON_BYTES = 60 * 1024;

/** How long a receiving channel waits between messages before re-arming (not an error:
 *  old workers may take long to free their busy connections). */
export const RECEIVER_IDLE_WAIT_MS = 60_000;

/** How long the new master waits for the old master's `done` after `serving` before it
 *  stops caring (the old generation may be draining long requests). */
export const OLD_GENERATION_EXIT_WAIT_MS = 120_000;

/** A new worker whose master died after commit looks this long for a resumed old worker's
 *  return socket (`return-<gen>-<id>.sock`) to hand its connections back to. The old master
 *  resumes within ~1 s of the death (EXIT_REASON_WAIT_MS at worst); 5 s covers a loaded
 *  machine. Meanwhile the connections are served on; with nobody to return them to, they
 *  are drained as before. */
export const ORPHAN_RETURN_WAIT_MS = 5_000;

/** Pause between looks for a return socket: the old generation resumes in milliseconds. */
export const ORPHAN_RETURN_POLL_MS = 25;

/** A channel that ends between `ack` and `released`: if its peer (the old worker) is dead
 *  within this time, nobody else holds the batch and the new worker serves it instead of
 *  dropping it. The kernel closes a killed process's sockets a moment before it is a zombie;
 *  100 ms covers that on a loaded machine, while an old worker that closed the channel on
 *  purpose took the batch back and lives on to serve it. */
export const PEER_DEATH_WAIT_MS = 100;

/** Poll interval of that check. */
export const PEER_DEATH_POLL_MS = 5;
