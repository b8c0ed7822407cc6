'use strict';
/**
 * Prometheus metrics against real masters: one scrape summed over the workers, exact
 * counts, latency histograms, response flags, and counters that never go backwards across
 * a worker killed with SIGKILL, a reload that replaces a cluster, and an upgrade.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const h = require('./helpers/mosnd');

/** The master polls its workers every second (METRICS_POLL_INTERVAL_MS); a bit more than that. */
const POLL_WAIT_MS = 1_300;

const ADMIN = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };
const SINK = { metrics: { sinks: [{ type: 'prometheus', config: { port: 0 } }] } };

const { scrape } = h;

function config(up, extra = {}) {
  return h.proxyConfig({
    routes: [
      { match: { prefix: '/dead' }, route: { cluster_name: 'dead' } },
      { match: { prefix: '/none' }, direct_response: { status: 404, body: 'none' } },
      { match: { prefix: '/' }, route: { cluster_name: 'c' } },
    ],
    clusters: [h.cluster('c', [up.address]), h.cluster('dead', ['127.0.0.1:1'], { connect_timeout: '1s' })],
    extra: { ...ADMIN, ...SINK, ...extra },
  });
}

/** `n` requests, each on a new connection (so the kernel spreads them over the workers). */
async function send(port, n, path = '/') {
  for (let i = 0; i < n; i++) assert.equal((await h.request(port, { path })).status, 200);
}

const RQ = 'mosnd_downstream_rq_total{listener="http"}';
const UP = 'mosnd_upstream_rq_total{cluster="c"}';

test('one scrape counts exactly the requests sent across all workers, with histograms and flags', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end('hello'));
  t.after(() => up.close());
  const m = await h.startMosnd({ config: config(up), workers: 2 });
  t.after(() => m.kill());
  const N = 40;
  await send(m.ports.http, N);
  assert.equal((await h.request(m.ports.http, { path: '/dead' })).status, 503);
  assert.equal((await h.request(m.ports.http, { path: '/none' })).status, 404);

  const s = await scrape(m.ports.__admin);
  // What each worker counted itself (status) adds up to what the scrape shows.
  const st = JSON.parse((await m.cli(['status', '--json'])).stdout);
  const perWorker = st.processes.filter((p) => p.role === 'worker').map((p) => p.requestsTotal);
  assert.equal(perWorker.reduce((a, b) => a + b, 0), N + 2);

  assert.equal(s[RQ], N + 2);
  assert.equal(s['mosnd_downstream_rq_xx_total{listener="http",response_code_class="2xx"}'], N);
  assert.equal(s['mosnd_downstream_rq_xx_total{listener="http",response_code_class="4xx"}'], 1);
  assert.equal(s['mosnd_downstream_rq_xx_total{listener="http",response_code_class="5xx"}'], 1);
  assert.equal(s['mosnd_downstream_rq_response_flag_total{listener="http",response_flag="UF"}'], 1);
  assert.equal(s['mosnd_downstream_cx_total'], N + 2);
  assert.equal(s['mosnd_downstream_cx_active'], 0);
  assert.equal(s[UP], N);
  assert.equal(s[`mosnd_upstream_host_rq_total{cluster="c",host="${up.address}"}`], N);
  assert.equal(s['mosnd_upstream_cx_connect_fail_total{cluster="dead"}'], 1);
  assert.equal(s[`mosnd_upstream_host_cx_total{cluster="c",host="${up.address}"}`], up.connections);
  assert.ok(s['mosnd_upstream_host_cx_idle{cluster="c",host="' + up.address + '"}'] >= 1, 'the pools hold idle connections');
  // No worker label on data metrics: one series summed over both workers.
  assert.ok(!Object.keys(s).some((k) => k.startsWith('mosnd_downstream') && k.includes('worker=')));

  // Latency histograms, in seconds, cumulative buckets.
  assert.equal(s['mosnd_downstream_rq_time_seconds_count{listener="http"}'], N + 2);
  assert.equal(s['mosnd_downstream_rq_time_seconds_bucket{le="+Inf",listener="http"}'], N + 2);
  assert.ok(s['mosnd_downstream_rq_time_seconds_sum{listener="http"}'] > 0);
  assert.ok(s['mosnd_downstream_rq_time_seconds_sum{listener="http"}'] < N, 'seconds, not milliseconds');
  assert.ok(s['mosnd_downstream_rq_time_seconds_bucket{le="0.001",listener="http"}'] <= s['mosnd_downstream_rq_time_seconds_bucket{le="0.01",listener="http"}']);
  assert.equal(s['mosnd_upstream_rq_time_seconds_count{cluster="c"}'], N);
  assert.equal(s['mosnd_generation'], 1);
  assert.equal(s['mosnd_worker_restarts_total{worker="1"}'], 0);

  // The metrics sink serves the same figures on /metrics, and nothing else.
  const sink = await scrape(m.ports.__metrics, '/metrics');
  assert.equal(sink[RQ], N + 2);
  assert.equal((await h.request(m.ports.__metrics, { path: '/' })).status, 404);
});

