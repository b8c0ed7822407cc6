'use strict';
/**
 * The circuit breakers max_requests and max_retries, with Envoy's and MOSN's meaning, against
 * a real mosnd and real upstreams that hold requests until the test lets them go. One worker:
 * the breakers count per worker, so with one the bounds the upstream sees are exact.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');

const ADMIN = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };
const { scrape } = h;

/** An upstream that holds every request until `releaseAll()`; counts what it received. */
async function holdingUpstream(t) {
  const held = [];
  const up = await h.startHttpUpstream((req, res) => held.push(() => res.end(`done ${req.url}`)));
  const releaseAll = () => held.splice(0).forEach((f) => f());
  t.after(() => {
    releaseAll();
    return up.close();
  });
  return { up, releaseAll };
}

async function start(t, clusters, { route = {} } = {}) {
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', ...route } }],
      clusters,
      extra: ADMIN,
    }),
  });
  t.after(() => m.kill());
  return m;
}

test('a request past max_requests in flight gets 503 with flag UO, counted as an overflow, and the breaker closes again', async (t) => {
  const { up, releaseAll } = await holdingUpstream(t);
  const m = await start(t, [h.cluster('c', [up.address], { circuit_breakers: [{ max_requests: 2 }] })]);
  const first = [h.request(m.ports.http, { path: '/a' }), h.request(m.ports.http, { path: '/b' })];
  await h.waitFor(() => up.requests === 2, 'the upstream holding two requests');
  const third = await h.request(m.ports.http, { path: '/c' });
  assert.equal(third.status, 503);
  assert.equal(third.body.toString(), 'upstream overflow\n');
  assert.equal(up.requests, 2, 'the third request never reached the upstream');
  const s = await scrape(m.ports.__admin);
  assert.equal(s['mosnd_upstream_rq_pending_overflow_total{cluster="c"}'], 1);
  assert.equal(s['mosnd_downstream_rq_response_flag_total{listener="http",response_flag="UO"}'], 1);
  assert.equal(s['mosnd_upstream_rq_active{cluster="c"}'], 2);
  releaseAll();
  assert.deepEqual((await Promise.all(first)).map((r) => r.status), [200, 200]);
  // Both finished: two may be in flight again.
  const again = [h.request(m.ports.http, { path: '/d' }), h.request(m.ports.http, { path: '/e' })];
  await h.waitFor(() => up.requests === 4, 'the upstream holding the next two');
  releaseAll();
  assert.deepEqual((await Promise.all(again)).map((r) => r.body.toString()).sort(), ['done /d', 'done /e']);
});

test('max_requests is shown in /clusters with the overflow count', async (t) => {
  const { up } = await holdingUpstream(t);
  const m = await start(t, [h.cluster('c', [up.address], { circuit_breakers: [{ max_requests: 1 }] })]);
  const held = h.request(m.ports.http, { path: '/held' }).catch(() => {});
  await h.waitFor(() => up.requests === 1, 'the upstream holding one request');
  assert.equal((await h.request(m.ports.http, { path: '/over' })).status, 503);
  const json = JSON.parse((await h.request(m.ports.__admin, { path: '/clusters?format=json' })).body.toString());
  const c = json.cluster_statuses.find((x) => x.name === 'c');
  assert.equal(c.circuit_breakers.max_requests, 1);
  assert.equal(c.stats.upstream_rq_pending_overflow, 1);
  void held;
});
