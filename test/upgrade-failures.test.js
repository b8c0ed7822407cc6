'use strict';
/**
 * Upgrades that fail or are disturbed never break service. Each test runs a real master
 * under continuous load (8 keep-alive HTTP clients and 2 tcp_proxy echo streams, strict
 * accounting: no failed request, no reconnect, every byte echoed), breaks an upgrade in one
 * way (a broken install, a bad config, workers that are never ready, a second upgrade, a
 * SIGKILL of either master) and checks that exactly one generation serves afterwards and
 * that no process of a failed generation is left behind.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const h = require('./helpers/mosnd');
const u = require('./helpers/upgrade');
const { httpLoad, tcpStreams, loadUnderWay, stopLoadIntact } = require('./helpers/load');

/** Keep-alive HTTP clients and tcp_proxy streams of the background load (the brief: ~8 and 2). */
const HTTP_CLIENTS = 8;
const TCP_STREAMS = 2;
/** How long the old generation's workers may take to exit after a handover, or a killed
 *  generation's processes to disappear. */
const GONE_WAIT_MS = 10_000;
/** The slow upstream request of the old-master-killed test: still in flight when the
 *  old master is killed right after commit. */
const SLOW_RESPONSE_MS = 2_000;

function baseConfig(up, echo, extra = {}) {
  return h.proxyConfig({
    routes: [{ match: { prefix: '/' }, route: { cluster_name: 'web' } }],
    clusters: [h.cluster('web', [up.address]), h.cluster('echo', [echo.address])],
    listeners: [h.httpListener('http', 'r'), h.tcpListener('tcp', 'echo')],
    ...extra,
  });
}

/**
 * A serving master with upstreams and the background load. Registers a cleanup that stops
 * the load, stops whatever generation serves the run dir and SIGKILLs every process left
 * with this test's mark.
 */
async function setup(t, { workers = 1, load = true, server } = {}) {
  const holds = new Map();
  /** The hold of /hold/<name>: `arrived` resolves when that request reaches the upstream,
   *  its answer ('held') waits for `release()`. */
  const hold = (name) => {
    if (!holds.has(name)) {
      const x = {};
      x.arrived = new Promise((r) => (x.arrive = r));
      x.released = new Promise((r) => (x.release = r));
      holds.set(name, x);
    }
    return holds.get(name);
  };
  const up = await h.startHttpUpstream((req, res) => {
    // /slow answers after SLOW_RESPONSE_MS, or after ?ms=N; /hold/<name> when the test says.
    const ms = /^\/slow(?:\?ms=(\d+))?/.exec(req.url);
    const held = /^\/hold\/(\w+)/.exec(req.url);
    if (ms) setTimeout(() => res.end('slow'), ms[1] ? Number(ms[1]) : SLOW_RESPONSE_MS);
    else if (held) {
      hold(held[1]).arrive();
      hold(held[1]).released.then(() => res.end('held'));
    } else res.end('ok');
  });
  const echo = await h.startEchoServer();
  const mark = u.processMark();
  const m = await h.startMosnd({ config: baseConfig(up, echo, server ? { server } : {}), workers, env: mark.env });
  const idle = { stats: { ok: 0, received: 0 }, stop: async () => ({}) };
  const web = load ? httpLoad(m.ports.http, { clients: HTTP_CLIENTS }) : idle;
  const streams = load ? tcpStreams(m.ports.tcp, { streams: TCP_STREAMS }) : idle;
  const ctx = {
    up,
    echo,
    hold,
    mark,
    m,
    web,
    streams,
    /** Temporary dirs (installs, configs): processes running from them are killed, then they are removed. */
    dirs: [],
    loops: [],
    clis: [],
    /** Fresh connections in a loop, stopped by the cleanup if the test fails first. */
    connectLoop() {
      const loop = u.connectLoop(m.ports.http);
      ctx.loops.push(loop);
      return loop;
    },
    /** `mosnd upgrade` with streamed output, killed by the cleanup if still running. */
    upgradeStream(dir) {
      const run = u.streamCli(['upgrade', '--binary', dir, '--run-dir', m.runDir]);
      ctx.clis.push(run);
      return run;
    },
  };
  t.after(async () => {
    for (const x of holds.values()) x.release();
    for (const run of ctx.clis) run.child.kill('SIGKILL');
    await Promise.race([Promise.all([web.stop(), streams.stop(), ...ctx.loops.map((l) => l.stop())]), h.sleep(5_000)]);
    await h.runCli(['stop', '--fast', '--run-dir', m.runDir], { timeoutMs: 10_000 }).catch(() => {});
    await h.waitFor(() => mark.pids().length === 0, 'processes to exit', 3_000).catch(() => {});
    mark.killAll();
    for (const pid of [m.pid, h.servingPid(m.runDir)]) {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {}
    }
    for (const dir of ctx.dirs) {
      for (const p of u.pidsWithCmdline(dir)) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {}
      }
    }
    await up.close();
    await echo.close();
    for (const dir of [...ctx.dirs, m.runDir, path.dirname(m.configFile)]) fs.rmSync(dir, { recursive: true, force: true });
  });
  if (load) await loadUnderWay(h, ctx.web, ctx.streams, HTTP_CLIENTS);
  return ctx;
}

