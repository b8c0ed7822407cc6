'use strict';
/**
 * A corpus of malformed requests sent raw to a real mosnd. Each must get the right status
 * and a closed connection; afterwards the worker is the same process, a normal request
 * works, and a well-behaved keep-alive client running alongside never noticed.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');
const raw = require('./helpers/http-raw');

const H = 'Host: t\r\n';
const POST_CHUNKED = `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`;

/** [name, raw request, expected status]. */
const CORPUS = [
  // Message framing: anything that could let two parties disagree on where a body ends.
  ['two differing Content-Length fields', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello`, 400],
  ['a Content-Length list with differing values', `POST / HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\nhello`, 400],
  ['a non-numeric Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: abc\r\n\r\n`, 400],
  ['a negative Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, 400],
  ['a signed Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`, 400],
  ['Content-Length with Transfer-Encoding', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['Transfer-Encoding not ending in chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`, 400],
  ['an unknown Transfer-Encoding alone', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, 400],
  ['chunked applied twice', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['Transfer-Encoding in an HTTP/1.0 request', `POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['an invalid chunk size', `${POST_CHUNKED}zz\r\nabc\r\n0\r\n\r\n`, 400],
  ['a chunk size too large to represent', `${POST_CHUNKED}ffffffffffffffffff\r\nabc\r\n`, 400],
  ['chunk data not followed by CRLF', `${POST_CHUNKED}3\r\nabcX\r\n0\r\n\r\n`, 400],
  ['a chunk size line ending in a bare LF', `${POST_CHUNKED}3\nabc\r\n0\r\n\r\n`, 400],
  ['a last chunk with a broken final CRLF', `${POST_CHUNKED}0\r\n\rX`, 400],
  ['a trailer line ending in a bare LF', `${POST_CHUNKED}0\r\nX-T: 1\n\r\n`, 400],
  // Found by a differential test (2026-12): each was accepted and forwarded as it came.
  ['Transfer-Encoding: NBSP chunked (JS trim() strips U+00A0, HTTP does not)', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: \u00a0chunked\r\n\r\n0\r\n\r\n`, 400],
  ['Transfer-Encoding: chunked NBSP', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\u00a0\r\n\r\n0\r\n\r\n`, 400],
  ['an empty Transfer-Encoding with a chunked body', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: \r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 400],
  ['an empty Transfer-Encoding with a Content-Length', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: \r\nContent-Length: 4\r\n\r\n5\r\nh`, 400],
  ['a transfer coding with an empty parameter', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip;, chunked\r\n\r\n0\r\n\r\n`, 400],
  ['chunked with a parameter, then chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked;q=1, chunked\r\n\r\n0\r\n\r\n`, 400],
  ['Transfer-Encoding: VT chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: \u000bchunked\r\n\r\n0\r\n\r\n`, 400],
  ['a chunk size followed by a second number', `${POST_CHUNKED}5 6\r\nhello\r\n0\r\n\r\n`, 400],
  ['a chunk size followed by a tab', `${POST_CHUNKED}5\t\r\nhello\r\n0\r\n\r\n`, 400],
  ['a chunk size followed by junk', `${POST_CHUNKED}5x\r\nhello\r\n0\r\n\r\n`, 400],
  ['a chunk extension without a name', `${POST_CHUNKED}5;\r\nhello\r\n0\r\n\r\n`, 400],
  ['a chunk extension with a bad value', `${POST_CHUNKED}5;a=b c\r\nhello\r\n0\r\n\r\n`, 400],
  ['a chunk extension with an unterminated quote', `${POST_CHUNKED}5;a="b\r\nhello\r\n0\r\n\r\n`, 400],
  ['a request line in the trailer section', `${POST_CHUNKED}0\r\nGET /smuggled HTTP/1.1\r\n\r\n`, 400],
  ['a trailer field without a colon', `${POST_CHUNKED}0\r\nX-T\r\n\r\n`, 400],
  ['a folded trailer line', `${POST_CHUNKED}0\r\nX-T: 1\r\n 2\r\n\r\n`, 400],
  ['whitespace before a trailer colon', `${POST_CHUNKED}0\r\nX-T : 1\r\n\r\n`, 400],
  ['a control byte in a trailer value', `${POST_CHUNKED}0\r\nX-T: a\u0001b\r\n\r\n`, 400],
  // Field syntax.
  ['whitespace between a field name and the colon', `GET / HTTP/1.1\r\nHost : t\r\n\r\n`, 400],
  ['non-token characters in a field name', `GET / HTTP/1.1\r\n${H}X[bad]: 1\r\n\r\n`, 400],
  ['a field line without a colon', `GET / HTTP/1.1\r\n${H}NoColonHere\r\n\r\n`, 400],
  ['an empty field name', `GET / HTTP/1.1\r\n${H}: value\r\n\r\n`, 400],
  ['obs-fold (a continuation line)', `GET / HTTP/1.1\r\n${H}X-A: one\r\n two\r\n\r\n`, 400],
  ['bare LF line endings', 'GET / HTTP/1.1\nHost: t\n\n', 400],
  ['a bare CR inside a field value', `GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, 400],
  ['a NUL in a field value', `GET / HTTP/1.1\r\n${H}X-A: a\u0000b\r\n\r\n`, 400],
  ['a control character in a field value', `GET / HTTP/1.1\r\n${H}X-A: a\u0001b\r\n\r\n`, 400],
  ['a DEL in a field value', `GET / HTTP/1.1\r\n${H}X-A: a\u007fb\r\n\r\n`, 400],
  ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\nX-A: 1\r\n\r\n', 400],
  ['two Host fields', `GET / HTTP/1.1\r\n${H}Host: u\r\n\r\n`, 400],
  ['a Host with a space', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 400],
  ['a Host with a slash', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', 400],
  // Sizes.
  ['an oversized header section', `GET / HTTP/1.1\r\n${H}${'X-Big: '.concat('v'.repeat(8000), '\r\n').repeat(10)}\r\n`, 431],
  ['too many header fields', `GET / HTTP/1.1\r\n${H}${Array.from({ length: 150 }, (_, i) => `X-F${i}: v\r\n`).join('')}\r\n`, 431],
  ['a request line that is too long', `GET /${'a'.repeat(10_000)} HTTP/1.1\r\n${H}\r\n`, 414],
  ['a request line that is too long and never ends', `GET /${'a'.repeat(20_000)}`, 414],
  // Request line.
  ['an unsupported HTTP version', `GET / HTTP/2.0\r\n${H}\r\n`, 505],
  ['HTTP/3.0', `GET / HTTP/3.0\r\n${H}\r\n`, 505],
  ['a garbage request line', `HELLO\r\n${H}\r\n`, 400],
  ['a lower-case protocol name', `GET / http/1.1\r\n${H}\r\n`, 400],
  ['a version with trailing junk', `GET / HTTP/1.1x\r\n${H}\r\n`, 400],
  ['an absolute-form target with an empty authority', `GET http:/// HTTP/1.1\r\n${H}\r\n`, 400],
  ['an absolute-form target with an unknown scheme', `GET ftp://example.com/ HTTP/1.1\r\n${H}\r\n`, 400],
  ['a relative target without a slash', `GET index.html HTTP/1.1\r\n${H}\r\n`, 400],
  ['invalid characters in the method', `GE(T / HTTP/1.1\r\n${H}\r\n`, 400],
  ['an empty method', ` / HTTP/1.1\r\n${H}\r\n`, 400],
  ['a request target with a space', `GET /a b HTTP/1.1\r\n${H}\r\n`, 400],
  ['two spaces before the target', `GET  / HTTP/1.1\r\n${H}\r\n`, 400],
  ['a non-ASCII byte in the target', `GET /caf\u00e9 HTTP/1.1\r\n${H}\r\n`, 400],
  ['the asterisk form with GET', `GET * HTTP/1.1\r\n${H}\r\n`, 400],
  // Semantics mosnd does not support.
  ['an Expect other than 100-continue', `POST / HTTP/1.1\r\n${H}Expect: 200-ok\r\nContent-Length: 0\r\n\r\n`, 417],
  ['CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 501],
];

test('answers malformed requests with their status and a close, and harms nothing else', { timeout: 45_000 }, async (t) => {
  assert.ok(CORPUS.length >= 25);
  const up = await h.startHttpUpstream((req, res) => {
    req.resume();
    req.on('end', () => res.end(`ok ${req.method} ${req.url}`));
  });
  t.after(() => up.close());
  const m = await h.proxyTo(t, up.address);
  const workersBefore = h.workerPids(m.pid);
  assert.equal(workersBefore.length, 1);

  // A well-behaved keep-alive client with a request in flight alongside every bad one.
  const steady = raw.rawClient(m.ports.http);
  t.after(() => steady.close());
  await steady.connected;
  let steadyOk = 0;
  const steadyRequest = async () => {
    steady.send(`GET /steady${steadyOk} HTTP/1.1\r\nHost: t\r\n\r\n`);
    const r = await steady.read();
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), `ok GET /steady${steadyOk}`);
    steadyOk++;
  };

  for (const [name, bytes, status] of CORPUS) {
    await t.test(`answers ${status} and closes for ${name}`, async () => {
      const [r] = await Promise.all([h.rawExchange(m.ports.http, Buffer.from(bytes, 'latin1'), { timeoutMs: 5_000 }), steadyRequest()]);
      assert.equal(r.status, status, `got ${JSON.stringify(r.data.slice(0, 120))}`);
      assert.equal(r.closed, true, 'the connection was closed');
    });
  }

  assert.deepEqual(h.workerPids(m.pid), workersBefore, 'the worker did not crash');
  const r = await h.request(m.ports.http, { path: '/normal' });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'ok GET /normal');
  assert.equal(steadyOk, CORPUS.length);
  assert.equal(steady.isClosed, false);
  // No malformed request reached the upstream.
  assert.equal(up.requests, steadyOk + 1);
});

test('a request that is valid after all passes: leading empty lines, absolute form, OWS around values', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end(`${req.url} ${req.headers.host} [${req.headers['x-a']}]`));
  t.after(() => up.close());
  const m = await h.proxyTo(t, up.address);
  const c = raw.rawClient(m.ports.http);
  t.after(() => c.close());
  c.send('\r\n\r\nGET /lead HTTP/1.1\r\nHost: t\r\nX-A: \t padded \t\r\n\r\n');
  assert.equal((await c.read()).body.toString(), '/lead t [padded]');
  c.send('GET http://abs.example:8080/p?q=1 HTTP/1.1\r\nHost: ignored\r\n\r\n');
  assert.equal((await c.read()).body.toString(), '/p?q=1 abs.example:8080 [undefined]');
  c.send(`POST /cl HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n\r\nabc`);
  assert.equal((await c.read()).status, 200, 'a list of identical Content-Length values is one value');
  // RFC 9112 §2.3: a later 1.x minor version is handled as 1.1 (as nginx and HAProxy do).
  c.send('GET /v12 HTTP/1.2\r\nHost: t\r\n\r\n');
  const v12 = await c.read();
  assert.equal(v12.status, 200);
  assert.equal(v12.version, '1.1');
  // Chunk sizes with leading zeros, well-formed extensions and trailers are valid chunked.
  const body = '0000000005\r\nhello\r\n5;name\r\nhello\r\n05 ; a=b ;c="q\\"x" \r\nhello\r\n0\r\nX-T: 1\r\nX-U:\r\n\r\n';
  c.send(`POST /ch HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
  assert.equal((await c.read()).status, 200);
  assert.equal(c.isClosed, false);
});

test('answers a good request, then the malformed one pipelined behind it, then closes', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end(`ok ${req.url}`));
  t.after(() => up.close());
  const m = await h.proxyTo(t, up.address);
  const r = await h.rawExchange(
    m.ports.http,
    'GET /good HTTP/1.1\r\nHost: t\r\n\r\nGET /bad HTTP/1.1\r\nHost : t\r\n\r\nGET /never HTTP/1.1\r\nHost: t\r\n\r\n',
  );
  assert.equal(r.closed, true);
  const statuses = [...r.data.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((x) => Number(x[1]));
  assert.deepEqual(statuses, [200, 400]);
  assert.match(r.data, /ok \/good/);
  assert.equal(up.requests, 1, 'nothing after the malformed request was forwarded');
});

test('refuses a head sent byte by byte as soon as it is malformed', async (t) => {
  const m = await h.startMosnd({ config: h.proxyConfig({ routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }] }) });
  t.after(() => m.kill());
  const c = raw.rawClient(m.ports.http);
  t.after(() => c.close());
  await c.connected;
  // The bare LF is refused before the head is complete: no waiting for a CRLF CRLF.
  for (const ch of 'GET / HTTP/1.1\r\nHost: t\nX') {
    c.send(ch);
    await h.sleep(2);
  }
  const r = await c.read();
  assert.equal(r.status, 400);
  assert.equal(await c.waitClosed(), true);
});
