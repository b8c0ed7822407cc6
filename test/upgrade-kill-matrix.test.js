'use strict';
/**
 * kill -9 at each step of an upgrade. Each test runs a real master, kills one process of the
 * upgrade at one exact step, and checks that afterwards exactly one generation serves, that
 * no connection that had moved is lost, and that `mosnd status` tells the truth (its process
 * list is every process left of the test). The step is hit exactly with the test hook
 * MOSND_TEST_KILL_AT (src/transfer/test-hooks.ts: the process SIGKILLs itself there), or, for
 * the kills after commit, by the test once the upgrade's progress says connections moved.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./helpers/mosnd');
const u = require('./helpers/upgrade');
const { httpLoad, tcpStreams, loadUnderWay, stopLoadIntact } = require('./helpers/load');

/** A smaller load than upgrade-failures.test.js: each test stays a few seconds. */
const HTTP_CLIENTS = 8;
const TCP_STREAMS = 2;
/** Killed processes disappear, orphans hand back and exit, old workers finish, within this. */
const GONE_WAIT_MS = 10_000;
async function setup(t, { killAt, workers = 1, load = true } = {}) {
  // /held: the request that keeps an old worker busy, so that its generation is still handing
  // over when a master dies. The upstream says when it has it (the old worker has read and
  // forwarded it: it is in flight there, not movable) and answers when the test releases it.
  let heldArrived;
  const heldInFlight = new Promise((resolve) => (heldArrived = resolve));
  let releaseHeld;
  const held = new Promise((resolve) => (releaseHeld = resolve));
  const up = await h.startHttpUpstream((req, res) => {
    if (req.url === '/held') {
      heldArrived();
      held.then(() => res.end('held'));
    } else res.end('ok');
  });
  const echo = await h.startEchoServer();
  const mark = u.processMark();
  const env = { ...mark.env, ...(killAt ? { MOSND_TEST_KILL_AT: killAt } : {}) };
  const config = h.proxyConfig({
    routes: [{ match: { prefix: '/' }, route: { cluster_name: 'web' } }],
    clusters: [h.cluster('web', [up.address]), h.cluster('echo', [echo.address])],
    listeners: [h.httpListener('http', 'r'), h.tcpListener('tcp', 'echo')],
  });
  const m = await h.startMosnd({ config, workers, env });
  const idle = { stats: { ok: 0, received: 0 }, stop: async () => ({ errors: [], failed: 0, connects: 0, mismatches: 0, sent: 0, received: 0 }) };
  const web = load ? httpLoad(m.ports.http, { clients: HTTP_CLIENTS }) : idle;
  const streams = load ? tcpStreams(m.ports.tcp, { streams: TCP_STREAMS }) : idle;
  const clis = [];
  t.after(async () => {
    releaseHeld();
    for (const run of clis) run.child.kill('SIGKILL');
    await Promise.race([Promise.all([web.stop(), streams.stop()]), h.sleep(5_000)]);
    await h.runCli(['stop', '--fast', '--run-dir', m.runDir], { timeoutMs: 10_000 }).catch(() => {});
    await h.waitFor(() => mark.pids().length === 0, 'processes to exit', 3_000).catch(() => {});
    mark.killAll();
    await up.close();
    await echo.close();
    for (const dir of [m.runDir, path.dirname(m.configFile)]) fs.rmSync(dir, { recursive: true, force: true });
  });
  if (load) await loadUnderWay(h, web, streams, HTTP_CLIENTS);
  return {
    m,
    mark,
    web,
    streams,
    heldInFlight,
    releaseHeld,
    upgradeStream() {
      const run = u.streamCli(['upgrade', '--binary', h.ROOT, '--run-dir', m.runDir]);
      clis.push(run);
      return run;
    },
  };
}