/** A second install, recorded for cleanup. */
function install(ctx, mutate) {
  const dir = h.makeInstall(mutate);
  ctx.dirs.push(dir);
  return dir;
}

/** A config file, recorded for cleanup. */
function writeTempConfig(ctx, config) {
  const file = h.writeConfig(config);
  ctx.dirs.push(path.dirname(file));
  return file;
}

/** An install whose worker entry runs `prelude` before (or instead of) the real worker code. */
function workerPrelude(prelude, keepOriginal) {
  return (dir) => {
    const file = path.join(dir, 'dist', 'worker', 'main.js');
    fs.writeFileSync(file, prelude + '\n' + (keepOriginal ? fs.readFileSync(file, 'utf8') : ''));
  };
}

/** Worker code that holds back its `ready` message until the file `ready.gate` appears in
 *  its install dir: the test decides when the upgrade may go on (openGate), however slow the
 *  machine is. */
const GATE_POLL_MS = 25;
function gatedReady(dir) {
  const gate = JSON.stringify(path.join(dir, 'ready.gate'));
  workerPrelude(
    `{ const send = process.send.bind(process);
       process.send = (m, ...rest) => {
         if (!m || m.t !== 'ready') return send(m, ...rest);
         const t = setInterval(() => { if (require('fs').existsSync(${gate})) { clearInterval(t); send(m, ...rest); } }, ${GATE_POLL_MS});
         return true;
       }; }`,
    true,
  )(dir);
}
function openGate(dir) {
  fs.writeFileSync(path.join(dir, 'ready.gate'), '');
}

