'use strict';
/**
 * Regressions of request smuggling and worker crashes found by a differential test against a
 * strict origin (2026-12): each case here was exploitable before its fix.
 * - A `Connection` header listing a framing field made mosnd strip that field while the body
 *   still went out: the origin read the body as the next request on a pooled connection. The
 *   same on the response side put the next answer inside the previous one.
 * - Thousands of pipelined requests answered by mosnd itself overflowed the call stack.
 * - An upstream flooding interim 1xx heads overflowed the call stack.
 * Each test shows the worker is the same process afterwards and the pool is clean.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');
const raw = require('./helpers/http-raw');

/** The request a smuggled body would carry. */
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n';

/** A node:http origin (llhttp, strict and independent of mosnd's parser) that records what it got. */
async function recordingOrigin(t) {
  const seen = [];
  const up = await h.startHttpUpstream((req, res) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString('latin1');
      seen.push({ url: req.url, body, framing: req.rawHeaders.filter((x, i) => i % 2 === 0 && /^(content-length|transfer-encoding)$/i.test(x)) });
      res.end(`answer to ${req.url}`);
    });
  });
  t.after(() => up.close());
  return { up, seen };
}

for (const [name, connection, framing, body] of [
  ['Connection: Content-Length', 'Content-Length', `Content-Length: ${SMUGGLED.length}`, SMUGGLED],
  ['Connection: close, Content-Length', 'close, Content-Length', `Content-Length: ${SMUGGLED.length}`, SMUGGLED],
  ['Connection: CONTENT-LENGTH (upper case)', 'CONTENT-LENGTH', `Content-Length: ${SMUGGLED.length}`, SMUGGLED],
  [
    'Connection: Transfer-Encoding with a chunked body',
    'Transfer-Encoding',
    'Transfer-Encoding: chunked',
    `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`,
  ],
]) {
  test(`a request with ${name} reaches the origin as one request with its body, framed once`, async (t) => {
    const { up, seen } = await recordingOrigin(t);
    const m = await h.proxyTo(t, up.address);
    const r = await h.rawExchange(m.ports.http, `POST /post HTTP/1.1\r\nHost: t\r\nConnection: ${connection}\r\n${framing}\r\n\r\n${body}`, {
      timeoutMs: 3_000,
    });
    assert.equal(r.status, 200);
    assert.match(r.data, /answer to \/post/);
    // A victim on another connection, sent over the same pooled upstream connection.
    const v = await h.request(m.ports.http, { path: '/victim' });
    assert.equal(v.body.toString(), 'answer to /victim');
    assert.deepEqual(
      seen.map((s) => s.url),
      ['/post', '/victim'],
      'no request that the client did not send reached the origin',
    );
    assert.equal(seen[0].body, SMUGGLED, 'the body went up as the body');
    assert.equal(seen[0].framing.length, 1, `one framing field, got ${seen[0].framing}`);
    assert.equal(up.connections, 1, 'the pooled connection stayed clean and was reused');
  });
}

test('a route that adds framing headers cannot change how the origin reads the body', async (t) => {
  const { up, seen } = await recordingOrigin(t);
  const m = await h.proxyTo(t, up.address, {
    route: {
      request_headers_to_add: [
        { header: { key: 'content-length', value: '0' } },
        { header: { key: 'transfer-encoding', value: 'gzip' } },
      ],
    },
  });
  const c = raw.rawClient(m.ports.http);
  t.after(() => c.close());
  c.send(`POST /cl HTTP/1.1\r\nHost: t\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`);
  assert.equal((await c.read()).body.toString(), 'answer to /cl');
  c.send(`POST /te HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`);
  assert.equal((await c.read()).body.toString(), 'answer to /te');
  assert.deepEqual(
    seen.map((s) => [s.url, s.body, s.framing.length]),
    [
      ['/cl', SMUGGLED, 1],
      ['/te', SMUGGLED, 1],
    ],
  );
});

for (const [name, head, body] of [
  ['Connection: Content-Length', 'Connection: Content-Length\r\nContent-Length: 5', 'hello'],
  ['Connection: keep-alive, content-length', 'Connection: keep-alive, content-length\r\nContent-Length: 5', 'hello'],
  ['Connection: Transfer-Encoding', 'Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked', '5\r\nhello\r\n0\r\n\r\n'],
]) {
  test(`an origin answer with ${name} keeps its framing, and the next answer stays separate`, async (t) => {
    const up = await raw.startRawUpstream((s) => {
      raw.onRequestHeads(s, (text) => {
        if (text.startsWith('GET /first ')) s.write(`HTTP/1.1 200 OK\r\n${head}\r\n\r\n${body}`);
        else s.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond');
      });
    });
    t.after(() => up.close());
    const m = await h.proxyTo(t, up.address);
    const c = raw.rawClient(m.ports.http);
    t.after(() => c.close());
    c.send('GET /first HTTP/1.1\r\nHost: t\r\n\r\n');
    const first = await c.read();
    assert.equal(first.body.toString(), 'hello');
    assert.equal(first.rawHeaders.filter((x, i) => i % 2 === 0 && /^(content-length|transfer-encoding)$/i.test(x)).length, 1);
    c.send('GET /second HTTP/1.1\r\nHost: t\r\n\r\n');
    assert.equal((await c.read()).body.toString(), 'second');
    assert.equal(c.isClosed, false);
  });
}

