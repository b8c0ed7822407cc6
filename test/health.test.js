'use strict';
/**
 * Active health checks (cluster `health_check`) end to end: a real mosnd whose master probes
 * real upstreams, and workers that stop (and resume) sending them traffic.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const h = require('./helpers/mosnd');

const HEALTH_PATH = '/healthz';
const ADMIN = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };

/** The check interval of httpCheck(). */
const INTERVAL_MS = 100;
/** Probes counted by the once-per-interval test. */
const PROBES = 10;

/** A health check every 100 ms: two failures take a host out, two successes bring it back. */
function httpCheck(extra = {}) {
  return {
    protocol: 'Http1',
    timeout: '500ms',
    interval: `${INTERVAL_MS}ms`,
    healthy_threshold: 2,
    unhealthy_threshold: 2,
    check_config: { http_check_config: { path: HEALTH_PATH } },
    ...extra,
  };
}

/**
 * An upstream that answers its name, and HEALTH_PATH with `u.health` (200 until changed);
 * it records each health request it receives.
 */
async function upstream(t, name) {
  const u = { name, health: 200, probes: [] };
  const up = await h.startHttpUpstream((req, res) => {
    if (req.url === HEALTH_PATH) {
      u.probes.push({ at: Date.now(), headers: req.headers, method: req.method });
      res.writeHead(u.health, { 'content-type': 'text/plain' });
      res.end(u.health === 200 ? 'ok\n' : 'failing\n');
      return;
    }
    res.end(name);
  });
  t.after(() => up.close());
  u.address = up.address;
  u.port = up.port;
  return u;
}

function config(clusters, extra = {}) {
  return h.proxyConfig({ routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c1' } }], clusters, extra: { ...ADMIN, ...extra } });
}

async function start(t, cfg, workers = 2) {
  const m = await h.startMosnd({ config: cfg, workers });
  t.after(() => m.kill());
  return m;
}

/** `n` requests, each on its own connection (so they spread over the workers): { name: count }. */
async function tally(m, n) {
  const counts = {};
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const r = await h.request(m.ports.http, { path: `/r${i}` });
      const key = r.status === 200 ? r.body.toString() : String(r.status);
      counts[key] = (counts[key] ?? 0) + 1;
    }),
  );
  return counts;
}

function admin(m, path) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: m.ports.__admin, path }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, text }));
      })
      .on('error', reject);
  });
}

