'use strict';
/**
 * Dynamic bind port (seed 003): a listener with `bind_port: false` is known — its config is
 * served — but its address is not bound until the admin API (`POST /listeners/bind?name=`) or
 * a config where it is true binds it; an xDS listener's `bind_to_port` maps to it.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const h = require('./helpers/mosnd');
const x = require('./helpers/xds-server');

const ADMIN = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };

/** A free port (bound then released), for a listener that must have a known address before it binds. */
function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

test('a listener with bind_port false is not bound until the admin API binds it, then serves with its config', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end('late'));
  t.after(() => up.close());
  const port = await freePort();
  const late = { ...h.httpListener('late', 'r', port), bind_port: false };
  late.address = `127.0.0.1:${port}`;
  const config = h.proxyConfig({
    routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
    clusters: [h.cluster('c', [up.address])],
    listeners: [h.httpListener('http', 'r'), late],
    extra: ADMIN,
  });
  const m = await h.startMosnd({ config, workers: 2 });
  t.after(() => m.kill());
  assert.equal(await h.tryConnect(port), 'ECONNREFUSED');
  const st = JSON.parse((await m.cli(['status', '--json'])).stdout);
  assert.deepEqual(st.listeners.map((l) => l.name), ['http']);

  const bound = await h.request(m.ports.__admin, { method: 'POST', path: '/listeners/bind?name=late' });
  assert.equal(bound.status, 200, bound.body.toString());
  assert.match(bound.body.toString(), new RegExp(`listener late listening on 127\\.0\\.0\\.1:${port}`));
  for (let i = 0; i < 4; i++) assert.equal((await h.request(port)).body.toString(), 'late');
  // A reload keeps it bound (same address), and an unknown name is a 404.
  const r = await m.cli(['reload']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await h.request(port)).body.toString(), 'late');
  assert.equal((await h.request(m.ports.__admin, { method: 'POST', path: '/listeners/bind?name=nope' })).status, 404);
});

test('an xDS listener with bind_to_port false is not bound, and an update with bind_to_port true binds it', async (t) => {
  const cp = await x.startControlPlane();
  t.after(() => cp.kill());
  const up = await h.startHttpUpstream((req, res) => res.end('v1'));
  t.after(() => up.close());
  const port = await freePort();
  const listener = (bind) => ({ ...x.httpListener('virtual', port, { rds: 'r' }), bind_to_port: { value: bind } });
  cp.push({ cluster: [x.edsCluster('c')], endpoint: [x.assignment('c', [{ address: up.address }])], listener: [listener(false)], route: [x.routeConfig('r', [{ prefix: '/', cluster: 'c' }])] });
  const m = await h.startMosnd({ config: x.bootstrapConfig(cp.port) });
  t.after(() => m.kill());
  assert.equal(await h.tryConnect(port), 'ECONNREFUSED');
  const v = cp.push({ listener: [listener(true)] });
  await cp.waitForAck('listener', v.listener);
  assert.equal((await h.request(port)).body.toString(), 'v1');
});
