'use strict';
/**
 * Fuzz properties of mosnd's HTTP/1.1 parsers, taken as pure functions from dist/ (the
 * request and response heads, the head reader, the chunked decoder, the upstream head
 * serializer). Shared by test/fuzz-parsers.test.js (bounded, in CI) and scripts/fuzz.js
 * (longer, with a seed, recording what it finds).
 *
 * Each property is { name, arb (fast-check arbitrary of a JSON-able input), check(input) }:
 * check throws when the property does not hold, so an input that once failed is replayed
 * as a named regression case (test/fixtures/fuzz-regressions.json) without fast-check.
 *
 * Inputs are latin1 strings (one char per byte). The seed corpus is the smuggling corpus
 * (smuggle-corpus.js) plus a few well-formed messages; most generated inputs are mutations of
 * it with the bytes that matter to framing (CR, LF, SP, HTAB, VT, FF, NBSP, NUL, ",", ";",
 * '"', digits...), the rest are built from HTTP fragments.
 */
const fc = require('fast-check');
const path = require('node:path');
const sp = require('./smuggle-parser');
const { buildCorpus } = require('./smuggle-corpus');

const DIST = path.join(__dirname, '..', '..', 'dist', 'worker', 'http');
const { HttpParseError } = require(path.join(DIST, 'errors.js'));
const { HeadReader } = require(path.join(DIST, 'head-reader.js'));
const { parseRequestHead } = require(path.join(DIST, 'request-head.js'));
const { parseResponseHead } = require(path.join(DIST, 'response-head.js'));
const { ChunkedTracker } = require(path.join(DIST, 'chunked.js'));
const { buildUpstreamHead, sendableCodings } = require(path.join(DIST, 'serialize.js'));

/** The limits connection.ts and response-forward.ts give their HeadReaders. */
const REQUEST_LIMITS = { maxHeadBytes: 64 * 1024, maxLineBytes: 8 * 1024, tooLargeStatus: 431, badStatus: 400, skipLeadingCrlf: true };
const RESPONSE_LIMITS = { maxHeadBytes: 64 * 1024, maxLineBytes: 0, tooLargeStatus: 502, badStatus: 502, skipLeadingCrlf: false };

const INTERESTING = ['\r', '\n', '\r\n', ' ', '\t', '\x0b', '\x0c', '\xa0', '\x00', '\x7f', '\xff', ',', ';', '=', '"', '\\', ':', '0', '5', 'a', 'f', 'x', '-', '_'];
const FRAGMENTS = [
  'GET', 'POST', ' ', '/', '/a', 'HTTP/1.1', 'HTTP/1.0', '\r\n', 'Host: t', 'Content-Length', 'Transfer-Encoding', ': ', ':', 'chunked',
  'gzip', ',', ';', '"', '\t', '\x00', '\x0b', '\xa0', '0', '5', '10', 'Connection', 'close', 'keep-alive', 'Expect', '100-continue',
  '\r\n\r\n', 'hello', 'HTTP/1.1 200 OK', 'HTTP/1.1 100 Continue', '5\r\nhello\r\n', '0\r\n\r\n', 'X-T: 1\r\n',
];

const WELL_FORMED = [
  'GET / HTTP/1.1\r\nHost: t\r\n\r\n',
  'POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello',
  'POST /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;e="x"\r\nhello\r\n0\r\nX-T: 1\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfine',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nfine\r\n0\r\n\r\n',
  'HTTP/1.1 204 No Content\r\n\r\n',
];

let seeds = null;
/**
 * The seed corpus: every smuggling case plus the well-formed messages, and each smuggling
 * case turned into a response (its request line and Host replaced by a status line), so the
 * response parser meets the same framing tricks.
 */