async function status(runDir) {
  const r = await h.runCli(['status', '--json', '--run-dir', runDir]);
  assert.equal(r.code, 0, `status failed: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** The load lost nothing: every request answered 200 on its first connection, every byte echoed. */
async function assertLoadUnharmed(ctx) {
  const before = ctx.web.stats.ok;
  const bytesBefore = ctx.streams.stats.received;
  await h.waitFor(
    () => ctx.web.stats.ok > before && ctx.streams.stats.received > bytesBefore,
    'the load to be served after the kill',
  );
  await stopLoadIntact(ctx.web, ctx.streams, { clients: HTTP_CLIENTS });
}

/** `mosnd status` names generation `gen`, serving, and exactly the processes left of the test
 *  (once killed, orphaned and drained processes are gone). */
async function assertStatusTruthful(ctx, gen) {
  let st;
  await h.waitFor(async () => {
    st = await status(ctx.m.runDir);
    const listed = st.processes.map((p) => p.pid).sort();
    return st.generation === gen && JSON.stringify(listed) === JSON.stringify(ctx.mark.pids().sort());
  }, `status to list generation ${gen} and exactly the processes that run`, GONE_WAIT_MS);
  assert.equal(st.state, 'serving');
  assert.equal(h.servingPid(ctx.m.runDir), st.masterPid, 'the pidfile names the serving master');
  for (const p of st.processes) assert.equal(p.state === 'draining', false, `no process is left draining: ${JSON.stringify(p)}`);
  // Every listener is served, by fresh connections too.
  assert.equal((await h.request(ctx.m.ports.http, { path: '/after' })).status, 200);
  const echoed = await h.rawExchange(ctx.m.ports.tcp, Buffer.from('ping'), { endAfterWrite: true });
  assert.equal(echoed.data, 'ping', 'the tcp_proxy listener echoes');
  return st;
}

/** The new master dies at `step`, before it could serve: the upgrade fails with its exit. */
async function killNewMasterBeforeServing(t, step) {
  const ctx = await setup(t, { killAt: `new-master:${step}` });
  const r = await h.runCli(['upgrade', '--binary', h.ROOT, '--run-dir', ctx.m.runDir]);
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stderr, /the new master exited \(SIGKILL\) \[MOSND_ERR_UPGRADE_FAILED\]/);
  await assertLoadUnharmed(ctx);
  const st = await assertStatusTruthful(ctx, 1);
  assert.equal(st.masterPid, ctx.m.pid);
  assert.equal(st.lastUpgrade.result, 'failed');
  assert.equal(fs.readdirSync(ctx.m.runDir).filter((f) => /^(upgrade|xfer-|return-)/.test(f)).length, 0, 'no handover socket is left');
}

/** An upgrade of a master holding 4 idle keep-alive clients, with `killAt` armed: it must succeed. */
async function upgradeOverIdleClients(t, killAt) {
  const ctx = await setup(t, { killAt, load: false });
  const clients = await idleClients(ctx, 4);
  const r = await h.runCli(['upgrade', '--binary', h.ROOT, '--run-dir', ctx.m.runDir]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return { ctx, clients };
}

/** Afterwards the new generation alone serves, and status lists exactly what runs. */
async function assertNewGenerationServes(ctx) {
  const st = await assertStatusTruthful(ctx, 2);
  assert.notEqual(st.masterPid, ctx.m.pid);
}

test('the new master killed right after its hello leaves the old generation serving, the load unharmed', async (t) => {
  await killNewMasterBeforeServing(t, 'hello');
});

test('the new master killed right after receiving the listeners leaves the old generation serving, the load unharmed', async (t) => {
  await killNewMasterBeforeServing(t, 'listeners');
});

test('the new master killed right after ready leaves the old generation serving, the load unharmed', async (t) => {
  await killNewMasterBeforeServing(t, 'ready');
});

test('the new master killed after commit, with connections moved, gets them handed back: the old generation serves them all', async (t) => {
  const ctx = await setup(t);
  // Busy in the old worker from before the upgrade: its generation is still handing over when
  // the new master dies. (Sent after `ready:`, the request raced the commit: when the worker had
  // not read it yet, its connection was idle and moved, and no `moving:` line came.)
  const busy = await u.keepAliveClient(ctx.m.ports.http);
  const busyAnswer = busy.get('/held');
  await ctx.heldInFlight;
  const run = ctx.upgradeStream();
  await run.waitOutput(/moving: [1-9]\d* connections moved/);
  const [newMaster] = u.newMasterPids(ctx.m.runDir);
  assert.ok(newMaster, 'the new master runs');
  process.kill(newMaster, 'SIGKILL');
  ctx.releaseHeld();

  const r = await run.done;
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stderr, /the new master exited \(SIGKILL\) during the handover/);
  await assertLoadUnharmed(ctx);
  assert.equal((await busyAnswer).status, 200);
  assert.equal((await busy.get('/again')).status, 200, 'the busy connection is served on in the old generation');
  busy.destroy();
  const st = await assertStatusTruthful(ctx, 1);
  assert.equal(st.masterPid, ctx.m.pid);
  assert.equal(st.lastUpgrade.result, 'failed');
});

test('the old master killed after commit leaves the new generation serving every connection, and the CLI says so', async (t) => {
  const ctx = await setup(t);
  const busy = await u.keepAliveClient(ctx.m.ports.http);
  const busyAnswer = busy.get('/held');
  await ctx.heldInFlight;
  const run = ctx.upgradeStream();
  await run.waitOutput(/moving: [1-9]\d* connections moved/);
  process.kill(ctx.m.pid, 'SIGKILL');
  ctx.releaseHeld();

  const r = await run.done;
  await assertLoadUnharmed(ctx);
  assert.equal((await busyAnswer).status, 200, 'the orphaned old worker finishes its request');
  assert.equal((await busy.get('/again')).status, 200, 'then the connection moves and is served on');
  busy.destroy();
  await assertNewGenerationServes(ctx);
  assert.equal(r.code, 0, `the upgrade succeeded: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout + r.stderr, /done: the old master \(pid \d+\) exited after commit; generation 2 serves/);
});

