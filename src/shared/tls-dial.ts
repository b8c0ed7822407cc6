/**
 * TLS to the hosts of a cluster with an enabled `tls_context`: the OpenSSL context is made
 * once per cluster config (a reload makes a new one), the server's certificate is verified
 * (against `ca_cert`, else the system's CAs) unless `insecure_skip` says not to, `server_name`
 * is the SNI and the name checked (else the host when it is a name, or its IP), a client
 * certificate is sent when one is configured (mTLS to the upstream), and `alpn` is offered.
 * Used by the worker's pools (src/worker/cluster/pool.ts) and by the master's health checks, so a check proves what
 * traffic will meet.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { UpstreamTlsConfig } from './config/model';

const contexts = new WeakMap<UpstreamTlsConfig, tls.SecureContext>();
/** The last TLS session each host gave, per cluster config: the next connection to the host
 *  resumes it (one round trip and no certificate work) instead of a full handshake, as Node's
 *  https.Agent does. One per host: a session is tied to the server that issued it. */
const sessions = new WeakMap<UpstreamTlsConfig, Map<string, Buffer>>();

function contextOf(cfg: UpstreamTlsConfig): tls.SecureContext {
  let sc = contexts.get(cfg);
  if (sc === undefined) {
    sc = tls.createSecureContext({
      ...(cfg.ca !== undefined ? { ca: cfg.ca } : {}),
      ...(cfg.certChain !== undefined ? { cert: cfg.certChain, key: cfg.privateKey } : {}),
      ...(cfg.ciphers !== undefined ? { ciphers: cfg.ciphers } : {}),
      ...(cfg.ecdhCurve !== undefined ? { ecdhCurve: cfg.ecdhCurve } : {}),
      ...(cfg.minVersion !== undefined ? { minVersion: cfg.minVersion } : {}),
      ...(cfg.maxVersion !== undefined ? { maxVersion: cfg.maxVersion } : {}),
    });
    contexts.set(cfg, sc);
  }
  return sc;
}

export interface Dialed {
  socket: net.Socket;
  /** The event after which the connection can carry a request. */
  ready: 'connect' | 'secureConnect';
  /** The bytes read come to the `onread` callback, not as 'data' events (plain TCP only: Node's
   *  TLS sockets have no `onread`). */
  readsByCallback: boolean;
}

/**
 * Opens a connection to host:port, over TLS when `cfg` is set. `alpn` overrides the cluster's
 * list: an HTTP/2 upstream session passes ["h2"] (and checks `alpnProtocol` once ready).
 * `onread` (plain TCP only, see Dialed.readsByCallback) reads into a caller's buffer.
 */
export function dial(
  host: string,
  port: number,
  cfg: UpstreamTlsConfig | undefined,
  { alpn, onread, ...opts }: { allowHalfOpen?: boolean; alpn?: string[]; onread?: net.OnReadOpts } = {},
): Dialed {
  if (cfg === undefined) {
    const socket = net.connect({ host, port, noDelay: true, ...opts, ...(onread !== undefined ? { onread } : {}) });
    return { socket, ready: 'connect', readsByCallback: onread !== undefined };
  }
  const protocols = alpn ?? cfg.alpn;
  const servername = cfg.serverName ?? (net.isIP(host) === 0 ? host : undefined);
  let byHost = sessions.get(cfg);
  if (byHost === undefined) sessions.set(cfg, (byHost = new Map()));
  const key = `${host}:${port}`;
  const session = byHost.get(key);
  const socket = tls.connect({
    host,
    port,
    ...opts,
    secureContext: contextOf(cfg),
    rejectUnauthorized: !cfg.insecureSkip,
    ...(servername !== undefined ? { servername } : {}),
    ...(protocols !== undefined ? { ALPNProtocols: protocols } : {}),
    ...(session !== undefined ? { session } : {}),
  });
  const cache = byHost;
  socket.on('session', (s: Buffer) => cache.set(key, s));
  socket.setNoDelay(true);
  return { socket, ready: 'secureConnect', readsByCallback: false };
}
