'use strict';
/**
 * xDS v3 over ADS against a control plane the tests run (test/helpers/xds-server.js: a gRPC
 * server with the real Envoy .proto files) serving Istio-shaped resources: listeners with an
 * HTTP connection manager and RDS, clusters over EDS, weighted routes. mosnd ACKs a version
 * only once its workers serve it, so "ACK seen" is the event the traffic checks wait for.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const h = require('./helpers/mosnd');
const x = require('./helpers/xds-server');

const REVIEWS = 'outbound|9080||reviews.default.svc.cluster.local';
const RATINGS = 'outbound|9080||ratings.default.svc.cluster.local';

async function upstream(t, name) {
  const up = await h.startHttpUpstream((req, res) => res.end(name));
  t.after(() => up.close());
  return up;
}

async function controlPlane(t, opts) {
  const cp = await x.startControlPlane(opts);
  t.after(() => cp.kill());
  return cp;
}

/** A bookinfo-like set: listener "http" (RDS "9080") routing / to reviews over EDS. */
function bookinfo(reviewsEndpoints, { route } = {}) {
  return {
    cluster: [x.edsCluster(REVIEWS), x.edsCluster(RATINGS)],
    endpoint: [x.assignment(REVIEWS, reviewsEndpoints), x.assignment(RATINGS, [])],
    listener: [x.httpListener('http', 0, { rds: '9080' })],
    route: [route ?? x.routeConfig('9080', [{ prefix: '/', cluster: REVIEWS }])],
  };
}

async function startMesh(t, cp, { workers = 1, config = {} } = {}) {
  const m = await h.startMosnd({ config: x.bootstrapConfig(cp.port, config), workers });
  t.after(() => m.kill());
  return m;
}

async function bodies(port, n, agent) {
  const out = [];
  for (let i = 0; i < n; i++) out.push((await h.request(port, { agent })).body.toString());
  return out;
}

test('a mosnd in Istio mode serves what the control plane sends and ACKs each type with its version and nonce', async (t) => {
  const cp = await controlPlane(t);
  const up = await upstream(t, 'reviews-v1');
  const v = cp.push(bookinfo([{ address: up.address }]));
  const m = await startMesh(t, cp, { workers: 2 });
  for (const kind of ['cluster', 'endpoint', 'listener', 'route']) await cp.waitForAck(kind, v[kind]);
  assert.equal(cp.streams.size, 1, 'one stream for the master, none per worker');
  assert.equal((await h.request(m.ports.http)).body.toString(), 'reviews-v1');
  // Wildcard LDS/CDS, named RDS/EDS.
  const last = (kind) => cp.requests.filter((r) => r.kind === kind).at(-1);
  assert.deepEqual(last('cluster').resource_names ?? [], []);
  assert.deepEqual(last('listener').resource_names ?? [], []);
  assert.deepEqual([...last('endpoint').resource_names].sort(), [RATINGS, REVIEWS].sort());
  assert.deepEqual(last('route').resource_names, ['9080']);
  assert.equal(last('cluster').node.id, 'sidecar~127.0.0.1~productpage-v1.default~default.svc.cluster.local');

  const st = JSON.parse((await m.cli(['status', '--json'])).stdout);
  assert.equal(st.controlPlane.connected, true);
  const cds = st.controlPlane.types.find((ty) => ty.type === 'cluster');
  assert.equal(cds.ackVersion, v.cluster);
  assert.equal(cds.resources, 2);
  const text = (await m.cli(['status'])).stdout;
  assert.match(text, /control plane: 127\.0\.0\.1:\d+ .* connected/);

  const dump = JSON.parse((await h.request(m.ports.__admin, { path: '/config_dump' })).body.toString());
  const clusters = dump.configs.find((c) => c['@type'].endsWith('ClustersConfigDump'));
  assert.equal(clusters.version_info, v.cluster);
  assert.deepEqual(clusters.dynamic_active_clusters.map((c) => c.cluster.name).sort(), [RATINGS, REVIEWS].sort());
  const listeners = dump.configs.find((c) => c['@type'].endsWith('ListenersConfigDump'));
  assert.equal(listeners.dynamic_listeners[0].active_state.version_info, v.listener);
  assert.equal(listeners.dynamic_listeners[0].active_state.listener.filter_chains[0].filters[0].typed_config['@type'], 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');

  const prom = await h.scrape(m.ports.__admin);
  assert.equal(prom['mosnd_control_plane_connected_state'], 1);
  assert.equal(prom['mosnd_xds_update_success_total{type="cluster"}'], 1);
});

test('a new endpoint gets traffic while the one that stays keeps its pooled upstream connection, and a removed one finishes its request in flight without a reset', async (t) => {
  const cp = await controlPlane(t);
  let release;
  const held = new Promise((r) => (release = r));
  const up1 = await h.startHttpUpstream((req, res) => (req.url === '/slow' ? held.then(() => res.end('slow-v1')) : res.end('v1')));
  t.after(() => (release(), up1.close()));
  const up2 = await upstream(t, 'v2');
  cp.push(bookinfo([{ address: up1.address }]));
  const m = await startMesh(t, cp);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  assert.deepEqual(await bodies(m.ports.http, 2, agent), ['v1', 'v1']);
  const slow = h.request(m.ports.http, { path: '/slow' });
  await h.waitFor(() => up1.requests >= 3, 'the slow request at v1');

  // The slow request holds the pooled connection: one more request opens a second, idle after it.
  assert.equal((await h.request(m.ports.http, { agent })).body.toString(), 'v1');
  const pooled = up1.connections;
  const added = cp.push({ endpoint: [x.assignment(REVIEWS, [{ address: up1.address }, { address: up2.address }])] });
  await cp.waitForAck('endpoint', added.endpoint);
  assert.deepEqual(new Set(await bodies(m.ports.http, 4, agent)), new Set(['v1', 'v2']));
  assert.equal(up1.connections, pooled, 'the endpoint that stayed keeps its pooled upstream connection');

  const removed = cp.push({ endpoint: [x.assignment(REVIEWS, [{ address: up2.address }])] });
  await cp.waitForAck('endpoint', removed.endpoint);
  assert.deepEqual(await bodies(m.ports.http, 4, agent), ['v2', 'v2', 'v2', 'v2']);
  release();
  const r = await slow;
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'slow-v1');
});

