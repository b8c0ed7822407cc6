'use strict';
/**
 * Outlier detection (passive health checking, cluster.outlier_detection) against real
 * upstreams: a host whose own traffic fails consecutive_5xx times in a row is ejected from
 * the worker's load balancing, comes back after base_ejection_time, and never more hosts than
 * max_ejection_percent allows (but at least one) are out at once. One worker, so the counts
 * the upstreams see are exact.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');
const p = require('./helpers/procs');
const { tcpRoundTrip, randomPayload } = require('./helpers/clients');

const ADMIN = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };
/** A port nothing listens on: connections are refused at once. */
const REFUSING = '127.0.0.1:1';
/** How long an ejected host may take to come back past its ejection time: the un-ejection
 *  runs on the pool sweep (every second), on a loaded machine. */
const RETURN_BOUND_MS = 15_000;

const { scrape } = h;

test('a tcp_proxy host that refuses connections is ejected after consecutive_5xx failures, and new streams go straight to the others', async (t) => {
  const echo = await h.startEchoServer();
  t.after(() => echo.close());
  const outlier = { consecutive_5xx: 3, base_ejection_time: '5m' };
  const m = await h.startMosnd({
    config: h.proxyConfig({
      listeners: [h.tcpListener('tcp', 'c')],
      clusters: [h.cluster('c', [REFUSING, echo.address], { outlier_detection: outlier })],
      extra: ADMIN,
    }),
  });
  t.after(() => m.kill());
  for (let i = 0; i < 20; i++) {
    const { data, sha } = randomPayload(1000 + i);
    const r = await tcpRoundTrip(m.ports.tcp, data);
    assert.equal(r.sha, sha, `stream ${i} echoed intact (a refused host is retried on the other)`);
  }
  const s = await scrape(m.ports.__admin);
  assert.equal(s['mosnd_upstream_cx_connect_fail_total{cluster="c"}'], 3, 'connects to the refusing host stop once it is ejected');
  assert.equal(s['mosnd_upstream_outlier_ejections_total{cluster="c"}'], 1);
  assert.equal(s[`mosnd_upstream_host_outlier_ejected{cluster="c",host="${REFUSING}"}`], 1);
  assert.equal(s[`mosnd_upstream_host_outlier_ejected{cluster="c",host="${echo.address}"}`], 0);
  const line = await m.waitForLog((l) => /outlier detection ejected/.test(l.msg ?? ''));
  assert.equal(line.host, REFUSING);
  assert.equal(line.reason, 'consecutive_5xx');
  assert.equal(line.ejectionMs, 300_000);
});

test('without outlier_detection a refusing tcp_proxy host keeps getting its share of connection attempts', async (t) => {
  const echo = await h.startEchoServer();
  t.after(() => echo.close());
  const m = await h.startMosnd({
    config: h.proxyConfig({ listeners: [h.tcpListener('tcp', 'c')], clusters: [h.cluster('c', [REFUSING, echo.address])], extra: ADMIN }),
  });
  t.after(() => m.kill());
  for (let i = 0; i < 20; i++) {
    const { data, sha } = randomPayload(100);
    assert.equal((await tcpRoundTrip(m.ports.tcp, data)).sha, sha);
  }
  const s = await scrape(m.ports.__admin);
  assert.ok(s['mosnd_upstream_cx_connect_fail_total{cluster="c"}'] >= 8, 'round robin keeps trying it');
  assert.equal(s['mosnd_upstream_outlier_ejections_total{cluster="c"}'], 0);
});

/** An upstream answering every request with `status`; counts its requests. */
async function answering(t, status) {
  const up = await h.startHttpUpstream((req, res) => {
    res.statusCode = status;
    res.end(`${status}`);
  });
  t.after(() => up.close());
  return up;
}

/** mosnd with one HTTP listener routing everything to cluster c of `hosts`. */
async function httpProxy(t, hosts, outlier, route = {}) {
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', ...route } }],
      clusters: [h.cluster('c', hosts, { outlier_detection: outlier })],
      extra: ADMIN,
    }),
  });
  t.after(() => m.kill());
  return m;
}

/** `n` requests one after the other; the statuses in order. */
async function statuses(m, n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push((await h.request(m.ports.http, { path: `/${i}` })).status);
  return out;
}

