'use strict';
/**
 * The admin HTTP API against a real master with two workers: Envoy's paths, MOSN's
 * /api/v1 aliases, methods, readiness, drain and stop.
 */
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const h = require('./helpers/mosnd');

const ADMIN = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };

/** One admin call; resolves { status, headers, text }. */
function admin(port, path, { method = 'GET', body } = {}) {
  return h.request(port, { method, path, body }).then((r) => ({ status: r.status, headers: r.headers, text: r.body.toString() }));
}

/** A config with a route to cluster c (one live host, one refused) and the admin API on port 0. */
function config(up, extra = {}) {
  return h.proxyConfig({
    routes: [
      { match: { prefix: '/dead' }, route: { cluster_name: 'dead' } },
      {
        match: { prefix: '/' },
        route: { cluster_name: 'c', request_headers_to_add: [{ header: { key: 'x-api-key', value: 'hunter2' } }] },
      },
    ],
    clusters: [h.cluster('c', [up.address]), h.cluster('dead', ['127.0.0.1:1'], { connect_timeout: '1s' })],
    extra: { ...ADMIN, ...extra },
  });
}

describe('admin API of a serving master', () => {
  let up;
  let m;
  let port;
  before(async () => {
    up = await h.startHttpUpstream((req, res) => res.end('hello'));
    m = await h.startMosnd({ config: config(up), workers: 2 });
    port = m.ports.__admin;
    for (let i = 0; i < 6; i++) assert.equal((await h.request(m.ports.http, { path: `/r${i}` })).status, 200);
    assert.equal((await h.request(m.ports.http, { path: '/dead' })).status, 503);
  });
  after(async () => {
    await m?.kill();
    await up?.close();
  });

  test('binds the configured loopback address and logs it like a listener', () => {
    const line = m.logs.find((l) => l.listener === '__admin');
    assert.match(line.msg, /^admin API listening on 127\.0\.0\.1:\d+$/);
    assert.ok(port > 0);
  });

  test('GET /ready answers LIVE with 200 when every worker is ready', async () => {
    const r = await admin(port, '/ready');
    assert.equal(r.status, 200);
    assert.equal(r.text, 'LIVE\n');
  });

  test('GET /server_info reports version, generation, uptime and state', async () => {
    const r = await admin(port, '/server_info');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /application\/json/);
    const info = JSON.parse(r.text);
    assert.equal(info.version, require('../package.json').version);
    assert.equal(info.generation, 1);
    assert.equal(info.state, 'LIVE');
    assert.equal(info.master_state, 'serving');
    assert.equal(info.pid, m.pid);
    assert.equal(info.workers, 2);
    assert.match(info.uptime_current_epoch, /^\d+s$/);
    assert.ok(info.uptime_seconds >= 0 && info.uptime_seconds < 120);
  });

  test('GET /stats lists Envoy-style counters summed over the workers, also as JSON and filtered', async () => {
    const r = await admin(port, '/stats');
    assert.equal(r.status, 200);
    const stats = Object.fromEntries(r.text.trim().split('\n').map((l) => l.split(': ')));
    assert.equal(stats['listener.http.downstream_rq_total'], '7');
    assert.equal(stats['listener.http.downstream_rq_2xx'], '6');
    assert.equal(stats['listener.http.downstream_rq_5xx'], '1');
    assert.equal(stats['listener.http.downstream_rq_response_flag.UF'], '1');
    assert.equal(stats['cluster.c.upstream_rq_total'], '6');
    assert.equal(stats[`cluster.c.host.${up.address}.rq_total`], '6');
    assert.equal(stats['cluster.dead.upstream_cx_connect_fail'], '1');
    assert.equal(stats['listener.http.downstream_rq_time_seconds.count'], '7');
    const json = JSON.parse((await admin(port, '/stats?format=json&filter=^cluster\\.c\\.upstream_rq_total$')).text);
    assert.deepEqual(json, { stats: [{ name: 'cluster.c.upstream_rq_total', value: 6 }] });
    assert.equal((await admin(port, '/stats?filter=(')).status, 400);
  });

  test('GET /stats/prometheus serves the Prometheus text format', async () => {
    const r = await admin(port, '/stats/prometheus');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    assert.match(r.text, /^# TYPE mosnd_downstream_rq_total counter$/m);
    assert.match(r.text, /^mosnd_downstream_rq_total\{listener="http"\} 7$/m);
    assert.match(r.text, /^mosnd_generation 1$/m);
  });

  test('GET /clusters lists each host with health and counters, as text and as JSON', async () => {
    const r = await admin(port, '/clusters');
    assert.equal(r.status, 200);
    const lines = r.text.trim().split('\n');
    assert.ok(lines.includes(`c::${up.address}::rq_total::6`), r.text);
    assert.ok(lines.includes(`c::${up.address}::health_flags::healthy`));
    assert.ok(lines.includes('c::default_priority::max_connections::1024'));
    assert.ok(lines.includes('dead::127.0.0.1:1::cx_connect_fail::1'));
    const json = JSON.parse((await admin(port, '/clusters?format=json')).text);
    const c = json.cluster_statuses.find((x) => x.name === 'c');
    assert.equal(c.host_statuses.length, 1);
    assert.equal(c.host_statuses[0].address, up.address);
    assert.equal(c.host_statuses[0].health_status.eds_health_status, 'HEALTHY');
    assert.equal(c.host_statuses[0].stats.rq_total, 6);
    assert.equal(c.stats.upstream_rq_total, 6);
  });

  test('GET /listeners lists names and addresses, as text and as JSON', async () => {
    assert.equal((await admin(port, '/listeners')).text, `http::127.0.0.1:${m.ports.http}\n`);
    const json = JSON.parse((await admin(port, '/listeners?format=json')).text);
    assert.deepEqual(json, { listener_statuses: [{ name: 'http', local_address: `127.0.0.1:${m.ports.http}`, protocol: 'http' }] });
  });

  test('GET /config_dump (and /api/v1/config_dump) shows the effective config without secrets', async () => {
    for (const path of ['/config_dump', '/api/v1/config_dump']) {
      const r = await admin(port, path);
      assert.equal(r.status, 200);
      const dump = JSON.parse(r.text);
      assert.equal(dump.generation, 1);
      assert.deepEqual(dump.config.clusters.map((c) => c.name), ['c', 'dead']);
      assert.equal(dump.config.listeners[0].name, 'http');
      assert.ok(r.text.includes('x-api-key'), 'the header name is shown');
      assert.ok(!r.text.includes('hunter2'), 'the secret header value is not');
    }
  });

  test('POST /logging?level= sets the level; a bad level is 400 and GET is 405', async () => {
    const set = await admin(port, '/logging?level=warning', { method: 'POST' });
    assert.equal(set.status, 200);
    assert.equal(set.text, 'log level: warn\n');
    assert.equal((await admin(port, '/logging', { method: 'POST' })).text, 'log level: warn\n');
    const bad = await admin(port, '/logging?level=loud', { method: 'POST' });
    assert.equal(bad.status, 400);
    assert.match(bad.text, /unknown log level "loud"/);
    const get = await admin(port, '/logging?level=debug');
    assert.equal(get.status, 405);
    assert.equal(get.headers.allow, 'POST');
    assert.equal((await admin(port, '/logging', { method: 'POST' })).text, 'log level: warn\n', 'the GET changed nothing');
    assert.equal((await admin(port, '/logging?level=info', { method: 'POST' })).status, 200);
  });

  test('POST /api/v1/update_loglevel takes MOSN\'s JSON body', async () => {
    const r = await admin(port, '/api/v1/update_loglevel', { method: 'POST', body: JSON.stringify({ log_level: 'ERROR', log_path: './x' }) });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'log level: error\n');
    assert.equal((await admin(port, '/api/v1/update_loglevel', { method: 'POST', body: '{nope' })).status, 400);
    assert.equal((await admin(port, '/api/v1/update_loglevel', { method: 'POST', body: '{"log_level":"LOUD"}' })).status, 400);
    assert.equal((await admin(port, '/api/v1/update_loglevel', { method: 'POST', body: '{"log_level":"INFO"}' })).status, 200);
  });

  test('MOSN aliases: /api/v1/stats, /api/v1/states, /api/v1/version', async () => {
    const stats = JSON.parse((await admin(port, '/api/v1/stats')).text);
    assert.ok(stats.stats.some((s) => s.name === 'listener.http.downstream_rq_total' && s.value >= 7));
    assert.equal((await admin(port, '/api/v1/states')).text, `pid=${m.pid}&state=Running\n`);
    assert.equal((await admin(port, '/api/v1/version')).text, `${require('../package.json').version}\n`);
  });

  test('POST /healthcheck/fail makes /ready answer 503 until POST /healthcheck/ok', async () => {
    assert.equal((await admin(port, '/healthcheck/fail', { method: 'POST' })).status, 200);
    const failed = await admin(port, '/ready');
    assert.equal(failed.status, 503);
    assert.match(failed.text, /^DRAINING\n.*health check/);
    // The proxy itself keeps serving: only the readiness answer changes.
    assert.equal((await h.request(m.ports.http)).status, 200);
    assert.equal((await admin(port, '/healthcheck/ok', { method: 'POST' })).status, 200);
    assert.equal((await admin(port, '/ready')).status, 200);
  });

  test('an unknown path is 404 with the list of commands; a POST-only path refuses GET', async () => {
    const r = await admin(port, '/nope');
    assert.equal(r.status, 404);
    assert.match(r.text, /POST \/quitquitquit/);
    assert.match(r.text, /GET {2}\/stats\/prometheus/);
    assert.equal((await admin(port, '/')).status, 200);
    for (const path of ['/quitquitquit', '/drain_listeners', '/healthcheck/fail']) {
      const g = await admin(port, path);
      assert.equal(g.status, 405, path);
    }
    assert.equal((await admin(port, '/stats', { method: 'POST' })).status, 405);
    assert.equal((await admin(port, '/ready')).status, 200, 'nothing was stopped or drained');
  });
});