function seedCorpus() {
  if (seeds === null) {
    const requests = buildCorpus().map((c) => c.bytes);
    const responses = requests
      .filter((b) => /^[A-Z]+ \/a HTTP\/1\.1\r\nHost: t\r\n/.test(b))
      .map((b) => b.replace(/^[A-Z]+ \/a HTTP\/1\.1\r\nHost: t\r\n/, 'HTTP/1.1 200 OK\r\n'));
    const wellFormed = WELL_FORMED.filter((b) => !b.startsWith('HTTP/'));
    seeds = {
      requests: [...wellFormed, ...requests],
      responses: [...WELL_FORMED.filter((b) => b.startsWith('HTTP/')), ...responses],
      // Requests a strict reading accepts whole: mutations of them stay near valid.
      valid: [...wellFormed, ...requests.filter((b) => {
        const r = sp.parseRequests(Buffer.from(b, 'latin1'));
        return r.error === null && r.leftover === 0;
      })],
    };
  }
  return seeds;
}

/** A seed of `kind` with 1-6 mutations (insert, replace, delete, duplicate a slice). */
const mutatedFrom = (kind) => fc
  .record({
    seed: fc.nat(),
    edits: fc.array(
      fc.record({ at: fc.nat(), op: fc.constantFrom('insert', 'replace', 'delete', 'dup'), piece: fc.constantFrom(...INTERESTING), len: fc.integer({ min: 1, max: 24 }) }),
      { minLength: 1, maxLength: 6 },
    ),
  })
  .map(({ seed, edits }) => {
    const all = seedCorpus()[kind];
    let s = all[seed % all.length];
    for (const e of edits) {
      const at = s.length === 0 ? 0 : e.at % (s.length + 1);
      if (e.op === 'insert') s = s.slice(0, at) + e.piece + s.slice(at);
      else if (e.op === 'replace') s = s.slice(0, at) + e.piece + s.slice(at + 1);
      else if (e.op === 'delete') s = s.slice(0, at) + s.slice(at + e.len);
      else s = s.slice(0, at) + s.slice(at, at + e.len) + s.slice(at);
    }
    return s;
  });

const mutated = mutatedFrom('requests');
const mutatedResponse = mutatedFrom('responses');

const fragments = fc.array(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.constantFrom(...INTERESTING)), { maxLength: 60 }).map((a) => a.join(''));
const latin1 = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 200 }).map((a) => String.fromCharCode(...a));
/** HTTP-ish bytes: mostly mutated seeds, some built from fragments, a few random. */
const httpish = fc.oneof({ arbitrary: mutated, weight: 6 }, { arbitrary: fragments, weight: 3 }, { arbitrary: latin1, weight: 1 });
const httpishResponse = fc.oneof({ arbitrary: mutatedResponse, weight: 6 }, { arbitrary: fragments, weight: 3 }, { arbitrary: latin1, weight: 1 });
/** Where to cut the bytes into reads (positions, any order, duplicates ignored). */
const splits = fc.array(fc.nat({ max: 4096 }), { maxLength: 8 });

function cut(bytes, points) {
  const buf = Buffer.from(bytes, 'latin1');
  const ps = [...new Set(points.map((p) => p % (buf.length + 1)))].sort((a, b) => a - b);
  const out = [];
  let prev = 0;
  for (const p of ps) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out.filter((b) => b.length > 0);
}

/** Only HttpParseError may come out of a parser; anything else is a crash of the worker. */
function onlyParseErrors(fn) {
  try {
    return { value: fn(), error: null };
  } catch (e) {
    if (!(e instanceof HttpParseError)) throw new Error(`threw ${e?.constructor?.name}: ${e?.message}`);
    if (!(e.status >= 400 && e.status <= 599)) throw new Error(`HttpParseError with status ${e.status}`);
    return { value: null, error: e };
  }
}

/** Feeds reads to a HeadReader; returns the first head (or null). */
function readHead(limits, parts) {
  const r = new HeadReader(limits);
  for (const p of parts) {
    const head = r.push(p);
    if (head !== null) return head;
  }
  return null;
}

