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

async function scrape(port) {
  const r = await h.request(port, { path: '/stats/prometheus' });
  assert.equal(r.status, 200);
  const out = {};
  for (const line of r.body.toString().split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

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
