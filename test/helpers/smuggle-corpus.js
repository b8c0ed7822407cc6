'use strict';
/**
 * The smuggling corpus: requests built from the building blocks of RFC 9112 and of the
 * published request-smuggling research (Watchfire 2005 "HTTP Request Smuggling", PortSwigger
 * 2019-2022 "HTTP Desync Attacks" / "Browser-Powered Desync", the TE obfuscation lists of
 * smuggler.py and http-garden, Weikop 2025 "Funky Chunks": chunk extension and line-terminator
 * tricks). Every case is named; whether it must be refused or may be forwarded is not written
 * here: the harness derives it from the strict parser (smuggle-parser.js).
 *
 * Most cases carry a tail that becomes a second, smuggled-looking request if the framing is
 * read one way and part of the body (or garbage) if read another: the harness sees which.
 */

const { printable } = require('./smuggle-parser');

const HOST = 'Host: t\r\n';
/** Appended to framing cases: a legitimate pipelined request if the first one ends where the
 *  strict parser says, otherwise part of a body or the start of something else. */
const TAIL = 'GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n';
const CHUNKED_BODY = '5\r\nhello\r\n0\r\n\r\n';

const q = printable;

function post(fieldLines, body, { method = 'POST', target = '/a', version = 'HTTP/1.1', host = HOST } = {}) {
  return `${method} ${target} ${version}\r\n${host}${fieldLines.map((l) => `${l}\r\n`).join('')}\r\n${body}`;
}

function teValueCases() {
  const values = [
    'chunked', 'Chunked', 'CHUNKED', 'cHuNkEd', ' chunked', 'chunked ', '\tchunked', 'chunked\t', '  chunked  ',
    '\x0bchunked', '\x0cchunked', '\xa0chunked', 'chunked\xa0', '\x00chunked', 'chunked\x00', '\x85chunked', '\x1fchunked',
    '"chunked"', "'chunked'", 'chunked,', ',chunked', ', chunked', 'chunked, ', ',,chunked', 'chunked, chunked', 'chunked,chunked',
    'gzip, chunked', 'gzip,chunked', 'chunked, gzip', 'identity, chunked', 'identity', 'gzip', 'deflate', 'xchunked',
    'chunkedx', 'chunk', 'chunked-false', 'chunked;q=1', 'chunked ;', 'chunked;', 'chunked\\', 'chun ked', 'ch\tunked',
    'x, chunked', 'chunked\x7f', '', ' ', '\xffchunked', 'chunked\r', 'ch\runked', 'x y, chunked', '"x", chunked', 'x:, chunked',
    'gzip;q=1, chunked', 'gzip;, chunked', 'chunked;q=1, chunked', '\xa0, chunked',
  ];
  const out = [];
  for (const v of values) {
    const te = `Transfer-Encoding: ${v}`;
    out.push({ name: `TE value ${q(v)}`, bytes: post([te], CHUNKED_BODY + TAIL) });
    // CL.TE: a front end using the Content-Length would stop inside the chunked body.
    out.push({ name: `TE value ${q(v)} after Content-Length: 4 (CL.TE)`, bytes: post(['Content-Length: 4', te], CHUNKED_BODY + TAIL) });
    // TE.CL: a front end using the chunked framing leaves what the Content-Length covers.
    out.push({
      name: `TE value ${q(v)} before Content-Length: ${CHUNKED_BODY.length + TAIL.length} (TE.CL)`,
      bytes: post([te, `Content-Length: ${CHUNKED_BODY.length + TAIL.length}`], CHUNKED_BODY + TAIL),
    });
  }
  return out;
}

function teNameCases() {
  const names = [
    'transfer-encoding', 'TRANSFER-ENCODING', 'Transfer-encoding', 'TrAnSfEr-EnCoDiNg', 'Transfer_Encoding', 'Transfer Encoding',
    'Transfer-Encoding ', 'Transfer-Encoding\t', ' Transfer-Encoding', '\tTransfer-Encoding', 'Transfer-Encoding\x0b',
    'Transfer-Encoding\x00', 'X-Transfer-Encoding', 'Transfer-Encodings', 'Transfer-Encoding-', 'Transfer\\Encoding', 'Transfer-Encoding\xa0',
    'Content-Encoding', 'TE',
  ];
  return names.map((n) => ({ name: `TE field name ${q(n)}`, bytes: post([`${n}: chunked`], CHUNKED_BODY + TAIL) }));
}