test('an HTTP host that answers 5xx consecutive_5xx times in a row is ejected, and the others take all its traffic', async (t) => {
  const bad = await answering(t, 500);
  const good = await answering(t, 200);
  const m = await httpProxy(t, [bad.address, good.address], { consecutive_5xx: 3, base_ejection_time: '5m' });
  const got = await statuses(m, 20);
  assert.equal(bad.requests, 3, 'the failing host saw exactly consecutive_5xx requests');
  assert.equal(got.filter((s) => s === 500).length, 3, 'its 5xx answers reach the clients (no retry policy)');
  assert.equal(good.requests, 17);
  const s = await scrape(m.ports.__admin);
  assert.equal(s['mosnd_upstream_outlier_ejections_total{cluster="c"}'], 1);
  assert.equal(s[`mosnd_upstream_host_outlier_ejected{cluster="c",host="${bad.address}"}`], 1);
});

test('a host that answers 4xx is never ejected: only 5xx and gateway failures count', async (t) => {
  const notFound = await answering(t, 404);
  const good = await answering(t, 200);
  const m = await httpProxy(t, [notFound.address, good.address], { consecutive_5xx: 2 });
  await statuses(m, 20);
  assert.equal(notFound.requests, 10);
  assert.equal((await scrape(m.ports.__admin))['mosnd_upstream_outlier_ejections_total{cluster="c"}'], 0);
});

test('an ejected host comes back after base_ejection_time, and its next ejection lasts twice as long', async (t) => {
  const bad = await answering(t, 503);
  const good = await answering(t, 200);
  const m = await httpProxy(t, [bad.address, good.address], { consecutive_5xx: 2, base_ejection_time: '1s', interval: '1m' });
  const ejected = (n) => m.logs.filter((l) => /outlier detection ejected/.test(l.msg ?? '')).length >= n;
  await statuses(m, 4);
  assert.equal(bad.requests, 2);
  assert.ok(ejected(1));
  await statuses(m, 4);
  assert.equal(bad.requests, 2, 'ejected: no traffic');
  await m.waitForLog((l) => /is back in service/.test(l.msg ?? ''), RETURN_BOUND_MS);
  // Back on probation: two more failures eject it again, for 2 × base.
  await p.waitFor(async () => (await statuses(m, 1), ejected(2)), RETURN_BOUND_MS, 'a second ejection');
  assert.equal(bad.requests, 4);
  const lines = m.logs.filter((l) => /outlier detection ejected/.test(l.msg ?? ''));
  assert.deepEqual(
    lines.map((l) => l.ejectionMs),
    [1000, 2000],
  );
});

test('max_ejection_percent never ejects more hosts than it allows, though at least one', async (t) => {
  const a = await answering(t, 500);
  const b = await answering(t, 500);
  const m = await httpProxy(t, [a.address, b.address], { consecutive_5xx: 3, base_ejection_time: '5m' }); // 10 % of 2 hosts: 1
  const got = await statuses(m, 20);
  assert.deepEqual(new Set(got), new Set([500]));
  assert.equal(Math.min(a.requests, b.requests), 3, 'one host was ejected after its third failure');
  assert.equal(Math.max(a.requests, b.requests), 17, 'the other stays: ejecting it too would leave nothing');
  assert.equal((await scrape(m.ports.__admin))['mosnd_upstream_outlier_ejections_total{cluster="c"}'], 1);
});

test('consecutive_gateway_failure ejects a host answering 502/503/504 sooner than consecutive_5xx would', async (t) => {
  const gateway = await answering(t, 503);
  const plain5xx = await answering(t, 500);
  const good = await answering(t, 200);
  const m = await httpProxy(t, [gateway.address, plain5xx.address, good.address], {
    consecutive_5xx: 50,
    consecutive_gateway_failure: 2,
    base_ejection_time: '5m',
    max_ejection_percent: 100,
  });
  await statuses(m, 30);
  assert.equal(gateway.requests, 2);
  assert.ok(plain5xx.requests >= 13, `the 500 host is not a gateway failure: ${plain5xx.requests} requests`);
  const line = await m.waitForLog((l) => /outlier detection ejected/.test(l.msg ?? ''));
  assert.equal(line.reason, 'consecutive_gateway_failure');
});

test('an HTTP host that refuses connections is ejected after consecutive_5xx connect failures', async (t) => {
  const good = await answering(t, 200);
  const m = await httpProxy(t, [REFUSING, good.address], { consecutive_5xx: 3, base_ejection_time: '5m' }, {
    retry_policy: { retry_on: true, num_retries: 1 },
  });
  const got = await statuses(m, 20);
  assert.deepEqual(new Set(got), new Set([200]), 'each refused connect is retried on the other host');
  const s = await scrape(m.ports.__admin);
  assert.equal(s['mosnd_upstream_cx_connect_fail_total{cluster="c"}'], 3);
  assert.equal(s['mosnd_upstream_outlier_ejections_total{cluster="c"}'], 1);
});
