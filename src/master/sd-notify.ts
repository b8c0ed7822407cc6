/**
 * systemd's notify protocol (sd_notify(3)) for Type=notify units: READY=1 once serving,
 * RELOADING=1 / READY=1 around a reload, STOPPING=1, STATUS=..., and MAINPID=<new pid> when
 * an upgrade hands the service to a new master (the unit needs NotifyAccess=all for the new
 * master's message to count). A no-op without NOTIFY_SOCKET.
 *
 * The datagram goes out through the project's own addon (src/transfer/native/fdpass.c,
 * datagramSend), which builds from source on any Linux. node-unix-socket, named for this in
 * the original plan, ships a prebuilt binary for linux-x64-gnu only (its other platform
 * packages are not published), so on arm64 the master could not even load, and `npm ci`
 * refused the lockfile.
 */
import { native } from '../transfer/fdpass';
import type { Logger } from '../shared/logger';

/** Sends `fields` as one notification; a failure is logged at debug, never thrown. */
export function sdNotify(log: Logger, fields: Record<string, string | number>): void {
  const dest = process.env.NOTIFY_SOCKET; // a path, or '@name' (abstract): the addon reads both
  if (!dest) return;
  const text = Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  try {
    native().datagramSend(dest, Buffer.from(text, 'utf8'));
  } catch (e) {
    log.debug({ err: (e as Error).message, socket: dest }, 'sd_notify failed'); // systemd not listening: nothing to tell
  }
}
