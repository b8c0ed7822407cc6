'use strict';
/**
 * Answers mosnd makes itself to gRPC calls (HTTP/2 listener, HTTP/1.1 upstreams): trailers-only
 * (HTTP 200, one HEADERS frame with END_STREAM) with the grpc-status Envoy would give, seen by a
 * raw node:http2 client and by a real @grpc/grpc-js client; grpc-timeout bounding the route timeout.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const http2 = require('node:http2');
const h = require('./helpers/mosnd');
const g = require('./helpers/grpc');
const { grpcTimeoutMs, encodeGrpcMessage } = require('../dist/worker/stream/grpc.js');

const GRPC_HEADERS = { ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' };

/**
 * One raw gRPC request on `session`: resolves { headers, endStreamOnHeaders, body, trailers }.
 * `endStreamOnHeaders` is the END_STREAM flag of the response's HEADERS frame: a trailers-only answer.
 */
function rawCall(session, path, extra = {}) {
  return new Promise((resolve, reject) => {
    const req = session.request({ ...GRPC_HEADERS, ':path': path, ...extra });
    const timer = setTimeout(() => {
      req.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error('no answer within 20 s'));
    }, 20_000);
    const out = { headers: null, endStreamOnHeaders: false, body: Buffer.alloc(0), trailers: null };
    const chunks = [];
    req.on('response', (headers, flags) => {
      out.headers = headers;
      out.endStreamOnHeaders = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    req.on('trailers', (tr) => (out.trailers = tr));
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      clearTimeout(timer);
      out.body = Buffer.concat(chunks);
      resolve(out);
    });
    req.on('error', reject);
    req.end(g.frame('ping'));
  });
}

function assertTrailersOnly(r, grpcStatus, message) {
  assert.equal(r.headers[':status'], 200);
  assert.equal(r.headers['content-type'], 'application/grpc');
  assert.equal(r.headers['grpc-status'], String(grpcStatus));
  if (message !== undefined) assert.equal(r.headers['grpc-message'], message);
  assert.equal(r.endStreamOnHeaders, true, 'one HEADERS frame with END_STREAM');
  assert.equal(r.body.length, 0);
  assert.equal(r.trailers, null);
}

test('a gRPC call with no route is answered trailers-only with UNIMPLEMENTED, a plain HTTP/2 request still gets 404', async (t) => {
  const m = await g.startGrpcProxy(t, { routes: [{ match: { prefix: '/only/' }, route: { cluster_name: 'c' } }], clusters: [h.cluster('c', ['127.0.0.1:1'])] });
  const s = http2.connect(`http://127.0.0.1:${m.ports.h2}`);
  t.after(() => s.destroy());
  assertTrailersOnly(await rawCall(s, '/pkg.Svc/Method'), 12, 'no route');
  const plain = await new Promise((resolve) => {
    const req = s.request({ ':path': '/x' });
    req.on('response', (hd) => resolve(hd[':status']));
    req.resume();
  });
  assert.equal(plain, 404);
  const r = await g.unary(g.client(t, m.ports.h2), '/pkg.Svc/Method');
  assert.equal(r.code, g.grpc.status.UNIMPLEMENTED);
  assert.equal(r.details, 'no route');
});

test('a gRPC call to a cluster whose host refuses connections is answered UNAVAILABLE', async (t) => {
  const dead = await h.startHttpUpstream();
  const address = dead.address;
  await dead.close();
  const m = await g.startGrpcProxy(t, { routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }], clusters: [h.cluster('c', [address])] });
  const s = http2.connect(`http://127.0.0.1:${m.ports.h2}`);
  t.after(() => s.destroy());
  assertTrailersOnly(await rawCall(s, '/pkg.Svc/Method'), 14, 'upstream connect error');
  const r = await g.unary(g.client(t, m.ports.h2), '/pkg.Svc/Method');
  assert.equal(r.code, g.grpc.status.UNAVAILABLE);
});

test('a gRPC call whose upstream resets before answering is answered UNAVAILABLE, not a stream reset', async (t) => {
  const up = await h.startHttpUpstream((req) => req.socket.destroy());
  t.after(() => up.close());
  const m = await g.startGrpcProxy(t, { routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }], clusters: [h.cluster('c', [up.address])] });
  const r = await g.unary(g.client(t, m.ports.h2), '/pkg.Svc/Method');
  assert.equal(r.code, g.grpc.status.UNAVAILABLE);
  assert.match(r.details, /upstream connection closed/);
});

test('a gRPC call to a cluster with no hosts is answered UNAVAILABLE (no healthy upstream)', async (t) => {
  const m = await g.startGrpcProxy(t, { routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }], clusters: [h.cluster('c', [])] });
  const r = await g.unary(g.client(t, m.ports.h2), '/pkg.Svc/Method');
  assert.equal(r.code, g.grpc.status.UNAVAILABLE);
  assert.equal(r.details, 'no healthy upstream');
});

