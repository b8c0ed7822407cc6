/**
 * Header translation between HTTP/2 and HTTP/1.1 (RFC 9113 §8.2.2, §8.3.1).
 *
 * HTTP/2 → neutral request: the pseudo-header fields become named fields, cookie crumbs are
 * joined back into one field (§8.2.3: an HTTP/1.1 hop takes a single Cookie), and `te` is
 * kept only as `trailers` (the one value HTTP/2 allows). Connection-specific fields never
 * arrive: nghttp2 refuses a request that carries them.
 *
 * HTTP/1.1 → HTTP/2 response: names lower-cased, the hop-by-hop fields (Connection,
 * Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, TE and whatever Connection lists)
 * dropped with the same rules the HTTP/1.1 serializer uses (serialize.ts), Content-Length kept
 * only when it frames the body, repeated fields joined (Set-Cookie stays a list).
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import { connectionListed, isHopByHop } from '../http/serialize';
import type { ResponseHead } from '../http/response-head';
import type { RequestHeaders, ResponseHeaders } from './types';

/** Flat raw HTTP/2 request headers (`rawHeaders` of the 'stream' event) → a neutral request. */
export function requestFromH2(raw: readonly string[]): RequestHeaders {
  const req: RequestHeaders = { method: '', path: '', authority: '', scheme: 'http', headers: [] };
  let cookie: string | null = null;
  let host = '';
  const h = req.headers;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (name.charCodeAt(0) === 58 /* : */) {
      if (name === ':method') req.method = value;
      else if (name === ':path') req.path = value;
      else if (name === ':authority') req.authority = value;
      else if (name === ':scheme') req.scheme = value;
      continue;
    }
    if (name === 'cookie') {
      cookie = cookie === null ? value : `${cookie}; ${value}`;
      continue;
    }
    if (name === 'host') {
      // :authority wins over Host (RFC 9113 §8.3.1); Host is the fallback and goes out as Host.
      if (host === '') host = value;
      continue;
    }
    h.push(name, value);
  }
  if (req.authority === '') req.authority = host;
  if (cookie !== null) h.push('cookie', cookie);
  return req;
}

/** Whether the request asked for trailers (`te: trailers`, the only TE HTTP/2 carries). */
export function wantsTrailers(req: RequestHeaders): boolean {
  const h = req.headers;
  for (let i = 0; i < h.length; i += 2) if (h[i] === 'te' && h[i + 1].toLowerCase().includes('trailers')) return true;
  return false;
}

/**
 * Takes `expect: 100-continue` out of the request (a proxy answers it itself, as Envoy does by
 * default: the upstream then never waits for a 100 that no one forwards); true when it was there.
 */
export function takeExpectContinue(req: RequestHeaders): boolean {
  const h = req.headers;
  for (let i = 0; i < h.length; i += 2) {
    if (h[i] === 'expect' && h[i + 1].toLowerCase() === '100-continue') {
      h.splice(i, 2);
      return true;
    }
  }
  return false;
}

/** The Content-Length of a neutral request, -1 when absent or unreadable. */
export function requestContentLength(req: RequestHeaders): number {
  const h = req.headers;
  for (let i = 0; i < h.length; i += 2) {
    if (h[i] === 'content-length') {
      const v = h[i + 1].trim();
      return /^[0-9]{1,15}$/.test(v) ? Number(v) : -1;
    }
  }
  return -1;
}

/**
 * An HTTP/1.1 response head → neutral response headers: the hop-by-hop and framing fields
 * dropped with serialize.ts's rules (and whatever Connection lists); the body length kept
 * apart, as the framing of the next hop is that codec's business.
 */
export function responseFromH1(resp: ResponseHead): ResponseHeaders {
  return {
    status: resp.status,
    headers: endToEndFields(resp.headers, resp.summary.connection),
    contentLength: bodyLength(resp),
  };
}

/**
 * The Content-Length to state: the body's when it is length-framed, the GET's for a HEAD answer
 * that gave one, none for 1xx/204/304 (RFC 9110 §8.6) and for chunked or close-delimited bodies.
 */
function bodyLength(resp: ResponseHead): number {
  if (resp.status < 200 || resp.status === 204 || resp.status === 304) return -1;
  if (resp.framing === 'chunked' || resp.framing === 'close') return -1;
  return resp.contentLength;
}

/** The end-to-end fields of a flat HTTP/1.1 list (a head or a trailer section). */
export function endToEndFields(flat: readonly string[], connection: string): string[] {
  const listed = connectionListed(connection);
  const out: string[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i];
    if (isHopByHop(name, false)) continue;
    if (listed !== null && listed.has(name.toLowerCase())) continue;
    out.push(name, flat[i + 1]);
  }
  return out;
}

/**
 * Neutral fields → an HTTP/2 header object for Node's http2 (`respond`, `sendTrailers`): names
 * lower-cased; pseudo, Host and connection-specific fields (which a route's header mutation
 * could add back) dropped, as Node would refuse them; repeated fields joined with ", ", except
 * Set-Cookie which stays a list. `contentLength` >= 0 is added as the body length.
 */
