'use strict';
/**
 * The master's worker watchdog against real processes: a ready worker that stops answering
 * (frozen with SIGSTOP) is killed and replaced while the others serve; a worker that answers
 * is left alone under load, and `status --json` shows its heartbeat; a graceful stop with a
 * frozen worker ends at the stop's own deadline, the watchdog keeping out of it.
 *
 * The master reads MOSND_WATCHDOG_KILL_MS (the test and ops knob); the timings scale with it.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');
const p = require('./helpers/procs');
const { loadLoop } = require('./helpers/clients');
const { STOP_KILL_GRACE_MS } = require('../dist/shared/constants');
const { watchdogTimings, watchdogTimingsFromEnv } = require('../dist/master/watchdog');

/** The kill threshold here: half the default 10 s, so a test waits less; still ten missed
 *  pings (every 500 ms). A worker under load on a 2-core box loaded ~7x over was seen to
 *  answer up to ~0.7 s late (it was starved of CPU, not wedged): this leaves a wide margin. */
const KILL_MS = 5_000;
const ENV = { MOSND_WATCHDOG_KILL_MS: String(KILL_MS) };
/** From the freeze to the kill: the threshold plus a loaded machine's slack. */
const KILL_BOUND_MS = KILL_MS + 15_000;
/** How long the killed worker's replacement may take to report ready (respawn backoff ~100 ms). */
const RESPAWN_BOUND_MS = 15_000;
/** The graceful_timeout of the stop test: longer than KILL_MS, so a watchdog that acted
 *  during a stop would kill the frozen worker before the deadline did. */
const GRACEFUL_MS = 8_000;

/** The watchdog's documented defaults (README): a ping each second, killed after 10 s. */
const DEFAULT_INTERVAL_MS = 1_000;
const DEFAULT_KILL_MS = 10_000;
/** How long the steady-load test runs: past the default kill threshold by two pings. */
const STEADY_WINDOW_MS = DEFAULT_KILL_MS + 2 * DEFAULT_INTERVAL_MS;

const ADMIN = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };

function directConfig(server = {}) {
  return h.proxyConfig({ routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: 'ok' } }], server, extra: ADMIN });
}

async function statusWorkers(runDir) {
  return p.workersOf(await p.statusJson(runDir));
}

/** mosnd_worker_watchdog_kills_total by worker position, from one scrape. */
async function watchdogKills(m) {
  const out = {};
  for (const [key, value] of Object.entries(await h.scrape(m.ports.__admin))) {
    const hit = /^mosnd_worker_watchdog_kills_total\{worker="(\d+)"\}$/.exec(key);
    if (hit) out[hit[1]] = value;
  }
  return out;
}

const isKillLine = (l) => l.code === 'MOSND_ERR_WORKER_UNRESPONSIVE';

