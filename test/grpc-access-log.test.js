'use strict';
/**
 * A gRPC call's grpc-status in the access log ("grpc_status", Envoy's %GRPC_STATUS_NUMBER%) and
 * in mosnd_downstream_rq_grpc_total{listener, grpc_status}: from the upstream's trailers, from
 * its headers (trailers-only), or from mosnd's own answer; other requests' lines stay as they were.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const http2 = require('node:http2');
const h = require('./helpers/mosnd');
const g = require('./helpers/grpc');

const ADMIN = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };

function lines(file) {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

test('the access log and the metrics carry each gRPC call\'s grpc-status, and nothing for a plain request', async (t) => {
  const up = await h.startHttpUpstream((req, res) => {
    if (req.url === '/plain') {
      res.end('plain');
      return;
    }
    const reply = req.url === '/pkg.Svc/Fail' ? { status: 9, message: 'precondition', trailersOnly: true } : { status: 0, body: 'pong' };
    g.grpcHandler(() => reply)(req, res);
  });
  t.after(() => up.close());
  const file = path.join(h.tmpDir(), 'access.log');
  const m = await g.startGrpcProxy(t, {
    routes: [
      { match: { prefix: '/pkg.Svc/' }, route: { cluster_name: 'c' } },
      { match: { prefix: '/plain' }, route: { cluster_name: 'c' } },
    ],
    clusters: [h.cluster('c', [up.address])],
    accessLog: file,
    extra: ADMIN,
  });
  const c = g.client(t, m.ports.h2);
  assert.equal((await g.unary(c, '/pkg.Svc/Ok')).code, 0); // grpc-status in chunked trailers
  assert.equal((await g.unary(c, '/pkg.Svc/Fail')).code, 9); // in the head
  assert.equal((await g.unary(c, '/other.Svc/M')).code, 12); // mosnd's own: no route
  const s = http2.connect(`http://127.0.0.1:${m.ports.h2}`);
  t.after(() => s.destroy());
  await new Promise((resolve) => {
    const req = s.request({ ':path': '/plain' });
    req.resume();
    req.on('end', resolve);
  });
  await h.waitFor(() => lines(file).length === 4, 'four access log lines');
  const byPath = Object.fromEntries(lines(file).map((l) => [l.path, l]));
  assert.equal(byPath['/pkg.Svc/Ok'].grpc_status, 0);
  assert.equal(byPath['/pkg.Svc/Fail'].grpc_status, 9);
  assert.equal(byPath['/other.Svc/M'].grpc_status, 12);
  assert.equal(byPath['/other.Svc/M'].response_flags, 'NR');
  assert.equal('grpc_status' in byPath['/plain'], false);
  const metrics = await h.scrape(m.ports.__admin);
  for (const [code, n] of [['0', 1], ['9', 1], ['12', 1]]) {
    assert.equal(metrics[`mosnd_downstream_rq_grpc_total{listener="h2",grpc_status="${code}"}`], n, `grpc_status ${code}`);
  }
  assert.equal(Object.keys(metrics).filter((k) => k.startsWith('mosnd_downstream_rq_grpc_total')).length, 3);
});
