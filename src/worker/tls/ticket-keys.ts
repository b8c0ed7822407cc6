/**
 * The session ticket keys of this worker: one set for every worker of every generation, made
 * by the master (48 random bytes: OpenSSL's key name, HMAC key and AES key) and sent before
 * `init`; an upgrade's old master hands them to the new one (src/transfer/messages.ts), so a
 * client holding a ticket resumes its session with either generation instead of a full
 * handshake. Without keys (a worker started by a master that sent none) each context keeps
 * OpenSSL's own random keys: tickets resume only within one worker.
 */
let keys: Buffer | null = null;
const users = new Set<(k: Buffer) => void>();

export function setTicketKeys(k: Buffer): void {
  keys = k;
  for (const u of users) u(k);
}

export function ticketKeys(): Buffer | null {
  return keys;
}

/** Called with each new set of keys until the returned function is called. */
export function onTicketKeys(use: (k: Buffer) => void): () => void {
  users.add(use);
  return () => users.delete(use);
}
