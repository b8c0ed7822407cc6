'use strict';
/**
 * The master as a supervisor, against real processes: several workers serve one socket,
 * a killed worker is replaced without hurting the others, graceful and fast stops, the
 * master's own death, and the crash-loop limit.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./helpers/mosnd');
const p = require('./helpers/procs');
const { keepAliveClient, loadLoop } = require('./helpers/clients');
const { CRASH_LOOP_LIMIT, RESPAWN_BACKOFF_MAX_MS, WORKER_READY_TIMEOUT_MS } = require('../dist/shared/constants');

/** How long processes may take to go away once they should (no connection is open). */
const EXIT_BOUND_MS = 10_000;
/** How long a killed worker's replacement may take to appear and report ready. */
const RESPAWN_BOUND_MS = 15_000;
/** Past the longest respawn backoff, how long a respawn (timer, fork) may be late on a loaded box. */
const RESPAWN_MARGIN_MS = 2_000;
/** The slow upstream of the graceful-stop tests answers this long after the request. */
const SLOW_ANSWER_MS = 1_500;
/** Preloaded into workers: stops a starting worker while a file exists (see the file). */
const STOP_AT_START = path.join(__dirname, 'helpers', 'stop-at-start.js');

function directConfig(server = {}) {
  return h.proxyConfig({
    routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: 'ok' } }],
    server,
  });
}

/** An upstream whose answers wait until the test releases them; counts requests that arrived. */
async function gatedUpstream(t) {
  let release;
  const gate = new Promise((r) => (release = r));
  const up = await h.startHttpUpstream((req, res) => {
    up.arrived.push(Date.now());
    gate.then(() => res.end('slow'));
  });
  up.arrived = [];
  up.release = release;
  t.after(() => up.close());
  return up;
}

const { tryConnect } = h;

async function statusWorkers(runDir) {
  return p.workersOf(await p.statusJson(runDir));
}

/** Waits until worker `workerId` runs with a pid other than `oldPid` and reports ready. */
async function waitRespawned(runDir, workerId, oldPid) {
  return p.waitFor(
    async () => {
      const w = (await statusWorkers(runDir)).find((x) => x.workerId === workerId);
      return w && w.pid !== oldPid && w.pid !== 0 && w.state === 'ready' ? w : null;
    },
    RESPAWN_BOUND_MS,
    `worker ${workerId} respawned`,
  );
}

test('two workers both serve the shared listening socket', async (t) => {
  const m = await h.startMosnd({ config: directConfig(), workers: 2 });
  t.after(() => m.kill());
  const workers = h.workerPids(m.pid);
  assert.equal(workers.length, 2);
  // Freeze one worker at a time: the other alone must answer every new connection.
  for (const [stopped, running] of [workers, [...workers].reverse()]) {
    process.kill(stopped, 'SIGSTOP');
    try {
      for (let i = 0; i < 5; i++) assert.equal((await h.request(m.ports.http)).status, 200);
    } finally {
      process.kill(stopped, 'SIGCONT');
    }
    assert.ok(!p.isGone(running));
  }
  const ws = await statusWorkers(m.runDir);
  for (const w of ws) assert.ok(w.requestsTotal >= 5, `worker ${w.workerId} served ${w.requestsTotal} requests`);
});

