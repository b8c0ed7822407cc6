'use strict';
/**
 * HTTP/2 clients through mosnd to an HTTP/1.1 upstream reuse the upstream keep-alive pool: a
 * stream whose exchange ended cleanly gives its connection back for the next one. (Found by the
 * HTTP/2 bench: every stream opened a new upstream connection, ~25 times HAProxy's CPU per request.)
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');
const h2 = require('./helpers/h2');

test('HTTP/2 requests one after another share one upstream keep-alive connection', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end(`hello ${req.url}`));
  t.after(() => up.close());
  const l = h.httpListener('h2', 'r');
  l.filter_chains[0].filters[0].config.downstream_protocol = 'Http2';
  l.filter_chains[0].filters[0].config.upstream_protocol = 'Http1'; // HTTP/1.1 upstreams (unset would follow the clients: HTTP/2)
  const m = await h.startMosnd({
    config: h.proxyConfig({ routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }], clusters: [h.cluster('c', [up.address])], listeners: [l] }),
  });
  t.after(() => m.kill());
  const s = h2.connect(t, m.ports.h2);
  for (let i = 0; i < 5; i++) {
    const r = await h2.request(s, { ':path': `/r${i}` });
    assert.equal(r.body.toString(), `hello /r${i}`);
  }
  // A POST with a body, and one whose body streams after the connection was taken, too.
  const r = await h2.request(s, { ':method': 'POST', ':path': '/post' }, { body: 'data' });
  assert.equal(r.status, 200);
  assert.equal(up.requests, 6);
  assert.equal(up.connections, 1);
});