function teDuplicateCases() {
  const pairs = [
    ['chunked', 'chunked'],
    ['gzip', 'chunked'],
    ['chunked', 'gzip'],
    ['chunked', 'identity'],
    ['identity', 'chunked'],
    ['chunked', 'x'],
    ['x', 'chunked'],
    ['chunked', ''],
    ['', 'chunked'],
    ['chunked', '\xa0'],
  ];
  const out = pairs.map(([a, b]) => ({
    name: `two TE fields ${q(a)} then ${q(b)}`,
    bytes: post([`Transfer-Encoding: ${a}`, `Transfer-Encoding: ${b}`], CHUNKED_BODY + TAIL),
  }));
  out.push({
    name: 'TE chunked with a lower-case duplicate name "transfer-encoding: identity"',
    bytes: post(['Transfer-Encoding: chunked', 'transfer-encoding: identity'], CHUNKED_BODY + TAIL),
  });
  return out;
}

function clCases() {
  const body = 'hello';
  const values = [
    '5', '05', '005', '0005', '+5', '-5', '5.0', '5.', '0x5', '0b101', '5e0', '5 ', ' 5', '5\t', '\x0b5', '5\x0b', '\x0c5', '\xa05',
    '5\xa0', '5,5', '5, 5', '5 ,5', '5,  5,5', '5, 6', '6, 5', '5,', ',5', '5, ', '5 5', '"5"', "'5'", '5;', '5;a=b', '5\x00',
    '\x005', '1_0', '٥', '99999999999999999999', '18446744073709551621', '4294967301', '', ' ', '5a', 'a5', '0', '00',
    '5\\', '5\r', '(5)',
  ];
  const out = [];
  for (const v of values) {
    const cl = `Content-Length: ${v}`;
    out.push({ name: `CL value ${q(v)}`, bytes: post([cl], body + TAIL) });
    out.push({ name: `CL value ${q(v)} on a GET`, bytes: post([cl], body + TAIL, { method: 'GET' }) });
  }
  const names = ['content-length', 'CONTENT-LENGTH', 'Content_Length', 'Content Length', 'Content-Length ', 'Content-Length\t',
    ' Content-Length', 'Content-Length\x00', 'Content-Length\x0b', 'X-Content-Length', 'Content-Lengths', 'Content-Length\xa0', 'Content-Lenght'];
  for (const n of names) out.push({ name: `CL field name ${q(n)}`, bytes: post([`${n}: 5`], body + TAIL) });
  const dups = [['5', '5'], ['5', '6'], ['6', '5'], ['5', '0'], ['0', '5'], ['5', ''], ['5', '5, 5'], ['5', '05'], ['5', ' 5'], ['5', '+5']];
  for (const [a, b] of dups) {
    out.push({ name: `two CL fields ${q(a)} then ${q(b)}`, bytes: post([`Content-Length: ${a}`, `Content-Length: ${b}`], body + TAIL) });
  }
  out.push({ name: 'CL and a lower-case duplicate name with another value', bytes: post(['Content-Length: 5', 'content-length: 6'], body + 'x' + TAIL) });
  out.push({ name: 'CL 0 with a body that looks like a request (CL.0)', bytes: post(['Content-Length: 0'], TAIL) });
  out.push({ name: 'CL larger than a pipelined request behind it', bytes: post([`Content-Length: ${TAIL.length - 3}`], TAIL) });
  return out;
}

