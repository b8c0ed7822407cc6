/**
 * Request head parsing (RFC 9112 §3): request line, fields, and the message framing
 * decision. Strict where leniency enables request smuggling: differing Content-Length
 * values, Content-Length with Transfer-Encoding, a final coding other than chunked, bare
 * CR/LF, obs-fold, whitespace before a colon, a missing or repeated Host in HTTP/1.1.
 */
import { HttpParseError } from './errors';
import { TARGET, isTokenRange } from './chars';
import { FieldSummary, hasToken, isChunked, newSummary, parseFields } from './fields';
import { MAX_REQUEST_LINE_BYTES } from '../../shared/constants';

export interface RequestHead {
  method: string;
  /** Origin-form path and query ("/a?b"); absolute-form targets are reduced to it. */
  path: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  /** Flat [name, value, ...] as received. */
  headers: string[];
  /** Host header, or the authority of an absolute-form target. */
  host: string;
  /** -1: no body framing by length. */
  contentLength: number;
  chunked: boolean;
  /** The client wants the connection kept after this exchange. */
  keepAlive: boolean;
  expectContinue: boolean;
  /** The Upgrade header value when Connection lists "upgrade" (websocket passthrough). */
  upgrade: string | undefined;
  summary: FieldSummary;
}

/**
 * Parses a complete head: `head` is the latin1 text from the first byte of the request line
 * through the terminating CRLF CRLF (leading empty lines already skipped).
 */
export function parseRequestHead(head: string): RequestHead {
  const lineEnd = head.indexOf('\r\n');
  if (lineEnd > MAX_REQUEST_LINE_BYTES) throw new HttpParseError(414, 'request line too long');
  const sp1 = head.indexOf(' ', 0);
  if (sp1 <= 0 || sp1 > lineEnd) throw new HttpParseError(400, 'malformed request line');
  if (!isTokenRange(head, 0, sp1)) throw new HttpParseError(400, 'invalid method');
  const sp2 = head.indexOf(' ', sp1 + 1);
  if (sp2 === -1 || sp2 > lineEnd || sp2 === sp1 + 1) throw new HttpParseError(400, 'malformed request line');
  for (let i = sp1 + 1; i < sp2; i++) {
    if (TARGET[head.charCodeAt(i)] !== 1) throw new HttpParseError(400, 'invalid character in request target');
  }
  const minor = parseVersion(head, sp2 + 1, lineEnd);
  const method = head.slice(0, sp1);
  let target = head.slice(sp1 + 1, sp2);

  const headers: string[] = [];
  const sum = newSummary();
  parseFields(head, lineEnd + 2, headers, sum, 400);

  let host = sum.host;
  if (sum.hostCount > 1) throw new HttpParseError(400, 'more than one Host header');
  if (target.charCodeAt(0) !== 0x2f /* / */) {
    if (target === '*' && method === 'OPTIONS') {
      // asterisk-form: passed through as is
    } else if (method === 'CONNECT') {
      throw new HttpParseError(501, 'CONNECT is not supported');
    } else {
      const abs = /^https?:\/\/([^/?#]+)([^#]*)$/i.exec(target);
      if (!abs) throw new HttpParseError(400, 'invalid request target');
      // RFC 9112 §3.2.2: the authority of an absolute-form target replaces Host.
      host = abs[1];
      target = abs[2] === '' ? '/' : abs[2].charCodeAt(0) === 0x3f ? `/${abs[2]}` : abs[2];
    }
  }
  if (host === undefined) {
    if (minor === 1) throw new HttpParseError(400, 'missing Host header');
    host = '';
  } else if (!/^[A-Za-z0-9.\-_~%!$&'()*+,;=:[\]]*$/.test(host)) {
    throw new HttpParseError(400, 'invalid Host header');
  }

  const chunked = isChunked(sum.transferEncoding, 400);
  if (sum.transferEncoding !== '') {
    if (sum.contentLength !== -1) throw new HttpParseError(400, 'both Content-Length and Transfer-Encoding');
    if (minor === 0) throw new HttpParseError(400, 'Transfer-Encoding in an HTTP/1.0 request');
  }

  const conn = sum.connection;
  const keepAlive = minor === 1 ? !hasToken(conn, 'close') : hasToken(conn, 'keep-alive');
  const upgrade = sum.upgrade !== undefined && hasToken(conn, 'upgrade') ? sum.upgrade : undefined;
  let expectContinue = false;
  if (sum.expect !== undefined) {
    if (sum.expect !== '100-continue') throw new HttpParseError(417, 'unsupported Expect');
    expectContinue = minor === 1;
  }
  return {
    method,
    path: target,
    minor,
    headers,
    host,
    contentLength: sum.contentLength,
    chunked,
    keepAlive,
    expectContinue,
    upgrade,
    summary: sum,
  };
}

/**
 * "HTTP/1.1" → 1, "HTTP/1.0" → 0; a later 1.x ("HTTP/1.2") → 1: RFC 9112 §2.3 has a
 * recipient treat a higher minor version as the highest it supports (nginx and HAProxy do);
 * another well-formed version (2.0, 3.0) → 505; anything else → 400.
 */
function parseVersion(s: string, start: number, end: number): number {
  if (end - start === 8 && s.startsWith('HTTP/1.', start)) {
    const m = s.charCodeAt(start + 7);
    if (m === 0x31) return 1;
    if (m === 0x30) return 0;
    if (m > 0x31 && m <= 0x39) return 1;
  }
  if (/^HTTP\/\d\.\d$/.test(s.slice(start, end))) throw new HttpParseError(505, 'HTTP version not supported');
  throw new HttpParseError(400, 'malformed HTTP version');
}
