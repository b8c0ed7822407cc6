'use strict';
/**
 * Cluster settings the config accepts must either do what they say or be reported by JSON
 * path: host weights under a policy that ignores them, and cluster `type` values.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');
const { parseConfig, formatIssue } = require('../dist/shared/config/load.js');

/** A valid config with one cluster `c1` built from `cluster` (name and route filled in). */
function withCluster(cluster) {
  return h.proxyConfig({
    routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c1' } }],
    clusters: [{ name: 'c1', ...cluster }],
  });
}

function parse(doc) {
  return parseConfig(JSON.stringify(doc), '/test/mosn.json');
}

function warningsAt(r, at) {
  return r.warnings.filter((w) => w.path === at);
}

function assertWarning(r, at, text) {
  const hit = r.warnings.find((w) => w.path === at && w.message.includes(text));
  assert.ok(hit, `expected a warning at ${at} containing ${JSON.stringify(text)}; got:\n${r.warnings.map(formatIssue).join('\n')}`);
}

function assertError(r, at, text) {
  assert.equal(r.config, undefined, 'a config with errors is not returned');
  const hit = r.errors.find((e) => e.path === at && e.message.includes(text));
  assert.ok(hit, `expected an error at ${at} containing ${JSON.stringify(text)}; got:\n${r.errors.map(formatIssue).join('\n')}`);
}

const HOSTS_1_3 = [{ address: '127.0.0.1:8080', weight: 1 }, { address: '127.0.0.1:8081', weight: 3 }];

for (const lb of ['LB_ROUNDROBIN', 'LB_RANDOM']) {
  test(`differing host weights under ${lb} are warned about at the first differing host's weight`, () => {
    const r = parse(withCluster({ lb_type: lb, hosts: HOSTS_1_3 }));
    assert.ok(r.config, r.errors.map(formatIssue).join('\n'));
    const at = 'cluster_manager.clusters[0].hosts[1].weight';
    assertWarning(r, at, `lb_type ${lb} ignores host weights`);
    assertWarning(r, at, 'LB_WEIGHTED_ROUNDROBIN');
  });
}

test('an unset lb_type is round robin, so differing weights are warned about too', () => {
  const r = parse(withCluster({ hosts: [{ address: '127.0.0.1:8080' }, { address: '127.0.0.1:8081' }, { address: '127.0.0.1:8082', weight: 5 }] }));
  assertWarning(r, 'cluster_manager.clusters[0].hosts[2].weight', 'lb_type LB_ROUNDROBIN ignores host weights');
});

test('weights are not warned about when they are equal or when the policy honours them', () => {
  for (const cluster of [
    { lb_type: 'LB_ROUNDROBIN', hosts: [{ address: '127.0.0.1:8080', weight: 2 }, { address: '127.0.0.1:8081', weight: 2 }] },
    { lb_type: 'LB_RANDOM', hosts: [{ address: '127.0.0.1:8080', weight: 1 }, { address: '127.0.0.1:8081' }] },
    { lb_type: 'LB_WEIGHTED_ROUNDROBIN', hosts: HOSTS_1_3 },
    { lb_type: 'LB_LEAST_REQUEST', hosts: HOSTS_1_3 },
  ]) {
    const r = parse(withCluster(cluster));
    assert.ok(r.config);
    assert.deepEqual(r.warnings.filter((w) => /weight/.test(w.path)), [], JSON.stringify(cluster));
  }
});

test('mosnd start prints the ignored-weight warning with its path, and serves', async (t) => {
  const up = await h.startHttpUpstream();
  t.after(() => up.close());
  const m = await h.startMosnd({
    config: withCluster({ lb_type: 'LB_ROUNDROBIN', hosts: [{ address: up.address, weight: 1 }, { address: `localhost:${up.port}`, weight: 4 }] }),
  });
  t.after(() => m.kill());
  const line = m.logs.find((l) => /cluster_manager\.clusters\[0\]\.hosts\[1\]\.weight/.test(l.msg ?? ''));
  assert.ok(line, `no warning line; logs:\n${m.logs.map((l) => l.msg).join('\n')}`);
  assert.equal(line.level, 'warn');
  assert.match(line.msg, /ignores host weights/);
  assert.equal((await h.request(m.ports.http)).status, 200);
});

