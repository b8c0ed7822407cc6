'use strict';
/**
 * The Envoy-bootstrap keys of a MOSN file in Istio mode (node, dynamic_resources,
 * static_resources): what is accepted, and what fails naming the JSON path.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { parseConfig, formatIssue } = require('../dist/shared/config/load');
const x = require('./helpers/xds-server');
const h = require('./helpers/mosnd');

function parse(doc) {
  return parseConfig(JSON.stringify(doc), '/test.json');
}

test('an Istio-mode bootstrap with no static listener is a valid config that names the control plane and the node', () => {
  const r = parse(x.bootstrapConfig(15010));
  assert.deepEqual(r.errors, [], r.errors.map(formatIssue).join('\n'));
  assert.deepEqual(r.config.listeners, []);
  assert.deepEqual(r.config.xds.server.addresses, [{ host: '127.0.0.1', port: 15010 }]);
  assert.equal(r.config.xds.node.id, 'sidecar~127.0.0.1~productpage-v1.default~default.svc.cluster.local');
  assert.equal(r.config.xds.lds, true);
  assert.equal(r.config.xds.cds, true);
  assert.equal(r.config.xds.cdsInitialFetchTimeoutMs, 15000);
});

test('what the xDS client cannot do fails at start with the JSON path', () => {
  const cases = [
    [(d) => (d.dynamic_resources.ads_config.api_type = 'DELTA_GRPC'), 'dynamic_resources.ads_config.api_type', 'not implemented'],
    [(d) => (d.dynamic_resources.lds_config = { path: '/etc/lds.yaml' }), 'dynamic_resources.lds_config.path', 'read from somewhere else'],
    [(d) => (d.dynamic_resources.cds_config = { resource_api_version: 'V3' }), 'dynamic_resources.cds_config', 'no "ads"'],
    [(d) => (d.static_resources.clusters[0].transport_socket = { name: 'tls' }), 'static_resources.clusters[0].transport_socket', 'TLS'],
    [(d) => (d.dynamic_resources.ads_config.grpc_services = []), 'dynamic_resources.ads_config.grpc_services', 'is empty'],
  ];
  for (const [mutate, at, text] of cases) {
    const d = x.bootstrapConfig(15010);
    mutate(d);
    const r = parse(d);
    assert.ok(r.errors.some((e) => e.path === at && e.message.includes(text)), `${at}: ${r.errors.map(formatIssue).join('\n')}`);
  }
});

test('--service-node and --service-cluster are the node a mosnd subscribes as', async (t) => {
  const cp = await x.startControlPlane();
  t.after(() => cp.kill());
  cp.push({ cluster: [], listener: [] });
  const m = await h.startMosnd({ config: x.bootstrapConfig(cp.port), args: ['--service-node', 'router~10.0.0.9~gw.istio-system~istio-system.svc.cluster.local', '--service-cluster', 'istio-ingressgateway'] });
  t.after(() => m.kill());
  const r = await cp.waitForRequest((q) => q.kind === 'cluster');
  assert.equal(r.node.id, 'router~10.0.0.9~gw.istio-system~istio-system.svc.cluster.local');
  assert.equal(r.node.cluster, 'istio-ingressgateway');
  assert.equal(r.node.user_agent_name, 'mosnd');
  assert.equal(r.node.metadata.fields.NAMESPACE.stringValue, 'default');
});
