'use strict';
/**
 * x-forwarded-client-cert is mosnd's to write (from a verified client certificate, on mTLS
 * listeners): a client on a plaintext listener that sends one has it removed before the
 * upstream sees it, as Envoy's default forward_client_cert_details (SANITIZE) does. An upstream
 * that authorises on XFCC must never be handed one the client wrote. Checked on the three
 * request paths: HTTP/1.1 direct, HTTP/2 streams, and HTTP/1.1 clients to HTTP/2 upstreams.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const http2 = require('node:http2');
const h = require('./helpers/mosnd');
const h2 = require('./helpers/h2');

const FORGED = 'Hash=00;Subject="CN=admin"';

function listener(name, downstream, upstream) {
  const l = h.httpListener(name, 'r');
  l.filter_chains[0].filters[0].config.downstream_protocol = downstream;
  l.filter_chains[0].filters[0].config.upstream_protocol = upstream;
  return l;
}

async function mosnd(t, address, l) {
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [h.cluster('c', [address])],
      listeners: [l],
    }),
  });
  t.after(() => m.kill());
  return m;
}

/** An HTTP/1.1 upstream answering with the XFCC it received ('-' for none). */
async function h1Echo(t) {
  const up = await h.startHttpUpstream((req, res) => res.end(req.headers['x-forwarded-client-cert'] ?? '-'));
  t.after(() => up.close());
  return up;
}

test('a client\'s own x-forwarded-client-cert never reaches the upstream over HTTP/1.1 on a plaintext listener', async (t) => {
  const up = await h1Echo(t);
  const m = await mosnd(t, up.address, listener('http', 'Http1', 'Http1'));
  const r = await h.request(m.ports.http, { headers: { 'X-Forwarded-Client-Cert': FORGED, 'x-other': 'kept' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), '-');
});

test('a client\'s own x-forwarded-client-cert never reaches the upstream over HTTP/2 on a plaintext listener', async (t) => {
  const up = await h1Echo(t);
  const m = await mosnd(t, up.address, listener('h2', 'Http2', 'Http1'));
  const s = h2.connect(t, m.ports.h2);
  const r = await h2.request(s, { ':path': '/', 'x-forwarded-client-cert': FORGED });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), '-');
});

test('a client\'s own x-forwarded-client-cert never reaches an HTTP/2 upstream from an HTTP/1.1 client', async (t) => {
  const server = http2.createServer((req, res) => res.end(req.headers['x-forwarded-client-cert'] ?? '-'));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
  const live = new Set();
  server.on('session', (s) => {
    live.add(s);
    s.on('close', () => live.delete(s));
  });
  t.after(() => {
    for (const s of live) s.destroy();
  });
  const m = await mosnd(t, `127.0.0.1:${server.address().port}`, listener('http', 'Http1', 'Http2'));
  const r = await h.request(m.ports.http, { headers: { 'x-forwarded-client-cert': FORGED } });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), '-');
});