/** Value of a series of the Prometheus scrape with these cluster and host labels. */
async function series(m, name, cluster, host) {
  const { text } = await admin(m, '/stats/prometheus');
  for (const line of text.split('\n')) {
    const hit = new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`).exec(line);
    if (hit && hit[1].includes(`cluster="${cluster}"`) && hit[1].includes(`host="${host}"`)) return Number(hit[2]);
  }
  return undefined;
}

/** Waits until every one of `workers` workers sees `host` of c1 as `healthy` (their own gauges). */
async function untilWorkersSee(m, host, healthy, workers) {
  const want = healthy ? 0 : workers;
  await h.waitFor(async () => (await series(m, 'mosnd_upstream_host_health_failed', 'c1', host)) === want, `${workers} workers to see ${host} as ${healthy ? 'healthy' : 'unhealthy'}`);
}

const flip = (u, state, why) => (l) => l.msg === `host ${u.address} of cluster c1 is now ${state}${why ? ` (${why})` : ''}`;

test('a host whose health path answers 500 gets no traffic from any worker after unhealthy_threshold checks, and gets it again once it recovers', async (t) => {
  const a = await upstream(t, 'a');
  const b = await upstream(t, 'b');
  const m = await start(t, config([h.cluster('c1', [a.address, b.address], { health_check: httpCheck() })]));
  // Both hosts start healthy and take turns.
  const before = await tally(m, 20);
  assert.ok(before.a > 0 && before.b > 0, JSON.stringify(before));

  b.health = 500;
  const down = await m.waitForLog(flip(b, 'unhealthy', '2 failed checks: HTTP 500'));
  assert.equal(down.level, 'info');
  assert.equal(down.cluster, 'c1');
  await untilWorkersSee(m, b.address, false, 2);
  assert.deepEqual(await tally(m, 40), { a: 40 });

  // The admin API and the metrics say so too.
  const clusters = JSON.parse((await admin(m, '/clusters?format=json')).text);
  const hosts = clusters.cluster_statuses[0].host_statuses;
  const hb = hosts.find((x) => x.address === b.address);
  assert.equal(hb.health_status.eds_health_status, 'UNHEALTHY');
  assert.equal(hb.health_status.failed_active_health_check, true);
  assert.equal(hb.active_health_check.last_result, 'HTTP 500');
  assert.ok(hb.active_health_check.consecutive_failures >= 2);
  assert.equal(hosts.find((x) => x.address === a.address).health_status.eds_health_status, 'HEALTHY');
  assert.match((await admin(m, '/clusters')).text, new RegExp(`c1::${b.address}::health_flags::/failed_active_hc`));
  assert.equal(await series(m, 'mosnd_upstream_host_healthy', 'c1', b.address), 0);
  assert.equal(await series(m, 'mosnd_upstream_host_healthy', 'c1', a.address), 1);

  b.health = 200;
  await m.waitForLog(flip(b, 'healthy', '2 successful checks'));
  await untilWorkersSee(m, b.address, true, 2);
  const after = await tally(m, 40);
  assert.ok(after.b >= 10, `b is back in the rotation: ${JSON.stringify(after)}`);
  assert.equal(await series(m, 'mosnd_upstream_host_healthy', 'c1', b.address), 1);
});

test('the master probes each host once per interval however many workers there are', async (t) => {
  const a = await upstream(t, 'a');
  const m = await start(t, config([h.cluster('c1', [a.address], { health_check: httpCheck() })]), 2);
  await h.waitFor(() => a.probes.length > 0, 'the first probe');
  // PROBES more probes: one prober spaces them by the 100 ms interval (jitter only adds), so
  // they span at least PROBES intervals however loaded the machine (load only stretches
  // them); a prober per worker (two here) would fit them into about half that.
  const from = a.probes.length - 1;
  await h.waitFor(() => a.probes.length > from + PROBES, `${PROBES} more probes`, 20_000);
  const span = a.probes[from + PROBES].at - a.probes[from].at;
  assert.ok(span >= PROBES * INTERVAL_MS * 0.9, `${PROBES} probes came within ${span} ms`);
  const p = a.probes[0];
  assert.equal(p.method, 'GET');
  assert.equal(p.headers.host, a.address);
  assert.equal(p.headers.connection, 'close');
  assert.equal(m.exited, null);
});

test('a TCP check marks a host with a closed port unhealthy, so requests only reach the live host', async (t) => {
  const a = await upstream(t, 'a');
  const closed = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(`127.0.0.1:${port}`));
    });
  });
  const hc = { protocol: 'TCP', timeout: '500ms', interval: '100ms', unhealthy_threshold: 3 };
  const m = await start(t, config([h.cluster('c1', [a.address, closed], { health_check: hc })]));
  await m.waitForLog((l) => l.msg === `host ${closed} of cluster c1 is now unhealthy (3 failed checks: connect refused)`);
  await h.waitFor(async () => (await series(m, 'mosnd_upstream_host_health_failed', 'c1', closed)) === 2, 'both workers to skip the closed port');
  // Without the check, every other request would meet the closed port (503, UF).
  assert.deepEqual(await tally(m, 30), { a: 30 });
});

test('a cluster whose hosts are all unhealthy answers 503 (no healthy upstream), though they would answer', async (t) => {
  const a = await upstream(t, 'a');
  const b = await upstream(t, 'b');
  a.health = 503;
  b.health = 404;
  const m = await start(t, config([h.cluster('c1', [a.address, b.address], { health_check: httpCheck() })]), 1);
  await m.waitForLog(flip(a, 'unhealthy', '2 failed checks: HTTP 503'));
  await m.waitForLog(flip(b, 'unhealthy', '2 failed checks: HTTP 404'));
  await untilWorkersSee(m, b.address, false, 1);
  const r = await h.request(m.ports.http, { path: '/x' });
  assert.equal(r.status, 503);
  assert.equal(r.body.toString(), 'no healthy upstream\n');
});

test('a worker restarted after kill -9 starts with the hosts the checker already found unhealthy', async (t) => {
  const a = await upstream(t, 'a');
  const b = await upstream(t, 'b');
  b.health = 500;
  const m = await start(t, config([h.cluster('c1', [a.address, b.address], { health_check: httpCheck() })]), 1);
  await m.waitForLog(flip(b, 'unhealthy', '2 failed checks: HTTP 500'));
  await untilWorkersSee(m, b.address, false, 1);
  const [old] = h.workerPids(m.pid);
  process.kill(old, 'SIGKILL');
  await h.waitFor(() => h.workerPids(m.pid).some((p) => p !== old), 'the worker to be restarted');
  // No state change happens meanwhile (b keeps failing): the new worker knows from its start.
  assert.deepEqual(await tally(m, 20), { a: 20 });
  assert.equal(m.logs.filter((l) => /is now (un)?healthy/.test(l.msg ?? '')).length, 1);
});

test('a reload keeps the state of hosts still checked, and a host no longer checked counts as healthy', async (t) => {
  const a = await upstream(t, 'a');
  const b = await upstream(t, 'b');
  b.health = 500;
  const cfg = config([h.cluster('c1', [a.address, b.address], { health_check: httpCheck() })]);
  const m = await start(t, cfg, 2);
  await m.waitForLog(flip(b, 'unhealthy', '2 failed checks: HTTP 500'));
  await untilWorkersSee(m, b.address, false, 2);

  // A changed check (its interval) and a new cluster: the workers rebuild c1, b stays out.
  const changed = config([
    h.cluster('c1', [a.address, b.address], { health_check: httpCheck({ interval: '150ms' }) }),
    h.cluster('c2', [a.address]),
  ]);
  h.writeConfig(changed, path.dirname(m.configFile));
  const r1 = await m.cli(['reload']);
  assert.equal(r1.code, 0, r1.stderr);
  assert.deepEqual(await tally(m, 30), { a: 30 });

  // No health check any more: b takes traffic again.
  const unchecked = config([h.cluster('c1', [a.address, b.address]), h.cluster('c2', [a.address])]);
  h.writeConfig(unchecked, path.dirname(m.configFile));
  const r2 = await m.cli(['reload']);
  assert.equal(r2.code, 0, r2.stderr);
  await m.waitForLog((l) => l.msg === `host ${b.address} of cluster c1 is no longer health checked; it counts as healthy`);
  await untilWorkersSee(m, b.address, true, 2);
  const after = await tally(m, 30);
  assert.ok(after.b >= 8, JSON.stringify(after));
  assert.equal(m.logs.filter((l) => /is now healthy/.test(l.msg ?? '')).length, 0);
});

// ------------------------------------------------------------------ the probe and the checker alone

const { probe } = require('../dist/master/health/probe.js');
const { HealthChecker } = require('../dist/master/health/checker.js');

/** A raw TCP server: `onData(socket, text)` decides what to answer to each request. */
async function rawServer(t, onData) {
  const sockets = new Set();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.setEncoding('latin1');
    s.on('data', (d) => onData(s, d));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return server.address().port;
}

const runProbe = (target) => new Promise((resolve) => probe({ host: '127.0.0.1', timeoutMs: 300, ...target }, resolve));

test('an HTTP probe reads only the status line: 2xx after interim 1xx responses passes, anything else fails with the reason', async (t) => {
  const requests = [];
  const port = await rawServer(t, (s, text) => {
    requests.push(text);
    const path = /^GET (\S+)/.exec(text)[1];
    if (path === '/interim') s.write('HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n');
    else if (path === '/bad') s.end('SSH-2.0-OpenSSH_9.6\r\n');
    else if (path === '/closed') s.end();
    else if (path === '/redirect') s.end('HTTP/1.0 302 Found\r\nLocation: /\r\n\r\n');
    // '/silent': never answers
  });
  assert.deepEqual(await runProbe({ port, httpPath: '/interim', authority: 'up.internal:80' }), { ok: true, reason: 'HTTP 204' });
  assert.match(requests[0], /^GET \/interim HTTP\/1\.1\r\nHost: up\.internal:80\r\n[^]*Connection: close\r\n\r\n$/);
  assert.deepEqual(await runProbe({ port, httpPath: '/redirect' }), { ok: false, reason: 'HTTP 302' });
  assert.deepEqual(await runProbe({ port, httpPath: '/bad' }), { ok: false, reason: 'malformed status line "SSH-2.0-OpenSSH_9.6"' });
  assert.deepEqual(await runProbe({ port, httpPath: '/closed' }), { ok: false, reason: 'connection closed before the status line' });
  assert.deepEqual(await runProbe({ port, httpPath: '/silent' }), { ok: false, reason: 'no answer within 300 ms' });
  assert.deepEqual(await runProbe({ port }), { ok: true, reason: 'connected' });
});

test('the checker probes http_check_config.port with that port in the Host header, and a reload that changes nothing keeps its sessions', async (t) => {
  const seen = [];
  const checkPort = await rawServer(t, (s, text) => {
    seen.push({ at: Date.now(), host: /\r\nHost: (\S+)\r\n/.exec(text)[1] });
    s.end('HTTP/1.1 500 Internal Server Error\r\n\r\n');
  });
  /**
   * Waits `ms` (the checker's timers run in this process: one due sooner fires first), then
   * sends a request of its own to the check port and waits for the answer: a probe started
   * before it has reached the server by then. Resolves with the probes seen before it.
   */
  const probesAfter = async (ms) => {
    await h.sleep(ms);
    await runProbe({ port: checkPort, httpPath: '/marker', authority: 'marker' });
    const i = seen.findLastIndex((x) => x.host === 'marker');
    return seen.slice(0, i).filter((x) => x.host !== 'marker').length;
  };
  const changes = [];
  const quiet = { info() {}, debug() {}, warn() {}, error() {} };
  const checker = new HealthChecker({ log: quiet, onChange: (...c) => changes.push(c) });
  t.after(() => checker.stop());
  const clusters = (interval) => [
    {
      name: 'c1',
      healthCheck: { timeoutMs: 300, intervalMs: interval, healthyThreshold: 1, unhealthyThreshold: 2, httpPath: '/h', httpPort: checkPort },
      hosts: [{ address: 'localhost:1', host: '127.0.0.1', port: 1, weight: 1 }],
    },
  ];
  checker.update(clusters(50));
  await h.waitFor(() => changes.length === 1, 'the host to be found unhealthy');
  assert.deepEqual(changes, [['c1', 'localhost:1', false]]);
  assert.equal(seen[0].host, `127.0.0.1:${checkPort}`);
  assert.deepEqual(checker.unhealthyHosts(), [{ cluster: 'c1', address: 'localhost:1' }]);
  const view = checker.hostHealth('c1', 'localhost:1');
  checker.update(clusters(50));
  assert.deepEqual(checker.hostHealth('c1', 'localhost:1'), view, 'same session, same streak');
  checker.update(clusters(60));
  assert.equal(checker.hostHealth('c1', 'localhost:1').healthy, false, 'a changed check keeps the state');
  assert.equal(checker.hostHealth('c1', 'localhost:1').failures, 0, '... and starts its streak over');
  checker.update([]);
  assert.deepEqual(changes.at(-1), ['c1', 'localhost:1', true]);
  assert.deepEqual(checker.unhealthyHosts(), []);
  // A probe sent just before the stop may still be on its way: count from a marker after it.
  const n = await probesAfter(2 * 60);
  // Ten intervals: a session still running would have probed again.
  assert.equal(await probesAfter(10 * 60), n, 'no probe after the check is gone');
});
