'use strict';
/**
 * `mosnd status` and the admin API show each worker's downstream HTTP/2 sessions and the
 * streams open on them.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');
const h2 = require('./helpers/h2');

test('mosnd status and the metrics show a worker\'s HTTP/2 sessions and open streams, and their end', async (t) => {
  const { up, release } = await h.heldUpstream(t);
  const l = h.h2Listener('h2', 'r');
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [h.cluster('c', [up.address])],
      listeners: [l],
      extra: { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } },
    }),
  });
  t.after(() => m.kill());
  const worker = async () => JSON.parse((await m.cli(['status', '--json'])).stdout).processes.find((p) => p.role === 'worker');

  const s = h2.connect(t, m.ports.h2);
  const held = h2.request(s, { ':path': '/slow' });
  await h.waitFor(() => up.requests >= 1, 'the upstream to have the request');
  await h.waitFor(async () => {
    const w = await worker();
    return w.h2Sessions === 1 && w.h2Streams === 1;
  }, 'status to show one session with one stream');
  const table = (await m.cli(['status'])).stdout;
  assert.match(table, /H2-SESS\/STREAMS/);
  assert.match(table, /\b1\/1\b/);
  const prom = await h.scrape(m.ports.__admin);
  assert.equal(prom.mosnd_http2_downstream_sessions_active, 1);
  assert.equal(prom.mosnd_http2_downstream_streams_active, 1);

  release();
  assert.equal((await held).status, 200);
  s.close();
  await h.waitFor(async () => {
    const w = await worker();
    return w.h2Sessions === 0 && w.h2Streams === 0;
  }, 'status to show the session gone');
});
