'use strict';
/**
 * STRICT_DNS and LOGICAL_DNS clusters: the master resolves the names and the host set it
 * builds is what the admin API shows and where the workers send traffic. Only names that
 * resolve on any machine without a network are used: `localhost` (through the system
 * resolver, as mosnd does: /etc/hosts) and `.invalid` (RFC 6761: never resolves).
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const dns = require('node:dns');
const net = require('node:net');
const h = require('./helpers/mosnd');

const ADMIN = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };

/** What the system resolver gives for localhost, as "ip:port" host addresses. */
async function localhostAddresses(port, family = 0) {
  const addrs = await dns.promises.lookup('localhost', { all: true, family });
  return [...new Set(addrs.map((a) => a.address))].map((ip) => (net.isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`));
}

async function clusterHosts(m, name = 'c') {
  const r = await h.request(m.ports.__admin, { path: '/clusters?format=json' });
  const c = JSON.parse(r.body.toString()).cluster_statuses.find((x) => x.name === name);
  return c.host_statuses.map((x) => ({ address: x.address, weight: x.weight }));
}

/** Waits until /clusters lists exactly `addresses` for cluster `c`; returns its hosts. */
async function waitForHosts(m, addresses) {
  let hosts = [];
  await h.waitFor(async () => {
    hosts = await clusterHosts(m);
    return JSON.stringify(hosts.map((x) => x.address)) === JSON.stringify(addresses);
  }, `cluster c hosts ${addresses.join(', ')} (last seen: ${JSON.stringify(hosts)})`).catch((e) => {
    throw new Error(`${e.message}; last seen ${JSON.stringify(hosts)}`);
  });
  return hosts;
}

async function start(t, cluster, { workers = 1 } = {}) {
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [{ name: 'c', lb_type: 'LB_ROUNDROBIN', ...cluster }],
      extra: ADMIN,
    }),
    workers,
  });
  t.after(() => m.kill());
  return m;
}

test('a STRICT_DNS cluster has one host per resolved address of each name, with the configured port and weight', async (t) => {
  const up = await h.startHttpUpstream();
  t.after(() => up.close());
  const m = await start(t, { type: 'STRICT_DNS', hosts: [{ address: `localhost:${up.port}`, weight: 7 }] });
  const expected = await localhostAddresses(up.port);
  const hosts = await waitForHosts(m, expected);
  assert.ok(expected.includes(`127.0.0.1:${up.port}`), 'localhost resolves to 127.0.0.1 here');
  assert.deepEqual(hosts.map((x) => x.weight), expected.map(() => 7));
  const line = m.logs.find((l) => l.cluster === 'c' && /STRICT_DNS hosts/.test(l.msg ?? ''));
  assert.ok(line, 'the master logs the resolved host set');
});

test('traffic to a STRICT_DNS cluster reaches the resolved address, IP literals are kept as they are, and the workers count by address', async (t) => {
  const [a, b] = await Promise.all([h.startHttpUpstream((req, res) => res.end('a')), h.startHttpUpstream((req, res) => res.end('b'))]);
  t.after(() => Promise.all([a.close(), b.close()]));
  const m = await start(t, {
    type: 'STRICT_DNS',
    dns_lookup_family: 'V4_ONLY',
    hosts: [{ address: `localhost:${a.port}` }, { address: b.address }],
  });
  await waitForHosts(m, [`127.0.0.1:${a.port}`, b.address]);
  const bodies = [];
  for (let i = 0; i < 4; i++) bodies.push((await h.request(m.ports.http)).body.toString());
  assert.deepEqual(bodies.sort(), ['a', 'a', 'b', 'b'], 'round robin over the two hosts');
  // The workers know the host by its resolved address: their counts appear under it.
  const s = await h.scrape(m.ports.__admin);
  assert.equal(s[`mosnd_upstream_host_rq_total{cluster="c",host="127.0.0.1:${a.port}"}`], 2);
});

test('a LOGICAL_DNS cluster uses one address of the name at a time: the first resolved', async (t) => {
  const up = await h.startHttpUpstream();
  t.after(() => up.close());
  const m = await start(t, { type: 'LOGICAL_DNS', hosts: [{ address: `localhost:${up.port}`, weight: 3 }] });
  const first = (await localhostAddresses(up.port))[0];
  const hosts = await waitForHosts(m, [first]);
  assert.deepEqual(hosts, [{ address: first, weight: 3 }]);
});

test('a name that does not resolve is warned about and has no host; the rest of the cluster serves and nothing crashes', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end('up'));
  t.after(() => up.close());
  const m = await start(t, {
    type: 'STRICT_DNS',
    dns_refresh_rate: '200ms',
    hosts: [{ address: `no-such-host.invalid:${up.port}` }, { address: up.address }],
  });
  const warning = await m.waitForLog((l) => l.level === 'warn' && /cannot resolve no-such-host\.invalid/.test(l.msg ?? ''));
  assert.equal(warning.cluster, 'c');
  await waitForHosts(m, [up.address]);
  const workers = h.workerPids(m.pid);
  // Several refresh rounds later: still one warning (per failing spell), same processes.
  for (let i = 0; i < 6; i++) assert.equal((await h.request(m.ports.http)).body.toString(), 'up');
  await h.sleep(1_000);
  assert.equal(m.logs.filter((l) => /cannot resolve/.test(l.msg ?? '')).length, 1);
  assert.deepEqual(h.workerPids(m.pid), workers);
  assert.equal(m.exited, null);
});

test('a reload with the same DNS cluster keeps its resolved hosts and their upstream connections', async (t) => {
  const up = await h.startHttpUpstream();
  t.after(() => up.close());
  const cluster = { type: 'STRICT_DNS', dns_lookup_family: 'V4_ONLY', hosts: [{ address: `localhost:${up.port}` }] };
  const m = await start(t, cluster);
  await waitForHosts(m, [`127.0.0.1:${up.port}`]);
  const agent = new (require('node:http').Agent)({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  assert.equal((await h.request(m.ports.http, { agent })).status, 200);
  assert.equal(up.connections, 1);
  const r = await m.cli(['reload']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((await clusterHosts(m)).map((x) => x.address), [`127.0.0.1:${up.port}`], 'the admin API still shows the resolved host');
  for (let i = 0; i < 3; i++) assert.equal((await h.request(m.ports.http, { agent })).status, 200);
  assert.equal(up.connections, 1, 'the pooled upstream connection survived the reload');
});

test('workers start with the resolved host set: with two workers no host by name ever exists, every request goes to the address', async (t) => {
  const up = await h.startHttpUpstream();
  t.after(() => up.close());
  const m = await start(t, { type: 'STRICT_DNS', dns_lookup_family: 'V4_ONLY', hosts: [{ address: `localhost:${up.port}` }] }, { workers: 2 });
  await waitForHosts(m, [`127.0.0.1:${up.port}`]);
  const resolvedAt = m.logs.findIndex((l) => /STRICT_DNS hosts/.test(l.msg ?? ''));
  const listeningAt = m.logs.findIndex((l) => / listening on /.test(l.msg ?? ''));
  assert.ok(resolvedAt !== -1 && resolvedAt < listeningAt, 'the names were resolved before any worker served');
  // The master resolved before spawning the workers: the admin API's snapshots (taken while
  // waiting above and below) would list a host "localhost:port" had any worker had one.
  const n = 20;
  for (let i = 0; i < n; i++) assert.equal((await h.request(m.ports.http)).status, 200);
  const s = await h.scrape(m.ports.__admin);
  const byHost = Object.entries(s).filter(([k]) => k.startsWith('mosnd_upstream_host_rq_total{cluster="c"'));
  assert.deepEqual(byHost, [[`mosnd_upstream_host_rq_total{cluster="c",host="127.0.0.1:${up.port}"}`, n]]);
});