/** A field listed in Connection is hop-by-hop: stripping a framing field must not leave its body. */
function connectionCases() {
  const out = [];
  const cl = ['Content-Length', 'content-length', 'CONTENT-LENGTH', 'close, Content-Length', 'Content-Length, close', 'keep-alive, Content-Length', 'Content-Length ,keep-alive'];
  for (const c of cl) {
    out.push({ name: `Connection: ${c} with a Content-Length body`, bytes: post([`Connection: ${c}`, 'Content-Length: 5'], 'hello' + TAIL) });
  }
  const te = ['Transfer-Encoding', 'transfer-encoding', 'TRANSFER-ENCODING', 'close, Transfer-Encoding', 'Transfer-Encoding, keep-alive'];
  for (const c of te) {
    out.push({ name: `Connection: ${c} with a chunked body`, bytes: post([`Connection: ${c}`, 'Transfer-Encoding: chunked'], CHUNKED_BODY + TAIL) });
  }
  out.push({ name: 'two Connection fields, the second listing Content-Length', bytes: post(['Connection: keep-alive', 'Connection: Content-Length', 'Content-Length: 5'], 'hello' + TAIL) });
  out.push({ name: 'Connection: Host', bytes: post(['Connection: Host'], TAIL, { method: 'GET' }) });
  out.push({ name: 'Connection: Content-Type with a Content-Length body', bytes: post(['Connection: Content-Type', 'Content-Type: text/plain', 'Content-Length: 5'], 'hello' + TAIL) });
  out.push({ name: 'Connection: TE, Upgrade without Upgrade', bytes: post(['Connection: TE, Upgrade', 'TE: trailers', 'Content-Length: 5'], 'hello' + TAIL) });
  out.push({ name: 'HTTP/1.0 keep-alive with Connection: Content-Length', bytes: post(['Connection: keep-alive, Content-Length', 'Content-Length: 5'], 'hello' + TAIL.replace('1.1', '1.0'), { version: 'HTTP/1.0' }) });
  return out;
}

