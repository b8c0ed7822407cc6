/**
 * systemd's notify protocol (sd_notify(3)) for Type=notify units: READY=1 once serving,
 * RELOADING=1 / READY=1 around a reload, STOPPING=1, STATUS=..., and MAINPID=<new pid> when
 * an upgrade hands the service to a new master (the unit needs NotifyAccess=all for the new
 * master's message to count). A no-op without NOTIFY_SOCKET.
 */
import { DgramSocket } from 'node-unix-socket';

let socket: DgramSocket | null = null;

export function notifySocketPath(): string | undefined {
  const p = process.env.NOTIFY_SOCKET;
  if (!p) return undefined;
  return p.startsWith('@') ? `\0${p.slice(1)}` : p; // abstract namespace
}

export function sdNotify(fields: Record<string, string | number>): Promise<void> {
  const dest = notifySocketPath();
  if (!dest) return Promise.resolve();
  const text = Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  const buf = Buffer.from(text, 'utf8');
  return new Promise((resolve) => {
    try {
      socket ??= new DgramSocket();
      socket.sendTo(buf, 0, buf.length, dest, () => resolve());
    } catch {
      resolve(); // systemd not listening: nothing to tell
    }
  });
}

export function closeNotify(): void {
  socket?.close();
  socket = null;
}
