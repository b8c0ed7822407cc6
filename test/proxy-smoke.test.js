'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');

test('proxies a GET to the upstream and reuses the upstream connection', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end(`hi ${req.url}`));
  t.after(() => up.close());
  const m = await h.proxyTo(t, up.address);
  for (let i = 0; i < 5; i++) {
    const r = await h.request(m.ports.http, { path: `/x${i}` });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), `hi /x${i}`);
  }
  assert.equal(up.requests, 5);
  assert.equal(up.connections, 1);
});