test('an admin address without a host binds loopback', async (t) => {
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: 'ok' } }],
      extra: { admin: { address: { socket_address: { port_value: 0 } } } },
    }),
  });
  t.after(() => m.kill());
  const line = m.logs.find((l) => l.listener === '__admin');
  assert.match(line.address, /^127\.0\.0\.1:\d+$/);
  assert.equal((await admin(m.ports.__admin, '/ready')).status, 200);
});

test('POST /drain_listeners stops accepting on every listener while open connections keep working', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end('hello'));
  t.after(() => up.close());
  const m = await h.startMosnd({ config: config(up), workers: 2 });
  t.after(() => m.kill());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const first = await h.request(m.ports.http, { agent });
  assert.equal(first.status, 200);
  const r = await admin(m.ports.__admin, '/drain_listeners', { method: 'POST' });
  assert.equal(r.status, 200);
  const ready = await admin(m.ports.__admin, '/ready');
  assert.equal(ready.status, 503);
  assert.match(ready.text, /listeners were drained/);
  // The kept-alive connection still serves.
  const again = await h.request(m.ports.http, { agent });
  assert.equal(again.status, 200);
  assert.equal(again.socket, first.socket, 'same connection');
  // A new connection is refused: nobody holds the listening socket any more.
  const err = await new Promise((resolve) => {
    const s = net.connect(m.ports.http, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e) => resolve(e.code));
  });
  assert.equal(err, 'ECONNREFUSED');
  assert.equal((await admin(m.ports.__admin, '/listeners')).text, '');
});