test('a weight change of a weighted route shifts the traffic', async (t) => {
  const cp = await controlPlane(t);
  const a = await upstream(t, 'v1');
  const b = await upstream(t, 'v3');
  const V1 = 'outbound|9080|v1|reviews.default.svc.cluster.local';
  const V3 = 'outbound|9080|v3|reviews.default.svc.cluster.local';
  const routes = (w1, w3) => x.routeConfig('9080', [{ prefix: '/', weighted: [[V1, w1], [V3, w3]] }]);
  cp.push({
    cluster: [x.edsCluster(V1), x.edsCluster(V3)],
    endpoint: [x.assignment(V1, [{ address: a.address }]), x.assignment(V3, [{ address: b.address }])],
    listener: [x.httpListener('http', 0, { rds: '9080' })],
    route: [routes(100, 0)],
  });
  const m = await startMesh(t, cp);
  assert.deepEqual(new Set(await bodies(m.ports.http, 6)), new Set(['v1']));
  const half = cp.push({ route: [routes(50, 50)] });
  await cp.waitForAck('route', half.route);
  const mixed = await bodies(m.ports.http, 40);
  assert.ok(mixed.includes('v1') && mixed.includes('v3'), `both versions at 50/50: ${mixed.join(',')}`);
  const all3 = cp.push({ route: [routes(0, 100)] });
  await cp.waitForAck('route', all3.route);
  assert.deepEqual(new Set(await bodies(m.ports.http, 6)), new Set(['v3']));
});

