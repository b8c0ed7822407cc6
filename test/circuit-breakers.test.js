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
  const { up, releaseAll } = await holdingUpstream(t);
  const m = await start(t, [h.cluster('c', [up.address], { circuit_breakers: [{ max_requests: 1 }] })]);
  const held = h.request(m.ports.http, { path: '/held' });
  await h.waitFor(() => up.requests === 1, 'the upstream holding one request');
  assert.equal((await h.request(m.ports.http, { path: '/over' })).status, 503);
  const json = JSON.parse((await h.request(m.ports.__admin, { path: '/clusters?format=json' })).body.toString());
  const c = json.cluster_statuses.find((x) => x.name === 'c');
  assert.equal(c.circuit_breakers.max_requests, 1);
  assert.equal(c.stats.upstream_rq_pending_overflow, 1);
  releaseAll();
  assert.equal((await held).status, 200);
});

/** A TCP server that reads a request and closes the connection: every try there fails (reset). */
async function resettingUpstream(t) {
  const net = require('node:net');
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.destroy());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
  return `127.0.0.1:${server.address().port}`;
}

/** An upstream that holds /hold* requests until the test calls the functions in `held`, and
 *  answers anything else at once. */
async function holdingSomeUpstream(t) {
  const held = [];
  const up = await h.startHttpUpstream((req, res) => {
    if (req.url.startsWith('/hold')) held.push(() => res.end(`held ${req.url}`));
    else res.end(`now ${req.url}`);
  });
  t.after(() => {
    held.splice(0).forEach((f) => f());
    return up.close();
  });
  return { up, held };
}

const RETRY = { retry_policy: { retry_on: true, num_retries: 3 } };

test('max_retries bounds retries in flight, not retries per request: a request may retry num_retries times one after another', async (t) => {
  const [r1, r2] = await Promise.all([resettingUpstream(t), resettingUpstream(t)]);
  const ok = await h.startHttpUpstream();
  t.after(() => ok.close());
  // Round robin with each retry avoiding the host that failed: r1, then r2, then ok.
  const m = await start(t, [h.cluster('c', [r1, r2, ok.address], { circuit_breakers: [{ max_retries: 1 }] })], { route: RETRY });
  const r = await h.request(m.ports.http, { path: '/x' });
  assert.equal(r.status, 200, 'two retries in a row, never two at once');
  assert.equal(r.body.toString(), 'GET /x');
  const s = await scrape(m.ports.__admin);
  assert.equal(s['mosnd_upstream_rq_retry_total{cluster="c"}'], 2);
  assert.equal(s['mosnd_upstream_rq_retry_overflow_total{cluster="c"}'], 0);
});

test('a retry past max_retries in flight is not started: the request gets the answer it would have had without it, and the overflow is counted', async (t) => {
  const failing = await resettingUpstream(t);
  const { up: other, held } = await holdingSomeUpstream(t);
  const m = await start(t, [h.cluster('c', [failing, other.address], { circuit_breakers: [{ max_retries: 1 }] })], { route: RETRY });
  // 1st request: round robin sends it to the failing host, its retry to the other host, which
  // holds it: one retry in flight, the cluster's max.
  const first = h.request(m.ports.http, { path: '/hold1' });
  await h.waitFor(() => held.length === 1, 'the retry of the first request held upstream');
  // 2nd request: round robin is back at the failing host; its retry finds no room.
  const second = await h.request(m.ports.http, { path: '/second' });
  assert.equal(second.status, 502, 'what a reset before the response gives without a retry');
  assert.equal(other.requests, 1, 'the second request was not retried on the other host');
  let s = await scrape(m.ports.__admin);
  assert.equal(s['mosnd_upstream_rq_retry_overflow_total{cluster="c"}'], 1);
  assert.equal(s['mosnd_upstream_rq_retry_total{cluster="c"}'], 1);
  assert.equal(s['mosnd_downstream_rq_response_flag_total{listener="http",response_flag="UC"}'], 1);
  held.splice(0).forEach((f) => f());
  assert.equal((await first).body.toString(), 'held /hold1');
  // The first retry's try ended: retries may start again. Next in turn is the other host,
  // then the failing one, whose request is retried on the other host.
  assert.equal((await h.request(m.ports.http, { path: '/third' })).status, 200);
  const fourth = await h.request(m.ports.http, { path: '/fourth' });
  assert.equal(fourth.status, 200);
  assert.equal(fourth.body.toString(), 'now /fourth');
  s = await scrape(m.ports.__admin);
  assert.equal(s['mosnd_upstream_rq_retry_total{cluster="c"}'], 2, 'the fourth request was retried');
  assert.equal(s['mosnd_upstream_rq_retry_overflow_total{cluster="c"}'], 1);
});

test('a connect failure past max_retries in flight answers 503 UF without the retry', async (t) => {
  const { up: other, held } = await holdingSomeUpstream(t);
  const refusing = '127.0.0.1:1';
  const m = await start(t, [h.cluster('c', [refusing, other.address], { circuit_breakers: [{ max_retries: 1 }] })], { route: RETRY });
  const first = h.request(m.ports.http, { path: '/hold1' });
  await h.waitFor(() => held.length === 1, 'the retry of the first request held upstream');
  const second = await h.request(m.ports.http, { path: '/second' });
  assert.equal(second.status, 503);
  assert.equal(second.body.toString(), 'upstream connect error\n');
  const s = await scrape(m.ports.__admin);
  assert.equal(s['mosnd_upstream_rq_retry_overflow_total{cluster="c"}'], 1);
  assert.equal(s['mosnd_downstream_rq_response_flag_total{listener="http",response_flag="UF"}'], 1);
  held.splice(0).forEach((f) => f());
  assert.equal((await first).status, 200);
  // The slot was given back when the held retry's try ended: the next connect failure is
  // retried again (round robin: the other host, then the refusing one).
  assert.equal((await h.request(m.ports.http, { path: '/third' })).status, 200);
  const fourth = await h.request(m.ports.http, { path: '/fourth' });
  assert.equal(fourth.body.toString(), 'now /fourth');
  assert.equal((await scrape(m.ports.__admin))['mosnd_upstream_rq_retry_total{cluster="c"}'], 2);
});
