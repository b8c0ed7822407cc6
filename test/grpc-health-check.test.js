'use strict';
/**
 * gRPC active health checks (grpc.health.v1.Health/Check) run by a real mosnd master against
 * real @grpc/grpc-js servers that implement grpc.health.v1 (loaded from its .proto, so the
 * messages are protobufjs's, not mosnd's hand-written ones) and flip SERVING / NOT_SERVING.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const h = require('./helpers/mosnd');
const { parseConfig } = require('../dist/shared/config/load.js');
const { healthCheckRequest, servingStatus } = require('../dist/master/health/grpc-probe.js');

const ADMIN = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };
const health = grpc.loadPackageDefinition(
  protoLoader.loadSync(path.join(__dirname, 'fixtures', 'grpc', 'health.proto'), { enums: String }),
).grpc.health.v1;

/**
 * A grpc-js server implementing Health/Check from `u.statuses` (service name → status name;
 * a service not listed gets NOT_FOUND, as the reference implementation answers); `u.checks`
 * records each check's service and :authority.
 */
async function grpcHealthServer(t, statuses) {
  const u = { statuses, checks: [] };
  const server = new grpc.Server();
  server.addService(health.Health.service, {
    Check(call, cb) {
      const service = call.request.service ?? ''; // proto3: an absent string is ''
      u.checks.push({ service, authority: call.getHost() });
      const s = u.statuses[service];
      if (s === undefined) cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
      else cb(null, { status: s });
    },
  });
  u.port = await new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  u.address = `127.0.0.1:${u.port}`;
  t.after(() => new Promise((r) => server.tryShutdown(() => r())));
  return u;
}

function admin(m, p) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: m.ports.__admin, path: p }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
}

async function hostStatus(m, address) {
  const clusters = JSON.parse(await admin(m, '/clusters?format=json'));
  return clusters.cluster_statuses[0].host_statuses.find((x) => x.address === address);
}

const flip = (u, state, why) => (l) => l.msg === `host ${u.address} of cluster c1 is now ${state}${why ? ` (${why})` : ''}`;

function start(t, clusterHealthCheck, addresses) {
  return h
    .startMosnd({
      config: h.proxyConfig({
        routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c1' } }],
        clusters: [h.cluster('c1', addresses, { health_check: clusterHealthCheck })],
        extra: ADMIN,
      }),
    })
    .then((m) => {
      t.after(() => m.kill());
      return m;
    });
}

const TIMING = { timeout: '1s', interval: '100ms', healthy_threshold: 1, unhealthy_threshold: 1 };

test('a gRPC health check (MOSN protocol "Grpc" + service_name) takes a host out on NOT_SERVING and back on SERVING', async (t) => {
  const u = await grpcHealthServer(t, { 'shop.Cart': 'SERVING' });
  const m = await start(t, { protocol: 'Grpc', service_name: 'shop.Cart', ...TIMING }, [u.address]);
  await h.waitFor(async () => (await hostStatus(m, u.address)).active_health_check.last_result === 'SERVING', 'a first SERVING check');
  assert.equal(u.checks[0].service, 'shop.Cart');
  assert.equal(u.checks[0].authority, u.address, 'the host\'s address as :authority');

  u.statuses['shop.Cart'] = 'NOT_SERVING';
  await m.waitForLog(flip(u, 'unhealthy', '1 failed check: NOT_SERVING'));
  assert.equal((await hostStatus(m, u.address)).health_status.eds_health_status, 'UNHEALTHY');
  // No healthy host left: requests get 503 (UH).
  assert.equal((await h.request(m.ports.http, { path: '/x' })).status, 503);

  u.statuses['shop.Cart'] = 'SERVING';
  await m.waitForLog(flip(u, 'healthy', '1 successful check'));
  assert.equal((await hostStatus(m, u.address)).health_status.eds_health_status, 'HEALTHY');
});