/** Runs a ChunkedTracker over `parts`: { end (absolute), done, error, data }. */
function track(parts) {
  const t = new ChunkedTracker(400);
  const data = [];
  let offset = 0;
  for (const p of parts) {
    let end;
    try {
      end = t.feed(p, 0, (b, s, e) => data.push(Buffer.from(b.subarray(s, e))));
    } catch (e) {
      if (!(e instanceof HttpParseError)) throw new Error(`ChunkedTracker threw ${e?.constructor?.name}: ${e?.message}`);
      return { end: -1, done: false, error: e.reason, data: Buffer.concat(data).toString('latin1') };
    }
    if (t.done) return { end: offset + end, done: true, error: null, data: Buffer.concat(data).toString('latin1') };
    offset += p.length;
  }
  return { end: offset, done: false, error: null, data: Buffer.concat(data).toString('latin1') };
}

function eq(a, b, what) {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  if (x !== y) throw new Error(`${what}: ${x} !== ${y}`);
}

/** A well-formed chunked body, built from sizes (leading zeros included), extensions, trailers. */
const chunkedBody = fc
  .record({
    chunks: fc.array(
      fc.record({
        data: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 40 }).map((a) => String.fromCharCode(...a)),
        zeros: fc.integer({ min: 0, max: 2 }),
        upper: fc.boolean(),
        ext: fc.constantFrom('', ';a', ';a=b', ';a="x y"', ' ;a=b', ';a=b;c="\\"q\\""'),
      }),
      { maxLength: 5 },
    ),
    lastExt: fc.constantFrom('', ';x=y'),
    trailers: fc.constantFrom('', 'X-T: 1\r\n', 'X-T: 1\r\nX-U: two words\r\n'),
    tail: fc.constantFrom('', 'GET / HTTP/1.1\r\n\r\n', '0\r\n\r\n', 'junk'),
  })
  .map(({ chunks, lastExt, trailers, tail }) => {
    let body = '';
    for (const c of chunks) {
      const size = c.data.length.toString(16);
      body += `${'0'.repeat(c.zeros)}${c.upper ? size.toUpperCase() : size}${c.ext}\r\n${c.data}\r\n`;
    }
    body += `0${lastExt}\r\n${trailers}\r\n`;
    return { body, data: chunks.map((c) => c.data).join(''), tail };
  });

/** A well-formed request: method, path, fields, framing, and a Connection header. */
const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const fieldValue = fc.stringMatching(/^[\x21-\x7e\x80-\xff]([\x20-\x7e\x80-\xff]{0,20}[\x21-\x7e\x80-\xff])?$/);
const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
  path: fc.stringMatching(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,30}$/),
  fields: fc.array(fc.tuple(token.filter((n) => !/^(host|content-length|transfer-encoding|connection|expect|upgrade|te|keep-alive|proxy-connection|x-forwarded-for|x-forwarded-proto|x-request-id)$/i.test(n)), fieldValue), { maxLength: 6 }),
  framing: fc.constantFrom('none', 'length', 'chunked'),
  length: fc.nat({ max: 100_000 }),
  connection: fc.array(fc.constantFrom('close', 'keep-alive', 'x-a', 'Content-Length', 'content-length', 'Transfer-Encoding', 'TRANSFER-ENCODING', 'te', 'x-forwarded-for'), { maxLength: 3 }),
  nameCase: fc.constantFrom('Content-Length', 'content-length', 'CONTENT-LENGTH'),
});

function serializeRequest(r) {
  let s = `${r.method} ${r.path} HTTP/1.1\r\nHost: t\r\n`;
  for (const [n, v] of r.fields) s += `${n}: ${v}\r\n`;
  if (r.connection.length > 0) s += `Connection: ${r.connection.join(', ')}\r\n`;
  if (r.framing === 'length') s += `${r.nameCase}: ${r.length}\r\n`;
  if (r.framing === 'chunked') s += 'Transfer-Encoding: chunked\r\n';
  return `${s}\r\n`;
}