async function status(runDir) {
  const r = await h.runCli(['status', '--json', '--run-dir', runDir]);
  assert.equal(r.code, 0, `status failed: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout);
}

function upgrade(runDir, dir, extra = []) {
  return h.runCli(['upgrade', '--binary', dir, '--run-dir', runDir, ...extra]);
}

/** Stops the load and asserts that every request was answered 200 on its first connection
 *  and every byte came back, and that requests went on while `during()` ran. */
async function assertServedThroughout(ctx, during) {
  const before = ctx.web.stats.ok;
  const bytesBefore = ctx.streams.stats.received;
  const result = await during();
  // Served after it too: more answers and bytes come (waited for, not sampled after a sleep).
  const okAfter = ctx.web.stats.ok;
  const bytesAfter = ctx.streams.stats.received;
  await h.waitFor(() => ctx.web.stats.ok > okAfter && ctx.streams.stats.received > bytesAfter, 'the load served after the upgrade attempt', GONE_WAIT_MS);
  assert.ok(ctx.web.stats.ok > before, 'HTTP requests were answered during and after the upgrade attempt');
  assert.ok(ctx.streams.stats.received > bytesBefore, 'TCP streams moved bytes during and after the upgrade attempt');
  await stopLoadIntact(ctx.web, ctx.streams, { clients: HTTP_CLIENTS, streams: TCP_STREAMS });
  return result;
}

/** The old generation still serves: same master, same generation, pidfile unchanged. */
async function assertOldServes(ctx) {
  const st = await status(ctx.m.runDir);
  assert.equal(st.generation, 1, 'the generation number did not change');
  assert.equal(st.masterPid, ctx.m.pid);
  assert.equal(st.state, 'serving');
  assert.equal(h.servingPid(ctx.m.runDir), ctx.m.pid);
  assert.equal(ctx.m.exited, null, 'the old master still runs');
  const r = await h.request(ctx.m.ports.http, { path: '/check' });
  assert.equal(r.status, 200);
  return st;
}

/** No process of the failed generation is left: nothing runs from its install dir, no new master. */
async function assertNoNewGeneration(ctx, dir) {
  await h.waitFor(
    () => u.pidsWithCmdline(dir).length === 0 && u.newMasterPids(ctx.m.runDir).length === 0,
    `processes of ${dir} to be gone (left: ${u.pidsWithCmdline(dir).join(',')})`,
    GONE_WAIT_MS,
  );
}

test('a broken new install is refused with its reason, the old generation serves on, and a later good upgrade works', async (t) => {
  const ctx = await setup(t);
  const broken = [
    {
      what: 'a CLI that throws when loaded',
      dir: install(ctx, (d) => fs.writeFileSync(path.join(d, 'dist', 'master', 'cli.js'), "throw new Error('boom');\n")),
      expect: /MOSND_ERR_UPGRADE_FAILED/,
      reason: /the new master exited \(code 1\)/,
    },
    {
      what: 'a worker that exits at once',
      dir: install(ctx, workerPrelude('process.exit(3);', false)),
      expect: /MOSND_ERR_UPGRADE_FAILED/,
      reason: /worker 0 failed to start: exited with code 3/,
    },
    {
      what: 'no dist/',
      dir: install(ctx, (d) => fs.rmSync(path.join(d, 'dist'), { recursive: true })),
      expect: /MOSND_ERR_UPGRADE_BINARY/,
      reason: /not built/,
    },
  ];
  await assertServedThroughout(ctx, async () => {
    for (const b of broken) {
      const r = await upgrade(ctx.m.runDir, b.dir);
      assert.notEqual(r.code, 0, `${b.what}: the upgrade must fail: ${r.stdout}`);
      assert.match(r.stderr, b.expect, b.what);
      assert.match(r.stderr, b.reason, b.what);
      await assertNoNewGeneration(ctx, b.dir);
      const st = await assertOldServes(ctx);
      assert.equal(st.lastUpgrade.result, 'failed');
    }
  });
  assert.equal(fs.existsSync(path.join(ctx.m.runDir, 'upgrade.sock')), false, 'no handover socket is left in the run dir');

  const good = await upgrade(ctx.m.runDir, install(ctx));
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /done: upgraded to generation 2/);
  const st = await status(ctx.m.runDir);
  assert.equal(st.generation, 2);
  assert.notEqual(st.masterPid, ctx.m.pid);
  assert.equal(h.servingPid(ctx.m.runDir), st.masterPid);
  assert.equal((await h.request(ctx.m.ports.http)).status, 200);
});

test('a new config that is invalid or cannot bind is refused with the reason and nothing moves', async (t) => {
  const ctx = await setup(t);
  const bad = writeTempConfig(
    ctx,
    h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'web' } }],
      clusters: [h.cluster('web', [ctx.up.address])],
      listeners: [{ name: 'http', bind_port: true, filter_chains: [] }],
    }),
  );
  // Valid, but adds a listener on an address someone else holds.
  const taken = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => taken.once('listening', r));
  t.after(() => taken.close());
  const busy = writeTempConfig(
    ctx,
    baseConfig(ctx.up, ctx.echo, {
      listeners: [h.httpListener('http', 'r'), h.tcpListener('tcp', 'echo'), h.httpListener('extra', 'r', taken.address().port)],
    }),
  );
  const [invalid, unbindable] = await assertServedThroughout(ctx, async () => [
    await upgrade(ctx.m.runDir, h.ROOT, ['--config', bad]),
    await upgrade(ctx.m.runDir, h.ROOT, ['--config', busy]),
  ]);
  assert.notEqual(invalid.code, 0, invalid.stdout);
  assert.match(invalid.stderr, /MOSND_ERR_UPGRADE_FAILED/);
  assert.match(invalid.stderr, /listeners\[0\]\.address/, `the error names the bad field: ${invalid.stderr}`);
  assert.doesNotMatch(invalid.stdout, /committed|moving/);
  assert.notEqual(unbindable.code, 0, unbindable.stdout);
  assert.match(unbindable.stderr, /MOSND_ERR_UPGRADE_FAILED/);
  assert.match(unbindable.stderr, new RegExp(`EADDRINUSE|${taken.address().port}`), `the error names the busy address: ${unbindable.stderr}`);
  assert.doesNotMatch(unbindable.stdout, /committed|moving/);
  await assertOldServes(ctx);
  assert.deepEqual(u.newMasterPids(ctx.m.runDir), []);
});

test('a new generation not ready within --timeout fails the upgrade and is killed while the old generation keeps accepting', async (t) => {
  const ctx = await setup(t);
  const cases = [
    { what: 'workers that never say ready', dir: install(ctx, workerPrelude("process.on('message', () => {});", false)) },
    {
      what: 'a new master that never connects',
      dir: install(ctx, (d) => fs.writeFileSync(path.join(d, 'dist', 'master', 'cli.js'), 'exports.main = () => setInterval(() => {}, 1000);\n')),
    },
  ];
  const fresh = ctx.connectLoop();
  await assertServedThroughout(ctx, async () => {
    for (const c of cases) {
      const started = Date.now();
      const r = await upgrade(ctx.m.runDir, c.dir, ['--timeout', '500ms']);
      const took = Date.now() - started;
      assert.notEqual(r.code, 0, `${c.what}: ${r.stdout}`);
      assert.match(r.stderr, /MOSND_ERR_UPGRADE_FAILED/, c.what);
      assert.match(r.stderr, /within 500 ms/, `${c.what}: the reason names the timeout`);
      // The CLI itself takes ~0.5 s to load on a busy machine; the other waits are 15 s and more.
      assert.ok(took < 5_000, `${c.what}: the upgrade gave up at its --timeout, not later (${took} ms)`);
      await assertNoNewGeneration(ctx, c.dir);
      await assertOldServes(ctx);
    }
  });
  const freshStats = await fresh.stop();
  assert.deepEqual(freshStats.errors, [], 'every new connection was accepted and answered');
  assert.ok(freshStats.ok > 0);
});

test('a second upgrade while one runs is refused as busy and the first one still succeeds', async (t) => {
  const ctx = await setup(t);
  const dir = install(ctx, gatedReady);
  const other = install(ctx);
  const fresh = ctx.connectLoop();
  await assertServedThroughout(ctx, async () => {
    const first = ctx.upgradeStream(dir);
    await first.waitOutput(/listeners: /);
    const second = await upgrade(ctx.m.runDir, other);
    assert.notEqual(second.code, 0, second.stdout);
    assert.match(second.stderr, /MOSND_ERR_UPGRADE_BUSY/);
    assert.deepEqual(u.pidsWithCmdline(other), [], 'the refused upgrade started nothing');
    const st = await status(ctx.m.runDir);
    assert.equal(st.generation, 1, 'the old generation serves while the first upgrade waits');
    assert.notEqual(st.lastUpgrade.result, 'failed', 'a refused request is not a failed upgrade');
    openGate(dir);
    const r = await first.done;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /done: upgraded to generation 2/);
  });
  const freshStats = await fresh.stop();
  assert.deepEqual(freshStats.errors, [], 'every new connection was accepted and answered');
  const st = await status(ctx.m.runDir);
  assert.equal(st.generation, 2);
  assert.equal(h.servingPid(ctx.m.runDir), st.masterPid);
  await h.waitFor(() => !h.isAlive(ctx.m.pid) || ctx.m.exited, 'the old master to exit', GONE_WAIT_MS);
});

test('a SIGKILL of the new master before it is ready fails the upgrade and the old generation serves on', async (t) => {
  const ctx = await setup(t);
  const dir = install(ctx, gatedReady); // never opened: its workers never say ready
  const fresh = ctx.connectLoop();
  const r = await assertServedThroughout(ctx, async () => {
    const run = ctx.upgradeStream(dir);
    await run.waitOutput(/listeners: /);
    const pids = u.newMasterPids(ctx.m.runDir);
    assert.equal(pids.length, 1, 'one new master runs');
    // The new worker holds the listeners (not accepting) and listens for connections.
    await h.waitFor(() => fs.existsSync(path.join(ctx.m.runDir, 'xfer-2-0.sock')), 'the new worker to hold the sockets');
    process.kill(pids[0], 'SIGKILL');
    return run.done;
  });
  const freshStats = await fresh.stop();
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stderr, /MOSND_ERR_UPGRADE_FAILED/);
  assert.match(r.stderr, /the new master exited \(SIGKILL\)/);
  await assertNoNewGeneration(ctx, dir);
  await assertOldServes(ctx);
  assert.deepEqual(freshStats.errors, [], 'every new connection was accepted and answered');
  // What the killed generation left in the run dir does not block the next upgrade.
  const good = await upgrade(ctx.m.runDir, h.ROOT);
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.equal((await status(ctx.m.runDir)).generation, 2);
});

test('a SIGKILL of the old master mid-handover leaves exactly one generation serving and the clients unharmed', async (t) => {
  const ctx = await setup(t, { workers: 2 });
  const dir = install(ctx);
  const before = await status(ctx.m.runDir);
  const oldWorkers = before.processes.filter((p) => p.role === 'worker').map((p) => p.pid);

  // One held request keeps an old worker busy until after the kill (its connection moves
  // once answered).
  const slow = net.connect(ctx.m.ports.http, '127.0.0.1');
  await new Promise((r) => slow.once('connect', r));
  let answers = '';
  slow.on('data', (d) => (answers += d.toString('latin1')));
  slow.write('GET /hold/slow HTTP/1.1\r\nHost: t\r\n\r\n');
  await ctx.hold('slow').arrived;

  let run;
  await assertServedThroughout(ctx, async () => {
    run = ctx.upgradeStream(dir);
    await run.waitOutput(/committed: /);
    process.kill(ctx.m.pid, 'SIGKILL');
    await ctx.m.exitPromise;
    assert.equal(answers, '', 'the request is still in flight when the old master dies');
    ctx.hold('slow').release();
    // The held answer comes from the orphaned old worker; the connection then moves.
    await h.waitFor(() => /held$/.test(answers), 'the held answer', GONE_WAIT_MS);
    await h.waitFor(() => oldWorkers.every((p) => !u.running(p)), 'the old workers to finish and exit', GONE_WAIT_MS);
  });
  assert.match(answers, /^HTTP\/1\.1 200 /);
  answers = '';
  slow.write('GET /after HTTP/1.1\r\nHost: t\r\n\r\n');
  await h.waitFor(() => /\r\n\r\nok$/.test(answers), 'an answer on the moved connection');
  slow.destroy();
  await run.done;

  const st = await status(ctx.m.runDir);
  assert.equal(st.generation, 2);
  assert.notEqual(st.masterPid, ctx.m.pid);
  assert.equal(h.servingPid(ctx.m.runDir), st.masterPid, 'the pidfile names the new master');
  assert.deepEqual(u.newMasterPids(ctx.m.runDir), [st.masterPid]);
  const live = ctx.mark.pids().sort();
  const expected = st.processes.map((p) => p.pid).sort();
  assert.deepEqual(live, expected, 'the only processes left are those of the new generation');

  const stop = await h.runCli(['stop', '--run-dir', ctx.m.runDir]);
  assert.equal(stop.code, 0, stop.stdout + stop.stderr);
  await h.waitFor(() => ctx.mark.pids().length === 0, 'every process to exit after stop', GONE_WAIT_MS);
  await h.waitFor(() => !fs.existsSync(path.join(ctx.m.runDir, 'mosnd.pid')), 'the pidfile to be removed');
  const left = fs.readdirSync(ctx.m.runDir).filter((f) => f !== 'mosnd.out');
  assert.deepEqual(left, [], 'nothing is left in the run dir');
});

test('a SIGKILL of the old master before commit lets the new generation commit by itself, and every new connection is served', async (t) => {
  // No keep-alive load: the old workers lose their master before they were told where to
  // move their connections, so they drain them (closed at request boundaries). New
  // connections wait in the accept queue of the socket the new generation holds.
  const ctx = await setup(t, { load: false });
  const dir = install(ctx, gatedReady);
  const before = await status(ctx.m.runDir);
  const fresh = ctx.connectLoop();
  const run = ctx.upgradeStream(dir);
  await run.waitOutput(/listeners: /);
  const [newMaster] = u.newMasterPids(ctx.m.runDir);
  assert.ok(newMaster, 'the new master runs');
  process.kill(ctx.m.pid, 'SIGKILL');
  await ctx.m.exitPromise;
  openGate(dir); // only now may the new workers say ready
  await run.done;

  await h.waitFor(() => h.servingPid(ctx.m.runDir) === newMaster, 'the new master to take the pidfile', GONE_WAIT_MS);
  await h.waitFor(() => before.processes.every((p) => !u.running(p.pid)), 'the old generation to exit', GONE_WAIT_MS);
  // Fresh connections answered with only the new generation left.
  const okThen = fresh.stats.ok;
  await h.waitFor(() => fresh.stats.ok > okThen, 'a fresh connection answered by the new generation', GONE_WAIT_MS);
  const freshStats = await fresh.stop();
  assert.deepEqual(freshStats.errors, [], 'every new connection was accepted and answered');
  assert.ok(freshStats.ok > 0);
  const st = await status(ctx.m.runDir);
  assert.equal(st.generation, 2);
  assert.equal(st.masterPid, newMaster);
  assert.deepEqual(ctx.mark.pids().sort(), st.processes.map((p) => p.pid).sort(), 'only the new generation runs');

  const stop = await h.runCli(['stop', '--run-dir', ctx.m.runDir]);
  assert.equal(stop.code, 0, stop.stdout + stop.stderr);
  await h.waitFor(() => ctx.mark.pids().length === 0, 'every process to exit after stop', GONE_WAIT_MS);
  assert.deepEqual(fs.readdirSync(ctx.m.runDir), [], 'nothing is left in the run dir');
});

test('a SIGKILL of the new master mid-handover makes the old generation resume, and what had moved comes back to it from the orphaned workers', async (t) => {
  // No background load (test/upgrade-kill-matrix.test.js has the same kill under load): a
  // request in flight in an orphaned new worker completes there, then its connection is
  // handed back to the resumed old generation and served on. The connections still in the old
  // generation must not notice anything, and the old generation accepts again once resumed.
  // graceful_timeout bounds the handover: long enough that the held request is never cut
  // at it, however slow the steps before the kill are on a loaded machine.
  const ctx = await setup(t, { load: false, server: { graceful_timeout: '60s' } });
  const dir = install(ctx);
  // Busy in the old worker until the test releases it: it keeps the handover going.
  const stays = await u.keepAliveClient(ctx.m.ports.http);
  const staysAnswer = stays.get('/hold/stays');
  await ctx.hold('stays').arrived;
  // Idle: moves to the new generation at once.
  const moves = await u.keepAliveClient(ctx.m.ports.http);
  assert.equal((await moves.get('/')).status, 200);

  const run = ctx.upgradeStream(dir);
  await run.waitOutput(/committed: /);
  // The idle connection has moved (the old worker reports each batch it handed over).
  await run.waitOutput(/moving: [1-9]\d* connections moved so far/);
  const [newMaster] = u.newMasterPids(ctx.m.runDir);
  assert.ok(newMaster, 'the new master runs');
  // A request in flight in the new generation when its master dies.
  const inFlight = moves.get('/hold/moved');
  inFlight.catch(() => {}); // awaited below; a rejection must fail there, not as unhandled
  await ctx.hold('moved').arrived;
  process.kill(newMaster, 'SIGKILL');
  await h.waitFor(() => !u.running(newMaster), 'the new master to be gone');
  ctx.hold('moved').release(); // the orphaned new worker still has it: it answers now

  const r = await run.done;
  const fresh = ctx.connectLoop();
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stderr, /the new master exited \(SIGKILL\) during the handover \[MOSND_ERR_UPGRADE_FAILED\]/);
  const st = await status(ctx.m.runDir);
  assert.equal(st.generation, 1);
  assert.equal(st.masterPid, ctx.m.pid);
  assert.equal(st.lastUpgrade.result, 'failed');
  assert.equal(h.servingPid(ctx.m.runDir), ctx.m.pid, 'the pidfile names the old master again');

  // The orphaned new worker finishes the request it had, then hands the connection back.
  const answer = await inFlight;
  assert.equal(answer.status, 200);
  assert.equal(answer.body, 'held');
  assert.equal((await moves.get('/back')).status, 200, 'the moved connection is served on by the old generation');
  moves.destroy();
  // The old generation serves its own connection on, and new ones.
  ctx.hold('stays').release();
  assert.equal((await staysAnswer).status, 200);
  assert.equal((await stays.get('/again')).status, 200);
  stays.destroy();
  const freshStats = await fresh.stop();
  assert.deepEqual(freshStats.errors, [], 'every new connection was accepted and answered');
  assert.ok(freshStats.ok > 0);
  await assertNoNewGeneration(ctx, dir);
  assert.deepEqual(ctx.mark.pids().sort(), st.processes.map((p) => p.pid).sort(), 'only the old generation runs');

  const good = await upgrade(ctx.m.runDir, h.ROOT);
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.equal((await status(ctx.m.runDir)).generation, 2);
});

test('an upgrade to a directory that is not a mosnd install is refused at once', async (t) => {
  const ctx = await setup(t);
  const empty = h.tmpDir('mosnd-not-install-');
  const noBin = h.tmpDir('mosnd-no-bin-');
  ctx.dirs.push(empty, noBin); // removed by the cleanup
  fs.writeFileSync(path.join(noBin, 'package.json'), JSON.stringify({ name: 'something-else', version: '1.0.0' }));
  await assertServedThroughout(ctx, async () => {
    for (const [dir, why] of [
      [empty, /no readable package\.json/],
      [noBin, /declares no "mosnd" bin/],
    ]) {
      const started = Date.now();
      const r = await upgrade(ctx.m.runDir, dir);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stderr, /MOSND_ERR_UPGRADE_BINARY/);
      assert.match(r.stderr, why);
      assert.doesNotMatch(r.stdout, /spawned/, 'nothing was started');
      assert.ok(Date.now() - started < 5_000, 'refused at once');
    }
  });
  await assertOldServes(ctx);
});

test('SIGUSR2 upgrades the master to its own install under load', async (t) => {
  const ctx = await setup(t);
  await assertServedThroughout(ctx, async () => {
    process.kill(ctx.m.pid, 'SIGUSR2');
    const e = await ctx.m.exitPromise;
    assert.equal(e.code, 0, 'the old master exits cleanly once it has handed over');
  });
  const st = await status(ctx.m.runDir);
  assert.equal(st.generation, 2);
  assert.equal(st.lastUpgrade.result, 'ok');
  assert.equal(h.servingPid(ctx.m.runDir), st.masterPid);
  assert.notEqual(st.masterPid, ctx.m.pid);
});

test('an upgrade that switches config serves the new route on moved connections and the new listener', async (t) => {
  const up2 = await h.startHttpUpstream((req, res) => res.end('from v2'));
  t.after(() => up2.close());
  const ctx = await setup(t);
  const next = writeTempConfig(
    ctx,
    h.proxyConfig({
      routes: [
        { match: { prefix: '/new' }, route: { cluster_name: 'web2' } },
        { match: { prefix: '/' }, route: { cluster_name: 'web' } },
      ],
      clusters: [h.cluster('web', [ctx.up.address]), h.cluster('web2', [up2.address]), h.cluster('echo', [ctx.echo.address])],
      listeners: [h.httpListener('http', 'r'), h.tcpListener('tcp', 'echo'), h.httpListener('http-extra', 'r')],
    }),
  );
  // A keep-alive connection opened before the upgrade, idle while it runs.
  const keep = net.connect(ctx.m.ports.http, '127.0.0.1');
  await new Promise((r) => keep.once('connect', r));
  let answers = '';
  keep.on('data', (d) => (answers += d.toString('latin1')));
  keep.write('GET /new/thing HTTP/1.1\r\nHost: t\r\n\r\n');
  await h.waitFor(() => /\r\n\r\nok$/.test(answers), 'the old route to answer');

  const r = await assertServedThroughout(ctx, () => upgrade(ctx.m.runDir, h.ROOT, ['--config', next]));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  answers = '';
  keep.write('GET /new/thing HTTP/1.1\r\nHost: t\r\n\r\n');
  await h.waitFor(() => /from v2$/.test(answers), 'the new route on the moved connection');
  assert.equal(keep.destroyed, false);
  keep.destroy();

  await ctx.m.waitForLog((l) => l.listener === 'http-extra' && / listening on /.test(l.msg ?? ''));
  const extra = await h.request(ctx.m.ports['http-extra'], { path: '/new/x' });
  assert.equal(extra.status, 200);
  assert.equal(extra.body.toString(), 'from v2');
  const st = await status(ctx.m.runDir);
  assert.equal(st.generation, 2);
  assert.equal(st.configSource, next);
  assert.deepEqual(st.listeners.map((l) => l.name).sort(), ['http', 'http-extra', 'tcp']);
});
