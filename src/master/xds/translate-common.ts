/**
 * What every translator shares: how a resource is rejected (NACK naming the field), how an
 * ignored field is warned about, and the checks of "every field set is one we handle".
 *
 * The rule (README.md here): a field mosnd does not implement rejects the resource, unless
 * ignoring it cannot change which requests go where; then it is warned about once.
 */
import { durationMs, Msg, oneofNames } from './protos';
import { formatDuration } from '../../shared/duration';

/** A resource mosnd cannot serve faithfully: the NACK's error_detail says where and why. */
export class XdsReject extends Error {
  constructor(
    readonly path: string,
    why: string,
  ) {
    super(`${path}: ${why}`);
  }
}

export interface Tx {
  /** A field ignored because it cannot change where requests go (logged once per text). */
  warn(path: string, message: string): void;
}

export function reject(path: string, why: string): never {
  throw new XdsReject(path, why);
}

export function at(base: string, key: string | number): string {
  return typeof key === 'number' ? `${base}[${key}]` : `${base}.${key}`;
}

/** Whether a decoded value carries nothing (absent, empty list, empty message). */
export function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object' && !Buffer.isBuffer(v)) return Object.values(v as object).every(isEmpty);
  return false;
}

/**
 * Every field set in `m` must be `handled` (read by the caller) or in `ignored` (warned, with
 * the reason it is harmless). Oneof selectors (a string naming a sibling field) are skipped.
 */
export function checkFields(m: Msg, path: string, tx: Tx, handled: readonly string[], ignored: Readonly<Record<string, string>> = {}): void {
  for (const [key, value] of Object.entries(m)) {
    if (handled.includes(key) || isEmpty(value)) continue;
    if (typeof value === 'string' && value in m && oneofNames().has(key)) continue; // oneof selector
    const why = ignored[key];
    if (why !== undefined) tx.warn(at(path, key), `ignored: ${why}`);
    else reject(at(path, key), 'is not implemented by mosnd; the resource is rejected because ignoring it could change where requests go');
  }
}

/** A google.protobuf.UInt32Value / BoolValue: its value, or undefined. */
export function wrapped<T = number>(w: Msg | undefined): T | undefined {
  if (w === undefined || w === null) return undefined;
  return (w.value ?? (0 as unknown)) as T;
}

/** A Duration as a Go-style string for the MOSN document ("1.5s" -> "1500ms"). */
export function goDuration(d: Msg | undefined): string | undefined {
  const ms = durationMs(d);
  return ms === undefined ? undefined : formatDuration(ms);
}

/** socket_address -> "host:port" (IPv6 in brackets). */
export function socketAddress(a: Msg | undefined, path: string): string {
  const sa = a?.socket_address;
  if (!sa) reject(path, a?.pipe ? 'pipe addresses are not implemented by mosnd' : 'has no socket_address');
  if (sa.named_port) reject(at(at(path, 'socket_address'), 'named_port'), 'is not implemented by mosnd; expected port_value');
  if (sa.protocol && sa.protocol !== 'TCP') reject(at(at(path, 'socket_address'), 'protocol'), `${sa.protocol} is not implemented by mosnd; expected TCP`);
  const host = String(sa.address ?? '');
  const port = Number(sa.port_value ?? 0);
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
