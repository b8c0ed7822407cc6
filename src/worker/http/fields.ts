/**
 * Header-field section parsing shared by requests and responses (RFC 9112 §5).
 * Input is the head as a latin1 string (bytes map 1:1 to chars, so values round-trip
 * byte-exact when written back with 'latin1'). Lines end in CRLF; a bare CR or LF, an
 * obs-fold, whitespace before the colon, a bad name or a control byte in a value fail.
 */
import { HttpParseError } from './errors';
import { eqLower, isFieldValueRange, isToken, isTokenRange, trimOws } from './chars';
import { MAX_HEADER_COUNT } from '../../shared/constants';

/** What framing-relevant fields said; filled while parsing so no second pass is needed. */
export interface FieldSummary {
  contentLength: number; // -1: absent
  /** Transfer-Encoding values joined (lower-cased), '' when absent. */
  transferEncoding: string;
  /** Connection tokens, lower-cased, comma-joined ('' when absent). */
  connection: string;
  host: string | undefined;
  hostCount: number;
  expect: string | undefined;
  upgrade: string | undefined;
  /** Index in the flat array of the first x-request-id / x-forwarded-for value, -1 when absent. */
  requestIdIndex: number;
  forwardedForIndex: number;
  /** An x-forwarded-client-cert came from the client (removed unless mTLS replaces it). */
  hasXfcc: boolean;
}

export function newSummary(): FieldSummary {
  return {
    contentLength: -1,
    transferEncoding: '',
    connection: '',
    host: undefined,
    hostCount: 0,
    expect: undefined,
    upgrade: undefined,
    requestIdIndex: -1,
    forwardedForIndex: -1,
    hasXfcc: false,
  };
}

function parseContentLength(value: string, status: number): number {
  // 1*DIGIT, or a list of identical values ("5, 5") which RFC 9110 §8.6 lets us collapse.
  let result = -1;
  let start = 0;
  while (start <= value.length) {
    let end = value.indexOf(',', start);
    if (end === -1) end = value.length;
    let a = start;
    let b = end;
    while (a < b && (value.charCodeAt(a) === 0x20 || value.charCodeAt(a) === 0x09)) a++;
    while (b > a && (value.charCodeAt(b - 1) === 0x20 || value.charCodeAt(b - 1) === 0x09)) b--;
    if (a === b || b - a > 15) throw new HttpParseError(status, 'invalid Content-Length');
    let n = 0;
    for (let i = a; i < b; i++) {
      const c = value.charCodeAt(i) - 0x30;
      if (c < 0 || c > 9) throw new HttpParseError(status, 'invalid Content-Length');
      n = n * 10 + c;
    }
    if (result !== -1 && n !== result) throw new HttpParseError(status, 'conflicting Content-Length values');
    result = n;
    start = end + 1;
  }
  return result;
}

/**
 * Parses the field lines of `head` from `pos` (just after the start line's CRLF) up to the
 * empty line. Appends name/value pairs to `out` and fills `sum`. `status` is the status used
 * for errors (400 for requests, 502 for responses).
 */
export function parseFields(head: string, pos: number, out: string[], sum: FieldSummary, status: number): void {
  const len = head.length; // head ends with the final CRLF CRLF
  let count = 0;
  while (pos < len) {
    const eol = head.indexOf('\r\n', pos);
    if (eol === -1) throw new HttpParseError(status, 'header line without CRLF');
    if (eol === pos) return; // the empty line
    if (++count > MAX_HEADER_COUNT) throw new HttpParseError(status === 400 ? 431 : status, 'too many header fields');
    const first = head.charCodeAt(pos);
    if (first === 0x20 || first === 0x09) throw new HttpParseError(status, 'obsolete line folding');
    const colon = head.indexOf(':', pos);
    if (colon === -1 || colon > eol) throw new HttpParseError(status, 'header line without a colon');
    if (!isTokenRange(head, pos, colon)) throw new HttpParseError(status, 'invalid header name');
    let vs = colon + 1;
    let ve = eol;
    while (vs < ve && (head.charCodeAt(vs) === 0x20 || head.charCodeAt(vs) === 0x09)) vs++;
    while (ve > vs && (head.charCodeAt(ve - 1) === 0x20 || head.charCodeAt(ve - 1) === 0x09)) ve--;
    if (!isFieldValueRange(head, vs, ve)) throw new HttpParseError(status, 'invalid character in header value');
    const name = head.slice(pos, colon);
    const value = head.slice(vs, ve);
    out.push(name, value);
    classify(name, value, out.length - 1, sum, status);
    pos = eol + 2;
  }
  throw new HttpParseError(status, 'header section not terminated');
}

