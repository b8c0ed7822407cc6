'use strict';
/**
 * During an upgrade `mosnd status` (answered by the new master) shows the old generation's
 * workers with what they really hold: their connections and requests come from the old
 * master, which their reports reach, not from the new one.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./helpers/mosnd');
const { streamCli } = require('./helpers/upgrade');
const { ControlClient } = require('../dist/shared/control-client');

async function statusJson(m) {
  const r = await m.cli(['status', '--json']);
  assert.ok(r.code === 0 || r.code === 4, r.stderr);
  return JSON.parse(r.stdout);
}

const oldWorkers = (st, generation) => st.processes.filter((p) => p.role === 'worker' && p.generation === generation);

test('status during an upgrade shows the old generation\'s worker with the request it still finishes and the requests it served', async (t) => {
  const { up, release } = await h.heldUpstream(t);
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', timeout: '60s' } }],
      clusters: [h.cluster('c', [up.address])],
      server: { graceful_timeout: '30s' },
    }),
  });
  t.after(() => m.kill());
  const served = 3;
  for (let i = 0; i < served; i++) assert.equal((await h.request(m.ports.http)).status, 200);
  const before = await statusJson(m);
  const [worker] = oldWorkers(before, 1);
  // A request in flight stays in the old worker until it is answered (it is not moved).
  const slow = h.request(m.ports.http, { path: '/slow', timeoutMs: 30_000 });
  await h.waitFor(() => up.requests === served + 1, 'the held request reached the upstream');

  const upgrade = streamCli(['upgrade', '--binary', h.ROOT, '--run-dir', m.runDir]);
  t.after(() => upgrade.child.kill('SIGKILL'));
  await upgrade.waitOutput(/committed: /);
  let row;
  await h.waitFor(async () => {
    const st = await statusJson(m);
    assert.equal(st.generation, 2, 'the new master answers');
    row = oldWorkers(st, 1).find((p) => p.pid === worker.pid);
    return row !== undefined && row.connections > 0;
  }, 'the old worker shown with its connection', 15_000, 200);
  assert.equal(row.state, 'draining');
  assert.equal(row.connections, 1, 'the held request\'s connection, nothing else');
  assert.equal(row.requestsTotal, served + 1, 'the answered requests and the held one (counted as it arrived)');
  // The old master's own socket answers Status only: driving the service is the serving
  // generation's business, so a stop sent there is refused and the drain goes on.
  const oldControl = new ControlClient(path.join(m.runDir, 'control-1.sock'));
  try {
    await assert.rejects(oldControl.stop(false), { code: 'MOSND_ERR_CONTROL', message: /handing over/ });
  } finally {
    oldControl.close();
  }

  release();
  const answer = await slow;
  assert.equal(answer.status, 200);
  assert.equal(answer.body.toString(), 'slow');
  const done = await upgrade.done;
  assert.equal(done.code, 0, done.stdout + done.stderr);
  assert.deepEqual(oldWorkers(await statusJson(m), 1), [], 'the old generation is gone from status once it exited');
  assert.ok(!fs.existsSync(path.join(m.runDir, 'control-1.sock')), 'the old master removed its status socket');
});