test('a worker killed with SIGKILL under load is replaced; only its own requests may fail', async (t) => {
  const m = await h.startMosnd({ config: directConfig(), workers: 2 });
  t.after(() => m.kill());
  const [victim] = await statusWorkers(m.runDir);
  const lanes = 2;
  // Fresh connection per request, no retries: a failure is never hidden.
  const load = loadLoop(async () => (await h.request(m.ports.http, { timeoutMs: 5_000 })).status, { concurrency: lanes });
  t.after(() => load.stop());
  await p.waitFor(() => load.results.length >= 20, 10_000, 'load running');
  process.kill(victim.pid, 'SIGKILL');
  const killedAt = Date.now();
  const fresh = await waitRespawned(m.runDir, victim.workerId, victim.pid);
  const respawnedAt = Date.now();
  assert.equal(fresh.restarts, 1);
  await p.waitFor(() => load.results.filter((r) => r.at > respawnedAt).length >= 20, 10_000, 'load after respawn');
  const results = await load.stop();
  const failed = results.filter((r) => !r.ok);
  t.diagnostic(`${results.length} requests, ${failed.length} failed, respawn took ${respawnedAt - killedAt} ms`);
  // At most the requests in flight at the kill (one per lane) can have been on the victim.
  assert.ok(failed.length <= lanes, `${failed.length} failures: ${JSON.stringify(failed)}`);
  for (const f of failed) assert.ok(f.at <= killedAt, `a request started after the kill failed: ${JSON.stringify(f)}`);
  assert.ok(results.filter((r) => r.at > respawnedAt).every((r) => r.ok));
  assert.ok(results.length >= 40);
  const ws = await statusWorkers(m.runDir);
  assert.deepEqual(ws.map((w) => w.restarts).sort(), [0, 1]);
  assert.ok(ws.every((w) => w.state === 'ready'));
});

for (const how of ['SIGTERM', 'mosnd stop']) {
  test(`a graceful stop (${how}) lets a slow request in flight finish with 200 while new connections are refused`, async (t) => {
    const up = await gatedUpstream(t);
    const m = await h.startMosnd({
      config: h.proxyConfig({
        routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', timeout: '30s' } }],
        clusters: [h.cluster('c', [up.address])],
        server: { graceful_timeout: '30s' },
      }),
      workers: 2,
    });
    t.after(() => m.kill());
    const port = m.ports.http;
    const workers = h.workerPids(m.pid);
    const slow = h.request(port, { timeoutMs: 20_000 });
    await p.waitFor(() => up.arrived.length === 1, 5_000, 'request at the upstream');
    const stopped = how === 'SIGTERM' ? (m.child.kill('SIGTERM'), null) : m.cli(['stop']);
    await p.waitFor(async () => (await tryConnect(port)) === 'ECONNREFUSED', 5_000, 'new connections refused');
    // The request is still in flight; answer it once it has waited SLOW_ANSWER_MS.
    assert.equal(m.exited, null, 'the master waits for the request in flight');
    await p.sleep(Math.max(0, up.arrived[0] + SLOW_ANSWER_MS - Date.now()));
    up.release();
    const r = await slow;
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'slow');
    assert.deepEqual(await m.exitPromise, { code: 0, signal: null });
    if (stopped) assert.equal((await stopped).code, 0);
    await p.waitGone(workers, EXIT_BOUND_MS);
    assert.equal(up.arrived.length, 1);
  });
}

test('a graceful stop closes idle keep-alive connections instead of waiting for them', async (t) => {
  const m = await h.startMosnd({ config: directConfig({ graceful_timeout: '60s' }), workers: 2 });
  t.after(() => m.kill());
  const clients = await Promise.all([0, 1, 2, 3].map(() => keepAliveClient(m.ports.http)));
  t.after(() => clients.forEach((c) => c.close()));
  for (const c of clients) assert.equal((await c.get('/x')).status, 200);
  m.child.kill('SIGTERM');
  // Idle connections are closed by the server (a FIN, no reset) and the master exits long
  // before graceful_timeout (60 s; the test's own timeout is shorter).
  await Promise.all(clients.map((c) => c.closedPromise));
  for (const c of clients) assert.ok(c.closed);
  assert.deepEqual(await m.exitPromise, { code: 0, signal: null });
});

test('a graceful stop still answers a connection that connected just before it and sends its request a moment later', async (t) => {
  const m = await h.startMosnd({ config: directConfig({ graceful_timeout: '10s' }), workers: 1 });
  t.after(() => m.kill());
  const c = await keepAliveClient(m.ports.http);
  t.after(() => c.close());
  m.child.kill('SIGTERM');
  await h.sleep(200); // the worker has begun draining; this connection never sent a request
  const r = await c.get('/late');
  assert.equal(r.status, 200);
  await c.closedPromise; // then the connection is closed, and the master exits
  assert.deepEqual(await m.exitPromise, { code: 0, signal: null });
});

