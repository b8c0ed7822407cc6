/**
 * TLS figures of a worker, kept as plain numbers (the metrics snapshot turns them into
 * prom-client's JSON shape when the master asks, like the rest of src/worker/metrics.ts).
 */
import type { MetricJson } from '../../shared/ipc';

export const TLS_METRICS = {
  handshakes: 'mosnd_tls_handshakes_total',
  handshakeErrors: 'mosnd_tls_handshake_errors_total',
} as const;

/** Why a handshake failed, as a label: a small fixed set, never the raw OpenSSL text. */
export type HandshakeFailure = 'timeout' | 'not_tls' | 'client_cert' | 'disconnected' | 'protocol';

const handshakes = new Map<string, { full: number; resumed: number }>();
const failures = new Map<string, Map<HandshakeFailure, number>>();

export function countHandshake(listener: string, resumed: boolean): void {
  let h = handshakes.get(listener);
  if (h === undefined) handshakes.set(listener, (h = { full: 0, resumed: 0 }));
  if (resumed) h.resumed++;
  else h.full++;
}

export function countHandshakeFailure(listener: string, why: HandshakeFailure): void {
  let m = failures.get(listener);
  if (m === undefined) failures.set(listener, (m = new Map()));
  m.set(why, (m.get(why) ?? 0) + 1);
}

/** OpenSSL's and Node's error codes → the failure label. */
export function classifyHandshakeError(err: NodeJS.ErrnoException): HandshakeFailure {
  const code = err.code ?? '';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'disconnected';
  if (code === 'ERR_SSL_HTTP_REQUEST' || code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_UNKNOWN_PROTOCOL' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') return 'not_tls';
  if (/CERTIFICATE|CERT_|UNABLE_TO_GET_ISSUER|SELF_SIGNED|UNKNOWN_CA/.test(code) || /certificate/i.test(err.message)) return 'client_cert';
  return 'protocol';
}

export function tlsMetrics(): MetricJson[] {
  const hs: MetricJson = {
    name: TLS_METRICS.handshakes,
    help: 'TLS handshakes completed by downstream clients, by listener and whether the session was resumed (ticket) or full',
    type: 'counter',
    values: [],
    aggregator: 'sum',
  };
  for (const [listener, h] of handshakes) {
    hs.values.push({ labels: { listener, resumed: 'false' }, value: h.full });
    hs.values.push({ labels: { listener, resumed: 'true' }, value: h.resumed });
  }
  const errs: MetricJson = {
    name: TLS_METRICS.handshakeErrors,
    help: 'Downstream connections closed before their TLS handshake finished: timeout, not_tls (plaintext on a TLS port), client_cert (refused by mTLS), disconnected (the client left, e.g. a truncated ClientHello), protocol',
    type: 'counter',
    values: [],
    aggregator: 'sum',
  };
  for (const [listener, m] of failures) for (const [reason, n] of m) errs.values.push({ labels: { listener, reason }, value: n });
  return [hs, errs];
}
