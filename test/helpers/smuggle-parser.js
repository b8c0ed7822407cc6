'use strict';
/**
 * A STRICT HTTP/1.1 message parser written from RFC 9112's grammar, independent of mosnd's
 * (src/worker/http/): the smuggling harness judges what mosnd receives and forwards by it.
 *
 * Strict where two parsers could disagree about where a message ends: line ends are CRLF and
 * nothing else (a bare CR or LF is an error), no obs-fold, field names are tokens with no
 * whitespace before the colon, field values hold no CTL but HTAB, the version is HTTP/1.x,
 * Content-Length is 1*DIGIT (a list of identical values collapses, RFC 9110 §8.6),
 * Transfer-Encoding must end in a single chunked and never comes with Content-Length or in
 * HTTP/1.0 (§6.1, §6.3), chunk lines follow §7.1 exactly (BWS before ";" only, token or
 * quoted-string extension values, trailer lines are field lines).
 *
 * Lenient (like mosnd) where nothing about the framing depends on it: any visible ASCII in the
 * request target. Host problems (missing, repeated, odd characters) and target forms are
 * "semantic" errors: the request is still delimited, so a server may refuse it or not.
 *
 * Every function is pure: (buffer, offset) in, a description of what is there out.
 */

/** Heads larger than this are an error (mosnd's MAX_HEADER_BYTES is 64 KiB). */
const MAX_HEAD_BYTES = 64 * 1024;
/** Longer chunk sizes are refused (mosnd refuses more than 13 hex digits). */
const MAX_CHUNK_SIZE_DIGITS = 13;

