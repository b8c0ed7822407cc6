/**
 * gRPC on the stream path: what makes a request gRPC, how mosnd answers one itself, its
 * `grpc-timeout`, and the status an upstream gave (for retries, the access log and metrics).
 *
 * A request is gRPC when its content-type starts with `application/grpc` (gRPC over HTTP/2,
 * PROTOCOL-HTTP2.md; `+proto`, `+json`... included). A gRPC client reads the outcome of a call
 * from `grpc-status`, not from the HTTP status, so an answer made by mosnd (no route, no healthy
 * host, connect failure, overflow, timeout...) goes out the gRPC way, as Envoy sends a local
 * reply to a gRPC request: HTTP 200, and a *trailers-only* response, i.e. one HEADERS frame with
 * END_STREAM carrying :status, content-type, grpc-status and grpc-message (percent-encoded).
 * The gRPC code follows Envoy: the HTTP status an HTTP client would have had, mapped with gRPC's
 * table (http-grpc-status-mapping.md: 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE, ...), except
 * a timeout of the route or of a try, which is DEADLINE_EXCEEDED (Envoy since its router returns
 * DEADLINE_EXCEEDED for gRPC timeouts: UNAVAILABLE would tell the client to try again).
 */
import { GRPC_TIMEOUT_MAX_DIGITS } from '../../shared/constants';

/** The gRPC status codes mosnd names (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INTERNAL: 13,
  DEADLINE_EXCEEDED: 4,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** Whether a request's fields (flat, names lower-cased) say gRPC. */
export function isGrpcRequest(flat: readonly string[]): boolean {
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] === 'content-type') return flat[i + 1].toLowerCase().startsWith('application/grpc');
  }
  return false;
}

/**
 * The gRPC code of an HTTP status, as gRPC's http-grpc-status-mapping.md (and Envoy's
 * Grpc::Utility::httpToGrpcStatus) give it.
 */
export function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

/** The code of an answer made by mosnd: the HTTP status's, or DEADLINE_EXCEEDED for a timeout (flag UT). */
export function localGrpcStatus(httpStatus: number, flag: string): number {
  return flag === 'UT' ? GrpcStatus.DEADLINE_EXCEEDED : httpToGrpcStatus(httpStatus);
}

/**
 * grpc-message is percent-encoded (PROTOCOL-HTTP2.md): every byte of the UTF-8 text outside
 * printable ASCII, and `%` itself, becomes %XX. mosnd's bodies end with a newline: dropped.
 */
export function encodeGrpcMessage(text: string): string {
  const bytes = Buffer.from(text.replace(/\n+$/, ''), 'utf8');
  let out = '';
  for (const b of bytes) {
    if (b >= 0x20 && b <= 0x7e && b !== 0x25) out += String.fromCharCode(b);
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The fields of a trailers-only gRPC answer (HTTP status 200 is the caller's). */
export function grpcAnswerFields(code: number, message: string): string[] {
  const h = ['content-type', 'application/grpc', 'grpc-status', String(code)];
  const m = encodeGrpcMessage(message);
  if (m !== '') h.push('grpc-message', m);
  return h;
}

/** Milliseconds per grpc-timeout unit (Hours, Minutes, Seconds, milli, micro, nano). */
const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * A request's `grpc-timeout` in ms (rounded up: a deadline below 1 ms still expires), or -1
 * when there is none or it is not one: the spec's form is 1 to 8 ASCII digits and one unit
 * letter; anything else is ignored, as gRPC servers do. A value of 0 is ignored too: it would
 * expire before the request went anywhere, and Envoy reads 0 as "no deadline".
 */
export function grpcTimeoutMs(flat: readonly string[]): number {
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] !== 'grpc-timeout') continue;
    const v = flat[i + 1].trim();
    const unit = UNIT_MS[v.charAt(v.length - 1)];
    const digits = v.slice(0, -1);
    if (unit === undefined || digits.length < 1 || digits.length > GRPC_TIMEOUT_MAX_DIGITS || !/^[0-9]+$/.test(digits)) return -1;
    const n = Number(digits);
    return n === 0 ? -1 : Math.max(1, Math.ceil(n * unit));
  }
  return -1;
}

/** The `grpc-status` in a flat field list (a response head or trailers), or -1. */
export function grpcStatusIn(flat: readonly string[]): number {
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i].toLowerCase() !== 'grpc-status') continue;
    const v = flat[i + 1].trim();
    return /^[0-9]{1,2}$/.test(v) ? Number(v) : -1;
  }
  return -1;
}

/** The route's timeout bounded by the request's grpc-timeout (never longer than the route's). */
export function boundByGrpcTimeout(routeMs: number, flat: readonly string[]): number {
  const g = grpcTimeoutMs(flat);
  return g > 0 && g < routeMs ? g : routeMs;
}

/**
 * The request's fields with its grpc-timeout lowered to `routeMs` when the route gives up
 * sooner than the client would (as Envoy rewrites it to the timeout it enforces): the server then
 * stops working on a call no one waits for. A grpc-timeout absent, ignored or shorter is kept.
 */
export function clampGrpcTimeout(flat: string[], routeMs: number): string[] {
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] !== 'grpc-timeout') continue;
    const g = grpcTimeoutMs(flat);
    if (g > routeMs) flat[i + 1] = `${routeMs}m`;
    break;
  }
  return flat;
}