test('a route timeout on a gRPC call is answered DEADLINE_EXCEEDED', async (t) => {
  const up = await h.startHttpUpstream(() => {}); // never answers
  t.after(() => up.close());
  const m = await g.startGrpcProxy(t, { routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', timeout: '300ms' } }], clusters: [h.cluster('c', [up.address])] });
  const s = http2.connect(`http://127.0.0.1:${m.ports.h2}`);
  t.after(() => s.destroy());
  assertTrailersOnly(await rawCall(s, '/pkg.Svc/Slow'), 4, 'upstream request timeout');
});

test('a per-try timeout (retry_policy.retry_timeout) that ends a gRPC call is answered DEADLINE_EXCEEDED too', async (t) => {
  const up = await h.startHttpUpstream(() => {}); // never answers
  t.after(() => up.close());
  const m = await g.startGrpcProxy(t, {
    routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', timeout: '1h', retry_policy: { retry_on: 'unavailable', retry_timeout: '200ms', num_retries: 1 } } }],
    clusters: [h.cluster('c', [up.address])],
  });
  const s = http2.connect(`http://127.0.0.1:${m.ports.h2}`);
  t.after(() => s.destroy());
  assertTrailersOnly(await rawCall(s, '/pkg.Svc/Slow'), 4, 'upstream request timeout');
});

test('grpc-timeout shorter than the route timeout ends the call with DEADLINE_EXCEEDED; a longer one does not extend the route timeout', async (t) => {
  const up = await h.startHttpUpstream(() => {}); // never answers
  t.after(() => up.close());
  const m = await g.startGrpcProxy(t, {
    routes: [
      { match: { prefix: '/long/' }, route: { cluster_name: 'c', timeout: '1h' } },
      { match: { prefix: '/short/' }, route: { cluster_name: 'c', timeout: '300ms' } },
    ],
    clusters: [h.cluster('c', [up.address])],
  });
  const s = http2.connect(`http://127.0.0.1:${m.ports.h2}`);
  t.after(() => s.destroy());
  // The route allows an hour: only the 200 ms grpc-timeout can end this call (the test would time out).
  assertTrailersOnly(await rawCall(s, '/long/Svc', { 'grpc-timeout': '200m' }), 4);
  // The route allows 300 ms: a grpc-timeout of 100 hours does not lift that.
  assertTrailersOnly(await rawCall(s, '/short/Svc', { 'grpc-timeout': '100H' }), 4);
});

test('grpc-timeout is read as the spec writes it; zero and malformed values are ignored', () => {
  const at = (v) => grpcTimeoutMs(['grpc-timeout', v]);
  assert.equal(at('200m'), 200);
  assert.equal(at('2S'), 2000);
  assert.equal(at('1M'), 60_000);
  assert.equal(at('1H'), 3_600_000);
  assert.equal(at('1500u'), 2); // rounded up: a deadline never shrinks to nothing
  assert.equal(at('1n'), 1);
  assert.equal(at('99999999S'), 99_999_999_000);
  for (const bad of ['0m', '0S', '', 'S', '10', '10s', '123456789S', '-1S', '1.5S', ' 5 S']) assert.equal(at(bad), -1, bad);
  assert.equal(grpcTimeoutMs(['other', '1S']), -1);
});

test('grpc-message is percent-encoded: non-ASCII and % become %XX, the trailing newline goes', () => {
  assert.equal(encodeGrpcMessage('no route\n'), 'no route');
  assert.equal(encodeGrpcMessage('100% é'), '100%25 %C3%A9');
});

test('a direct_response error to a gRPC call goes the gRPC way with its body as grpc-message; a 200 direct_response is sent as written', async (t) => {
  const m = await g.startGrpcProxy(t, {
    routes: [
      { match: { prefix: '/blocked/' }, direct_response: { status: 403, body: 'not for you' } },
      { match: { prefix: '/ok/' }, direct_response: { status: 200, body: 'plain' } },
    ],
  });
  const s = http2.connect(`http://127.0.0.1:${m.ports.h2}`);
  t.after(() => s.destroy());
  assertTrailersOnly(await rawCall(s, '/blocked/M'), 7, 'not for you');
  const ok = await rawCall(s, '/ok/M');
  assert.equal(ok.headers[':status'], 200);
  assert.equal(ok.body.toString(), 'plain');
  assert.equal(ok.headers['grpc-status'], undefined);
});

test('a gRPC call past the cluster\'s max_requests is answered UNAVAILABLE (Envoy answers overflow 503, not RESOURCE_EXHAUSTED)', async (t) => {
  const held = [];
  const up = await h.startHttpUpstream((req, res) => held.push(() => res.end()));
  t.after(() => {
    held.splice(0).forEach((f) => f());
    return up.close();
  });
  const m = await g.startGrpcProxy(t, {
    routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
    clusters: [h.cluster('c', [up.address], { circuit_breakers: [{ max_requests: 1 }] })],
  });
  const s = http2.connect(`http://127.0.0.1:${m.ports.h2}`);
  t.after(() => s.destroy());
  const first = rawCall(s, '/pkg.Svc/Held');
  await h.waitFor(() => up.requests === 1, 'the upstream holding the first call');
  assertTrailersOnly(await rawCall(s, '/pkg.Svc/Over'), 14, 'upstream overflow');
  assert.equal(up.requests, 1, 'the second call never reached the upstream');
  held.splice(0).forEach((f) => f());
  await first;
});

test('the upstream is told the deadline mosnd enforces: a grpc-timeout past the route timeout goes out lowered to it, a shorter one as sent', async (t) => {
  const seen = [];
  const up = await h.startHttpUpstream(g.grpcHandler((req) => {
    seen.push(req.headers['grpc-timeout']);
    return { status: 0, body: 'ok' };
  }));
  t.after(() => up.close());
  const m = await g.startGrpcProxy(t, { routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', timeout: '2s' } }], clusters: [h.cluster('c', [up.address])] });
  const s = http2.connect(`http://127.0.0.1:${m.ports.h2}`);
  t.after(() => s.destroy());
  for (const sent of ['100S', '1500m', 'bogus']) {
    const r = await rawCall(s, '/pkg.Svc/M', { 'grpc-timeout': sent });
    assert.equal(r.trailers['grpc-status'], '0');
  }
  assert.deepEqual(seen, ['2000m', '1500m', 'bogus']);
});
