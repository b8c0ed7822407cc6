'use strict';
/**
 * retry_on with Envoy's gRPC conditions, through a real mosnd (HTTP/2 listener) to HTTP/1.1
 * upstreams, called by a real @grpc/grpc-js client: a try answered trailers-only with a listed
 * grpc-status is sent again (body included, even when it streamed to the first try); a status
 * in the trailers of a response under way, or one not listed, reaches the client.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');
const g = require('./helpers/grpc');

/** Two upstreams: `bad` answers every call with `badReply`, `good` echoes the message back with OK. */
async function twoHosts(t, badReply) {
  const seen = { bad: [], good: [] };
  const bad = await h.startHttpUpstream(g.grpcHandler((req, body) => {
    seen.bad.push(body);
    return badReply;
  }));
  const good = await h.startHttpUpstream(g.grpcHandler((req, body) => {
    seen.good.push(body);
    return { status: 0, body: body.subarray(5) };
  }));
  t.after(() => Promise.all([bad.close(), good.close()]));
  return { bad, good, seen };
}

function routeTo(retryOn, extra = {}) {
  return [{ match: { prefix: '/' }, route: { cluster_name: 'c', retry_policy: { retry_on: retryOn, num_retries: 1 }, ...extra } }];
}

test('a call answered trailers-only UNAVAILABLE is sent again to the other host when retry_on lists "unavailable", body and all', async (t) => {
  const { bad, good, seen } = await twoHosts(t, { status: 14, message: 'going away', trailersOnly: true });
  const m = await g.startGrpcProxy(t, { routes: routeTo('connect-failure,unavailable'), clusters: [h.cluster('c', [bad.address, good.address])] });
  const c = g.client(t, m.ports.h2);
  // Round robin starts anywhere: enough calls that several start on the bad host, on a warm pool
  // too (the body then streams to the first try while a copy is kept for the retry).
  for (let i = 0; i < 6; i++) {
    const r = await g.unary(c, '/pkg.Svc/Echo', Buffer.from(`call ${i}`));
    assert.equal(r.code, 0, `call ${i}: ${r.details}`);
    assert.equal(r.value.toString(), `call ${i}`);
  }
  assert.ok(seen.bad.length >= 2, `the bad host got ${seen.bad.length} calls`);
  assert.equal(seen.good.length, 6);
  // The retried try carried the whole message, as the first one did.
  for (const b of seen.bad) assert.match(b.subarray(5).toString(), /^call \d$/);
});

test('a grpc-status that retry_on does not list reaches the client without a retry', async (t) => {
  const { bad, good, seen } = await twoHosts(t, { status: 14, message: 'going away', trailersOnly: true });
  const m = await g.startGrpcProxy(t, { routes: routeTo('cancelled,resource-exhausted'), clusters: [h.cluster('c', [bad.address, good.address])] });
  const c = g.client(t, m.ports.h2);
  const codes = [];
  for (let i = 0; i < 4; i++) codes.push((await g.unary(c, '/pkg.Svc/Echo')).code);
  assert.equal(seen.bad.length + seen.good.length, 4, 'one try per call');
  assert.equal(codes.filter((x) => x === 14).length, seen.bad.length);
  assert.ok(seen.bad.length >= 1);
});

test('UNAVAILABLE in the trailers of a response under way is the client\'s: not retried', async (t) => {
  const { bad, good, seen } = await twoHosts(t, { status: 14, message: 'mid-stream', body: 'partial' });
  const m = await g.startGrpcProxy(t, { routes: routeTo('unavailable'), clusters: [h.cluster('c', [bad.address, good.address])] });
  const c = g.client(t, m.ports.h2);
  const codes = [];
  for (let i = 0; i < 4; i++) codes.push((await g.unary(c, '/pkg.Svc/Echo')).code);
  assert.equal(seen.bad.length + seen.good.length, 4, 'one try per call');
  assert.equal(codes.filter((x) => x === 14).length, seen.bad.length);
});

test('MOSN\'s boolean retry_on does not retry on a grpc-status', async (t) => {
  const { bad, good, seen } = await twoHosts(t, { status: 14, message: 'going away', trailersOnly: true });
  const m = await g.startGrpcProxy(t, { routes: routeTo(true), clusters: [h.cluster('c', [bad.address, good.address])] });
  const c = g.client(t, m.ports.h2);
  for (let i = 0; i < 4; i++) await g.unary(c, '/pkg.Svc/Echo');
  assert.equal(seen.bad.length + seen.good.length, 4, 'one try per call');
});

test('config: retry_on takes MOSN\'s boolean or Envoy\'s condition list; an unknown condition is an error naming its JSON path', () => {
  const { parseConfig } = require('../dist/shared/config/load.js');
  const doc = (retryOn) => JSON.stringify(h.proxyConfig({
    routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', retry_policy: { retry_on: retryOn } } }],
    clusters: [h.cluster('c', ['127.0.0.1:1'])],
  }));
  const at = 'servers[0].routers[0].virtual_hosts[0].routers[0].route.retry_policy.retry_on';
  const retryOf = (r) => r.config.routers[0].virtualHosts[0].routes[0].action.retry;
  let r = parseConfig(doc('connect-failure, unavailable,cancelled,deadline-exceeded,internal,resource-exhausted'), '/t.json');
  assert.deepEqual(r.errors, []);
  assert.deepEqual(retryOf(r), { retryOn: true, retryTimeoutMs: 0, numRetries: 1, grpcStatuses: [14, 1, 4, 13, 8] });
  r = parseConfig(doc(true), '/t.json');
  assert.deepEqual(retryOf(r), { retryOn: true, retryTimeoutMs: 0, numRetries: 1 });
  r = parseConfig(doc(''), '/t.json');
  assert.deepEqual(retryOf(r), { retryOn: false, retryTimeoutMs: 0, numRetries: 0 });
  r = parseConfig(doc('unavailable,unavailble'), '/t.json');
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0].path, at);
  assert.match(r.errors[0].message, /"unavailble" is not a retry condition; expected .*unavailable/);
  r = parseConfig(doc('5xx,reset'), '/t.json');
  assert.deepEqual(r.errors, []);
  assert.ok(r.warnings.some((w) => w.path === at && /"5xx" is not implemented/.test(w.message)), JSON.stringify(r.warnings));
  r = parseConfig(doc(3), '/t.json');
  assert.equal(r.errors[0].path, at);
});
