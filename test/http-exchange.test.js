'use strict';
/**
 * HTTP/1.1 exchange semantics through a real mosnd: connection reuse both sides, HTTP/1.0
 * clients, bodiless responses, 100-continue, hop-by-hop fields, forwarding headers,
 * pipelining and Upgrade passthrough.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const h = require('./helpers/mosnd');
const raw = require('./helpers/http-raw');

async function proxyTo(t, upstreamAddress, { clusterExtra = {}, routeExtra = {}, workers = 1 } = {}) {
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', ...routeExtra } }],
      clusters: [h.cluster('c', [upstreamAddress], clusterExtra)],
    }),
    workers,
  });
  t.after(() => m.kill());
  return m;
}

async function upstream(t, handler) {
  const up = await h.startHttpUpstream(handler);
  t.after(() => up.close());
  return up;
}

async function client(t, port) {
  const c = raw.rawClient(port);
  t.after(() => c.close());
  await c.connected;
  return c;
}

const GET = (path, extra = '') => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;

test('reuses one upstream connection for sequential requests from many clients', async (t) => {
  const up = await upstream(t, (req, res) => res.end(req.url));
  const m = await proxyTo(t, up.address);
  for (let i = 0; i < 20; i++) {
    const r = await h.request(m.ports.http, { path: `/r${i}` }); // a new client connection each time
    assert.equal(r.body.toString(), `/r${i}`);
  }
  assert.equal(up.requests, 20);
  assert.equal(up.connections, 1);
});

test('opens a new upstream connection after max_request_per_conn requests', async (t) => {
  const up = await upstream(t, (req, res) => res.end('ok'));
  const m = await proxyTo(t, up.address, { clusterExtra: { max_request_per_conn: 3 } });
  for (let i = 0; i < 9; i++) assert.equal((await h.request(m.ports.http, { path: '/' })).status, 200);
  assert.equal(up.requests, 9);
  assert.equal(up.connections, 3);
});

test('serves many requests on one downstream keep-alive connection', async (t) => {
  const up = await upstream(t, (req, res) => res.end(`got ${req.url}`));
  const m = await proxyTo(t, up.address);
  const c = await client(t, m.ports.http);
  for (let i = 0; i < 25; i++) {
    c.send(GET(`/k${i}`));
    const r = await c.read();
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), `got /k${i}`);
    assert.equal(r.headers.connection, undefined, 'an HTTP/1.1 keep-alive answer needs no Connection header');
  }
  assert.equal(c.isClosed, false);
  // Closing when asked.
  c.send(GET('/last', 'Connection: close\r\n'));
  const last = await c.read();
  assert.equal(last.headers.connection, 'close');
  assert.equal(await c.waitClosed(), true);
});

test('closes an HTTP/1.0 client connection by default and keeps it when asked', async (t) => {
  const up = await upstream(t, (req, res) => res.end(`v${req.httpVersion}`));
  const m = await proxyTo(t, up.address);

  const c1 = await client(t, m.ports.http);
  c1.send('GET /a HTTP/1.0\r\n\r\n');
  const r1 = await c1.read();
  assert.equal(r1.status, 200);
  assert.equal(r1.body.toString(), 'v1.1', 'the upstream is spoken to in HTTP/1.1');
  assert.notEqual(r1.headers.connection, 'keep-alive');
  assert.equal(await c1.waitClosed(), true);

  const c2 = await client(t, m.ports.http);
  for (let i = 0; i < 3; i++) {
    c2.send('GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    const r = await c2.read();
    assert.equal(r.status, 200);
    assert.equal(r.headers.connection, 'keep-alive');
  }
  assert.equal(await c2.waitClosed(200), false, 'a keep-alive HTTP/1.0 connection stays open');
});

test('decodes a chunked upstream response for an HTTP/1.0 client', async (t) => {
  const up = await upstream(t, (req, res) => {
    res.write('first-');
    setTimeout(() => res.end('second'), 20);
  });
  const m = await proxyTo(t, up.address);
  const c = await client(t, m.ports.http);
  c.send('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  // No Content-Length and no chunking for a 1.0 client: the body ends with the connection.
  await c.waitClosed();
  const text = c.pending.toString('latin1');
  const [head, body] = text.split('\r\n\r\n');
  assert.match(head, /^HTTP\/1\.1 200 /);
  assert.doesNotMatch(head, /transfer-encoding/i);
  assert.equal(body, 'first-second');
  assert.equal(up.requests, 1);
});

test('answers HEAD with the headers and no body, and the connection stays usable', async (t) => {
  const up = await upstream(t, (req, res) => {
    res.setHeader('content-length', '1000');
    res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(1000, 0x61));
  });
  const m = await proxyTo(t, up.address);
  const c = await client(t, m.ports.http);
  c.send('HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n');
  const r = await c.read({ noBody: true });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], '1000');
  c.send(GET('/after'));
  const r2 = await c.read();
  assert.equal(r2.status, 200);
  assert.equal(r2.body.length, 1000, 'no stray body bytes of the HEAD answer precede the next response');
});

test('passes 204 and 304 without a body and keeps the connection usable', async (t) => {
  const up = await upstream(t, (req, res) => {
    if (req.url === '/204') res.writeHead(204).end();
    else if (req.url === '/304') res.writeHead(304, { etag: '"v1"' }).end();
    else res.end('plain');
  });
  const m = await proxyTo(t, up.address);
  const c = await client(t, m.ports.http);
  for (const path of ['/204', '/304', '/204', '/x']) {
    c.send(GET(path, path === '/304' ? 'If-None-Match: "v1"\r\n' : ''));
    const r = await c.read();
    if (path === '/x') {
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'plain');
    } else {
      assert.equal(r.status, Number(path.slice(1)));
      assert.equal(r.body.length, 0);
      if (path === '/304') assert.equal(r.headers.etag, '"v1"');
    }
  }
  assert.equal(c.isClosed, false);
  assert.equal(up.connections, 1);
});

test('relays 100 Continue to a client that expects it, then the final response', async (t) => {
  const up = await upstream(t, (req, res) => {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => res.end(`upstream got ${Buffer.concat(parts)}`));
  });
  const m = await proxyTo(t, up.address);
  const c = await client(t, m.ports.http);
  c.send('POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
  const interim = await c.read();
  assert.equal(interim.status, 100);
  c.send('hello');
  const final = await c.read();
  assert.equal(final.status, 200);
  assert.equal(final.body.toString(), 'upstream got hello');

  // node:http's own client, which waits for the 100 before sending the body.
  const got = await new Promise((resolve, reject) => {
    const req = http.request(
      { port: m.ports.http, host: '127.0.0.1', method: 'PUT', path: '/', agent: false, headers: { expect: '100-continue', 'content-length': 3 } },
      (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve({ status: res.statusCode, body: b, continued }));
      },
    );
    let continued = false;
    req.on('continue', () => {
      continued = true;
      req.end('abc');
    });
    req.on('error', reject);
  });
  assert.deepEqual(got, { status: 200, body: 'upstream got abc', continued: true });
});

test('strips hop-by-hop fields both ways, including those listed in Connection', async (t) => {
  let seenHead = '';
  const up = await raw.startRawUpstream((s) =>
    raw.onRequestHeads(s, (head) => {
      seenHead = head;
      s.write(
        'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, X-Resp-Hop\r\nX-Resp-Hop: secret\r\n' +
          'Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nX-Resp-End: kept\r\n\r\nok',
      );
    }),
  );
  t.after(() => up.close());
  const m = await proxyTo(t, up.address);
  const c = await client(t, m.ports.http);
  c.send(
    'GET /hop HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, X-Req-Hop\r\nX-Req-Hop: secret\r\nKeep-Alive: timeout=5\r\n' +
      'Proxy-Connection: keep-alive\r\nTE: trailers\r\nX-Req-End: kept\r\n\r\n',
  );
  const r = await c.read();
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'ok');
  for (const name of ['x-resp-hop', 'keep-alive', 'proxy-connection', 'connection']) {
    assert.equal(r.headers[name], undefined, `${name} reached the client`);
  }
  assert.equal(r.headers['x-resp-end'], 'kept');
  for (const name of ['x-req-hop', 'keep-alive', 'proxy-connection', 'te']) {
    assert.doesNotMatch(seenHead, new RegExp(`^${name}:`, 'im'), `${name} reached the upstream`);
  }
  assert.doesNotMatch(seenHead, /secret/);
  assert.match(seenHead, /^X-Req-End: kept\r$/m);
  assert.doesNotMatch(seenHead, /^connection:(?!\s*keep-alive)/im, 'the upstream sees no client Connection tokens');
});

test('appends to X-Forwarded-For, sets X-Forwarded-Proto, and generates X-Request-Id only when absent', async (t) => {
  const up = await upstream(t, (req, res) => res.end(JSON.stringify(req.headers)));
  const m = await proxyTo(t, up.address);
  const plain = JSON.parse((await h.request(m.ports.http, { path: '/' })).body);
  assert.equal(plain['x-forwarded-for'], '127.0.0.1');
  assert.equal(plain['x-forwarded-proto'], 'http');
  assert.match(plain['x-request-id'], /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  const other = JSON.parse((await h.request(m.ports.http, { path: '/' })).body);
  assert.notEqual(other['x-request-id'], plain['x-request-id'], 'each request gets its own id');

  const given = JSON.parse(
    (
      await h.request(m.ports.http, {
        path: '/',
        headers: { 'x-forwarded-for': '203.0.113.9, 10.0.0.1', 'x-request-id': 'client-chosen-id', 'x-forwarded-proto': 'https' },
      })
    ).body,
  );
  assert.equal(given['x-forwarded-for'], '203.0.113.9, 10.0.0.1, 127.0.0.1');
  assert.equal(given['x-request-id'], 'client-chosen-id');
  assert.equal(given['x-forwarded-proto'], 'https', 'a proto set by an earlier proxy is kept');
});

test('answers pipelined requests in order, even when earlier ones are slower', async (t) => {
  const up = await upstream(t, (req, res) => {
    const n = Number(req.url.slice(1));
    setTimeout(() => res.end(`answer ${n}`), (5 - n) * 15);
  });
  const m = await proxyTo(t, up.address);
  const c = await client(t, m.ports.http);
  let batch = '';
  for (let i = 0; i < 5; i++) batch += GET(`/${i}`);
  batch += 'POST /4 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc';
  c.send(batch);
  for (let i = 0; i < 5; i++) {
    const r = await c.read();
    assert.equal(r.body.toString(), `answer ${i}`);
  }
  assert.equal((await c.read()).body.toString(), 'answer 4');
  assert.equal(c.isClosed, false);
});

test('passes an Upgrade through: 101, then bytes both ways on the same connection', async (t) => {
  const server = http.createServer((req, res) => res.end('not an upgrade'));
  let upgradeHeaders;
  server.on('upgrade', (req, socket, head) => {
    upgradeHeaders = req.headers;
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: fake\r\n\r\n');
    if (head.length > 0) socket.write(Buffer.concat([Buffer.from('echo:'), head]));
    socket.on('data', (d) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
    socket.on('end', () => socket.end('bye'));
    socket.on('error', () => {});
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => (server.closeAllConnections(), server.close(r))));
  const m = await proxyTo(t, `127.0.0.1:${server.address().port}`);

  const c = await client(t, m.ports.http);
  c.send('GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: abc\r\n\r\n');
  const r = await c.read();
  assert.equal(r.status, 101);
  assert.equal(r.headers.upgrade, 'websocket');
  assert.match(r.headers.connection, /upgrade/i);
  assert.equal(r.headers['sec-websocket-accept'], 'fake');
  assert.equal(upgradeHeaders.upgrade, 'websocket');
  assert.equal(upgradeHeaders['sec-websocket-key'], 'abc');

  const expectBytes = (s) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`did not get ${s}; have ${c.pending}`)), 5_000);
      const check = () => {
        if (c.pending.toString('latin1').includes(s)) {
          clearTimeout(timer);
          c.socket.off('data', check);
          resolve();
        }
      };
      c.socket.on('data', check);
      check();
    });
  c.send('ping-1');
  await expectBytes('echo:ping-1');
  const big = Buffer.alloc(256 * 1024, 0x7a);
  c.send(big);
  await expectBytes(`echo:${'z'.repeat(1000)}`);
  c.socket.end();
  await expectBytes('bye');
  assert.equal(await c.waitClosed(), true, 'the tunnel closes when both sides have ended');
});

test('forwards Content-Length as one value both ways, and drops it when chunked decides the framing', async (t) => {
  const heads = [];
  const up = await raw.startRawUpstream((s) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      const i = buf.indexOf('\r\n\r\n');
      if (i === -1 || buf.length < i + 4 + 3) return;
      heads.push(buf.slice(0, i + 4));
      buf = buf.slice(i + 7);
      if (heads.length === 1) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok');
      else s.write('HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
    });
  });
  t.after(() => up.close());
  const m = await proxyTo(t, up.address);
  const c = await client(t, m.ports.http);
  c.send('POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n\r\nabc');
  const r1 = await c.read();
  // The framing field is mosnd's own (written in lower case, like host and x-forwarded-for).
  assert.deepEqual(heads[0].match(/^content-length:.*$/gim), ['content-length: 3']);
  assert.equal(r1.rawHeaders.filter((x) => /^content-length$/i.test(x)).length, 1);
  assert.equal(r1.headers['content-length'], '2');
  assert.equal(r1.body.toString(), 'ok');
  c.send('POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc');
  const r2 = await c.read();
  assert.deepEqual(heads[1].match(/^content-length:.*$/gim), ['content-length: 3']);
  assert.equal(r2.headers['content-length'], undefined, 'Transfer-Encoding overrides Content-Length, which must not be forwarded');
  assert.equal(r2.headers['transfer-encoding'], 'chunked');
  assert.equal(r2.body.toString(), 'ok');
});

test('appends the client address to the last X-Forwarded-For, also after route header mutations', async (t) => {
  const up = await upstream(t, (req, res) => res.end(JSON.stringify(req.rawHeaders)));
  const m = await proxyTo(t, up.address, { routeExtra: { request_headers_to_remove: ['x-drop'] } });
  const seen = async (extra) => {
    const r = await h.rawExchange(m.ports.http, `GET / HTTP/1.1\r\nHost: t\r\n${extra}Connection: close\r\n\r\n`);
    const rawHeaders = JSON.parse(r.data.split('\r\n\r\n')[1]);
    const pairs = [];
    for (let i = 0; i < rawHeaders.length; i += 2) pairs.push(`${rawHeaders[i].toLowerCase()}: ${rawHeaders[i + 1]}`);
    return pairs;
  };
  const two = await seen('X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n');
  assert.deepEqual(
    two.filter((p) => p.startsWith('x-forwarded-for')),
    ['x-forwarded-for: 1.1.1.1', 'x-forwarded-for: 2.2.2.2, 127.0.0.1'],
    'the proxy address list stays in hop order',
  );
  const shifted = await seen('X-Drop: 1\r\nX-Forwarded-For: 1.1.1.1\r\nX-Other: o\r\n');
  assert.ok(shifted.includes('x-forwarded-for: 1.1.1.1, 127.0.0.1'), JSON.stringify(shifted));
  assert.ok(shifted.includes('x-other: o'), 'no other field gets the address');
  assert.ok(!shifted.some((p) => p.startsWith('x-drop')));
});

test('answers a client that half-closes right after its request, then closes', async (t) => {
  const up = await upstream(t, (req, res) => setTimeout(() => res.end(`late ${req.url}`), 50));
  const m = await proxyTo(t, up.address);
  const r = await h.rawExchange(m.ports.http, 'GET /half HTTP/1.1\r\nHost: t\r\n\r\n', { endAfterWrite: true });
  assert.equal(r.status, 200);
  assert.match(r.data, /late \/half$/);
  assert.equal(r.closed, true);
});

test('answers 500 pipelined requests sent in one write, in order', async (t) => {
  const up = await upstream(t, (req, res) => res.end(req.url));
  const m = await proxyTo(t, up.address);
  const c = await client(t, m.ports.http);
  let batch = '';
  for (let i = 0; i < 500; i++) batch += GET(`/p${i}`);
  c.send(batch);
  for (let i = 0; i < 500; i++) assert.equal((await c.read()).body.toString(), `/p${i}`);
  assert.equal(up.connections, 1);
});

test('relays 103 Early Hints to an HTTP/1.1 client before the final response', async (t) => {
  const up = await raw.startRawUpstream((s) =>
    raw.onRequestHeads(s, () => {
      s.write('HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n');
      setTimeout(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal'), 30);
    }),
  );
  t.after(() => up.close());
  const m = await proxyTo(t, up.address);
  const c = await client(t, m.ports.http);
  c.send(GET('/'));
  const hints = await c.read();
  assert.equal(hints.status, 103);
  assert.equal(hints.headers.link, '</style.css>; rel=preload');
  const final = await c.read();
  assert.equal(final.status, 200);
  assert.equal(final.body.toString(), 'final');
  // An HTTP/1.0 client gets no interim responses.
  const c10 = await client(t, m.ports.http);
  c10.send('GET / HTTP/1.0\r\n\r\n');
  assert.equal((await c10.read()).status, 200);
});

test('reassembles a response whose head and chunked body arrive one byte at a time', async (t) => {
  const answer = Buffer.from('HTTP/1.1 200 OK\r\nX-Split: yes\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;e=1\r\n world\r\n0\r\n\r\n');
  const up = await raw.startRawUpstream((s) =>
    raw.onRequestHeads(s, async () => {
      for (const b of answer) {
        s.write(Buffer.from([b]));
        await new Promise((r) => setImmediate(r));
      }
    }),
  );
  t.after(() => up.close());
  const m = await proxyTo(t, up.address);
  const c = await client(t, m.ports.http);
  for (let i = 0; i < 2; i++) {
    c.send(GET('/'));
    const r = await c.read();
    assert.equal(r.headers['x-split'], 'yes');
    assert.equal(r.body.toString(), 'hello world');
  }
  assert.equal(up.connections, 1, 'the upstream connection was reused after a byte-wise response');
});
