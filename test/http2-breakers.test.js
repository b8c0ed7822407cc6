'use strict';
/**
 * The circuit breakers hold for HTTP/2 streams as for HTTP/1.1 requests: the stream proxy
 * admits through the same Cluster checks (max_requests; max_retries counts retries in flight).
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');
const h2 = require('./helpers/h2');

function h2Listener() {
  const l = h.httpListener('http', 'r');
  l.filter_chains[0].filters[0].config.downstream_protocol = 'Http2';
  return l;
}

test('an HTTP/2 stream past max_requests in flight gets 503 upstream overflow, and the breaker closes again', async (t) => {
  const held = [];
  const up = await h.startHttpUpstream((req, res) => held.push(() => res.end(`done ${req.url}`)));
  t.after(() => {
    held.splice(0).forEach((f) => f());
    return up.close();
  });
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [h.cluster('c', [up.address], { circuit_breakers: [{ max_requests: 2 }] })],
      listeners: [h2Listener()],
    }),
  });
  t.after(() => m.kill());
  const session = h2.connect(t, m.ports.http);
  const first = [h2.request(session, { ':path': '/a' }), h2.request(session, { ':path': '/b' })];
  await h.waitFor(() => up.requests === 2, 'the upstream holding two requests');
  const third = await h2.request(session, { ':path': '/c' });
  assert.equal(third.status, 503);
  assert.equal(third.body.toString(), 'upstream overflow\n');
  assert.equal(up.requests, 2, 'the third stream never reached the upstream');
  held.splice(0).forEach((f) => f());
  assert.deepEqual((await Promise.all(first)).map((r) => r.status), [200, 200]);
  const again = h2.request(session, { ':path': '/d' });
  await h.waitFor(() => up.requests === 3, 'the next stream reaches the upstream');
  held.splice(0).forEach((f) => f());
  assert.equal((await again).body.toString(), 'done /d');
});