test('a ready worker frozen with SIGSTOP is killed by the watchdog and replaced, while the other worker serves throughout', async (t) => {
  const m = await h.startMosnd({ config: directConfig(), workers: 2, env: ENV });
  t.after(() => m.kill());
  const [victim, survivor] = await statusWorkers(m.runDir);
  t.after(() => p.killAll([victim.pid])); // a frozen worker must not outlive a failed test
  await p.freeze(victim.pid);
  const frozenAt = Date.now();
  // Every request from here on starts after the freeze: only the survivor can accept it
  // (the listening socket is shared), until the replacement joins.
  const load = loadLoop(async () => (await h.request(m.ports.http, { timeoutMs: 10_000 })).status, { concurrency: 2 });
  t.after(() => load.stop());

  const killed = await m.waitForLog(isKillLine, KILL_BOUND_MS);
  assert.equal(killed.level, 'error');
  assert.equal(killed.worker, 'master');
  assert.equal(killed.workerId, victim.workerId - 1);
  assert.equal(killed.workerPid, victim.pid);
  assert.ok(killed.silentMs >= KILL_MS * 0.9, `killed after ${killed.silentMs} ms of silence`);
  const warned = m.logs.findIndex((l) => l.level === 'warn' && l.workerId === victim.workerId - 1 && /unresponsive for \d+ ms/.test(l.msg));
  assert.ok(warned >= 0 && warned < m.logs.indexOf(killed), 'a warn line came before the kill');
  await p.waitGone([victim.pid], 10_000);

  const fresh = await p.waitFor(
    async () => (await statusWorkers(m.runDir)).find((w) => w.workerId === victim.workerId && w.pid !== victim.pid && w.pid !== 0 && w.state === 'ready'),
    RESPAWN_BOUND_MS,
    'the replacement ready',
  );
  assert.equal(fresh.restarts, 1, 'the kill counts as a restart');
  await p.waitFor(() => load.results.filter((r) => r.at > Date.now() - 1_000).length >= 5, 10_000, 'load after the respawn');
  const results = await load.stop();
  const killedAt = Date.parse(killed.time);
  const whileFrozen = results.filter((r) => r.done < killedAt);
  t.diagnostic(`${results.length} requests, ${whileFrozen.length} answered while the victim was frozen (${killedAt - frozenAt} ms)`);
  assert.ok(whileFrozen.length > 0, 'the survivor answered while the victim was frozen');
  assert.deepEqual(results.filter((r) => !r.ok), [], 'no request failed');

  const exit = m.logs.find((l) => /exited unexpectedly; restarting/.test(l.msg ?? '') && l.workerPid === victim.pid);
  assert.match(exit?.reason ?? '', /unresponsive for \d+ ms \(watchdog\)/);
  const ws = await statusWorkers(m.runDir);
  const still = ws.find((w) => w.workerId === survivor.workerId);
  assert.equal(still.pid, survivor.pid, 'the answering worker was left alone');
  assert.equal(still.restarts, 0);
  assert.deepEqual(await watchdogKills(m), { [victim.workerId]: 1, [survivor.workerId]: 0 });

  // The replacement serves: with the survivor frozen for a moment, it alone accepts.
  await p.freeze(survivor.pid);
  try {
    for (let i = 0; i < 3; i++) assert.equal((await h.request(m.ports.http)).status, 200);
  } finally {
    process.kill(survivor.pid, 'SIGCONT');
  }
  assert.equal((await statusWorkers(m.runDir)).find((w) => w.pid === fresh.pid).requestsTotal >= 3, true);
});

test('workers that keep answering under steady load are never killed, and status --json shows their heartbeat and event-loop delay', async (t) => {
  // The production thresholds (no MOSND_WATCHDOG_KILL_MS): warn after 3 s of silence, kill
  // after 10 s. Under the test suite's own load a starved worker answered up to ~0.7 s late;
  // the scaled-down warn threshold (1.5 s) left too thin a margin for a check of "never".
  const m = await h.startMosnd({ config: directConfig(), workers: 2 });
  t.after(() => m.kill());
  const before = await statusWorkers(m.runDir);
  const load = loadLoop(async () => (await h.request(m.ports.http, { timeoutMs: 10_000 })).status, { concurrency: 4 });
  t.after(() => load.stop());
  // The kill threshold and two more pings: time enough for the watchdog to have ended a
  // worker whose answers went unseen (and warned about it long before).
  const t0 = Date.now();
  await p.waitFor(() => Date.now() - t0 >= STEADY_WINDOW_MS && load.results.length >= 50, STEADY_WINDOW_MS + 30_000, 'load past the kill threshold');
  const st = await p.statusJson(m.runDir);
  const results = await load.stop();
  assert.deepEqual(results.filter((r) => !r.ok), [], 'no request failed');
  assert.deepEqual(m.logs.filter((l) => isKillLine(l) || /unresponsive/.test(l.msg ?? '')), [], 'no watchdog warning or kill');
  const after = p.workersOf(st);
  assert.deepEqual(after.map((w) => [w.workerId, w.pid, w.restarts]), before.map((w) => [w.workerId, w.pid, 0]));
  assert.deepEqual(await watchdogKills(m), { 1: 0, 2: 0 });
  assert.equal(st.processes[0].role, 'master');
  assert.equal(st.processes[0].liveness, null, 'the master is not pinged');
  for (const w of after) {
    const l = w.liveness;
    assert.ok(l, `liveness of worker ${w.workerId}: ${JSON.stringify(w)}`);
    assert.ok(l.heartbeatAgeMs >= 0 && l.heartbeatAgeMs < DEFAULT_KILL_MS, `heartbeat ${l.heartbeatAgeMs} ms ago`);
    assert.ok(l.eventLoopDelayP99Ms >= 0 && l.eventLoopDelayMaxMs >= l.eventLoopDelayP99Ms, JSON.stringify(l));
  }
  // The same delays in the scrape, per worker position.
  const s = await h.scrape(m.ports.__admin);
  for (const worker of ['1', '2']) {
    for (const q of ['0.99', '1']) {
      const v = s[`mosnd_worker_event_loop_delay_seconds{worker="${worker}",quantile="${q}"}`];
      assert.ok(v >= 0, `worker ${worker} quantile ${q} in the scrape`);
    }
  }
});