test('graceful_timeout bounds a graceful stop: a request that never finishes is cut and the master exits', async (t) => {
  const up = await gatedUpstream(t); // never released
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', timeout: '60s' } }],
      clusters: [h.cluster('c', [up.address])],
      server: { graceful_timeout: '1s' },
    }),
  });
  t.after(() => m.kill());
  const stuck = h.request(m.ports.http, { timeoutMs: 30_000 }).then(
    (r) => `answered ${r.status}`,
    (e) => e.code ?? e.message,
  );
  await p.waitFor(() => up.arrived.length === 1, 5_000, 'request at the upstream');
  const t0 = Date.now();
  m.child.kill('SIGTERM');
  assert.equal(await stuck, 'ECONNRESET');
  const cutAfter = Date.now() - t0;
  assert.deepEqual(await m.exitPromise, { code: 0, signal: null });
  // It did wait for the deadline before cutting.
  assert.ok(cutAfter >= 900, `cut after ${cutAfter} ms, before the 1 s deadline`);
  assert.ok(m.logs.some((l) => /drain deadline reached/.test(l.msg ?? '')), 'the worker logs the cut');
});

test('a fast stop (SIGINT) closes connections at once, a request in flight included', async (t) => {
  const up = await gatedUpstream(t);
  const m = await h.proxyTo(t, up.address, { route: { timeout: '60s' }, server: { graceful_timeout: '60s' }, workers: 2 });
  const idle = await keepAliveClient(m.ports.http);
  t.after(() => idle.close());
  const inFlight = h.request(m.ports.http, { timeoutMs: 30_000 }).then(
    (r) => `answered ${r.status}`,
    (e) => e.code ?? e.message,
  );
  await p.waitFor(() => up.arrived.length === 1, 5_000, 'request at the upstream');
  const workers = h.workerPids(m.pid);
  m.child.kill('SIGINT');
  assert.equal(await inFlight, 'ECONNRESET');
  await idle.closedPromise;
  assert.deepEqual(await m.exitPromise, { code: 0, signal: null });
  await p.waitGone(workers, EXIT_BOUND_MS);
});

test('when the master is killed with SIGKILL its workers exit by themselves and the run dir can be reused', async (t) => {
  const m = await h.startMosnd({ config: directConfig(), workers: 2 });
  t.after(() => m.kill());
  const workers = h.workerPids(m.pid);
  assert.equal(workers.length, 2);
  t.after(() => p.killAll(workers));
  m.child.kill('SIGKILL');
  await m.exitPromise;
  await p.waitGone(workers, EXIT_BOUND_MS);
  // The dead master's pidfile and socket are still there; a new start takes over.
  const again = await h.startMosnd({ configFile: m.configFile, runDir: m.runDir, workers: 1 });
  t.after(() => again.kill());
  assert.equal((await p.statusJson(m.runDir)).masterPid, again.pid);
  assert.equal((await h.request(again.ports.http)).status, 200);
});

test(`a worker that keeps dying is given up after ${CRASH_LOOP_LIMIT} restarts with MOSND_ERR_WORKER_CRASHLOOP; the other keeps serving`, async (t) => {
  const m = await h.startMosnd({ config: directConfig(), workers: 2 });
  t.after(() => m.kill());
  const [victim, survivor] = await statusWorkers(m.runDir);
  let pid = victim.pid;
  // Each death within the crash window counts; the one after the limit is not restarted.
  for (let restarts = 1; restarts <= CRASH_LOOP_LIMIT; restarts++) {
    process.kill(pid, 'SIGKILL');
    const next = await waitRespawned(m.runDir, victim.workerId, pid);
    assert.equal(next.restarts, restarts);
    pid = next.pid;
  }
  process.kill(pid, 'SIGKILL');
  const line = await m.waitForLog((l) => l.code === 'MOSND_ERR_WORKER_CRASHLOOP');
  assert.equal(line.workerId, victim.workerId - 1);
  assert.equal(line.worker, 'master', 'the line is the master\'s own');
  assert.equal(line.level, 'error');
  // A respawn, had one been scheduled, would come after at most the longest backoff there
  // is (the next one here would be 3.2 s): wait past that ceiling before looking.
  await p.sleep(RESPAWN_BACKOFF_MAX_MS + RESPAWN_MARGIN_MS);
  const ws = await statusWorkers(m.runDir);
  const failed = ws.find((w) => w.workerId === victim.workerId);
  assert.equal(failed.state, 'failed');
  assert.equal(failed.pid, 0);
  assert.deepEqual(h.workerPids(m.pid), [survivor.pid]);
  const still = ws.find((w) => w.workerId === survivor.workerId);
  assert.equal(still.pid, survivor.pid);
  assert.equal(still.restarts, 0);
  for (let i = 0; i < 5; i++) assert.equal((await h.request(m.ports.http)).status, 200);
});