function classify(name: string, value: string, valueIndex: number, sum: FieldSummary, status: number): void {
  // Dispatch on length first: most headers are none of these and cost one switch.
  switch (name.length) {
    case 4:
      if (eqLower(name, 'host')) {
        sum.host = value;
        sum.hostCount++;
      }
      return;
    case 6:
      if (eqLower(name, 'expect')) sum.expect = value.toLowerCase();
      return;
    case 7:
      if (eqLower(name, 'upgrade')) sum.upgrade = value;
      return;
    case 10:
      if (eqLower(name, 'connection')) {
        const v = value.toLowerCase();
        sum.connection = sum.connection ? `${sum.connection},${v}` : v;
      }
      return;
    case 12:
      if (sum.requestIdIndex === -1 && eqLower(name, 'x-request-id')) sum.requestIdIndex = valueIndex;
      return;
    case 14:
      if (eqLower(name, 'content-length')) {
        const n = parseContentLength(value, status);
        if (sum.contentLength !== -1 && sum.contentLength !== n) {
          throw new HttpParseError(status, 'conflicting Content-Length values');
        }
        sum.contentLength = n;
      }
      return;
    case 15:
      if (sum.forwardedForIndex === -1 && eqLower(name, 'x-forwarded-for')) sum.forwardedForIndex = valueIndex;
      return;
    case 23:
      if (eqLower(name, 'x-forwarded-client-cert')) sum.hasXfcc = true;
      return;
    case 17:
      if (eqLower(name, 'transfer-encoding')) {
        // An empty value is a Transfer-Encoding all the same (RFC 9112 §6.3: then the
        // length cannot be known): never read it as absent, which framed by Content-Length
        // or no body what the next hop may read as chunked.
        if (value === '') throw new HttpParseError(status, 'empty Transfer-Encoding');
        const v = value.toLowerCase();
        sum.transferEncoding = sum.transferEncoding ? `${sum.transferEncoding},${v}` : v;
      }
      return;
    default:
      return;
  }
}

/** True when the comma-separated, lower-cased list contains `token`. */
export function hasToken(list: string, token: string): boolean {
  if (list.length === 0) return false;
  if (list === token) return true;
  let start = 0;
  while (start < list.length) {
    let end = list.indexOf(',', start);
    if (end === -1) end = list.length;
    let a = start;
    let b = end;
    while (a < b && (list.charCodeAt(a) === 0x20 || list.charCodeAt(a) === 0x09)) a++;
    while (b > a && (list.charCodeAt(b - 1) === 0x20 || list.charCodeAt(b - 1) === 0x09)) b--;
    if (b - a === token.length && list.startsWith(token, a)) return true;
    start = end + 1;
  }
  return false;
}

/**
 * Transfer-Encoding check shared by both directions: returns true when the body is chunked.
 * The final coding must be chunked (else the length is unknowable: 400/502); chunked may not
 * appear twice; every coding must be a bare token: `\xa0chunked` is an unknown coding, not
 * chunked, and parameters are refused. Other codings before chunked (gzip, ...)
 * pass through untouched.
 */
export function isChunked(te: string, status: number): boolean {
  if (te === '') return false;
  if (te === 'chunked') return true;
  const codings = transferCodings(te);
  if (codings.length === 0) throw new HttpParseError(status, 'empty Transfer-Encoding');
  let chunkedCount = 0;
  for (const c of codings) {
    // Parameters (`gzip;q=1`, `chunked;x`) are refused: no coding in use has one, and
    // parsers disagree on them (`chunked;q=1, chunked` is chunked applied twice to one
    // reader and once to another).
    if (!isToken(c)) throw new HttpParseError(status, 'invalid transfer coding');
    if (c === 'chunked') chunkedCount++;
  }
  if (codings[codings.length - 1] !== 'chunked' || chunkedCount !== 1) {
    throw new HttpParseError(status, 'Transfer-Encoding must end with a single chunked');
  }
  return true;
}

/** The codings of a (lower-cased, comma-joined) Transfer-Encoding value, empty list elements dropped. */
export function transferCodings(te: string): string[] {
  const out: string[] = [];
  for (const raw of te.split(',')) {
    const c = trimOws(raw);
    if (c.length > 0) out.push(c);
  }
  return out;
}
