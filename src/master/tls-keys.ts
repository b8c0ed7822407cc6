/**
 * TLS session ticket keys: made by the master (48 random bytes: key name, HMAC key, AES key),
 * the same for every worker, handed to the next generation on upgrade, replaced every
 * TLS_TICKET_KEY_ROTATE_MS. `MOSND_TLS_TICKET_ROTATE_MS` (read by the master, like
 * MOSND_WATCHDOG_KILL_MS) sets another period, e.g. for tests; 0 turns rotation off.
 */
import { randomBytes } from 'node:crypto';
import { TLS_TICKET_KEY_ROTATE_MS } from '../shared/constants';

export const TICKET_ROTATE_ENV = 'MOSND_TLS_TICKET_ROTATE_MS';

export function newTicketKeys(): string {
  return randomBytes(48).toString('base64');
}

/** The rotation period, and a problem to log when the environment gave an unusable value. */
export function ticketRotateMs(env: NodeJS.ProcessEnv = process.env): { ms: number; problem?: string } {
  const raw = env[TICKET_ROTATE_ENV]?.trim();
  if (raw === undefined || raw === '') return { ms: TLS_TICKET_KEY_ROTATE_MS };
  if (!/^\d{1,10}$/.test(raw)) {
    return { ms: TLS_TICKET_KEY_ROTATE_MS, problem: `${TICKET_ROTATE_ENV}=${JSON.stringify(raw)} is not a whole number of milliseconds; ticket keys rotate every ${TLS_TICKET_KEY_ROTATE_MS} ms` };
  }
  return { ms: Number(raw) };
}

/** Calls `rotate` with new keys every `ms` until stopped (0: never). */
export function startTicketRotation(ms: number, rotate: (keys: string) => void): () => void {
  if (ms <= 0) return () => {};
  const timer = setInterval(() => rotate(newTicketKeys()), ms);
  timer.unref();
  return () => clearInterval(timer);
}
