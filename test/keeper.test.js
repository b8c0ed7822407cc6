'use strict';
/**
 * The container keeper: as PID 1 (simulated with MOSND_KEEPER=1) the first master stays
 * after handing over, forwards signals to the serving master and exits when it stops.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');

test('the first master stays as keeper after upgrades, forwards signals, and exits with the service', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end('ok'));
  t.after(() => up.close());
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'web' } }],
      clusters: [h.cluster('web', [up.address])],
    }),
    env: { MOSND_KEEPER: '1' },
  });
  const seen = new Set([m.pid]);
  t.after(async () => {
    for (const pid of [...seen, h.servingPid(m.runDir)]) {
      try {
        if (pid > 0) process.kill(pid, 'SIGKILL');
      } catch {}
    }
  });
  const install = h.makeInstall();
  for (const dir of [install, h.ROOT]) {
    const r = await h.runCli(['upgrade', '--binary', dir, '--run-dir', m.runDir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    seen.add(h.servingPid(m.runDir));
  }
  await h.waitFor(() => m.logs.some((l) => /keeper of this container/.test(l.msg ?? '')), 'the keeper to start');
  assert.equal(m.exited, null, 'the first master is still running');
  const serving = h.servingPid(m.runDir);
  assert.notEqual(serving, m.pid);
  assert.equal((await h.request(m.ports.http)).status, 200);

  // HUP to the keeper reaches the serving master as a reload.
  process.kill(m.pid, 'SIGHUP');
  await m.waitForLog((l) => l.pid === serving && l.msg === 'reload applied');

  // TERM to the keeper stops the service, then the keeper exits cleanly.
  process.kill(m.pid, 'SIGTERM');
  const exit = await m.exitPromise;
  assert.equal(exit.code, 0);
  await h.waitFor(() => !h.isAlive(serving), 'the serving master to stop');
});