const TOKEN_RE = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const TOKEN = new RegExp(`^${TOKEN_RE}$`);
const QUOTED_RE = '"(?:[\\t \\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t \\x21-\\x7e\\x80-\\xff])*"';
const TRANSFER_CODING = new RegExp(`^${TOKEN_RE}(?:[ \\t]*;[ \\t]*${TOKEN_RE}=(?:${TOKEN_RE}|${QUOTED_RE}))*$`);
/** chunk-size [ chunk-ext ] (RFC 9112 §7.1.1): BWS only around ";" and "=". */
const CHUNK_LINE = new RegExp(
  `^([0-9A-Fa-f]+)((?:[ \\t]*;[ \\t]*${TOKEN_RE}(?:[ \\t]*=[ \\t]*(?:${TOKEN_RE}|${QUOTED_RE}))?)*)$`,
);
/** field-value after trimming OWS: VCHAR / obs-text with inner SP / HTAB (RFC 9110 §5.5). */
const FIELD_VALUE = /^(?:[\x21-\x7e\x80-\xff](?:[\t \x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?$/;
const REQUEST_LINE = new RegExp(`^(${TOKEN_RE}) ([\\x21-\\x7e]+) HTTP/(\\d)\\.(\\d)$`);
// A later 1.x (HTTP/1.5) is read as 1.1, as for requests (RFC 9112 §2.3; mosnd does the same).
const STATUS_LINE = /^HTTP\/1\.(\d) (\d{3})(?: ([\t \x21-\x7e\x80-\xff]*))?$/;
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(?::\d*)?$/;

class ParseError extends Error {
  /** `kind`: 'framing' (where the message ends is in doubt) or 'semantic' (it is not). */
  constructor(reason, kind = 'framing') {
    super(reason);
    this.reason = reason;
    this.kind = kind;
  }
}

const INCOMPLETE = Symbol('incomplete');

/** One CRLF-terminated line at `pos`: { line (latin1, without CRLF), next } or INCOMPLETE. */
function readLine(buf, pos, limit) {
  const lf = buf.indexOf(0x0a, pos);
  const cr = buf.indexOf(0x0d, pos);
  if (cr !== -1 && (lf === -1 || cr < lf - 1)) {
    if (cr + 1 < buf.length) throw new ParseError('bare CR');
  }
  if (lf === -1) {
    if (buf.length - pos > limit) throw new ParseError('line too long');
    return INCOMPLETE;
  }
  if (lf === pos || buf[lf - 1] !== 0x0d) throw new ParseError('bare LF');
  if (lf - pos > limit) throw new ParseError('line too long');
  return { line: buf.toString('latin1', pos, lf - 1), next: lf + 1 };
}

/** field-line (RFC 9112 §5): [name, value] or a ParseError. */
function parseFieldLine(line) {
  if (line[0] === ' ' || line[0] === '\t') throw new ParseError('obs-fold');
  const colon = line.indexOf(':');
  if (colon <= 0) throw new ParseError('field line without a name and colon');
  const name = line.slice(0, colon);
  if (!TOKEN.test(name)) throw new ParseError(`invalid field name ${JSON.stringify(name)}`);
  const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
  if (!FIELD_VALUE.test(value)) throw new ParseError(`invalid field value ${JSON.stringify(value)}`);
  return [name, value];
}

/** Field lines up to the empty line: { fields: [[name, value]], next } or INCOMPLETE. */
function readFields(buf, pos, start) {
  const fields = [];
  for (;;) {
    const l = readLine(buf, pos, MAX_HEAD_BYTES);
    if (l === INCOMPLETE) {
      if (buf.length - start > MAX_HEAD_BYTES) throw new ParseError('head too large');
      return INCOMPLETE;
    }
    if (l.next - start > MAX_HEAD_BYTES) throw new ParseError('head too large');
    if (l.line === '') return { fields, next: l.next };
    fields.push(parseFieldLine(l.line));
    pos = l.next;
  }
}

function values(fields, lname) {
  return fields.filter(([n]) => n.toLowerCase() === lname).map(([, v]) => v);
}

/** Elements of a comma-separated list (RFC 9110 §5.6.1: empty elements are ignored). */
function listElements(vals) {
  return vals
    .join(',')
    .split(',')
    .map((s) => s.replace(/^[ \t]+|[ \t]+$/g, ''))
    .filter((s) => s !== '');
}

/**
 * Message framing from the fields (RFC 9112 §6.3): { framing: 'none'|'length'|'chunked'|'close',
 * length }. `isRequest`: a request without CL/TE has no body; a response reads to the close.
 */
function framingOf(fields, minor, isRequest) {
  const te = values(fields, 'transfer-encoding');
  const cl = values(fields, 'content-length');
  if (te.length > 0) {
    if (cl.length > 0) throw new ParseError('both Content-Length and Transfer-Encoding');
    if (minor === 0) throw new ParseError('Transfer-Encoding in HTTP/1.0');
    const codings = listElements(te).map((c) => {
      // transfer-coding = token *( OWS ";" OWS transfer-parameter ) (RFC 9112 §7)
      if (!TRANSFER_CODING.test(c)) throw new ParseError(`invalid transfer coding ${JSON.stringify(c)}`);
      return /^[^; \t]+/.exec(c)[0].toLowerCase();
    });
    if (codings.length === 0) throw new ParseError('empty Transfer-Encoding');
    if (codings[codings.length - 1] !== 'chunked') throw new ParseError('final transfer coding is not chunked');
    if (codings.indexOf('chunked') !== codings.length - 1) throw new ParseError('chunked applied more than once');
    return { framing: 'chunked', length: -1 };
  }
  if (cl.length > 0) {
    let n = -1;
    for (const v of listElements(cl).length === 0 ? [''] : cl.join(',').split(',')) {
      const s = v.replace(/^[ \t]+|[ \t]+$/g, '');
      if (!/^\d{1,15}$/.test(s)) throw new ParseError(`invalid Content-Length ${JSON.stringify(v)}`);
      if (n !== -1 && Number(s) !== n) throw new ParseError('differing Content-Length values');
      n = Number(s);
    }
    return { framing: n === 0 ? 'none' : 'length', length: n };
  }
  return isRequest ? { framing: 'none', length: 0 } : { framing: 'close', length: -1 };
}

/**
 * A chunked body at `pos` (RFC 9112 §7.1): { body, trailers, next } or INCOMPLETE. `chunkLines`
 * collects the raw size lines (for checks on how a proxy re-framed them).
 */
function readChunked(buf, pos) {
  const parts = [];
  for (;;) {
    const l = readLine(buf, pos, 4096);
    if (l === INCOMPLETE) return INCOMPLETE;
    const m = CHUNK_LINE.exec(l.line);
    if (!m) throw new ParseError(`invalid chunk line ${JSON.stringify(l.line)}`);
    if (m[1].replace(/^0+/, '').length > MAX_CHUNK_SIZE_DIGITS) throw new ParseError('chunk size too large');
    const size = parseInt(m[1], 16);
    pos = l.next;
    if (size === 0) {
      const t = readFields(buf, pos, pos);
      if (t === INCOMPLETE) return INCOMPLETE;
      return { body: Buffer.concat(parts), trailers: t.fields, next: t.next };
    }
    if (buf.length < pos + size + 2) {
      // Not all there yet, but what is there must already be right.
      if (buf.length >= pos + size + 1 && buf[pos + size] !== 0x0d) throw new ParseError('chunk data not followed by CRLF');
      return INCOMPLETE;
    }
    if (buf[pos + size] !== 0x0d || buf[pos + size + 1] !== 0x0a) throw new ParseError('chunk data not followed by CRLF');
    parts.push(buf.subarray(pos, pos + size));
    pos += size + 2;
  }
}

/** The body by `framing` at `pos`: { body, trailers, next } or INCOMPLETE. */
function readBody(buf, pos, f, closed) {
  if (f.framing === 'none') return { body: Buffer.alloc(0), trailers: [], next: pos };
  if (f.framing === 'length') {
    if (buf.length < pos + f.length) return INCOMPLETE;
    return { body: Buffer.from(buf.subarray(pos, pos + f.length)), trailers: [], next: pos + f.length };
  }
  if (f.framing === 'chunked') return readChunked(buf, pos);
  if (!closed) return INCOMPLETE;
  return { body: Buffer.from(buf.subarray(pos)), trailers: [], next: buf.length };
}

/**
 * One request at `pos`. Returns { kind: 'ok', request, next }, { kind: 'incomplete' } or
 * { kind: 'error', reason, errorKind }. A request with a semantic error is still returned
 * ('ok') with `semanticError` set, since where it ends is certain. `headOnly`: stop after the
 * head (the request's framing and length say what the body would be).
 */
function parseRequest(buf, pos = 0, { headOnly = false } = {}) {
  try {
    // RFC 9112 §2.2: empty lines before the request line are ignored.
    while (buf.length >= pos + 2 && buf[pos] === 0x0d && buf[pos + 1] === 0x0a) pos += 2;
    if (pos >= buf.length || (buf.length === pos + 1 && buf[pos] === 0x0d)) return { kind: 'incomplete' };
    const start = pos;
    const rl = readLine(buf, pos, 16 * 1024);
    if (rl === INCOMPLETE) return { kind: 'incomplete' };
    const m = REQUEST_LINE.exec(rl.line);
    if (!m) throw new ParseError(`invalid request line ${JSON.stringify(rl.line.slice(0, 80))}`);
    if (m[3] !== '1') throw new ParseError(`HTTP version ${m[3]}.${m[4]}`);
    const [, method, target] = m;
    const minor = m[4] === '0' ? 0 : 1; // HTTP/1.x, x > 1: served as 1.1 (RFC 9110 §6.2)
    const fr = readFields(buf, rl.next, start);
    if (fr === INCOMPLETE) return { kind: 'incomplete' };
    const { fields } = fr;
    const framing = framingOf(fields, minor, true);
    const body = headOnly ? { body: Buffer.alloc(0), trailers: [], next: fr.next } : readBody(buf, fr.next, framing, false);
    if (body === INCOMPLETE) return { kind: 'incomplete' };
    const request = {
      method,
      target,
      minor,
      fields,
      framing: framing.framing,
      length: framing.length,
      body: body.body,
      trailers: body.trailers,
      head: buf.toString('latin1', start, fr.next),
      path: target,
      semanticError: null,
      closeAfter: false,
    };
    semantics(request);
    return { kind: 'ok', request, next: body.next };
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    return { kind: 'error', reason: e.reason, errorKind: e.kind };
  }
}

/** Target form, Host and connection persistence; problems here are 'semantic'. */
function semantics(r) {
  const conn = listElements(values(r.fields, 'connection')).map((t) => t.toLowerCase());
  r.closeAfter = r.minor === 0 ? !conn.includes('keep-alive') : conn.includes('close');
  const hosts = values(r.fields, 'host');
  const set = (reason) => (r.semanticError ??= reason);
  if (r.minor === 1 && hosts.length === 0) set('missing Host');
  if (hosts.length > 1) set('more than one Host');
  if (hosts.length === 1 && !HOST.test(hosts[0])) set('invalid Host');
  const t = r.target;
  if (t[0] === '/') return;
  const abs = /^https?:\/\/([^/?#]*)([^#]*)$/i.exec(t);
  if (abs && abs[1] !== '') {
    r.path = abs[2] === '' ? '/' : abs[2][0] === '?' ? `/${abs[2]}` : abs[2];
    return;
  }
  if (t === '*' && r.method === 'OPTIONS') return;
  set(`request target form ${JSON.stringify(t.slice(0, 40))}`);
}

/**
 * Every request in `buf` as a server reads a connection: stops at an error, at a request that
 * ends the connection, or at an incomplete tail. Returns { requests, error, errorKind,
 * leftover (bytes after the last complete request), next }.
 */
function parseRequests(buf) {
  const requests = [];
  let pos = 0;
  for (;;) {
    const r = parseRequest(buf, pos);
    if (r.kind === 'error') return { requests, error: r.reason, errorKind: r.errorKind, leftover: buf.length - pos, next: pos };
    if (r.kind === 'incomplete') return { requests, error: null, errorKind: null, leftover: onlyEmptyLines(buf, pos), next: pos };
    requests.push(r.request);
    pos = r.next;
    if (r.request.closeAfter) return { requests, error: null, errorKind: null, leftover: 0, closedAt: pos, next: pos };
  }
}

/** Bytes at `pos` that are more than empty lines (which a server may ignore). */
function onlyEmptyLines(buf, pos) {
  let p = pos;
  while (p + 1 < buf.length && buf[p] === 0x0d && buf[p + 1] === 0x0a) p += 2;
  return buf.length - p;
}

/**
 * One response at `pos` to a request with `method`. `closed`: the connection has ended, so a
 * close-delimited body is complete. { kind: 'ok', response, next } | incomplete | error.
 */
function parseResponse(buf, pos = 0, { method = 'GET', closed = false, headOnly = false } = {}) {
  try {
    if (pos >= buf.length) return { kind: 'incomplete' };
    const sl = readLine(buf, pos, 16 * 1024);
    if (sl === INCOMPLETE) return { kind: 'incomplete' };
    const m = STATUS_LINE.exec(sl.line);
    if (!m) throw new ParseError(`invalid status line ${JSON.stringify(sl.line.slice(0, 80))}`);
    const minor = m[1] === '0' ? 0 : 1;
    const status = Number(m[2]);
    if (status < 100) throw new ParseError('invalid status code');
    const fr = readFields(buf, sl.next, pos);
    if (fr === INCOMPLETE) return { kind: 'incomplete' };
    const noBody = method === 'HEAD' || status < 200 || status === 204 || status === 304;
    const framing = noBody ? { framing: 'none', length: 0 } : framingOf(fr.fields, minor, false);
    const body = headOnly ? { body: Buffer.alloc(0), next: fr.next } : readBody(buf, fr.next, framing, closed);
    if (body === INCOMPLETE) return { kind: 'incomplete' };
    const conn = listElements(values(fr.fields, 'connection')).map((t) => t.toLowerCase());
    return {
      kind: 'ok',
      response: {
        status,
        minor,
        fields: fr.fields,
        framing: framing.framing,
        length: framing.length,
        body: body.body,
        closeAfter: framing.framing === 'close' || (minor === 0 ? !conn.includes('keep-alive') : conn.includes('close')),
      },
      next: body.next,
    };
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    return { kind: 'error', reason: e.reason, errorKind: e.kind };
  }
}

/** Every response in `buf`, interim 1xx included. Same shape as parseRequests. */
function parseResponses(buf, { method = 'GET', closed = false } = {}) {
  const responses = [];
  let pos = 0;
  for (;;) {
    if (pos >= buf.length) return { responses, error: null, leftover: 0, next: pos };
    const r = parseResponse(buf, pos, { method, closed });
    if (r.kind === 'error') return { responses, error: r.reason, leftover: buf.length - pos, next: pos };
    if (r.kind === 'incomplete') return { responses, error: null, leftover: buf.length - pos, next: pos };
    responses.push(r.response);
    pos = r.next;
  }
}

/**
 * Whether a forwarded request's framing is canonical, so that no HTTP/1.1 parser can read it
 * otherwise: at most one framing field, Content-Length exactly 1*DIGIT, Transfer-Encoding a
 * plain token list ending in "chunked". Returns null or the problem. Also flags fields whose
 * name only looks like a framing field (Content_Length, Transfer-Encoding2...) in `lookalikes`.
 */
function framingProblem(request) {
  const f = request.fields.filter(([n]) => /^(content-length|transfer-encoding)$/i.test(n));
  if (f.length > 1) return `${f.length} framing fields: ${JSON.stringify(f)}`;
  if (f.length === 1) {
    const [n, v] = f[0];
    if (/^content-length$/i.test(n) && !/^\d+$/.test(v)) return `Content-Length ${JSON.stringify(v)}`;
    if (/^transfer-encoding$/i.test(n) && !/^(?:[A-Za-z0-9-]+(?:[ \t]*;[ \t]*[A-Za-z0-9-]+=[A-Za-z0-9.-]+)*[ \t]*,[ \t]*)*chunked$/i.test(v)) {
      return `Transfer-Encoding ${JSON.stringify(v)}`;
    }
  }
  return null;
}

function lookalikeFields(fields) {
  return fields
    .map(([n]) => n)
    .filter((n) => !/^(content-length|transfer-encoding)$/i.test(n))
    .filter((n) => /content.?length|transfer.?encoding/i.test(n.replace(/[^A-Za-z]/g, '')));
}

/** A latin1 string quoted with every byte outside printable ASCII escaped (\xNN, \r, \n, \t). */
function printable(s) {
  const hex = (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  return `"${s.replace(/[\\"]/g, '\\$&').replace(/\r/g, '\\r').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/[^\x20-\x7e]/g, hex)}"`;
}

module.exports = {
  printable,
  parseRequest,
  parseRequests,
  parseResponse,
  parseResponses,
  framingProblem,
  lookalikeFields,
  readChunked,
  INCOMPLETE,
  ParseError,
};
