/**
 * Writing heads: the request head sent upstream and the response head sent downstream.
 * Hop-by-hop fields (RFC 9110 §7.6.1) are dropped — Connection, Keep-Alive,
 * Proxy-Connection, TE, Upgrade and whatever Connection lists — and the proxy states its own
 * connection management. Transfer-Encoding is kept when the body passes through chunked.
 */
import { hasToken } from './fields';

const STANDARD_CONNECTION_TOKENS = new Set(['close', 'keep-alive', 'upgrade']);

/** Field names the Connection header asks to remove (beyond the standard ones), or null. */
export function connectionListed(connection: string): Set<string> | null {
  if (connection === '' || connection === 'close' || connection === 'keep-alive') return null;
  let set: Set<string> | null = null;
  for (const raw of connection.split(',')) {
    const t = raw.trim();
    if (t !== '' && !STANDARD_CONNECTION_TOKENS.has(t)) (set ??= new Set()).add(t);
  }
  return set;
}

/** Whether a field is hop-by-hop (case-insensitive), judged by length first to stay cheap. */
export function isHopByHop(name: string, keepTransferEncoding: boolean, keepUpgrade: boolean): boolean {
  switch (name.length) {
    case 2:
      return name.toLowerCase() === 'te';
    case 7:
      return !keepUpgrade && name.toLowerCase() === 'upgrade';
    case 10: {
      const l = name.toLowerCase();
      return l === 'connection' || l === 'keep-alive';
    }
    case 16:
      return name.toLowerCase() === 'proxy-connection';
    case 17:
      return !keepTransferEncoding && name.toLowerCase() === 'transfer-encoding';
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
  chunked: boolean;
  /** The parsed body length: sent as one Content-Length field; -1 sends none. */
  contentLength?: number;
}

export function buildUpstreamHead(o: UpstreamHeadOptions): string {
  const listed = connectionListed(o.connection);
  const h = o.headers;
  let s = `${o.method} ${o.path} HTTP/1.1\r\n`;
  let sawHost = false;
  let sawProto = false;
  let sawLength = false;
  // The client address goes at the end of the last X-Forwarded-For (or in a new one). Found
  // by name, not by o.forwardedForIndex: route header mutations may have moved or removed
  // the received fields since the index was taken.
  let xff = -1;
  if (listed === null || !listed.has('x-forwarded-for')) {
    for (let i = h.length - 2; i >= 0; i -= 2) {
      if (h[i].length === 15 && h[i].toLowerCase() === 'x-forwarded-for') {
        xff = i + 1;
        break;
      }
    }
  }
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    if (isHopByHop(name, o.chunked, o.upgrade !== undefined)) continue;
    if (listed !== null && listed.has(name.toLowerCase())) continue;
    let value = h[i + 1];
    if (o.contentLength !== undefined && isContentLength(name)) {
      if (sawLength || o.contentLength < 0) continue;
      sawLength = true;
      value = String(o.contentLength);
    } else if (name.length === 4 && name.toLowerCase() === 'host') {
      if (sawHost) continue;
      sawHost = true;
      value = o.host;
    } else if (i + 1 === xff) {
      value = `${value}, ${o.clientIp}`;
    } else if (name.length === 17 && name.toLowerCase() === 'x-forwarded-proto') {
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
  return `${s}\r\n`;
}

export interface DownstreamHeadOptions {
  status: number;
  reason: string;
  headers: string[];
  connection: string;
  /** Keep Transfer-Encoding (chunked passes through). */
  keepTransferEncoding: boolean;
  /** 101 Switching Protocols: keep Upgrade, say Connection: upgrade. */
  switching: boolean;
  /** What to say about the client connection: 'close', 'keep-alive' (HTTP/1.0 clients) or nothing. */
  connectionHeader: 'close' | 'keep-alive' | '';
  /** The parsed Content-Length: sent as one field; -1 sends none (the body is chunked). */
  contentLength?: number;
}

export function buildDownstreamHead(o: DownstreamHeadOptions): string {
  const listed = connectionListed(o.connection);
  const h = o.headers;
  let s = `HTTP/1.1 ${o.status} ${o.reason}\r\n`;
  let sawLength = false;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    if (isHopByHop(name, o.keepTransferEncoding, o.switching)) continue;
    if (listed !== null && listed.has(name.toLowerCase())) continue;
    if (o.contentLength !== undefined && isContentLength(name)) {
      if (sawLength || o.contentLength < 0) continue;
      sawLength = true;
      s += `${name}: ${o.contentLength}\r\n`;
      continue;
    }
    s += `${name}: ${h[i + 1]}\r\n`;
  }
  if (o.switching) s += 'connection: upgrade\r\n';
  else if (o.connectionHeader !== '') s += `connection: ${o.connectionHeader}\r\n`;
  return `${s}\r\n`;
}

/**
 * Content-Length is forwarded as the one value it was parsed to: repeated fields or a list
 * of identical values ("3, 3") must not be passed on as received (RFC 9110 §8.6), and it is
 * dropped when Transfer-Encoding decides the framing (RFC 9112 §6.3).
 */
function isContentLength(name: string): boolean {
  return name.length === 14 && name.toLowerCase() === 'content-length';
}

export { hasToken };