test('counters stay monotonic across a worker killed with SIGKILL', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end('hello'));
  t.after(() => up.close());
  const m = await h.startMosnd({ config: config(up), workers: 2 });
  t.after(() => m.kill());
  await send(m.ports.http, 20);
  assert.equal((await scrape(m.ports.__admin))[RQ], 20);
  await h.sleep(POLL_WAIT_MS);
  const [victim] = h.workerPids(m.pid);
  process.kill(victim, 'SIGKILL');
  await m.waitForLog((l) => l.msg === 'worker 0 exited unexpectedly; restarting' || l.msg === 'worker 1 exited unexpectedly; restarting');
  // Right after the kill: nothing counted is lost.
  const after = await scrape(m.ports.__admin);
  assert.equal(after[RQ], 20);
  assert.equal(after[UP], 20);
  assert.equal(after['mosnd_downstream_rq_time_seconds_count{listener="http"}'], 20);
  // Once the replacement serves, new requests add up on top.
  for (let i = 0; i < 100; i++) {
    if (h.workerPids(m.pid).length === 2 && (await scrape(m.ports.__admin))['mosnd_workers_ready{generation="1"}'] === 2) break;
    await h.sleep(50);
  }
  await send(m.ports.http, 10);
  const later = await scrape(m.ports.__admin);
  assert.equal(later[RQ], 30);
  assert.equal(later[UP], 30);
  assert.equal(
    later['mosnd_worker_restarts_total{worker="1"}'] + later['mosnd_worker_restarts_total{worker="2"}'],
    1,
  );
});

test('counters stay monotonic across a reload that replaces a cluster', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end('hello'));
  t.after(() => up.close());
  const m = await h.startMosnd({ config: config(up), workers: 1 });
  t.after(() => m.kill());
  await send(m.ports.http, 5);
  // A changed cluster config gives the worker a new cluster object with fresh counters.
  const d = config(up);
  d.cluster_manager.clusters[0].connect_timeout = '2s';
  fs.writeFileSync(m.configFile, JSON.stringify(d));
  const r = await m.cli(['reload']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await scrape(m.ports.__admin))[UP], 5);
  await send(m.ports.http, 3);
  const s = await scrape(m.ports.__admin);
  assert.equal(s[UP], 8);
  assert.equal(s[`mosnd_upstream_host_rq_total{cluster="c",host="${up.address}"}`], 8);
});

test('counters, the admin port and the metrics sink carry over an upgrade, with the requests the old generation finishes', async (t) => {
  const { up, release } = await h.heldUpstream(t);
  const install = h.makeInstall();
  const m = await h.startMosnd({ config: config(up), workers: 2 });
  t.after(() => m.kill()); // the serving generation too, after an upgrade
  const admin = m.ports.__admin;
  const sinkPort = m.ports.__metrics;
  await send(m.ports.http, 25);
  await h.request(m.ports.http, { path: '/dead' });
  const before = await scrape(admin);
  assert.equal(before[RQ], 26);
  // In flight across the upgrade: it finishes in the old generation, after the totals were
  // first handed over; the old worker's final snapshot and `done` bring it in.
  const slow = h.request(m.ports.http, { path: '/slow', timeoutMs: 30_000 });
  await h.waitFor(() => up.requests === 26, 'the slow request at the upstream');

  const upgrade = m.cli(['upgrade', '--binary', install]);
  // The same admin port answers, from the new generation (once it took the socket at
  // commit), with the old totals included.
  let s;
  await h.waitFor(async () => (s = await scrape(admin))['mosnd_generation'] === 2, 'the new generation on the admin port', 30_000);
  assert.equal(s[RQ], 26);
  assert.equal(s[UP], 26, 'the slow one counts upstream already');
  assert.equal(s['mosnd_upstream_cx_connect_fail_total{cluster="dead"}'], 1);
  assert.equal(s['mosnd_downstream_rq_time_seconds_count{listener="http"}'], 26);
  assert.equal(s['mosnd_upgrades_total{result="ok"}'], 1);
  const info = JSON.parse((await h.request(admin, { path: '/server_info' })).body.toString());
  assert.equal(info.generation, 2);
  assert.equal(info.pid, h.servingPid(m.runDir));

  await send(m.ports.http, 4);
  const after = await scrape(admin);
  assert.equal(after[RQ], 30);
  assert.equal(after[UP], 30);
  const sink = await scrape(sinkPort, '/metrics');
  assert.equal(sink[RQ], 30);

  release();
  assert.equal((await slow).status, 200);
  const r = await upgrade;
  assert.equal(r.code, 0, r.stderr + r.stdout);
  await m.exitPromise;
  // Once the old generation is gone: its final totals are in, and the handover duration is known.
  await h.waitFor(async () => (await scrape(admin))['mosnd_upgrade_last_handover_seconds'] > 0, 'the handover duration');
  const final = await scrape(admin);
  assert.equal(final[RQ], 31);
  assert.equal(final[UP], 30);
  assert.equal(final['mosnd_downstream_rq_time_seconds_count{listener="http"}'], 31);
});
