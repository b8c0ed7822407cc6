'use strict';
/**
 * Cluster `tls_context`: mosnd speaks TLS to the hosts, verifies them against `ca_cert` with
 * `server_name` as SNI and expected name, sends a client certificate for mTLS, can opt out of
 * verification only with `insecure_skip`, and runs its health checks over TLS too.
 * Upstreams are Node https servers with certificates made by `openssl` (helpers/certs.js).
 */
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const https = require('node:https');
const h = require('./helpers/mosnd');
const { makePki } = require('./helpers/certs');

const pki = makePki();
after(() => pki.cleanup());
const read = (f) => fs.readFileSync(f, 'utf8');
const server = pki.issue('up', { dns: ['up.test'] });
const client = pki.issue('mosnd-client', { cn: 'mosnd-client' });
const ADMIN = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };

/** An HTTPS upstream that answers what it saw: SNI, client certificate CN, path. */
async function httpsUpstream(t, opts = {}) {
  const srv = https.createServer({ cert: read(server.cert), key: read(server.key), ca: read(pki.ca), ...opts }, (req, res) => {
    if (req.url === '/healthz') return res.end('ok');
    const peer = req.socket.getPeerCertificate();
    res.end(JSON.stringify({ sni: req.socket.servername, clientCn: peer?.subject?.CN ?? null, url: req.url }));
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  return `127.0.0.1:${srv.address().port}`;
}

async function start(t, address, tlsContext, clusterExtra = {}) {
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [h.cluster('c', [address], { tls_context: tlsContext, ...clusterExtra })],
      extra: ADMIN,
    }),
  });
  t.after(() => m.kill());
  return m;
}

test('upstream TLS verifies the host against ca_cert with server_name as SNI, and refuses a host whose certificate does not carry that name', async (t) => {
  const address = await httpsUpstream(t);
  const ok = await start(t, address, { status: true, ca_cert: pki.ca, server_name: 'up.test' });
  const r = await h.request(ok.ports.http, { path: '/x' });
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body.toString()), { sni: 'up.test', clientCn: null, url: '/x' });

  const wrong = await start(t, address, { status: true, ca_cert: pki.ca, server_name: 'other.test' });
  const refused = await h.request(wrong.ports.http, { path: '/x' });
  assert.equal(refused.status, 503, 'a certificate for another name is a connect failure');
  // Without ca_cert the system CAs verify: a private CA is refused as well.
  const noCa = await start(t, address, { status: true, server_name: 'up.test' });
  assert.equal((await h.request(noCa.ports.http, { path: '/x' })).status, 503);
  // The opt-out is named as such.
  const skip = await start(t, address, { status: true, server_name: 'other.test', insecure_skip: true });
  assert.equal((await h.request(skip.ports.http, { path: '/x' })).status, 200);
});

test('a cluster client certificate authenticates mosnd to an upstream that requires mTLS', async (t) => {
  const address = await httpsUpstream(t, { requestCert: true, rejectUnauthorized: true });
  const without = await start(t, address, { status: true, ca_cert: pki.ca, server_name: 'up.test' });
  assert.notEqual((await h.request(without.ports.http, { path: '/m' })).status, 200);
  const m = await start(t, address, { status: true, ca_cert: pki.ca, server_name: 'up.test', cert_chain: client.cert, private_key: client.key });
  const r = await h.request(m.ports.http, { path: '/m' });
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body.toString()).clientCn, 'mosnd-client');
});

test('health checks of a TLS cluster run over TLS: a host whose certificate does not verify is unhealthy', async (t) => {
  const address = await httpsUpstream(t);
  const check = { timeout: '500ms', interval: '100ms', healthy_threshold: 1, unhealthy_threshold: 1, check_config: { http_check_config: { path: '/healthz' } } };
  const good = await start(t, address, { status: true, ca_cert: pki.ca, server_name: 'up.test' }, { health_check: check });
  const bad = await start(t, address, { status: true, ca_cert: pki.ca, server_name: 'other.test' }, { health_check: check });
  const failed = async (m) => (await h.scrape(m.ports.__admin))[`mosnd_upstream_host_health_failed{cluster="c",host="${address}"}`];
  await h.waitFor(async () => (await failed(bad)) === 1, 'the host with the wrong name seen as unhealthy');
  await h.waitFor(async () => (await h.request(good.ports.http, { path: '/h' })).status === 200, 'the verified host serving');
  assert.equal(await failed(good), 0);
});

test('new upstream TLS connections resume the session the host gave before instead of a full handshake', async (t) => {
  const handshakes = { full: 0, resumed: 0 };
  const srv = https.createServer({ cert: read(server.cert), key: read(server.key) }, (req, res) => res.end('ok'));
  srv.on('secureConnection', (s) => (s.isSessionReused() ? handshakes.resumed++ : handshakes.full++));
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  // One request per upstream connection: every request opens a new one.
  const m = await start(t, `127.0.0.1:${srv.address().port}`, { status: true, ca_cert: pki.ca, server_name: 'up.test' }, { max_request_per_conn: 1 });
  for (let i = 0; i < 5; i++) assert.equal((await h.request(m.ports.http, { path: `/r${i}` })).status, 200);
  assert.equal(handshakes.full + handshakes.resumed, 5);
  assert.equal(handshakes.full, 1, 'only the first connection does a full handshake');
});