export function h2Fields(flat: readonly string[], contentLength: number): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = Object.create(null) as OutgoingHttpHeaders;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const raw = flat[i];
    if (isHopByHop(raw, false)) continue;
    const name = raw.toLowerCase();
    if (name.charCodeAt(0) === 58 /* : */ || name === 'host' || name === 'http2-settings') continue;
    const value = flat[i + 1];
    const prev = out[name];
    if (prev === undefined) out[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = `${String(prev)}, ${value}`;
  }
  if (contentLength >= 0) out['content-length'] = String(contentLength);
  return out;
}

/** What a request carries to an HTTP/2 upstream (h2RequestFields). */
export interface H2UpstreamRequest {
  method: string;
  /** :path, rewritten by the route if it says so. */
  path: string;
  /** :authority (the route's host_rewrite, else the client's :authority / Host). */
  authority: string;
  /** The regular fields after the route's header mutations. */
  headers: readonly string[];
  clientIp: string;
  /** A new X-Request-Id when the request had none. */
  requestId: string | undefined;
  /** The request's Content-Length, -1 when none. */
  contentLength: number;
  /** The client said `te: trailers` (gRPC always does): kept, the one TE value HTTP/2 allows. */
  teTrailers: boolean;
}

/**
 * A request → the header object of an HTTP/2 upstream request (Node's `session.request`): the
 * same end-to-end fields and proxy fields as serialize.ts's HTTP/1.1 head (X-Forwarded-For
 * with the client address appended, X-Forwarded-Proto when absent, X-Request-Id), Host
 * becoming :authority, connection-specific fields dropped (h2Fields), `te: trailers` kept.
 * :scheme is http: TLS upstreams (a later hook) will say https.
 */
export function h2RequestFields(r: H2UpstreamRequest): OutgoingHttpHeaders {
  const out = h2Fields(r.headers, r.contentLength);
  const xff = out['x-forwarded-for'];
  out['x-forwarded-for'] = xff === undefined ? r.clientIp : `${String(xff)}, ${r.clientIp}`;
  if (out['x-forwarded-proto'] === undefined) out['x-forwarded-proto'] = 'http';
  if (r.requestId !== undefined) out['x-request-id'] = r.requestId;
  if (r.teTrailers) out.te = 'trailers';
  out[':method'] = r.method;
  out[':path'] = r.path;
  out[':authority'] = r.authority;
  out[':scheme'] = 'http';
  return out;
}

/**
 * Flat raw HTTP/2 response headers (the 'response' event of a client stream) → neutral
 * response headers: :status read, the other pseudo fields dropped, Content-Length kept apart
 * as the body length (none for 1xx/204/304). nghttp2 already refused connection-specific
 * fields in a response.
 */
export function responseFromH2(raw: readonly string[]): ResponseHeaders {
  const out: ResponseHeaders = { status: 0, headers: [], contentLength: -1 };
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (name.charCodeAt(0) === 58 /* : */) {
      if (name === ':status') out.status = Number(value);
      continue;
    }
    if (name === 'content-length') {
      const v = value.trim();
      if (/^[0-9]{1,15}$/.test(v)) out.contentLength = Number(v);
      continue;
    }
    out.headers.push(name, value);
  }
  if (out.status < 200 || out.status === 204 || out.status === 304) out.contentLength = -1;
  return out;
}

/**
 * An HTTP/1.1 request (Node's parser: method, request-target, raw fields) → a neutral request,
 * for HTTP/1.1 clients whose requests go to HTTP/2 upstreams (h1-downstream.ts): Host (or the
 * authority of an absolute-form target) becomes :authority, names are lower-cased, Cookie
 * fields joined with "; ", the hop-by-hop fields and those Connection lists dropped (TE kept
 * as `trailers` only, RFC 9113 §8.2.2), Content-Length kept (the body length; Node's parser
 * has de-chunked the body already).
 */
export function requestFromH1(method: string, target: string, raw: readonly string[]): RequestHeaders {
  const req: RequestHeaders = { method, path: target, authority: '', scheme: 'http', headers: [] };
  if (target.charCodeAt(0) !== 47 /* / */ && target !== '*') {
    try {
      const u = new URL(target);
      req.path = `${u.pathname}${u.search}`;
      req.authority = u.host;
    } catch {
      // Not a URL: passed on as it came; the upstream judges it.
    }
  }
  let connection = '';
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i].toLowerCase() === 'connection') connection += `${connection ? ',' : ''}${raw[i + 1]}`;
  const listed = connectionListed(connection.toLowerCase());
  let cookie: string | null = null;
  const h = req.headers;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const value = raw[i + 1];
    if (name === 'host') {
      if (req.authority === '') req.authority = value;
      continue;
    }
    if (name === 'cookie') {
      cookie = cookie === null ? value : `${cookie}; ${value}`;
      continue;
    }
    if (name === 'content-length') {
      h.push(name, value);
      continue;
    }
    if (name === 'te') {
      if (value.toLowerCase().includes('trailers')) h.push('te', 'trailers');
      continue;
    }
    if (isHopByHop(name, false) || name === 'http2-settings') continue;
    if (listed !== null && listed.has(name)) continue;
    h.push(name, value);
  }
  if (cookie !== null) h.push('cookie', cookie);
  return req;
}
