'use strict';
/**
 * HTTP/1.1 clients to HTTP/2 upstreams (upstream_protocol Http2 on an HTTP/1.1 or Auto
 * listener): MOSN's http-sample chain, an Http1 listener routing to an Http2 listener of the
 * same mosnd which routes to an HTTP/1.1 upstream; and HTTP/1.1 requests to a bare HTTP/2 server.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const h = require('./helpers/mosnd');
const g = require('./helpers/grpc-upstream');

/** A listener of `router` speaking `down` to clients and `up` to upstreams, on a fixed port. */
function listener(name, router, port, down, up) {
  const l = h.httpListener(name, router, port);
  Object.assign(l.filter_chains[0].filters[0].config, { downstream_protocol: down, upstream_protocol: up });
  return l;
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

test('http-sample chain: HTTP/1.1 in, HTTP/2 between two listeners of one mosnd, HTTP/1.1 to the upstream', async (t) => {
  let seen = null;
  const up = await h.startHttpUpstream((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      seen = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() };
      res.setHeader('x-up', 'h1');
      res.end(`answer to ${req.method} ${req.url}`);
    });
  });
  t.after(() => up.close());
  const h2Port = await freePort();
  const config = {
    servers: [
      {
        default_log_path: 'stdout',
        default_log_level: 'INFO',
        graceful_timeout: '5s',
        routers: [
          { router_config_name: 'to_h2', virtual_hosts: [{ name: 'v', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'h2hop' } }] }] },
          { router_config_name: 'to_up', virtual_hosts: [{ name: 'v', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'up' } }] }] },
        ],
        listeners: [listener('front', 'to_h2', 0, 'Http1', 'Http2'), listener('hop', 'to_up', h2Port, 'Http2', 'Http1')],
      },
    ],
    cluster_manager: { clusters: [h.cluster('h2hop', [`127.0.0.1:${h2Port}`]), h.cluster('up', [up.address])] },
  };
  const m = await h.startMosnd({ config });
  t.after(() => m.kill());

  const r = await h.request(m.ports.front, { path: '/a/b?c=d', headers: { host: 'svc.example', 'x-custom': 'v', connection: 'keep-alive, x-hop', 'x-hop': 'dropped' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'answer to GET /a/b?c=d');
  assert.equal(r.headers['x-up'], 'h1');
  assert.equal(seen.headers.host, 'svc.example');
  assert.equal(seen.headers['x-custom'], 'v');
  assert.equal(seen.headers['x-hop'], undefined);
  // Two proxies on the way: each appended the address it saw.
  assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1, 127.0.0.1');

  const body = 'x'.repeat(100_000);
  const p = await h.request(m.ports.front, { method: 'POST', path: '/upload', body });
  assert.equal(p.status, 200);
  assert.equal(seen.body, body);
  assert.equal(seen.method, 'POST');
});

test('an HTTP/1.1 client of an Auto listener with upstream_protocol Http2 reaches an HTTP/2 server, trailers both ways in chunked bodies', async (t) => {
  let seen = null;
  const up = await g.startBareGrpc(t, {
    onStream(stream, headers) {
      seen = { headers, trailers: null, body: '' };
      stream.on('trailers', (tr) => (seen.trailers = tr));
      stream.on('data', (d) => (seen.body += d));
      stream.on('end', () => {
        stream.respond({ ':status': 201, 'x-up': 'h2' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc' }));
        stream.end('from h2');
      });
      return true;
    },
  });
  const l = listener('auto', 'r', 0, 'Auto', 'Http2');
  const m = await h.startMosnd({ config: h.proxyConfig({ routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }], clusters: [h.cluster('c', [up.address])], listeners: [l] }) });
  t.after(() => m.kill());
  const raw = await h.rawExchange(
    m.ports.auto,
    'POST /t HTTP/1.1\r\nhost: svc.example\r\nte: trailers\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n0\r\nx-req-sum: 5\r\n\r\n',
  );
  const text = raw.data;
  assert.equal(raw.closed, true);
  assert.match(text, /^HTTP\/1\.1 201 /);
  assert.match(text, /\r\nx-up: h2\r\n/i);
  assert.match(text, /transfer-encoding: chunked/i);
  assert.match(text, /\r\n0\r\nx-checksum: abc\r\n\r\n$/);
  assert.equal(seen.headers[':authority'], 'svc.example');
  assert.equal(seen.headers[':method'], 'POST');
  assert.equal(seen.headers.te, 'trailers');
  assert.equal(seen.body, 'hello');
  assert.equal(seen.trailers['x-req-sum'], '5');
});

test('HTTP/1.1 requests on the way to HTTP/2 upstreams get the direct path’s limits: 431 past 100 fields, 400 for a malformed head', async (t) => {
  const up = await g.startBareGrpc(t);
  const m = await h.startMosnd({
    config: h.proxyConfig({ routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }], clusters: [h.cluster('c', [up.address])], listeners: [listener('front', 'r', 0, 'Http1', 'Http2')] }),
  });
  t.after(() => m.kill());
  const fields = (n) => Array.from({ length: n }, (_, i) => `x-f${i}: v\r\n`).join('');
  const ok = await h.rawExchange(m.ports.front, `GET / HTTP/1.1\r\nhost: a\r\n${fields(98)}connection: close\r\n\r\n`);
  assert.equal(ok.status, 200);
  const tooMany = await h.rawExchange(m.ports.front, `GET / HTTP/1.1\r\nhost: a\r\n${fields(100)}\r\n`);
  assert.equal(tooMany.status, 431);
  assert.equal(tooMany.closed, true);
  const bad = await h.rawExchange(m.ports.front, 'GET / HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n');
  assert.equal(bad.status, 400);
  assert.equal(bad.closed, true);
  assert.equal(up.streams, 1, 'only the valid request reached the upstream');
});

test('an HTTP/1.1 head slower than request_headers_timeout on the way to HTTP/2 upstreams gets 408', async (t) => {
  const up = await g.startBareGrpc(t);
  const l = listener('front', 'r', 0, 'Http1', 'Http2');
  l.request_headers_timeout = '1s';
  const m = await h.startMosnd({ config: h.proxyConfig({ routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }], clusters: [h.cluster('c', [up.address])], listeners: [l] }) });
  t.after(() => m.kill());
  // Half a head, then nothing: the answer comes when the timeout (checked every second) fires.
  const r = await h.rawExchange(m.ports.front, 'GET / HTTP/1.1\r\nhost: a\r\n', { timeoutMs: 10_000 });
  assert.equal(r.status, 408);
  assert.equal(r.closed, true);
  assert.equal(up.streams, 0);
});
