'use strict';
/**
 * HTTP/2 clients (h2c with prior knowledge, and Auto sniffing) through a real mosnd to real
 * HTTP/1.1 upstreams: headers translated, bodies streamed both ways, trailers, local answers.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const net = require('node:net');
const h = require('./helpers/mosnd');
const h2 = require('./helpers/h2');

function h2Listener(name, protocol = 'Http2') {
  const l = h.httpListener(name, 'r');
  l.filter_chains[0].filters[0].config.downstream_protocol = protocol;
  l.filter_chains[0].filters[0].config.upstream_protocol = 'Http1'; // HTTP/1.1 upstreams (unset would follow the clients: HTTP/2)
  return l;
}

async function startH2(t, { routes, clusters, protocol = 'Http2', server = {} }) {
  const m = await h.startMosnd({
    config: h.proxyConfig({ routes, clusters, listeners: [h2Listener('h2', protocol)], server }),
  });
  t.after(() => m.kill());
  return m;
}

const toCluster = (extra = {}) => [{ match: { prefix: '/' }, route: { cluster_name: 'c', ...extra } }];

test('an HTTP/2 GET reaches an HTTP/1.1 upstream with :authority as Host and comes back without hop-by-hop fields', async (t) => {
  let seen = null;
  const up = await h.startHttpUpstream((req, res) => {
    seen = { method: req.method, url: req.url, headers: req.headers, httpVersion: req.httpVersion };
    res.setHeader('connection', 'keep-alive, x-hop');
    res.setHeader('x-hop', 'must go');
    res.setHeader('keep-alive', 'timeout=5');
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.end('hello over h2');
  });
  t.after(() => up.close());
  const m = await startH2(t, { routes: toCluster(), clusters: [h.cluster('c', [up.address])] });
  const s = h2.connect(t, m.ports.h2);
  const r = await h2.request(s, { ':path': '/a/b?q=1', ':authority': 'example.test:8080', cookie: 'x=1', 'x-custom': 'v', te: 'trailers' });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'hello over h2');
  assert.equal(r.headers['x-hop'], undefined);
  assert.equal(r.headers['keep-alive'], undefined);
  assert.equal(r.headers.connection, undefined);
  assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal(seen.httpVersion, '1.1');
  assert.equal(seen.method, 'GET');
  assert.equal(seen.url, '/a/b?q=1');
  assert.equal(seen.headers.host, 'example.test:8080');
  assert.equal(seen.headers['x-custom'], 'v');
  assert.equal(seen.headers.cookie, 'x=1');
  assert.equal(seen.headers.te, 'trailers');
  assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  assert.ok(seen.headers['x-request-id']);
});

test('a 1 MB request body and a 1 MB response body stream through HTTP/2 intact', async (t) => {
  const up = await h.startHttpUpstream((req, res) => {
    const hash = crypto.createHash('sha256');
    let n = 0;
    req.on('data', (d) => {
      hash.update(d);
      n += d.length;
    });
    req.on('end', () => {
      res.setHeader('x-got', `${n} ${hash.digest('hex')}`);
      res.setHeader('x-te', String(req.headers['transfer-encoding'] ?? ''));
      res.setHeader('x-cl', String(req.headers['content-length'] ?? ''));
      // 1 MB back, chunked, in pieces.
      const piece = Buffer.alloc(64 * 1024, 'r');
      for (let i = 0; i < 16; i++) res.write(piece);
      res.end();
    });
  });
  t.after(() => up.close());
  const m = await startH2(t, { routes: toCluster(), clusters: [h.cluster('c', [up.address])] });
  const s = h2.connect(t, m.ports.h2);
  const body = crypto.randomBytes(1024 * 1024);
  const digest = crypto.createHash('sha256').update(body).digest('hex');

  // Without a length: chunked upstream.
  const r = await h2.request(s, { ':method': 'POST', ':path': '/up' }, { body });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-got'], `${body.length} ${digest}`);
  assert.equal(r.headers['x-te'], 'chunked');
  assert.equal(r.body.length, 1024 * 1024);
  assert.ok(r.body.every((b) => b === 0x72));

  // With a content-length: sent as is.
  const r2 = await h2.request(s, { ':method': 'PUT', ':path': '/up', 'content-length': String(body.length) }, { body });
  assert.equal(r2.headers['x-got'], `${body.length} ${digest}`);
  assert.equal(r2.headers['x-cl'], String(body.length));
  assert.equal(r2.headers['x-te'], '');
});

test('trailers pass both ways: HTTP/2 request trailers to a chunked upstream body, chunked response trailers to HTTP/2 trailers', async (t) => {
  let reqTrailers = null;
  const up = await h.startHttpUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      reqTrailers = req.trailers;
      res.writeHead(200, { 'content-type': 'application/grpc', trailer: 'grpc-status' });
      res.write('payload');
      res.addTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' });
      res.end();
    });
  });
  t.after(() => up.close());
  const m = await startH2(t, { routes: toCluster(), clusters: [h.cluster('c', [up.address])] });
  const s = h2.connect(t, m.ports.h2);
  const r = await h2.request(s, { ':method': 'POST', ':path': '/svc/M', te: 'trailers' }, { body: 'req', trailers: { 'x-checksum': 'abc' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'payload');
  assert.equal(r.trailers?.['grpc-status'], '0');
  assert.equal(r.trailers?.['grpc-message'], 'ok');
  assert.deepEqual(reqTrailers, { 'x-checksum': 'abc' });
});

test('HTTP/2 clients get the local answers: 404 without a route, 503 when no host connects, 504 at the route timeout, 502 when the upstream resets', async (t) => {
  const silent = await h.startHttpUpstream(() => {}); // never answers
  const resetting = await h.startHttpUpstream((req) => req.socket.destroy());
  t.after(() => silent.close());
  t.after(() => resetting.close());
  // A port just closed, on 127.0.0.2: another test's listener that takes the same port number
  // meanwhile (on 127.0.0.1, as they all are) does not answer there, so the connect is refused.
  const dead = net.createServer();
  await new Promise((r) => dead.listen(0, '127.0.0.2', r));
  const deadAddr = `127.0.0.2:${dead.address().port}`;
  await new Promise((r) => dead.close(r));
  const m = await startH2(t, {
    routes: [
      { match: { prefix: '/slow' }, route: { cluster_name: 'silent', timeout: '300ms' } },
      { match: { prefix: '/dead' }, route: { cluster_name: 'dead' } },
      { match: { prefix: '/reset' }, route: { cluster_name: 'resetting' } },
    ],
    clusters: [h.cluster('silent', [silent.address]), h.cluster('dead', [deadAddr]), h.cluster('resetting', [resetting.address])],
  });
  const s = h2.connect(t, m.ports.h2);
  const [none, dead503, slow, reset] = await Promise.all([
    h2.request(s, { ':path': '/nothing' }),
    h2.request(s, { ':path': '/dead' }),
    h2.request(s, { ':path': '/slow' }),
    h2.request(s, { ':method': 'POST', ':path': '/reset' }, { body: 'x' }),
  ]);
  assert.equal(none.status, 404);
  assert.equal(none.body.toString(), 'no route\n');
  assert.equal(dead503.status, 503);
  assert.equal(dead503.body.toString(), 'upstream connect error\n');
  assert.equal(slow.status, 504);
  assert.equal(slow.body.toString(), 'upstream request timeout\n');
  assert.equal(reset.status, 502);
  // The session survived all of it.
  assert.equal((await h2.request(s, { ':path': '/nothing' })).status, 404);
});

test('Auto serves an HTTP/1.1 client and an HTTP/2 client on the same port', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end(`v${req.httpVersion} ${req.url}`));
  t.after(() => up.close());
  const m = await startH2(t, { routes: toCluster(), clusters: [h.cluster('c', [up.address])], protocol: 'Auto' });
  const one = await h.request(m.ports.h2, { path: '/h1' });
  assert.equal(one.status, 200);
  assert.equal(one.body.toString(), 'v1.1 /h1');
  const s = h2.connect(t, m.ports.h2);
  const two = await h2.request(s, { ':path': '/h2' });
  assert.equal(two.status, 200);
  assert.equal(two.body.toString(), 'v1.1 /h2');
  // A request that starts like the preface ("P...") but is HTTP/1.1 is still HTTP/1.1.
  const raw = await h.rawExchange(m.ports.h2, 'PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  assert.equal(raw.status, 200);
  assert.match(raw.data, /v1\.1 \/p$/);
});

test('HTTP/2 requests are in the access log and the metrics like HTTP/1.1 ones, flags included', async (t) => {
  const fs = require('node:fs');
  const path = require('node:path');
  const up = await h.startHttpUpstream((req, res) => {
    if (req.url.startsWith('/gone')) return; // the client resets before any answer
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  t.after(() => up.close());
  const file = path.join(h.tmpDir(), 'access.log');
  const listener = { ...h2Listener('h2'), access_logs: [{ log_path: file }] };
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: toCluster(),
      clusters: [h.cluster('c', [up.address])],
      listeners: [listener],
      extra: { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } },
    }),
  });
  t.after(() => m.kill());
  const s = h2.connect(t, m.ports.h2);
  assert.equal((await h2.request(s, { ':method': 'POST', ':path': '/ok?x=1' }, { body: 'hello' })).status, 200);
  const gone = s.request({ ':path': '/gone' });
  gone.on('error', () => {});
  await h.waitFor(() => up.requests >= 2, 'the upstream to get the request the client resets');
  gone.close(h2.http2.constants.NGHTTP2_CANCEL);

  let lines = [];
  const read = () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
  await h.waitFor(() => (lines = read()).length >= 2, 'two access log lines', 5_000);
  const [ok, reset] = lines;
  assert.equal(ok.method, 'POST');
  assert.equal(ok.path, '/ok?x=1');
  assert.equal(ok.status, 200);
  assert.equal(ok.bytes_received, 5);
  assert.equal(ok.bytes_sent, 2);
  assert.equal(ok.upstream_host, up.address);
  assert.equal(ok.cluster, 'c');
  assert.equal(ok.listener, 'h2');
  assert.equal(ok.response_flags, '-');
  assert.equal(reset.path, '/gone');
  assert.equal(reset.status, 0);
  assert.equal(reset.response_flags, 'DC');

  const metrics = await h.scrape(m.ports.__admin);
  const flagged = Object.entries(metrics).filter(([k]) => k.startsWith('mosnd_downstream_rq_response_flag_total') && k.includes('DC'));
  assert.equal(flagged.length, 1, JSON.stringify(flagged));
  assert.equal(flagged[0][1], 1);
  assert.equal(metrics['mosnd_http2_rapid_reset_closes_total'], 0);
});

test('an HTTP/2 GET is retried on another host when the first resets, and direct responses and redirects are answered over HTTP/2', async (t) => {
  const resetting = await h.startHttpUpstream((req) => req.socket.destroy());
  const good = await h.startHttpUpstream((req, res) => res.end('second host'));
  t.after(() => resetting.close());
  t.after(() => good.close());
  const m = await startH2(t, {
    routes: [
      { match: { prefix: '/direct' }, direct_response: { status: 201, body: 'made here' } },
      { match: { prefix: '/moved' }, redirect: { path_redirect: '/new', response_code: 301 } },
      { match: { prefix: '/' }, route: { cluster_name: 'c', retry_policy: { retry_on: true, num_retries: 2 } } },
    ],
    clusters: [h.cluster('c', [resetting.address, good.address])],
  });
  const s = h2.connect(t, m.ports.h2);
  for (let i = 0; i < 4; i++) {
    const r = await h2.request(s, { ':path': `/r${i}` });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'second host');
  }
  const direct = await h2.request(s, { ':path': '/direct' });
  assert.equal(direct.status, 201);
  assert.equal(direct.body.toString(), 'made here');
  const moved = await h2.request(s, { ':path': '/moved?a=1', ':authority': 'site.test' });
  assert.equal(moved.status, 301);
  assert.equal(moved.headers.location, 'http://site.test/new?a=1');
});

test('streams of one HTTP/2 connection are served side by side: a held stream does not hold back fifty others', async (t) => {
  const { up, release } = await h.heldUpstream(t);
  const m = await startH2(t, { routes: toCluster(), clusters: [h.cluster('c', [up.address])] });
  const s = h2.connect(t, m.ports.h2);
  const slow = h2.request(s, { ':path': '/slow' });
  await h.waitFor(() => up.requests >= 1, 'the held request to reach the upstream');
  const others = await Promise.all(Array.from({ length: 50 }, (_, i) => h2.request(s, { ':path': `/fast/${i}` })));
  assert.ok(others.every((r) => r.status === 200 && r.body.toString() === 'hello'));
  release();
  const r = await slow;
  assert.equal(r.body.toString(), 'slow');
});

test('an HTTP/2 client that sends Expect: 100-continue gets 100 from mosnd and its body reaches the upstream', async (t) => {
  let seen = null;
  const up = await h.startHttpUpstream((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen = { expect: req.headers.expect, body };
      res.end('stored');
    });
  });
  t.after(() => up.close());
  const m = await startH2(t, { routes: toCluster(), clusters: [h.cluster('c', [up.address])] });
  const s = h2.connect(t, m.ports.h2);
  const req = s.request({ ':method': 'PUT', ':path': '/obj', expect: '100-continue' });
  // The body goes only after the 100 (as a client that waits for it does).
  await new Promise((resolve, reject) => {
    req.on('continue', resolve);
    req.on('error', reject);
  });
  req.end('the body');
  const status = await new Promise((resolve) => req.on('response', (hd) => resolve(hd[':status'])));
  req.resume();
  await new Promise((resolve) => req.on('end', resolve));
  assert.equal(status, 200);
  assert.deepEqual(seen, { expect: undefined, body: 'the body' });
});
