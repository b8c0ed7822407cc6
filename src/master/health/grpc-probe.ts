/**
 * One gRPC health probe (grpc.health.v1.Health/Check, grpc/doc/health-checking.md) of one
 * host, over a fresh h2c connection closed afterwards, like the TCP and HTTP probes (probe.ts).
 * Healthy: HTTP 200, grpc-status 0, and a HealthCheckResponse whose status is SERVING.
 *
 * Written on node:http2 with the two tiny messages encoded by hand, not with @grpc/grpc-js: a
 * grpc-js channel keeps its connection, reconnects with backoff and queues calls while it is
 * "connecting", which hides the very failures a probe is there to see (and a stopped probe
 * would leave a channel to close). A probe here is one connection, one stream, one answer.
 *
 *   message HealthCheckRequest  { string service = 1; }         → 0x0a <len> <utf-8>
 *   message HealthCheckResponse { ServingStatus status = 1; }   → 0x08 <varint>
 */
import * as http2 from 'node:http2';
import type { ProbeResult, ProbeTarget } from './probe';

export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';

/** HealthCheckResponse.ServingStatus names. */
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];
const SERVING = 1;

/** A HealthCheckResponse is a few bytes; anything past this is not one. */
const MAX_RESPONSE_BYTES = 1024;

/** The request message, 5-byte gRPC prefix included. */
export function healthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const body = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length, 1);
  body.copy(out, 5);
  return out;
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

/**
 * The serving status in a framed HealthCheckResponse (0, UNKNOWN, when the field is absent:
 * proto3 leaves defaults out), or a reason when the bytes are not one message.
 */
export function servingStatus(data: Buffer): number | string {
  if (data.length < 5) return 'no response message';
  if (data[0] !== 0) return 'compressed response (not asked for)';
  const len = data.readUInt32BE(1);
  if (data.length !== 5 + len) return 'malformed response message';
  let status = 0;
  let i = 5;
  while (i < data.length) {
    const [key, next] = readVarint(data, i);
    if (next < 0) return 'malformed response message';
    i = next;
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 0) {
      const [v, after] = readVarint(data, i);
      if (after < 0) return 'malformed response message';
      if (field === 1) status = v;
      i = after;
    } else if (wire === 2) {
      const [l, after] = readVarint(data, i);
      if (after < 0 || after + l > data.length) return 'malformed response message';
      i = after + l;
    } else if (wire === 5 || wire === 1) {
      i += wire === 5 ? 4 : 8;
    } else {
      return 'malformed response message';
    }
  }
  return status;
}

/** [value, next offset], next -1 when the varint runs off the end (or past 32 bits). */
function readVarint(b: Buffer, at: number): [number, number] {
  let v = 0;
  for (let shift = 0, i = at; i < b.length && shift < 35; shift += 7, i++) {
    v += (b[i] & 0x7f) * 2 ** shift;
    if ((b[i] & 0x80) === 0) return [v, i + 1];
  }
  return [0, -1];
}

/** Runs one gRPC probe; never rejects. Returns a function that cancels it. */
export function grpcProbe(t: ProbeTarget, describeError: (err: NodeJS.ErrnoException) => string, done: (r: ProbeResult) => void): () => void {
  let finished = false;
  const hostPart = t.host.includes(':') ? `[${t.host}]` : t.host;
  const session = http2.connect(`http://${hostPart}:${t.port}`);
  const finish = (ok: boolean, reason: string): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    session.destroy();
    done({ ok, reason });
  };
  const timer = setTimeout(() => finish(false, `no answer within ${t.timeoutMs} ms`), t.timeoutMs);
  session.on('error', (err: NodeJS.ErrnoException) => finish(false, describeError(err)));
  session.on('close', () => finish(false, 'connection closed before the answer'));
  const req = session.request({
    ':method': 'POST',
    ':path': HEALTH_CHECK_PATH,
    ':authority': t.authority ?? `${hostPart}:${t.port}`,
    'content-type': 'application/grpc',
    te: 'trailers',
    'grpc-timeout': `${Math.max(1, Math.ceil(t.timeoutMs))}m`,
    'user-agent': 'mosnd-health-check',
  });
  let httpStatus = 0;
  let grpcStatus: string | undefined;
  let grpcMessage = '';
  const chunks: Buffer[] = [];
  let bytes = 0;
  const readStatus = (h: http2.IncomingHttpHeaders): void => {
    if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
    if (h['grpc-message'] !== undefined) grpcMessage = String(h['grpc-message']);
  };
  req.on('response', (h) => {
    httpStatus = Number(h[':status']);
    readStatus(h);
  });
  req.on('trailers', readStatus);
  req.on('data', (d: Buffer) => {
    bytes += d.length;
    if (bytes > MAX_RESPONSE_BYTES) finish(false, 'response message too large');
    else chunks.push(d);
  });
  req.on('error', (err: NodeJS.ErrnoException) => finish(false, `stream failed: ${err.code ?? err.message}`));
  req.on('end', () => {
    if (httpStatus !== 200) return finish(false, `HTTP ${httpStatus}`);
    if (grpcStatus === undefined) return finish(false, 'no grpc-status');
    if (grpcStatus !== '0') return finish(false, `grpc-status ${grpcStatus}${grpcMessage ? ` (${decodeURIComponentSafe(grpcMessage)})` : ''}`);
    const s = servingStatus(Buffer.concat(chunks));
    if (typeof s === 'string') return finish(false, s);
    finish(s === SERVING, SERVING_STATUS[s] ?? `serving status ${s}`);
  });
  req.end(healthCheckRequest(t.grpcService ?? ''));
  return () => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    session.destroy();
  };
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