test('a resource mosnd cannot honour is NACKed naming the field, and the last good config keeps serving', async (t) => {
  const cp = await controlPlane(t);
  const up = await upstream(t, 'v1');
  const good = cp.push(bookinfo([{ address: up.address }]));
  const m = await startMesh(t, cp);
  const since = cp.requests.length;
  cp.push({ cluster: [x.edsCluster(REVIEWS, { lb_policy: 'MAGLEV' }), x.edsCluster(RATINGS)] });
  const nack = await cp.waitForNack('cluster', { since });
  assert.match(nack.error_detail.message, /Cluster "outbound\|9080\|\|reviews\.default\.svc\.cluster\.local"\.lb_policy: MAGLEV is not implemented/);
  assert.equal(nack.version_info, good.cluster, 'a NACK carries the last accepted version');
  assert.equal((await h.request(m.ports.http)).body.toString(), 'v1');

  // A listener whose chains are chosen by filter_chain_match (Istio inbound) is rejected too;
  // as in Envoy, the other listeners of the response are applied (the rejected one keeps its
  // previous version) and the response is NACKed naming it.
  const bad = x.httpListener('http', 0, { rds: '9080' });
  bad.filter_chains[0].filter_chain_match = { destination_port: { value: 9080 } };
  const since2 = cp.requests.length;
  cp.push({ listener: [bad, x.httpListener('extra', 0, { rds: '9080' })] });
  const nack2 = await cp.waitForNack('listener', { since: since2 });
  assert.match(nack2.error_detail.message, /Listener "http"\.filter_chains\[0\]\.filter_chain_match/);
  assert.equal((await h.request(m.ports.http)).body.toString(), 'v1');
  await h.waitFor(() => m.ports.extra !== undefined, 'the valid listener of the rejected response');
  assert.equal((await h.request(m.ports.extra)).body.toString(), 'v1');

  const st = JSON.parse((await m.cli(['status', '--json'])).stdout);
  const cds = st.controlPlane.types.find((ty) => ty.type === 'cluster');
  assert.equal(cds.version, good.cluster);
  assert.match(cds.nackError, /lb_policy/);
  const prom = await h.scrape(m.ports.__admin);
  assert.equal(prom['mosnd_xds_update_rejected_total{type="cluster"}'], 1, 'one cluster NACK so far');
  assert.equal(prom['mosnd_xds_update_rejected_total{type="listener"}'], 1);

  // A gRPC service's cluster asking for HTTP/2 upstreams, as Istio sends it.
  const h2 = x.edsCluster(RATINGS, {
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': x.any('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', { explicit_http_config: { http2_protocol_options: {} } }),
    },
  });
  const since3 = cp.requests.length;
  cp.push({ cluster: [x.edsCluster(REVIEWS), h2] });
  const nack3 = await cp.waitForNack('cluster', { since: since3 });
  assert.match(nack3.error_detail.message, /typed_extension_protocol_options\.envoy\.extensions\.upstreams\.http\.v3\.HttpProtocolOptions\.explicit_http_config\.http2_protocol_options: HTTP\/2 to upstreams is not implemented/);

  // The next good version is taken.
  const fixed = cp.push({ cluster: [x.edsCluster(REVIEWS), x.edsCluster(RATINGS, { lb_policy: 'LEAST_REQUEST' })] });
  await cp.waitForAck('cluster', fixed.cluster);
});

test('a listener waits for its routes and a cluster for its endpoints before they serve', async (t) => {
  const cp = await controlPlane(t);
  const up = await upstream(t, 'v1');
  const other = await upstream(t, 'details');
  cp.push(bookinfo([{ address: up.address }]));
  const m = await startMesh(t, cp);
  const DETAILS = 'outbound|9080||details.default.svc.cluster.local';
  // A new EDS cluster and a new listener whose routes are not there yet.
  const c = cp.push({ cluster: [x.edsCluster(REVIEWS), x.edsCluster(RATINGS), x.edsCluster(DETAILS)] });
  await cp.waitForAck('cluster', c.cluster);
  const l = cp.push({ listener: [x.httpListener('http', 0, { rds: '9080' }), x.httpListener('details', 0, { rds: 'details' })] });
  await cp.waitForAck('listener', l.listener);
  await cp.waitForRequest((r) => r.kind === 'route' && r.resource_names.includes('details'));
  assert.equal(m.ports.details, undefined, 'the listener is not bound before its routes arrive');
  const dump = JSON.parse((await h.request(m.ports.__admin, { path: '/config_dump' })).body.toString());
  const cds = dump.configs.find((x2) => x2['@type'].endsWith('ClustersConfigDump'));
  assert.deepEqual(cds.dynamic_warming_clusters.map((w) => w.cluster.name), [DETAILS]);

  const r = cp.push({ route: [x.routeConfig('details', [{ prefix: '/', cluster: DETAILS }])] });
  await cp.waitForAck('route', r.route);
  await h.waitFor(() => m.ports.details !== undefined, 'the details listener bound');
  // Its cluster still warms: the route answers 503 as Envoy does for a cluster not there.
  assert.equal((await h.request(m.ports.details)).status, 503);
  const e = cp.push({ endpoint: [x.assignment(DETAILS, [{ address: other.address }])] });
  await cp.waitForAck('endpoint', e.endpoint);
  assert.equal((await h.request(m.ports.details)).body.toString(), 'details');
  // Removal: the listener goes, its port is closed.
  const port = m.ports.details;
  const gone = cp.push({ listener: [x.httpListener('http', 0, { rds: '9080' })] });
  await cp.waitForAck('listener', gone.listener);
  assert.equal(await h.tryConnect(port), 'ECONNREFUSED');
  assert.equal((await h.request(m.ports.http)).body.toString(), 'v1');
});