test('POST /quitquitquit stops the master gracefully', async (t) => {
  const m = await h.startMosnd({
    config: h.proxyConfig({ routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: 'ok' } }], extra: ADMIN }),
    workers: 2,
  });
  t.after(() => m.kill());
  const workers = h.workerPids(m.pid);
  const r = await admin(m.ports.__admin, '/quitquitquit', { method: 'POST' });
  assert.equal(r.status, 200);
  assert.equal(r.text, 'OK\n');
  assert.deepEqual(await m.exitPromise, { code: 0, signal: null });
  for (const pid of workers) assert.throws(() => process.kill(pid, 0), /ESRCH/);
});

test('when the new generation dies after commit, the old one serves the admin API again on the same port', async (t) => {
  const { up, release } = await h.heldUpstream(t);
  const install = h.makeInstall();
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', timeout: '30s' } }],
      clusters: [h.cluster('c', [up.address])],
      server: { graceful_timeout: '20s' },
      extra: ADMIN,
    }),
  });
  const newMaster = () => {
    const pid = h.servingPid(m.runDir);
    return pid && pid !== m.pid ? pid : 0;
  };
  t.after(() => m.kill()); // the serving generation too, after an upgrade
  const port = m.ports.__admin;
  // A request in flight keeps the old worker handing over, so the old master is still there.
  const slow = h.request(m.ports.http, { path: '/slow', timeoutMs: 30_000 });
  await h.waitFor(() => up.requests === 1, 'the slow request at the upstream');
  const upgrade = m.cli(['upgrade', '--binary', install]);
  let info;
  await h.waitFor(async () => (info = JSON.parse((await admin(port, '/server_info')).text)).generation === 2, 'the new generation on the admin port', 30_000);
  const pid = info.pid;
  assert.notEqual(pid, m.pid);
  for (const p of [pid, ...h.workerPids(pid)]) process.kill(p, 'SIGKILL');
  const r = await upgrade;
  assert.notEqual(r.code, 0, r.stdout);
  await h.waitFor(async () => {
    try {
      return JSON.parse((await admin(port, '/server_info')).text).generation === 1;
    } catch {
      return false;
    }
  }, 'the old generation on the admin port again', 10_000);
  assert.equal((await admin(port, '/ready')).status, 200);
  release();
  assert.equal((await slow).status, 200);
  assert.equal((await h.request(m.ports.http)).status, 200);
  const s = (await admin(port, '/stats/prometheus')).text;
  assert.match(s, /^mosnd_upgrades_total\{result="failed"\} 1$/m);
  assert.match(s, /^mosnd_downstream_rq_total\{listener="http"\} 2$/m);
});