/** Enough requests in one write to have overflowed the stack when each answer started the next. */
const PIPELINED = 5_000;

for (const [name, route, status] of [
  ['no route (404)', { match: { prefix: '/only-this' }, route: { cluster_name: 'c' } }, 404],
  ['direct_response', { match: { prefix: '/' }, direct_response: { status: 200, body: 'hi' } }, 200],
  ['a redirect', { match: { prefix: '/' }, redirect: { path_redirect: '/elsewhere' } }, 301],
]) {
  test(`${PIPELINED} pipelined requests answered locally by ${name} in one burst all get answers, and the worker lives`, { timeout: 60_000 }, async (t) => {
    const m = await h.startMosnd({ config: h.proxyConfig({ routes: [route], clusters: [h.cluster('c', ['127.0.0.1:1'])] }) });
    t.after(() => m.kill());
    const before = h.workerPids(m.pid);
    const one = 'GET /x HTTP/1.1\r\nHost: t\r\n\r\n';
    const burst = one.repeat(PIPELINED - 1) + 'GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n';
    const r = await h.rawExchange(m.ports.http, burst, { timeoutMs: 30_000 });
    assert.equal(r.closed, true);
    assert.equal([...r.data.matchAll(/HTTP\/1\.1 (\d{3}) /g)].filter((x) => Number(x[1]) === status).length, PIPELINED);
    assert.deepEqual(h.workerPids(m.pid), before, 'the worker did not crash');
    assert.equal((await h.rawExchange(m.ports.http, 'GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')).status, status);
  });
}

test('an upstream flooding 20,000 interim 100 heads gets a 502, its connection is dropped, and the worker lives', { timeout: 60_000 }, async (t) => {
  const flood = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'.repeat(20_000) + 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nflood', 'latin1');
  const up = await raw.startRawUpstream((s) => {
    raw.onRequestHeads(s, (text) => {
      if (text.startsWith('GET /flood ')) s.write(flood);
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ncalm');
    });
  });
  t.after(() => up.close());
  const m = await h.proxyTo(t, up.address);
  const before = h.workerPids(m.pid);
  const r = await h.rawExchange(m.ports.http, 'GET /flood HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n', { timeoutMs: 15_000 });
  assert.equal(r.status, 502, `got ${JSON.stringify(r.data.slice(0, 80))}`);
  assert.deepEqual(h.workerPids(m.pid), before, 'the worker did not crash');
  const connectionsBefore = up.connections;
  const calm = await h.request(m.ports.http, { path: '/calm' });
  assert.equal(calm.body.toString(), 'calm');
  assert.equal(up.connections, connectionsBefore + 1, 'the flooding connection was not reused');
});

test('a few interim heads (103, 102) still reach an HTTP/1.1 client before the answer', async (t) => {
  const up = await raw.startRawUpstream((s) => {
    raw.onRequestHeads(s, () => {
      s.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n');
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
  });
  t.after(() => up.close());
  const m = await h.proxyTo(t, up.address);
  const c = raw.rawClient(m.ports.http);
  t.after(() => c.close());
  c.send('GET / HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.equal((await c.read()).status, 103);
  assert.equal((await c.read()).status, 102);
  const final = await c.read();
  assert.equal(final.status, 200);
  assert.equal(final.body.toString(), 'ok');
});

test('underscore look-alikes of the framing fields never reach the origin', async (t) => {
  const seen = [];
  const up = await raw.startRawUpstream((s) => {
    raw.onRequestHeads(s, (text) => {
      seen.push(text);
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
  });
  t.after(() => up.close());
  const m = await h.proxyTo(t, up.address);
  const r = await h.rawExchange(m.ports.http, 'GET / HTTP/1.1\r\nHost: t\r\nTransfer_Encoding: chunked\r\nContent_Length: 5\r\nConnection: close\r\n\r\n');
  assert.equal(r.status, 200);
  assert.equal(seen.length, 1);
  assert.doesNotMatch(seen[0], /transfer_encoding|content_length/i);
});

test('a client that pipelines three requests and half-closes gets three answers, then the close', async (t) => {
  const { up, seen } = await recordingOrigin(t);
  const m = await h.proxyTo(t, up.address);
  const r = await h.rawExchange(m.ports.http, 'GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\nGET /3 HTTP/1.1\r\nHost: t\r\n\r\n', {
    endAfterWrite: true,
  });
  assert.equal(r.closed, true);
  assert.deepEqual([...r.data.matchAll(/answer to (\/\d)/g)].map((x) => x[1]), ['/1', '/2', '/3']);
  assert.deepEqual(seen.map((s) => s.url), ['/1', '/2', '/3']);
});