test('killing the control plane changes nothing for traffic, and a restarted one resumes the stream', async (t) => {
  const cp = await controlPlane(t);
  const up1 = await upstream(t, 'v1');
  const up2 = await upstream(t, 'v2');
  cp.push(bookinfo([{ address: up1.address }]));
  const m = await startMesh(t, cp);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  t.after(() => agent.destroy());
  assert.deepEqual(await bodies(m.ports.http, 3, agent), ['v1', 'v1', 'v1']);
  const port = cp.port;
  cp.kill();
  await m.waitForLog((l) => /xDS: stream to the control plane lost/.test(l.msg ?? ''));
  assert.equal((await h.scrape(m.ports.__admin))['mosnd_control_plane_connected_state'], 0);
  assert.deepEqual(await bodies(m.ports.http, 3, agent), ['v1', 'v1', 'v1']);
  assert.deepEqual(await bodies(m.ports.http, 2), ['v1', 'v1'], 'new connections are served too');

  const cp2 = await controlPlane(t, { port });
  const v = cp2.push(bookinfo([{ address: up2.address }]));
  // The new stream carries the versions mosnd has, then takes the new state.
  const hello = await cp2.waitForRequest((r) => r.kind === 'cluster' && r.response_nonce === '');
  assert.equal(hello.version_info, '1');
  await cp2.waitForAck('endpoint', v.endpoint);
  assert.deepEqual(await bodies(m.ports.http, 3, agent), ['v2', 'v2', 'v2']);
  assert.equal((await h.scrape(m.ports.__admin))['mosnd_control_plane_connected_state'], 1);
});

test('static MOSN listeners and clusters serve beside dynamic ones, and a route of a dynamic listener may use a static cluster', async (t) => {
  const cp = await controlPlane(t);
  const st = await upstream(t, 'static');
  cp.push({
    cluster: [],
    listener: [x.httpListener('dyn', 0, { routeConfig: x.routeConfig('inline', [{ prefix: '/', cluster: 'local' }]) })],
  });
  const m = await startMesh(t, cp, {
    config: {
      listeners: [h.httpListener('static', 'r')],
      routers: [{ router_config_name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'local' } }] }] }],
      clusters: [h.cluster('local', [st.address])],
    },
  });
  await h.waitFor(() => m.ports.dyn !== undefined, 'the dynamic listener');
  assert.equal((await h.request(m.ports.static)).body.toString(), 'static');
  assert.equal((await h.request(m.ports.dyn)).body.toString(), 'static');

  // mosnd reload: the new file is composed with the dynamic resources of the moment.
  const doc = JSON.parse(fs.readFileSync(m.configFile, 'utf8'));
  doc.servers[0].listeners.push(h.httpListener('static2', 'r'));
  fs.writeFileSync(m.configFile, JSON.stringify(doc));
  const r = await m.cli(['reload']);
  assert.equal(r.code, 0, r.stderr);
  await h.waitFor(() => m.ports.static2 !== undefined, 'the new static listener');
  assert.equal((await h.request(m.ports.static2)).body.toString(), 'static');
  assert.equal((await h.request(m.ports.dyn)).body.toString(), 'static', 'the dynamic listener stays');
  // A file whose names clash with a dynamic resource is refused, the running config stays.
  doc.servers[0].listeners.push(h.httpListener('dyn', 'r'));
  fs.writeFileSync(m.configFile, JSON.stringify(doc));
  const bad = await m.cli(['reload']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr + bad.stdout, /"dyn" is already the name of/);
  assert.equal((await h.request(m.ports.dyn)).body.toString(), 'static');
});