function chunkCases() {
  const te = ['Transfer-Encoding: chunked'];
  const sizes = [
    '5', '05', '0005', '00000000000005', '000000000000000000005', '5 ', '5\t', ' 5', '\t5', '5 6', '5\t6', '0x5', '+5', '-5', '5;', '5;a', '5;a=b',
    '5;a="b"', '5;a="b;c"', '5;a="\\"x"', '5;a="x\\\\"', '5 ;a=b', '5\t;a=b', '5; a=b', '5;a = b', '5;a =b', '5;a=b c', '5;a=b\x00', '5;a=b\x7f',
    '5;\xa0', '5;a="unterminated', '5;a="x"y', '5;a=b;c=d', '5;;', '5;=b', '5;a=', '5;a="\xff"', '5;a=\xff', 'ffffffffffffffffff', '5_', '5.',
    '5\x0b', '\x0b5', '5\xa0', '0005;ext=1', '5;a=b\x0b', '5;a="b\tc"', '10000000000000005', '100000005',
  ];
  const out = [];
  for (const s of sizes) out.push({ name: `chunk size line ${q(s)}`, bytes: post(te, `${s}\r\nhello\r\n0\r\n\r\n${TAIL}`) });
  const bodies = [
    ['hex upper case size', 'A\r\n0123456789\r\n0\r\n\r\n'],
    ['hex lower case size', 'a\r\n0123456789\r\n0\r\n\r\n'],
    ['several chunks', '1\r\nh\r\n2\r\nel\r\n2\r\nlo\r\n0\r\n\r\n'],
    ['data longer than the size', '3\r\nhello\r\n0\r\n\r\n'],
    ['data shorter than the size', '6\r\nhello\r\n0\r\n\r\n'],
    ['data without CRLF', '5\r\nhello0\r\n\r\n'],
    ['data followed by a bare LF', '5\r\nhello\n0\r\n\r\n'],
    ['data followed by a bare CR', '5\r\nhello\r0\r\n\r\n'],
    ['size line ending in a bare LF', '5\nhello\r\n0\r\n\r\n'],
    ['size line ending in a bare CR', '5\rhello\r\n0\r\n\r\n'],
    ['size line ending in LF CR', '5\n\rhello\r\n0\r\n\r\n'],
    ['extension ending in a bare LF (funky chunks)', '5;a\nhello\r\n0\r\n\r\n'],
    ['extension with a bare CR', '5;a\rb\r\nhello\r\n0\r\n\r\n'],
    ['extension holding a LF inside quotes', '5;a="x\ny"\r\nhello\r\n0\r\n\r\n'],
    ['last chunk 00', '5\r\nhello\r\n00\r\n\r\n'],
    ['last chunk 000 with an extension', '5\r\nhello\r\n000;x=y\r\n\r\n'],
    ['last chunk "0 "', '5\r\nhello\r\n0 \r\n\r\n'],
    ['last chunk ending in a bare LF', '5\r\nhello\r\n0\n\r\n'],
    ['last chunk then a bare LF', '5\r\nhello\r\n0\r\n\n'],
    ['last chunk with no final CRLF, then a request', '5\r\nhello\r\n0\r\n'],
    ['zero-size first chunk then data', '0\r\n\r\nhello'],
    ['a chunk size of 0x10 spelt 10 with 16 bytes', '10\r\n0123456789abcdef\r\n0\r\n\r\n'],
    ['a chunk size followed by CRLF CRLF', '5\r\n\r\nhello\r\n0\r\n\r\n'],
    ['an empty chunk size line', '\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['a size line of spaces', '  \r\nhello\r\n0\r\n\r\n'],
    ['a very long extension', `5;a=${'x'.repeat(5000)}\r\nhello\r\n0\r\n\r\n`],
    ['a CRLF inside the data counted in the size', '7\r\nhe\r\nllo\r\n0\r\n\r\n'],
    ['TE.TE: data that is a request', `${TAIL.length.toString(16)}\r\n${TAIL}\r\n0\r\n\r\n`],
  ];
  for (const [n, b] of bodies) out.push({ name: `chunked body: ${n}`, bytes: post(te, b + TAIL) });
  return out;
}

function trailerCases() {
  const te = ['Transfer-Encoding: chunked'];
  const trailers = [
    ['one trailer field', 'X-T: 1\r\n'],
    ['two trailer fields', 'X-T: 1\r\nX-U: 2\r\n'],
    ['a request line as a trailer', 'GET /trailer HTTP/1.1\r\n'],
    ['a request line then a Host as trailers', 'GET /trailer HTTP/1.1\r\nHost: t\r\n'],
    ['an empty trailer name', ': x\r\n'],
    ['a space in the trailer name', 'X T: 1\r\n'],
    ['space before the colon in a trailer', 'X-T : 1\r\n'],
    ['obs-fold in the trailers', 'X-T: 1\r\n 2\r\n'],
    ['a NUL in a trailer value', 'X-T: a\x00b\r\n'],
    ['a bare CR in a trailer', 'X-T: a\rb\r\n'],
    ['a trailer line ending in a bare LF', 'X-T: 1\n'],
    ['a trailer without colon', 'Xtrailer\r\n'],
    ['Content-Length as a trailer', 'Content-Length: 5\r\n'],
    ['Transfer-Encoding as a trailer', 'Transfer-Encoding: chunked\r\n'],
    ['Host as a trailer', 'Host: evil\r\n'],
    ['a trailer holding obs-text', 'X-T: \xe9\r\n'],
    ['a trailer with a DEL', 'X-T: a\x7f\r\n'],
    ['a very long trailer', `X-T: ${'v'.repeat(5000)}\r\n`],
  ];
  return trailers.map(([n, t]) => ({ name: `trailers: ${n}`, bytes: post(te, `5\r\nhello\r\n0\r\n${t}\r\n${TAIL}`) }));
}

function lineEndCases() {
  const c = [
    ['bare LF line ends', 'GET /a HTTP/1.1\nHost: t\n\n'],
    ['bare LF after the request line only', 'GET /a HTTP/1.1\nHost: t\r\n\r\n'],
    ['bare LF ending a field', 'GET /a HTTP/1.1\r\nHost: t\nX: y\r\n\r\n'],
    ['bare LF ending the head', 'GET /a HTTP/1.1\r\nHost: t\r\n\n'],
    ['LF CR LF ending the head', 'GET /a HTTP/1.1\r\nHost: t\n\r\n'],
    ['bare CR line ends', 'GET /a HTTP/1.1\rHost: t\r\r'],
    ['bare CR inside a field value', 'GET /a HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n'],
    ['bare CR before the head end', 'GET /a HTTP/1.1\r\nHost: t\r\n\r\r\n'],
    ['CR CR LF', 'GET /a HTTP/1.1\r\r\nHost: t\r\n\r\n'],
    ['bare CR in the request line', 'GET /a\rb HTTP/1.1\r\nHost: t\r\n\r\n'],
    ['a LF-terminated Content-Length hiding behind a CRLF one', 'POST /a HTTP/1.1\r\nHost: t\r\nX: y\nContent-Length: 5\r\n\r\nhello'],
    ['a bare LF splitting a Transfer-Encoding field', 'POST /a HTTP/1.1\r\nHost: t\r\nX: y\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n'],
    ['a NUL ending a field', 'GET /a HTTP/1.1\r\nHost: t\x00\r\n\r\n'],
    ['leading CRLF before the request', '\r\n\r\nGET /a HTTP/1.1\r\nHost: t\r\n\r\n'],
    ['a leading bare LF before the request', '\nGET /a HTTP/1.1\r\nHost: t\r\n\r\n'],
    ['a leading space before the request', ' GET /a HTTP/1.1\r\nHost: t\r\n\r\n'],
    ['a leading bare CR before the request', '\rGET /a HTTP/1.1\r\nHost: t\r\n\r\n'],
  ];
  return c.map(([n, b]) => ({ name: `line ends: ${n}`, bytes: b + TAIL }));
}

function obsFoldCases() {
  const c = [
    ['obs-fold in an ordinary field', ['X-A: one', ' two', 'Content-Length: 5']],
    ['obs-fold with a tab', ['X-A: one', '\ttwo', 'Content-Length: 5']],
    ['obs-fold continuing Transfer-Encoding', ['Transfer-Encoding:', ' chunked']],
    ['obs-fold appending chunked to TE', ['Transfer-Encoding: gzip', ' chunked']],
    ['obs-fold continuing Content-Length', ['Content-Length:', ' 5']],
    ['a folded line that holds a Content-Length', ['X-A: one', ' Content-Length: 5']],
    ['a folded line that holds a Transfer-Encoding', ['X-A: one', ' Transfer-Encoding: chunked', 'Content-Length: 5']],
    ['an empty folded line', ['X-A: one', ' ', 'Content-Length: 5']],
    ['obs-fold of Host', ['Content-Length: 5'], ' t2'],
  ];
  return c.map(([n, lines, hostFold]) => ({
    name: `obs-fold: ${n}`,
    bytes: post(lines, 'hello' + TAIL, { host: hostFold ? `Host: t\r\n${hostFold}\r\n` : HOST }),
  }));
}

function requestLineCases() {
  const lines = [
    'GET / HTTP/1.1', 'GET  / HTTP/1.1', 'GET /  HTTP/1.1', 'GET / HTTP/1.1 ', 'GET\t/\tHTTP/1.1', 'GET / HTTP/1.2', 'GET / HTTP/1.9',
    'GET / HTTP/1.10', 'GET / HTTP/01.1', 'GET / HTTP/1', 'GET / HTTP/1.', 'GET / http/1.1', 'GET / HTTP/2.0', 'GET / HTTP/0.9', 'GET /',
    'GET / HTTP/1.1\x00', 'GET /\x00 HTTP/1.1', 'GET /a\x7f HTTP/1.1', 'GET /%00 HTTP/1.1', 'GET /\xe9 HTTP/1.1', 'GET /a#frag HTTP/1.1',
    'GET http://t/x HTTP/1.1', 'GET HTTP://T/x HTTP/1.1', 'GET http://t HTTP/1.1', 'GET http://t?x=1 HTTP/1.1', 'GET http://u@t/ HTTP/1.1',
    'GET http:///x HTTP/1.1', 'GET https://t:443/x HTTP/1.1', 'GET ftp://t/x HTTP/1.1', 'GET //t/x HTTP/1.1', 'GET t:80 HTTP/1.1',
    'GET * HTTP/1.1', 'OPTIONS * HTTP/1.1', 'get / HTTP/1.1', 'G\x00ET / HTTP/1.1', 'GE T / HTTP/1.1', 'GET/ HTTP/1.1',
    'GET /?a=b c HTTP/1.1', `${'X'.repeat(100)} / HTTP/1.1`, 'PO\xe9ST / HTTP/1.1', 'GET / HTTP/1.1 extra', 'GET /a HTTP/1.1\t',
    'CONNECT t:443 HTTP/1.1', 'GET /\\ HTTP/1.1', 'GET /a?b=%zz HTTP/1.1', 'GET /a\x0b HTTP/1.1',
  ];
  return lines.map((l) => ({ name: `request line ${q(l)}`, bytes: `${l}\r\n${HOST}Content-Length: 5\r\n\r\nhello${TAIL}` }));
}

function hostCases() {
  const c = [
    ['no Host in HTTP/1.1', 'GET /a HTTP/1.1\r\n\r\n'],
    ['two Host fields', 'GET /a HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n'],
    ['an empty Host', 'GET /a HTTP/1.1\r\nHost:\r\n\r\n'],
    ['a Host with a space', 'GET /a HTTP/1.1\r\nHost: t u\r\n\r\n'],
    ['a Host with a slash', 'GET /a HTTP/1.1\r\nHost: t/u\r\n\r\n'],
    ['a Host with @', 'GET /a HTTP/1.1\r\nHost: u@t\r\n\r\n'],
    ['absolute form and a different Host', 'GET http://abs/a HTTP/1.1\r\nHost: t\r\n\r\n'],
    ['absolute form and no Host', 'GET http://abs/a HTTP/1.1\r\n\r\n'],
    ['absolute form and a Content-Length body', 'POST http://abs/a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello'],
  ];
  return c.map(([n, b]) => ({ name: `host: ${n}`, bytes: b + TAIL }));
}

function versionCases() {
  const c = [
    ['HTTP/1.0 with a Content-Length body', 'POST /a HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello'],
    ['HTTP/1.0 keep-alive with a body, then a request', 'POST /a HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello'],
    ['HTTP/1.0 with Transfer-Encoding: chunked', `POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n${CHUNKED_BODY}`],
    ['HTTP/1.0 keep-alive with Transfer-Encoding: chunked', `POST /a HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n${CHUNKED_BODY}`],
    ['HTTP/1.0 with TE and CL', `POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: ${CHUNKED_BODY.length}\r\n\r\n${CHUNKED_BODY}`],
    ['HTTP/1.0 keep-alive GET then a request', 'GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'],
    ['HTTP/1.0 GET without keep-alive then a request', 'GET /a HTTP/1.0\r\n\r\n'],
    ['HTTP/1.1 Connection: close then a request', 'GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'],
    ['HTTP/1.1 Connection: close with a body then a request', 'POST /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello'],
    ['HTTP/1.2 with a chunked body', `POST /a HTTP/1.2\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n${CHUNKED_BODY}`],
  ];
  return c.map(([n, b]) => ({ name: `version: ${n}`, bytes: b + TAIL }));
}

function pipelineCases() {
  const get = (p) => `GET ${p} HTTP/1.1\r\nHost: t\r\n\r\n`;
  const c = [
    ['three GETs', get('/1') + get('/2') + get('/3')],
    ['a GET, a POST with CL, a GET', get('/1') + post(['Content-Length: 5'], 'hello') + get('/3')],
    ['a chunked POST then two GETs', post(['Transfer-Encoding: chunked'], CHUNKED_BODY) + get('/2') + get('/3')],
    ['a good GET then a malformed request then a GET', get('/1') + 'GET /2 HTTP/1.1\r\nHost : t\r\n\r\n' + get('/3')],
    ['a good GET then CL.TE then a GET', get('/1') + post(['Content-Length: 4', 'Transfer-Encoding: chunked'], CHUNKED_BODY) + get('/3')],
    ['a good GET then a bare LF request', get('/1') + 'GET /2 HTTP/1.1\nHost: t\n\n' + get('/3')],
    ['a good GET then an invalid chunk size', get('/1') + post(['Transfer-Encoding: chunked'], '5 6\r\nhello\r\n0\r\n\r\n') + get('/3')],
    ['a GET with Connection: close then more requests', 'GET /1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' + get('/2') + get('/3')],
    ['empty lines between pipelined requests', get('/1') + '\r\n\r\n' + get('/2')],
    ['20 pipelined GETs', Array.from({ length: 20 }, (_, i) => get(`/p${i}`)).join('')],
    ['a chunked request with a bad chunk after a good one', post(['Transfer-Encoding: chunked'], '5\r\nhello\r\nzz\r\nhello\r\n0\r\n\r\n') + get('/2')],
    ['a good GET, then a request with Content-Length and Connection: Content-Length', get('/1') + post(['Connection: Content-Length', 'Content-Length: 5'], 'hello') + get('/3')],
  ];
  return c.map(([n, b]) => ({ name: `pipelining: ${n}`, bytes: b }));
}

function expectCases() {
  const c = [
    ['Expect: 100-continue with a body', post(['Expect: 100-continue', 'Content-Length: 5'], 'hello' + TAIL)],
    ['Expect: 100-continue with a chunked body', post(['Expect: 100-continue', 'Transfer-Encoding: chunked'], CHUNKED_BODY + TAIL)],
    ['a GET with a chunked body', post(['Transfer-Encoding: chunked'], CHUNKED_BODY + TAIL, { method: 'GET' })],
    ['an OPTIONS with a Content-Length body', post(['Content-Length: 5'], 'hello' + TAIL, { method: 'OPTIONS' })],
    ['a DELETE with a chunked body', post(['Transfer-Encoding: chunked'], CHUNKED_BODY + TAIL, { method: 'DELETE' })],
    ['Upgrade: h2c with a body', post(['Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA', 'Content-Length: 5'], 'hello' + TAIL)],
    // WebSocket smuggling (0ang3el 2019): an Upgrade the upstream refuses must not open a tunnel.
    ['a WebSocket Upgrade the upstream answers 200, then a request', post(['Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 1337', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='], TAIL, { method: 'GET' })],
    ['an Upgrade without Connection: upgrade, then a request', post(['Upgrade: websocket'], TAIL, { method: 'GET' })],
    // Expect-based desyncs (Kettle 2025, "HTTP/1.1 must die"): obfuscated Expect values.
    ['Expect: 100-Continue in another case', post(['Expect: 100-Continue', 'Content-Length: 5'], 'hello' + TAIL)],
    ['Expect: y 100-continue', post(['Expect: y 100-continue', 'Content-Length: 5'], 'hello' + TAIL)],
    ['Expect: 100-continue, x', post(['Expect: 100-continue, x', 'Content-Length: 5'], 'hello' + TAIL)],
    ['two Expect: 100-continue fields', post(['Expect: 100-continue', 'Expect: 100-continue', 'Content-Length: 5'], 'hello' + TAIL)],
    ['Expect: 100-continue on a GET with Content-Length 0', post(['Expect: 100-continue', 'Content-Length: 0'], TAIL, { method: 'GET' })],
    ['Expect with a tab before the value', post(['Expect:\t100-continue', 'Content-Length: 5'], 'hello' + TAIL)],
  ];
  return c.map(([n, b]) => ({ name: `methods: ${n}`, bytes: b }));
}

/** The whole corpus, each case named. */
function buildCorpus() {
  const all = [
    ...teValueCases(),
    ...teNameCases(),
    ...teDuplicateCases(),
    ...clCases(),
    ...connectionCases(),
    ...chunkCases(),
    ...trailerCases(),
    ...lineEndCases(),
    ...obsFoldCases(),
    ...requestLineCases(),
    ...hostCases(),
    ...versionCases(),
    ...pipelineCases(),
    ...expectCases(),
  ];
  const seen = new Set();
  for (const c of all) {
    if (seen.has(c.name)) throw new Error(`two corpus cases named ${c.name}`);
    seen.add(c.name);
  }
  return all;
}

module.exports = { buildCorpus, TAIL, CHUNKED_BODY, post, q };
