'use strict';
/**
 * The translators of Envoy v3 resources to MOSN config, on resources in the .proto's shape
 * (typed_config packed with the real Envoy types): what each keeps, what it rejects with the
 * field's path, what it only warns about. The end-to-end behaviour is in xds-ads.test.js.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const x = require('./helpers/xds-server');
const { translateEndpoints } = require('../dist/master/xds/translate-endpoint');
const { translateRouteConfig } = require('../dist/master/xds/translate-route');
const { translateCluster } = require('../dist/master/xds/translate-cluster');
const { translateListener } = require('../dist/master/xds/translate-listener');
const { XdsReject } = require('../dist/master/xds/translate-common');

function tx() {
  const warnings = [];
  return { warnings, warn: (path, message) => warnings.push(`${path}: ${message}`) };
}

function rejects(fn, path) {
  assert.throws(fn, (e) => e instanceof XdsReject && e.path === path, `expected a rejection at ${path}`);
}

const weights = (hosts) => Object.fromEntries(hosts.map((h) => [h.address, h.weight]));

test('endpoint priorities fold into weights as Envoy spreads load: a half-healthy priority 0 keeps 70 %, priority 1 takes 30 %', () => {
  const cla = x.assignment('c', [
    { address: '10.0.0.1:80' },
    { address: '10.0.0.2:80', health: 'UNHEALTHY' },
    { address: '10.0.0.3:80', priority: 1 },
  ]);
  assert.deepEqual(weights(translateEndpoints(cla, 'CLA "c"', tx())), { '10.0.0.1:80': 128, '10.0.0.3:80': Math.round((0.3 / 0.7) * 128) });
});

test('endpoint weights within one priority are kept as given, and scaled into 1..128 when larger', () => {
  const small = x.assignment('c', [{ address: '10.0.0.1:80', weight: 3 }, { address: '10.0.0.2:80', weight: 1 }]);
  assert.deepEqual(weights(translateEndpoints(small, 'p', tx())), { '10.0.0.1:80': 3, '10.0.0.2:80': 1 });
  const large = x.assignment('c', [{ address: '10.0.0.1:80', weight: 1000 }, { address: '10.0.0.2:80', weight: 250 }]);
  assert.deepEqual(weights(translateEndpoints(large, 'p', tx())), { '10.0.0.1:80': 128, '10.0.0.2:80': 32 });
});

test('with no healthy endpoint at all every endpoint of the lowest priority serves (panic), and draining ones never get new requests otherwise', () => {
  const none = x.assignment('c', [{ address: '10.0.0.1:80', health: 'UNHEALTHY' }, { address: '10.0.0.2:80', health: 'DRAINING' }]);
  assert.deepEqual(Object.keys(weights(translateEndpoints(none, 'p', tx()))).sort(), ['10.0.0.1:80', '10.0.0.2:80']);
  const some = x.assignment('c', [{ address: '10.0.0.1:80' }, { address: '10.0.0.2:80', health: 'DRAINING' }]);
  assert.deepEqual(Object.keys(weights(translateEndpoints(some, 'p', tx()))), ['10.0.0.1:80']);
  const drop = { ...x.assignment('c', [{ address: '10.0.0.1:80' }]), policy: { drop_overloads: [{ category: 'lb', drop_percentage: { numerator: 5 } }] } };
  rejects(() => translateEndpoints(drop, 'CLA "c"', tx()), 'CLA "c".policy.drop_overloads');
});

test('route regexes are anchored as Envoy matches whole values, header prefixes are escaped, and what cannot be matched is rejected with its path', () => {
  const rc = {
    name: 'r',
    virtual_hosts: [
      {
        name: 'vh',
        domains: ['reviews', 'reviews:9080'],
        routes: [
          { match: { safe_regex: { regex: '/api/v[0-9]+' }, headers: [{ name: 'end-user', string_match: { exact: 'jason' } }, { name: 'x-v', prefix_match: 'a.b' }] }, route: { cluster: 'v2', timeout: { seconds: 0 } } },
          { match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'v1', weight: { value: 80 } }, { name: 'v3', weight: { value: 20 } }] }, retry_policy: { retry_on: 'connect-failure,refused-stream', num_retries: { value: 2 } } } },
        ],
      },
    ],
  };
  const t = tx();
  const out = translateRouteConfig(rc, 'RouteConfiguration "r"', t);
  const [r0, r1] = out.virtual_hosts[0].routers;
  assert.equal(r0.match.regex, '^(?:/api/v[0-9]+)$');
  assert.deepEqual(r0.match.headers, [{ name: 'end-user', value: 'jason', regex: false }, { name: 'x-v', value: '^a\\.b', regex: true }]);
  assert.equal(r0.route.timeout, '0s');
  assert.deepEqual(r1.route.weighted_clusters, [{ cluster: { name: 'v1', weight: 80 } }, { cluster: { name: 'v3', weight: 20 } }]);
  assert.deepEqual(r1.route.retry_policy, { retry_on: true, num_retries: 2 });
  assert.equal(r1.route.timeout, '15s', 'Envoy\'s default route timeout');
  assert.ok(t.warnings.some((w) => /retry_on/.test(w)));
  const ci = structuredClone(rc);
  ci.virtual_hosts[0].routes[1].match.case_sensitive = { value: false };
  rejects(() => translateRouteConfig(ci, 'RouteConfiguration "r"', tx()), 'RouteConfiguration "r".virtual_hosts[0].routes[1].match.case_sensitive');
  const qp = structuredClone(rc);
  qp.virtual_hosts[0].routes[1].match.query_parameters = [{ name: 'v', string_match: { exact: '1' } }];
  rejects(() => translateRouteConfig(qp, 'RouteConfiguration "r"', tx()), 'RouteConfiguration "r".virtual_hosts[0].routes[1].match.query_parameters');
});

test('clusters keep Envoy\'s balancers and limits, and hash balancers and TLS are rejected with their path', () => {
  const c = x.edsCluster('c', {
    lb_policy: 'LEAST_REQUEST',
    circuit_breakers: { thresholds: [{ max_connections: { value: 100 }, max_pending_requests: { value: 10 }, max_retries: { value: 3 } }] },
    outlier_detection: { consecutive_5xx: { value: 5 }, interval: { seconds: 10 }, base_ejection_time: { seconds: 30 } },
  });
  const out = translateCluster(c, 'Cluster "c"', tx());
  assert.equal(out.mosn.lb_type, 'LB_LEAST_REQUEST');
  assert.deepEqual(out.mosn.circuit_breakers, [{ max_connections: 100, max_pending_requests: 10, max_retries: 3 }]);
  assert.deepEqual(out.mosn.outlier_detection, { consecutive_5xx: 5, interval: '10s', base_ejection_time: '30s' });
  assert.deepEqual(out.eds, { serviceName: 'c', initialFetchTimeoutMs: undefined });
  rejects(() => translateCluster(x.edsCluster('c', { lb_policy: 'RING_HASH' }), 'Cluster "c"', tx()), 'Cluster "c".lb_policy');
  const tls = x.edsCluster('c', { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { type_url: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', value: Buffer.alloc(0) } } });
  rejects(() => translateCluster(tls, 'Cluster "c"', tx()), 'Cluster "c".transport_socket');
  rejects(() => translateCluster(x.edsCluster('c', { type: 'ORIGINAL_DST' }), 'Cluster "c"', tx()), 'Cluster "c".type');
});

test('listeners: telemetry HTTP filters are warned about, filters that may answer requests and several filter chains are rejected', () => {
  // Istio's own filter types are not in Envoy's API: packed as opaque bytes, as istiod sends them.
  const opaque = (url) => ({ type_url: url, value: Buffer.from([0x0a, 0x00]) });
  const stats = { name: 'istio.stats', typed_config: opaque('type.googleapis.com/stats.PluginConfig') };
  const t = tx();
  const ok = translateListener(x.httpListener('l', 8080, { rds: 'r', httpFilters: [stats] }), 'Listener "l"', t);
  assert.equal(ok.rds.name, 'r');
  assert.equal(ok.mosn.address, '127.0.0.1:8080');
  assert.ok(t.warnings.some((w) => /http_filters\[0\]: ignored: "istio\.stats"/.test(w)), t.warnings.join('\n'));
  const fault = { name: 'envoy.filters.http.fault', typed_config: opaque('type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault') };
  rejects(() => translateListener(x.httpListener('l', 8080, { rds: 'r', httpFilters: [fault] }), 'Listener "l"', tx()), 'Listener "l".filter_chains[0].filters[0].typed_config.http_filters[0]');
  const two = x.httpListener('l', 8080, { rds: 'r' });
  two.filter_chains.push(two.filter_chains[0]);
  rejects(() => translateListener(two, 'Listener "l"', tx()), 'Listener "l".filter_chains');
});