test('endpoints that are unhealthy or draining get no requests, and a lower priority takes the share its health leaves', async (t) => {
  const cp = await controlPlane(t);
  const a = await upstream(t, 'a');
  const b = await upstream(t, 'b');
  const c = await upstream(t, 'c');
  cp.push(bookinfo([{ address: a.address }, { address: b.address, health: 'UNHEALTHY' }, { address: c.address, priority: 1 }]));
  const m = await startMesh(t, cp);
  // Priority 0 is half healthy: 1.4 × 50 % = 70 % of the load stays there, 30 % goes to priority 1.
  const seen = await bodies(m.ports.http, 20);
  assert.ok(!seen.includes('b'), `an UNHEALTHY endpoint got requests: ${seen.join(',')}`);
  assert.ok(seen.includes('a') && seen.includes('c'), `both priorities serve: ${seen.join(',')}`);
  assert.ok(seen.filter((s) => s === 'a').length > seen.filter((s) => s === 'c').length, `priority 0 takes most: ${seen.join(',')}`);
  const v = cp.push({ endpoint: [x.assignment(REVIEWS, [{ address: a.address, health: 'DRAINING' }, { address: b.address, health: 'UNHEALTHY' }, { address: c.address, priority: 1 }]), x.assignment(RATINGS, [])] });
  await cp.waitForAck('endpoint', v.endpoint);
  assert.deepEqual(new Set(await bodies(m.ports.http, 6)), new Set(['c']));
});

test('a listener whose routes never come is served after initial_fetch_timeout, answering 404', async (t) => {
  const cp = await controlPlane(t);
  const up = await upstream(t, 'v1');
  cp.push({ cluster: [x.edsCluster(REVIEWS)], endpoint: [x.assignment(REVIEWS, [{ address: up.address }])], listener: [x.httpListener('http', 0, { rds: 'never', rdsInitialFetchTimeout: { seconds: 1 } })] });
  const m = await startMesh(t, cp);
  await m.waitForLog((l) => /no RouteConfiguration "never" within its initial_fetch_timeout/.test(l.msg ?? ''));
  assert.equal((await h.request(m.ports.http)).status, 404);
  // The routes arrive late: served from then on.
  const v = cp.push({ route: [x.routeConfig('never', [{ prefix: '/', cluster: REVIEWS }])] });
  await cp.waitForAck('route', v.route);
  assert.equal((await h.request(m.ports.http)).body.toString(), 'v1');
});

test('with the control plane down at start, mosnd serves its static config after initial_fetch_timeout and takes the dynamic one when the control plane comes', async (t) => {
  const port = await new Promise((resolve) => {
    const s = require('node:net').createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const st = await upstream(t, 'static');
  const dyn = await upstream(t, 'dynamic');
  const m = await h.startMosnd({
    config: x.bootstrapConfig(port, {
      initialFetchTimeout: '1s',
      listeners: [h.httpListener('static', 'r')],
      routers: [{ router_config_name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'local' } }] }] }],
      clusters: [h.cluster('local', [st.address])],
    }),
  });
  t.after(() => m.kill());
  assert.equal((await h.request(m.ports.static)).body.toString(), 'static');
  const st0 = JSON.parse((await m.cli(['status', '--json'])).stdout);
  assert.equal(st0.controlPlane.connected, false);

  const cp = await controlPlane(t, { port });
  const v = cp.push(bookinfo([{ address: dyn.address }]));
  await cp.waitForAck('route', v.route, { timeoutMs: 60_000 });
  await h.waitFor(() => m.ports.http !== undefined, 'the dynamic listener');
  assert.equal((await h.request(m.ports.http)).body.toString(), 'dynamic');
  assert.equal((await h.request(m.ports.static)).body.toString(), 'static');
});