test('Envoy\'s grpc_health_check with no service_name asks about the whole server, with its authority; an unknown service and a plain HTTP/1.1 host fail the check', async (t) => {
  const whole = await grpcHealthServer(t, { '': 'SERVING' });
  const unknown = await grpcHealthServer(t, { other: 'SERVING' });
  const plain = await h.startHttpUpstream((req, res) => res.end('not grpc'));
  t.after(() => plain.close());
  const m = await start(t, { grpc_health_check: { authority: 'health.internal' }, ...TIMING }, [whole.address, unknown.address, plain.address]);
  await m.waitForLog(flip(unknown, 'unhealthy', '1 failed check: grpc-status 5 (unknown service)'));
  await m.waitForLog((l) => l.msg.startsWith(`host ${plain.address} of cluster c1 is now unhealthy`));
  await h.waitFor(async () => (await hostStatus(m, whole.address)).active_health_check.last_result === 'SERVING', 'a SERVING check of the whole server');
  assert.equal(whole.checks[0].service, '');
  assert.equal(whole.checks[0].authority, 'health.internal');
  assert.equal((await hostStatus(m, whole.address)).health_status.eds_health_status, 'HEALTHY');
});

test('the hand-written HealthCheckRequest and HealthCheckResponse match protobufjs\'s encoding', () => {
  const root = protoLoader.loadSync(path.join(__dirname, 'fixtures', 'grpc', 'health.proto'));
  const reqType = root['grpc.health.v1.Health'].Check;
  for (const service of ['shop.Cart', 'x'.repeat(300), 'é']) {
    const ours = healthCheckRequest(service);
    assert.deepEqual(ours.subarray(5), reqType.requestSerialize({ service }), service);
    assert.equal(ours.readUInt32BE(1), ours.length - 5);
  }
  // The whole server: proto3 leaves the empty string out (protobufjs writes it; both decode to '').
  const empty = healthCheckRequest('');
  assert.deepEqual(empty, Buffer.alloc(5));
  assert.equal(reqType.requestDeserialize(empty.subarray(5)).service ?? '', '');
  const frameOf = (b) => Buffer.concat([Buffer.from([0, 0, 0, 0, b.length]), b]);
  for (const [status, code] of [['UNKNOWN', 0], ['SERVING', 1], ['NOT_SERVING', 2], ['SERVICE_UNKNOWN', 3]]) {
    assert.equal(servingStatus(frameOf(reqType.responseSerialize({ status }))), code, status);
  }
  assert.equal(servingStatus(Buffer.from([0, 0, 0, 0, 2, 0x08])), 'malformed response message');
  assert.equal(servingStatus(Buffer.from([1, 0, 0, 0, 0])), 'compressed response (not asked for)');
});

test('config: MOSN and Envoy spellings of a gRPC check, and contradictions named by their JSON path', () => {
  const base = (hc) => ({
    servers: [{ routers: [], listeners: [] }],
    cluster_manager: { clusters: [{ name: 'c', type: 'SIMPLE', hosts: [{ address: '127.0.0.1:1' }], health_check: hc }] },
  });
  const at = 'cluster_manager.clusters[0].health_check';
  const parse = (doc) => parseConfig(JSON.stringify(doc), '/test/config.json');
  let r = parse(base({ protocol: 'Grpc', service_name: 's' }));
  assert.deepEqual(r.errors, []);
  assert.equal(r.config.clusters[0].healthCheck.grpcService, 's');
  r = parse(base({ grpc_health_check: { service_name: 'e', authority: 'svc.local' } }));
  assert.deepEqual(r.errors, []);
  assert.equal(r.config.clusters[0].healthCheck.grpcService, 'e');
  assert.equal(r.config.clusters[0].healthCheck.grpcAuthority, 'svc.local');
  r = parse(base({ protocol: 'Http1', grpc_health_check: {} }));
  assert.ok(r.errors.some((e) => e.path === `${at}.protocol` && /contradicts grpc_health_check/.test(e.message)), JSON.stringify(r.errors));
  r = parse(base({ protocol: 'Grpc', service_name: 'a', grpc_health_check: { service_name: 'b' } }));
  assert.ok(r.errors.some((e) => e.path === `${at}.service_name`), JSON.stringify(r.errors));
  r = parse(base({ protocol: 'TCP', service_name: 'a' }));
  assert.ok(r.warnings.some((w) => w.path === `${at}.service_name`), JSON.stringify(r.warnings));
  assert.equal('grpcService' in r.config.clusters[0].healthCheck, false);
});