test('a graceful stop with a frozen worker completes at the stop deadline; the watchdog does not kill stopping workers', async (t) => {
  const m = await h.startMosnd({ config: directConfig({ graceful_timeout: `${GRACEFUL_MS}ms` }), workers: 2, env: ENV });
  t.after(() => m.kill());
  const [frozen, other] = await statusWorkers(m.runDir);
  t.after(() => p.killAll([frozen.pid]));
  await p.freeze(frozen.pid);
  m.child.kill('SIGTERM');
  await m.waitForLog((l) => l.msg === 'graceful stop');
  // The other worker drains at once; the frozen one cannot, and holds the stop until the
  // deadline's SIGKILL (graceful_timeout + STOP_KILL_GRACE_MS).
  await p.waitGone([other.pid], 10_000);
  const exit = await p.within(m.exitPromise, GRACEFUL_MS + STOP_KILL_GRACE_MS + 15_000, 'still running');
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(p.isGone(frozen.pid));
  assert.deepEqual(m.logs.filter(isKillLine), [], 'the watchdog stayed out of the stop');
  assert.deepEqual(m.logs.filter((l) => /exited unexpectedly/.test(l.msg ?? '')), [], 'nothing was respawned');
  assert.ok(m.logs.some((l) => l.msg === 'stopped'));
});

test('MOSND_WATCHDOG_KILL_MS scales the ping interval and warn threshold down with it; 0 turns the watchdog off; garbage keeps the defaults', () => {
  // The documented defaults (README: a ping each second, warn at 3 s, kill at 10 s).
  const defaults = { intervalMs: 1_000, warnMs: 3_000, killMs: 10_000 };
  assert.deepEqual(watchdogTimingsFromEnv({}).timings, defaults);
  // 3 s is 30 % of 10 s: still ten pings before the kill, the warn after three.
  assert.deepEqual(watchdogTimingsFromEnv({ MOSND_WATCHDOG_KILL_MS: ' 3000' }).timings, { intervalMs: 300, warnMs: 900, killMs: 3_000 });
  // Longer than the default: the same pings, only more patience.
  assert.deepEqual(watchdogTimings(60_000), { ...defaults, killMs: 60_000 });
  assert.equal(watchdogTimingsFromEnv({ MOSND_WATCHDOG_KILL_MS: '0' }).timings, null);
  for (const bad of ['10s', '-1', '1.5', 'off']) {
    const r = watchdogTimingsFromEnv({ MOSND_WATCHDOG_KILL_MS: bad });
    assert.deepEqual(r.timings, defaults, bad);
    assert.match(r.problem, /MOSND_WATCHDOG_KILL_MS=".*" is not a whole number of milliseconds/);
  }
});

test('a worker that answers pings its master can no longer read (the master was killed meanwhile) drains and exits instead of crashing', async (t) => {
  const m = await h.startMosnd({ config: directConfig(), workers: 1, env: ENV });
  t.after(() => m.kill());
  const [w] = await statusWorkers(m.runDir);
  t.after(() => p.killAll([w.pid]));
  await p.freeze(w.pid);
  // The warning comes after several pings went unanswered: they wait in the worker's pipe.
  await m.waitForLog((l) => l.level === 'warn' && /unresponsive for/.test(l.msg ?? ''), KILL_BOUND_MS);
  m.child.kill('SIGKILL');
  await m.exitPromise;
  // Thawed, it reads the pings before the end of the channel: each answer fails with EPIPE.
  process.kill(w.pid, 'SIGCONT');
  await p.waitGone([w.pid], 10_000);
  const own = m.logs.filter((l) => l.pid === w.pid);
  assert.deepEqual(own.filter((l) => l.level === 'fatal' || l.level === 'error'), [], 'no crash');
  assert.ok(own.some((l) => l.msg === 'master is gone; draining'), JSON.stringify(own));
});