/** Idle keep-alive clients: all movable at once, so they move in the first batch. */
async function idleClients(ctx, n) {
  const clients = [];
  for (let i = 0; i < n; i++) {
    const c = await u.keepAliveClient(ctx.m.ports.http);
    assert.equal((await c.get('/')).status, 200);
    clients.push(c);
  }
  return clients;
}

test('an old worker killed mid-move, right after a batch moved: the moved connections are served on by the new generation', async (t) => {
  const { ctx, clients } = await upgradeOverIdleClients(t, 'old-worker:released');
  for (const c of clients) {
    assert.equal((await c.get('/moved')).status, 200, 'a moved connection is served on');
    c.destroy();
  }
  await assertNewGenerationServes(ctx);
});

test('an old worker killed between the ack and its released: the new worker sees it dead and serves the batch', async (t) => {
  // The one window where a batch has no owner but the new worker's unread copies: they were
  // dropped before (the README's known limit), losing every connection of the batch.
  const { ctx, clients } = await upgradeOverIdleClients(t, 'old-worker:acked');
  for (const c of clients) {
    const answer = await Promise.race([c.get('/moved').then((x) => x.status, (e) => e.message), h.sleep(GONE_WAIT_MS).then(() => 'no answer')]);
    assert.equal(answer, 200, 'a connection of the batch is served on');
    c.destroy();
  }
  await assertNewGenerationServes(ctx);
});

test('a new worker killed mid-move, before it acknowledged a batch: the old worker keeps those connections, and one generation serves after', async (t) => {
  const { ctx, clients } = await upgradeOverIdleClients(t, 'new-worker:conns');
  // The batch was taken back and finished in the old worker: a clean close (FIN) at a request
  // boundary, never a reset, and every request sent was answered.
  for (const c of clients) {
    const closed = await Promise.race([c.closed, h.sleep(GONE_WAIT_MS).then(() => 'still open')]);
    assert.deepEqual(closed, { error: null }, 'closed with FIN, not reset');
  }
  await assertNewGenerationServes(ctx);
});
