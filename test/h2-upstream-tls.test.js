'use strict';
/**
 * HTTP/2 upstreams over TLS: a cluster with a tls_context and upstream_protocol Http2 opens its
 * sessions over TLS with ALPN h2, verifies the host against ca_cert and server_name, and says
 * :scheme https; gRPC goes end to end to a grpc-js server with TLS credentials.
 */
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const https = require('node:https');
const h = require('./helpers/mosnd');
const g = require('./helpers/grpc-upstream');
const { makePki } = require('./helpers/certs');

const { grpc } = g;
const pki = makePki();
after(() => pki.cleanup());
const up = pki.issue('up', { dns: ['up.test'] });

async function tlsGrpcServer(t, impl) {
  const server = new grpc.Server();
  server.addService(g.Echo.service, impl);
  const creds = grpc.ServerCredentials.createSsl(null, [{ cert_chain: fs.readFileSync(up.cert), private_key: fs.readFileSync(up.key) }]);
  const port = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  t.after(() => server.forceShutdown());
  return `127.0.0.1:${port}`;
}

async function mosnd(t, address, tlsContext) {
  const l = h.h2Listener('h2', 'r', null); // upstream_protocol unset: HTTP/2 to the upstream too (MOSN's rule)
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [h.cluster('c', [address], { tls_context: tlsContext })],
      listeners: [l],
    }),
  });
  t.after(() => m.kill());
  return m;
}

test('gRPC goes to an HTTP/2 upstream over TLS (ALPN h2), verified against ca_cert and server_name; a wrong name is UNAVAILABLE', async (t) => {
  let seenAuthority = null;
  const address = await tlsGrpcServer(t, {
    Unary(call, cb) {
      seenAuthority = call.getHost();
      cb(null, { text: `echo: ${call.request.text}` });
    },
  });
  const m = await mosnd(t, address, { status: true, ca_cert: pki.ca, server_name: 'up.test' });
  const c = g.client(t, m.ports.h2);
  const { msg } = await g.unary(c, { text: 'over tls' });
  assert.equal(msg.text, 'echo: over tls');
  assert.equal(seenAuthority, `127.0.0.1:${m.ports.h2}`);

  const wrong = await mosnd(t, address, { status: true, ca_cert: pki.ca, server_name: 'other.test' });
  const c2 = g.client(t, wrong.ports.h2);
  await assert.rejects(g.unary(c2, { text: 'x' }), (err) => err.code === grpc.status.UNAVAILABLE);
});

test('an upstream that speaks TLS but not HTTP/2 (no ALPN h2) fails the session cleanly instead of being sent HTTP/2 frames', async (t) => {
  const srv = https.createServer({ cert: fs.readFileSync(up.cert), key: fs.readFileSync(up.key) }, (req, res) => res.end('http/1.1 only'));
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  const m = await mosnd(t, `127.0.0.1:${srv.address().port}`, { status: true, ca_cert: pki.ca, server_name: 'up.test' });
  const c = g.client(t, m.ports.h2);
  await assert.rejects(g.unary(c, { text: 'x' }), (err) => err.code === grpc.status.UNAVAILABLE);
  // The worker is still serving: the same answer again, not a hang.
  await assert.rejects(g.unary(c, { text: 'y' }), (err) => err.code === grpc.status.UNAVAILABLE);
});
