/**
 * Listening sockets owned by the master. The master binds each address once and never
 * accepts on it: the bound (not yet listening) handle is sent to every worker, whose
 * listen() turns it into one shared accept queue. This is how Node's own cluster module
 * shares a socket without round-robin in the master (`net._createServerHandle`, the
 * function it uses), and it keeps the very same socket across worker restarts — and, in the
 * upgrade, across generations (the fd is what gets handed over).
 */
import * as net from 'node:net';
import { MosndError } from '../shared/errors';
import type { ListenerConfig } from '../shared/config/model';

/** The raw libuv TCP handle (internal type of Node's tcp_wrap). */
export interface TcpHandle {
  fd: number;
  getsockname(out: { address?: string; port?: number; family?: string }): number;
  close(cb?: () => void): void;
}

type CreateServerHandle = (
  address: string | null,
  port: number | null,
  addressType: number | null,
  fd?: number,
  flags?: number,
) => TcpHandle | number;

const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;

export interface BoundListener {
  name: string;
  config: ListenerConfig;
  handle: TcpHandle;
  /** The address actually bound (with the real port when the config said 0). */
  address: string;
  port: number;
}

export function errnoName(code: number): string {
  try {
    return (require('node:util') as typeof import('node:util')).getSystemErrorName(code);
  } catch {
    return String(code);
  }
}

export function bindListener(cfg: ListenerConfig): BoundListener {
  const family = net.isIPv6(cfg.host) ? 6 : 4;
  const h = createServerHandle(cfg.host, cfg.port, family);
  if (typeof h === 'number') {
    const name = errnoName(h);
    const why =
      name === 'EADDRINUSE'
        ? 'the address is already in use'
        : name === 'EACCES'
          ? 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)'
          : name === 'EADDRNOTAVAIL'
            ? 'the address is not available on this machine'
            : name;
    throw new MosndError('MOSND_ERR_LISTEN', `listener ${cfg.name} cannot bind ${formatAddress(cfg.host, cfg.port)}: ${why}`);
  }
  const bound = adoptHandle(cfg, h);
  if (bound.port === 0) {
    // libuv defers EADDRINUSE from bind() to listen(); the master never listens, so it
    // shows as a socket left unbound (port 0). Listening on it would pick a random port.
    h.close();
    throw new MosndError(
      'MOSND_ERR_LISTEN',
      `listener ${cfg.name} cannot bind ${formatAddress(cfg.host, cfg.port)}: the address is already in use`,
    );
  }
  return bound;
}

/** Wraps an already bound or listening fd (received from an older generation). */
export function listenerFromFd(cfg: ListenerConfig, fd: number): BoundListener {
  const h = createServerHandle(null, null, null, fd);
  if (typeof h === 'number') {
    throw new MosndError('MOSND_ERR_LISTEN', `listener ${cfg.name}: cannot use inherited socket: ${errnoName(h)}`);
  }
  return adoptHandle(cfg, h);
}

function adoptHandle(cfg: ListenerConfig, h: TcpHandle): BoundListener {
  const out: { address?: string; port?: number } = {};
  h.getsockname(out);
  return { name: cfg.name, config: cfg, handle: h, address: out.address ?? cfg.host, port: out.port ?? 0 };
}

export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Same socket can serve the new config when address and port are unchanged (port 0 included:
 *  it asked for any port once, and the one bound is kept across reloads). */
export function sameAddress(a: ListenerConfig, b: ListenerConfig): boolean {
  return a.host === b.host && a.port === b.port;
}