test('a restarted worker that never reports ready is killed at the ready deadline and replaced', async (t) => {
  // The replacement stops itself (SIGSTOP) before it runs any mosnd code while this file
  // exists: it cannot have said ready, whatever the machine's load (freezing it from here
  // raced its ~150 ms start).
  const stopFile = path.join(h.tmpDir(), 'stop-at-start');
  const m = await h.startMosnd({
    config: directConfig(),
    workers: 2,
    env: { MOSND_WORKER_NODE_ARGS: `--require ${STOP_AT_START}`, MOSND_TEST_STOP_FILE: stopFile },
  });
  t.after(() => m.kill());
  const [victim, survivor] = await statusWorkers(m.runDir);
  fs.writeFileSync(stopFile, '');
  process.kill(victim.pid, 'SIGKILL');
  const stuck = await p.waitFor(
    () => h.workerPids(m.pid).find((x) => x !== victim.pid && x !== survivor.pid && p.isStopped(x)),
    RESPAWN_BOUND_MS,
    'the replacement stopped in its start',
  );
  t.after(() => p.killAll([stuck]));
  fs.rmSync(stopFile); // the next replacement starts normally
  // status answers with a worker wedged in its start (it is not asked for figures) and
  // shows it as not ready.
  const w = (await statusWorkers(m.runDir)).find((x) => x.pid === stuck);
  assert.equal(w?.state, 'spawning', JSON.stringify(w));
  // The ready deadline, not the watchdog (which watches ready workers only), ends it.
  const line = await m.waitForLog(
    (l) => l.msg === 'worker restart failed' && /was not ready within/.test(l.err ?? ''),
    WORKER_READY_TIMEOUT_MS + EXIT_BOUND_MS,
  );
  assert.equal(line.workerId, victim.workerId - 1);
  await p.waitGone([stuck], EXIT_BOUND_MS);
  const next = await waitRespawned(m.runDir, victim.workerId, stuck);
  assert.equal(next.restarts, 2, 'the kill and the ready deadline each restarted the slot');
  assert.equal((await h.request(m.ports.http)).status, 200);
});

test('a fast stop during a graceful stop cuts the connections at once instead of waiting for graceful_timeout', async (t) => {
  const up = await gatedUpstream(t); // never released
  const m = await h.proxyTo(t, up.address, { route: { timeout: '60s' }, server: { graceful_timeout: '60s' }, workers: 2 });
  const stuck = h.request(m.ports.http, { timeoutMs: 30_000 }).then(
    (r) => `answered ${r.status}`,
    (e) => e.code ?? e.message,
  );
  await p.waitFor(() => up.arrived.length === 1, 5_000, 'request at the upstream');
  m.child.kill('SIGTERM');
  await m.waitForLog((l) => l.msg === 'graceful stop');
  // The impatient operator: Ctrl-C, then `mosnd stop --fast` would do the same.
  m.child.kill('SIGINT');
  assert.equal(await p.within(stuck, 20_000, 'still waiting'), 'ECONNRESET');
  assert.deepEqual(await p.within(m.exitPromise, 20_000, 'still running'), { code: 0, signal: null });
});