/** How a strict reading frames a head: 'chunked', a length, or 0 (no body). */
function strictFraming(x) {
  return x.framing === 'chunked' ? 'chunked' : x.framing === 'length' ? x.length : x.framing === 'close' ? 'close' : 0;
}

const PROPERTIES = [
  {
    name: 'the request head parser throws nothing but HttpParseError, however the bytes are split',
    arb: fc.record({ bytes: httpish, splits }),
    check({ bytes, splits: at }) {
      onlyParseErrors(() => {
        const head = readHead(REQUEST_LIMITS, cut(bytes, at));
        return head === null ? null : parseRequestHead(head.text);
      });
    },
  },
  {
    name: 'the response head parser throws nothing but HttpParseError',
    arb: fc.record({ bytes: httpishResponse, splits, method: fc.constantFrom('GET', 'HEAD') }),
    check({ bytes, splits: at, method }) {
      onlyParseErrors(() => {
        const head = readHead(RESPONSE_LIMITS, cut(bytes, at));
        return head === null ? null : parseResponseHead(head.text, method);
      });
    },
  },
  {
    name: 'the head reader finds the same head however the bytes are split',
    arb: fc.record({ bytes: httpish, splits }),
    check({ bytes, splits: at }) {
      const whole = onlyParseErrors(() => readHead(REQUEST_LIMITS, [Buffer.from(bytes, 'latin1')]));
      const parts = onlyParseErrors(() => readHead(REQUEST_LIMITS, cut(bytes, at)));
      // A refusal may come earlier for a split input (a bare LF seen before the head ends);
      // a head found must be the same head with the same rest.
      if (whole.value !== null && parts.value !== null) {
        eq(parts.value.text, whole.value.text, 'head');
      } else if (whole.error === null && whole.value !== null && parts.error === null) {
        throw new Error('the head was found whole but not in parts');
      }
    },
  },
  {
    name: 'the chunked decoder gives the same result for any split of the same bytes',
    arb: fc.record({ bytes: fc.oneof(httpish, chunkedBody.map((c) => c.body + c.tail)), splits }),
    check({ bytes, splits: at }) {
      const whole = track([Buffer.from(bytes, 'latin1')]);
      const parts = track(cut(bytes, at));
      eq({ ...parts, error: parts.error !== null }, { ...whole, error: whole.error !== null }, 'outcome');
    },
  },
  {
    name: 'the chunked decoder ends a well-formed body exactly at its end and decodes its data',
    arb: fc.record({ c: chunkedBody, splits }),
    check({ c, splits: at }) {
      const r = track(cut(c.body + c.tail, at));
      eq(r, { end: Buffer.byteLength(c.body, 'latin1'), done: true, error: null, data: c.data }, 'decoded');
    },
  },
  {
    name: 'the chunked decoder accepts only what a strict RFC 9112 reading accepts, ending at the same byte',
    arb: fc.oneof(httpish, chunkedBody.map((c) => c.body + c.tail), mutated.map((s) => s.slice(s.indexOf('\r\n\r\n') + 4)), mutatedResponse.map((s) => s.slice(s.indexOf('\r\n\r\n') + 4))),
    check(bytes) {
      const r = track([Buffer.from(bytes, 'latin1')]);
      if (!r.done) return;
      let strict;
      try {
        strict = sp.readChunked(Buffer.from(bytes, 'latin1'), 0);
      } catch (e) {
        throw new Error(`mosnd accepts a chunked body the strict parser refuses (${e.reason})`);
      }
      if (strict === sp.INCOMPLETE) throw new Error('mosnd ends a chunked body the strict parser sees unfinished');
      eq(r.end, strict.next, 'end of the body');
    },
  },
  {
    name: 'a request head mosnd accepts frames its body as a strict RFC 9112 reading does',
    arb: httpish,
    check(bytes) {
      const r = onlyParseErrors(() => {
        const head = readHead(REQUEST_LIMITS, [Buffer.from(bytes, 'latin1')]);
        return head === null ? null : { head, req: parseRequestHead(head.text) };
      });
      if (r.value === null) return;
      const s = sp.parseRequest(Buffer.from(r.value.head.text, 'latin1'), 0, { headOnly: true });
      if (s.kind !== 'ok') throw new Error(`mosnd accepts a head the strict parser refuses (${s.reason ?? s.kind})`);
      const mine = r.value.req.chunked ? 'chunked' : Math.max(0, r.value.req.contentLength);
      eq(mine, strictFraming(s.request), 'framing');
    },
  },
  {
    name: 'a response head mosnd accepts frames its body as a strict RFC 9112 reading does',
    arb: fc.record({ bytes: httpishResponse, method: fc.constantFrom('GET', 'HEAD') }),
    check({ bytes, method }) {
      const r = onlyParseErrors(() => {
        const head = readHead(RESPONSE_LIMITS, [Buffer.from(bytes, 'latin1')]);
        return head === null ? null : { head, resp: parseResponseHead(head.text, method) };
      });
      if (r.value === null) return;
      const { resp } = r.value;
      const s = sp.parseResponse(Buffer.from(r.value.head.text, 'latin1'), 0, { method, headOnly: true });
      // Content-Length with Transfer-Encoding: mosnd reads it as chunked and never reuses the
      // connection (RFC 9112 §6.3 allows that); the strict reading refuses it.
      if (s.kind === 'error' && /both Content-Length and Transfer-Encoding/.test(s.reason) && !resp.reusable && resp.framing === 'chunked') return;
      if (s.kind !== 'ok') throw new Error(`mosnd accepts a response head the strict parser refuses (${s.reason ?? s.kind})`);
      const mine = resp.framing === 'chunked' ? 'chunked' : resp.framing === 'length' ? resp.contentLength : resp.framing === 'close' ? 'close' : 0;
      eq(mine, strictFraming(s.response), 'framing');
    },
  },
  {
    name: 'a well-formed request round-trips: parsed as sent, and the head sent upstream frames the same body',
    arb: request,
    check(r) {
      const text = serializeRequest(r);
      const head = readHead(REQUEST_LIMITS, [Buffer.from(text, 'latin1')]);
      const req = parseRequestHead(head.text);
      eq([req.method, req.path], [r.method, r.path], 'request line');
      eq(req.chunked ? 'chunked' : req.contentLength, r.framing === 'chunked' ? 'chunked' : r.framing === 'length' ? r.length : -1, 'framing');
      const up = buildUpstreamHead({
        method: req.method,
        path: req.path,
        headers: req.headers,
        host: req.host,
        upgrade: req.upgrade,
        connection: req.summary.connection,
        clientIp: '127.0.0.1',
        forwardedForIndex: req.summary.forwardedForIndex,
        requestId: undefined,
        // As dispatch.ts builds it.
        transferEncoding: req.chunked ? sendableCodings(req.summary.transferEncoding) : '',
        contentLength: req.chunked ? -1 : req.contentLength,
      });
      const s = sp.parseRequest(Buffer.from(up, 'latin1'), 0, { headOnly: true });
      if (s.kind !== 'ok') throw new Error(`the upstream head is not a valid request (${s.reason ?? s.kind}): ${sp.printable(up)}`);
      eq(strictFraming(s.request), r.framing === 'chunked' ? 'chunked' : r.framing === 'length' ? r.length : 0, `upstream framing of ${sp.printable(up)}`);
      for (const [n, v] of r.fields) {
        if (r.connection.some((c) => c.toLowerCase() === n.toLowerCase())) continue; // hop-by-hop by Connection
        if (!s.request.fields.some(([n2, v2]) => n2 === n && v2 === v)) throw new Error(`field ${n} lost on the way upstream`);
      }
    },
  },
];

module.exports = { PROPERTIES, seedCorpus, fc, mutatedRequests: mutated, mutatedValidRequests: mutatedFrom('valid') };
