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


test('an unknown cluster type is an error naming its path', () => {
  const r = parse(withCluster({ type: 'FANCY_DNS', hosts: [{ address: '127.0.0.1:8080' }] }));
  assertError(r, 'cluster_manager.clusters[0].type', 'is not supported');
  assertError(r, 'cluster_manager.clusters[0].type', '"STRICT_DNS"');
});

test('EDS and DYNAMIC clusters are served as SIMPLE with their listed hosts, as MOSN does without xDS, and warned about', () => {
  for (const type of ['EDS', 'DYNAMIC']) {
    const r = parse(withCluster({ type, hosts: [{ address: '127.0.0.1:8080' }] }));
    assert.ok(r.config, r.errors.map(formatIssue).join('\n'));
    assertWarning(r, 'cluster_manager.clusters[0].type', 'xDS');
    assert.deepEqual(r.config.clusters[0].hosts.map((x) => x.address), ['127.0.0.1:8080']);
    assert.equal(r.config.clusters[0].dns, undefined);
  }
});

test('ORIGINAL_DST is served as SIMPLE, as MOSN does, with a warning that says what is missing', () => {
  const r = parse(withCluster({ type: 'ORIGINAL_DST', hosts: [{ address: '127.0.0.1:8080' }] }));
  assert.ok(r.config);
  assertWarning(r, 'cluster_manager.clusters[0].type', 'LB_ORIGINAL_DST');
});

test('STRICT_DNS and LOGICAL_DNS clusters take dns_refresh_rate (default 5s, as MOSN) and dns_lookup_family', () => {
  const hosts = [{ address: 'backend.example:8080', weight: 2 }, { address: '10.0.0.1:8080', weight: 2 }];
  const r = parse(withCluster({ type: 'STRICT_DNS', lb_type: 'LB_WEIGHTED_ROUNDROBIN', dns_refresh_rate: '30s', dns_lookup_family: 'V6_ONLY', hosts }));
  assert.ok(r.config, r.errors.map(formatIssue).join('\n'));
  assert.deepEqual(r.warnings, []);
  const { dns } = r.config.clusters[0];
  assert.equal(dns.type, 'STRICT_DNS');
  assert.equal(dns.refreshMs, 30_000);
  assert.equal(dns.family, 6);
  assert.deepEqual(dns.hosts.map((x) => [x.host, x.port, x.weight]), [['backend.example', 8080, 2], ['10.0.0.1', 8080, 2]]);
  const logical = parse(withCluster({ type: 'LOGICAL_DNS', hosts: [{ address: 'backend.example:80' }] }));
  assert.equal(logical.config.clusters[0].dns.type, 'LOGICAL_DNS');
  assert.equal(logical.config.clusters[0].dns.refreshMs, 5_000);
  assert.equal(logical.config.clusters[0].dns.family, 0);
});

test('DNS settings on a cluster that resolves no names are warned about; an unknown lookup family is an error', () => {
  const r = parse(withCluster({ type: 'SIMPLE', dns_refresh_rate: '10s', dns_lookup_family: 'V4_ONLY', hosts: [{ address: '127.0.0.1:8080' }] }));
  assert.ok(r.config);
  assertWarning(r, 'cluster_manager.clusters[0].dns_refresh_rate', 'only STRICT_DNS and LOGICAL_DNS clusters resolve names');
  assertWarning(r, 'cluster_manager.clusters[0].dns_lookup_family', 'only STRICT_DNS and LOGICAL_DNS clusters resolve names');
  const bad = parse(withCluster({ type: 'STRICT_DNS', dns_lookup_family: 'AUTO', hosts: [{ address: 'a.example:80' }] }));
  assertError(bad, 'cluster_manager.clusters[0].dns_lookup_family', 'is not supported');
});
