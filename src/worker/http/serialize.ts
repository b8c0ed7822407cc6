/**
 * Writing heads: the request head sent upstream and the response head sent downstream.
 * Hop-by-hop fields (RFC 9110 §7.6.1) are dropped — Connection, Keep-Alive,
 * Proxy-Connection, TE, Upgrade and whatever Connection lists — and the proxy states its own
 * connection management.
 *
 * Framing is never hop-by-hop and never copied: every received Content-Length and
 * Transfer-Encoding field (and any a route's header mutation adds) is dropped, and the head
 * ends with the one framing field mosnd itself decided from the parsed message: a single
 * `content-length: N`, or a single `transfer-encoding` whose codings end in chunked, or none.
 * A `Connection: Content-Length` from a peer therefore cannot strip the framing while the body
 * still goes out (the next hop would read that body as the next message: request smuggling),
 * and no next hop can read the message's end two ways.
 */
import { hasToken, transferCodings } from './fields';
import { eqLower, trimOws } from './chars';

const STANDARD_CONNECTION_TOKENS = new Set(['close', 'keep-alive', 'upgrade']);

/** Field names the Connection header asks to remove (beyond the standard ones), or null. */
export function connectionListed(connection: string): Set<string> | null {
  if (connection === '' || connection === 'close' || connection === 'keep-alive') return null;
  let set: Set<string> | null = null;
  for (const raw of connection.split(',')) {
    const t = trimOws(raw);
    if (t !== '' && !STANDARD_CONNECTION_TOKENS.has(t)) (set ??= new Set()).add(t);
  }
  return set;
}

/**
 * Whether a field is not copied as received (case-insensitive), judged by length first to stay
 * cheap: the hop-by-hop fields, and the framing fields that the builders write themselves.
 */
export function isHopByHop(name: string, keepUpgrade: boolean): boolean {
  switch (name.length) {
    case 2:
      return eqLower(name, 'te');
    case 7:
      return !keepUpgrade && eqLower(name, 'upgrade');
    case 10:
      return eqLower(name, 'connection') || eqLower(name, 'keep-alive');
    case 14:
      // Also the underscore look-alike: a CGI-style upstream maps both to CONTENT_LENGTH.
      return eqLower(name, 'content-length') || eqLower(name, 'content_length');
    case 16:
      return eqLower(name, 'proxy-connection');
    case 17:
      return eqLower(name, 'transfer-encoding') || eqLower(name, 'transfer_encoding');
    default:
      return false;
  }
}

export interface UpstreamHeadOptions {
  method: string;
  path: string;
  headers: string[];
  /** Host header value to send (rewritten or original). */
  host: string;
  /** The request was Upgrade (websocket): keep Upgrade and say Connection: upgrade. */
  upgrade: string | undefined;
  connection: string;
  clientIp: string;
  forwardedForIndex: number;
  requestId: string | undefined;
  /** The framing to send: see framingFields(). */
  transferEncoding: string;
  contentLength: number;
}

export function buildUpstreamHead(o: UpstreamHeadOptions): string {
  const listed = connectionListed(o.connection);
  const h = o.headers;
  let s = `${o.method} ${o.path} HTTP/1.1\r\n`;
  let sawHost = false;
  let sawProto = false;
  // The client address goes at the end of the last X-Forwarded-For (or in a new one). Found
  // by name, not by o.forwardedForIndex: route header mutations may have moved or removed
  // the received fields since the index was taken.
  let xff = -1;
  if (listed === null || !listed.has('x-forwarded-for')) {
    for (let i = h.length - 2; i >= 0; i -= 2) {
      if (h[i].length === 15 && eqLower(h[i], 'x-forwarded-for')) {
        xff = i + 1;
        break;
      }
    }
  }
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    if (isHopByHop(name, o.upgrade !== undefined)) continue;
    if (listed !== null && listed.has(name.toLowerCase())) continue;
    let value = h[i + 1];
    if (name.length === 4 && eqLower(name, 'host')) {
      if (sawHost) continue;
      sawHost = true;
      value = o.host;
    } else if (i + 1 === xff) {
      value = `${value}, ${o.clientIp}`;
    } else if (name.length === 17 && eqLower(name, 'x-forwarded-proto')) {
      sawProto = true;
    }
    s += `${name}: ${value}\r\n`;
  }
  // Always: the upstream request is HTTP/1.1, which needs a Host even when an HTTP/1.0 client
  // sent none (RFC 9112 §3.2: then an empty value).
  if (!sawHost) s += `host: ${o.host}\r\n`;
  if (xff === -1) s += `x-forwarded-for: ${o.clientIp}\r\n`;
  if (!sawProto) s += 'x-forwarded-proto: http\r\n';
  if (o.requestId !== undefined) s += `x-request-id: ${o.requestId}\r\n`;
  if (o.upgrade !== undefined) s += 'connection: upgrade\r\n';
  return `${s}${framingFields(o.transferEncoding, o.contentLength)}\r\n`;
}

export interface DownstreamHeadOptions {
  status: number;
  reason: string;
  headers: string[];
  connection: string;
  /** 101 Switching Protocols: keep Upgrade, say Connection: upgrade. */
  switching: boolean;
  /** What to say about the client connection: 'close', 'keep-alive' (HTTP/1.0 clients) or nothing. */
  connectionHeader: 'close' | 'keep-alive' | '';
  /** The framing to send: see framingFields(). */
  transferEncoding: string;
  contentLength: number;
}

export function buildDownstreamHead(o: DownstreamHeadOptions): string {
  const listed = connectionListed(o.connection);
  const h = o.headers;
  let s = `HTTP/1.1 ${o.status} ${o.reason}\r\n`;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    if (isHopByHop(name, o.switching)) continue;
    if (listed !== null && listed.has(name.toLowerCase())) continue;
    s += `${name}: ${h[i + 1]}\r\n`;
  }
  if (o.switching) s += 'connection: upgrade\r\n';
  else if (o.connectionHeader !== '') s += `connection: ${o.connectionHeader}\r\n`;
  return `${s}${framingFields(o.transferEncoding, o.contentLength)}\r\n`;
}

/**
 * The one framing field of a head that mosnd writes: `transfer-encoding` when `transferEncoding`
 * (validated codings, chunked last) is not empty, else `content-length` when `contentLength`
 * is 0 or more (repeated fields or a list of identical values such as "3, 3" are sent as the
 * one value they were parsed to, RFC 9110 §8.6), else nothing.
 */
function framingFields(transferEncoding: string, contentLength: number): string {
  if (transferEncoding !== '') return `transfer-encoding: ${transferEncoding}\r\n`;
  if (contentLength >= 0) return `content-length: ${contentLength}\r\n`;
  return '';
}

/**
 * The codings of a validated Transfer-Encoding (lower-cased, comma-joined as the field
 * summary keeps it), normalised for sending: `chunked`, or e.g. `gzip, chunked`.
 */
export function sendableCodings(te: string): string {
  return te === 'chunked' ? te : transferCodings(te).join(', ');
}

export { hasToken };
