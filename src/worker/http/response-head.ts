/**
 * Upstream response head parsing (RFC 9112 §4, §6.3). Every problem is a 502 for the
 * client. The body length rules depend on the request method (HEAD) and the status.
 */
import { HttpParseError } from './errors';
import { FieldSummary, hasToken, isChunked, newSummary, parseFields } from './fields';

export interface ResponseHead {
  status: number;
  reason: string;
  minor: number;
  headers: string[];
  /** How the body ends. */
  framing: 'none' | 'length' | 'chunked' | 'close';
  contentLength: number;
  /** The upstream connection may be reused after this response. */
  reusable: boolean;
  summary: FieldSummary;
}

export function parseResponseHead(head: string, requestMethod: string): ResponseHead {
  const lineEnd = head.indexOf('\r\n');
  // status-line = HTTP-version SP status-code SP [ reason-phrase ]
  if (lineEnd < 12 || !head.startsWith('HTTP/1.', 0) || head.charCodeAt(8) !== 0x20) {
    throw new HttpParseError(502, 'malformed status line');
  }
  const m = head.charCodeAt(7);
  if (m < 0x30 || m > 0x39) throw new HttpParseError(502, 'malformed status line');
  // A later 1.x is read as 1.1 (RFC 9112 §2.3), as for requests.
  const minor = m === 0x30 ? 0 : 1;
  let status = 0;
  for (let i = 9; i < 12; i++) {
    const d = head.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) throw new HttpParseError(502, 'malformed status code');
    status = status * 10 + d;
  }
  if (status < 100) throw new HttpParseError(502, 'malformed status code');
  if (lineEnd > 12 && head.charCodeAt(12) !== 0x20) throw new HttpParseError(502, 'malformed status line');
  const reason = lineEnd > 13 ? head.slice(13, lineEnd) : '';
  for (let i = 0; i < reason.length; i++) {
    const c = reason.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) throw new HttpParseError(502, 'invalid reason phrase');
  }

  const headers: string[] = [];
  const sum = newSummary();
  parseFields(head, lineEnd + 2, headers, sum, 502);

  let reusable = minor === 1 ? !hasToken(sum.connection, 'close') : hasToken(sum.connection, 'keep-alive');
  let framing: ResponseHead['framing'];
  const chunked = isChunked(sum.transferEncoding, 502);
  if (requestMethod === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    framing = 'none';
  } else if (chunked) {
    if (sum.contentLength !== -1) reusable = false; // RFC 9112 §6.3: TE wins, but never reuse such a peer
    framing = 'chunked';
  } else if (sum.contentLength !== -1) {
    framing = sum.contentLength === 0 ? 'none' : 'length';
  } else {
    framing = 'close';
    reusable = false;
  }
  return { status, reason, minor, headers, framing, contentLength: sum.contentLength, reusable, summary: sum };
}
