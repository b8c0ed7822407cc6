'use strict';
// The upgrade scenarios: `mosnd upgrade` under load with strict accounting, and idle keep-alive
// connections across one upgrade. Each starts its own mosnd instance (the peer's config, with
// the tcp_proxy listener pointed at an echo server) so that the other measurements never run on
// a generation that went through 100 upgrades, and stops it at the end.

const fs = require('node:fs');
const path = require('node:path');
const { IpcChild } = require('./child');
const { stopPeer } = require('./procs');
const { IdleClient } = require('./idle');
const { alternateInstall } = require('./install');
const { sanity } = require('./measure');
const { peerPids, rssBytes, hasExited } = require('./proc-stats');
const { runUpgrade } = require('../peers/mosnd');
const { SMALL_BODY } = require('../peers/backend');
const C = require('./constants');

const SERVERS = path.join(__dirname, '..', 'servers');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank percentile of a small list (null when empty). */
function pct(values, p) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))];
}

function spread(values) {
  return { median: pct(values, 0.5), p95: pct(values, 0.95), max: pct(values, 1), n: values.filter(Number.isFinite).length };
}

/** The generation serving `runDir` now: the master in the pidfile, and its pids (workers too). */
function servingGeneration(runDir) {
  let master = 0;
  try {
    master = Number(fs.readFileSync(path.join(runDir, 'mosnd.pid'), 'utf8').trim());
  } catch {
    return { master: 0, pids: [] };
  }
  return { master, pids: master > 0 ? peerPids(master, null) : [] };
}

/**
 * One `mosnd upgrade`, plus the time until every process of the old generation has exited
 * (`oldExitMs`, from the command's start). The command itself returns after the old master
 * exited; the harness checks each pid (workers included) rather than trust it.
 */
async function oneUpgrade(ctx, runDir, binaryDir) {
  const { master, pids: old } = servingGeneration(runDir);
  const t0 = Date.now();
  const r = await runUpgrade(ctx, runDir, binaryDir);
  const ok = r.code === 0;
  let left = ok ? old.filter((p) => !hasExited(p)) : [];
  const atExit = left.length;
  const masterAtExit = left.includes(master);
  const deadline = Date.now() + C.OLD_GENERATION_EXIT_WAIT_MS;
  while (left.length && Date.now() < deadline) {
    await sleep(C.OLD_GENERATION_POLL_MS);
    left = left.filter((p) => !hasExited(p));
  }
  return {
    ok,
    code: r.code,
    signal: r.signal,
    timedOut: r.timedOut,
    ms: r.ms,
    committedMs: r.phaseAtMs.committed ?? null,
    movedAtMs: r.phaseAtMs.moved ?? null,
    phaseAtMs: r.phaseAtMs,
    handoverMs: r.handoverMs,
    moved: r.moved,
    drained: r.drained,
    closed: r.closed,
    oldExitMs: ok && left.length === 0 ? Date.now() - t0 : null,
    oldAliveAtCommandExit: atExit,
    oldMasterAliveAtCommandExit: masterAtExit,
    oldStillAlive: left.length,
    output: ok ? undefined : r.output,
  };
}

/** Aggregate of a list of oneUpgrade() results, for the report. */
function summarizeUpgrades(list) {
  const ok = list.filter((u) => u.ok);
  const failed = list.filter((u) => !u.ok);
  return {
    count: list.length,
    ok: ok.length,
    failed: failed.length,
    firstFailure: failed.length ? `exit ${failed[0].code ?? failed[0].signal}${failed[0].timedOut ? ' (timed out)' : ''}: ${failed[0].output}` : null,
    commandMs: spread(ok.map((u) => u.ms)),
    committedMs: spread(ok.map((u) => u.committedMs)),
    movedAtMs: spread(ok.map((u) => u.movedAtMs)),
    handoverMs: spread(ok.map((u) => u.handoverMs)),
    oldExitMs: spread(ok.map((u) => u.oldExitMs)),
    moved: { min: ok.length ? Math.min(...ok.map((u) => u.moved ?? 0)) : null, median: pct(ok.map((u) => u.moved), 0.5), max: pct(ok.map((u) => u.moved), 1) },
    drained: ok.reduce((n, u) => n + (u.drained || 0), 0),
    closedAtDeadline: ok.reduce((n, u) => n + (u.closed || 0), 0),
    oldAliveAtCommandExit: ok.filter((u) => u.oldAliveAtCommandExit > 0).length,
    oldMasterAliveAtCommandExit: ok.filter((u) => u.oldMasterAliveAtCommandExit).length,
    // How long after the command returned the last old-generation process was gone.
    exitLagMs: spread(ok.filter((u) => u.oldExitMs !== null).map((u) => u.oldExitMs - u.ms)),
    oldNeverExited: ok.filter((u) => u.oldStillAlive > 0).length,
  };
}

async function startEcho(ctx) {
  const echo = new IpcChild(ctx.registry, 'echo-server', path.join(SERVERS, 'echo-server.js'), ctx.plan.load);
  const m = await echo.ask(null, 'listening');
  return { echo, port: m.port };
}

/**
 * Scenario "upgrades": HTTP keep-alive clients and checksummed TCP streams run while mosnd is
 * upgraded N times in a row, alternating two install directories.
 *
 * Timeline: load starts; warm-up; two warm-up upgrades (they take the first-run costs out of the
 * figures, and the second sizes the steady window); warm-up; steady window with no upgrade;
 * N upgrades back to back;
 * load stops (TCP streams half-close and wait for the echo of what is in flight). Every request,
 * socket and byte of the whole run is accounted for, warm-up included.
 */
async function measureUpgrades(ctx, peer, scenario) {
  const planned = ctx.upgrades;
  const installs = [alternateInstall(ctx), ctx.mosndRoot];
  let echo = null;
  let handle = null;
  let load = null;
  try {
    const e = await startEcho(ctx);
    echo = e.echo;
    handle = await peer.start(ctx, { tcpTarget: e.port, dirName: `${scenario.id}-${peer.id}` });
    const bad = await sanity(handle.httpPort, scenario.path, SMALL_BODY);
    if (bad) return { status: 'failed', reason: `sanity check (one GET) failed: ${bad}` };

    load = new IpcChild(ctx.registry, 'upgrade-load', path.join(SERVERS, 'upgrade-load.js'), ctx.plan.load);
    const clients = scenario.conns;
    const streams = scenario.streams;
    await load.ask(
      { cmd: 'start', httpPort: handle.httpPort, tcpPort: handle.tcpPort, path: scenario.path, clients, streams, thinkMs: C.UPGRADE_HTTP_THINK_MS },
      'started',
    );
    const now = async () => (await load.ask({ cmd: 'now' }, 'now')).atMs;
    // Warm-up time, then two warm-up upgrades, one to each install: the first run of each costs
    // more (files read from disk, code compiled), and the second says how long an upgrade takes
    // under this load once everything runs at full speed. Then the warm-up time again lets V8
    // optimise the generation they started, so that the steady window measures a warm proxy.
    await sleep(ctx.warmupS * 1000);
    const warmups = [];
    for (const dir of installs) {
      warmups.push(await oneUpgrade(ctx, handle.runDir, dir));
      if (!warmups[warmups.length - 1].ok) break;
    }
    await sleep(ctx.warmupS * 1000);
    const last = warmups[warmups.length - 1];
    const perUpgradeMs = last.ok ? last.oldExitMs ?? last.ms : null;
    const upgrades = [];
    let steady = null;
    let during = null;
    let n = planned;
    let stopReason = null;
    if (!last.ok) {
      stopReason = 'a warm-up upgrade failed';
      n = 0;
    } else {
      // N upgrades and an equal steady window must fit in what is left of the budget.
      const left = ctx.deadline - Date.now() - C.UPGRADE_BUDGET_RESERVE_MS;
      const fit = Math.floor(left / (perUpgradeMs * (1 + C.UPGRADE_STEADY_MARGIN)));
      if (fit < n) {
        n = Math.max(0, fit);
        stopReason = `time budget: ${n} of ${planned} upgrades fit`;
      }
    }
    if (n > 0) {
      const steadyStart = await now();
      await sleep(n * perUpgradeMs * C.UPGRADE_STEADY_MARGIN);
      const upStart = await now();
      let failedInRow = 0;
      let sumMs = 0;
      for (let i = 0; i < n; i++) {
        const avg = upgrades.length ? sumMs / upgrades.length : perUpgradeMs;
        if (Date.now() + avg > ctx.deadline - C.UPGRADE_BUDGET_RESERVE_MS) {
          stopReason = `time budget reached after ${i} of ${n} upgrades`;
          break;
        }
        const u = await oneUpgrade(ctx, handle.runDir, installs[i % 2]);
        upgrades.push(u);
        sumMs += u.oldExitMs ?? u.ms;
        failedInRow = u.ok ? 0 : failedInRow + 1;
        if (failedInRow >= C.UPGRADE_MAX_CONSECUTIVE_FAILURES) {
          stopReason = `stopped after ${failedInRow} failed upgrades in a row`;
          break;
        }
      }
      const upEnd = await now();
      const length = Math.min(upEnd - upStart, upStart - steadyStart);
      during = await load.ask({ cmd: 'window', fromMs: upStart, toMs: upEnd }, 'window');
      steady = await load.ask({ cmd: 'window', fromMs: upStart - length, toMs: upStart }, 'window');
    }
    const stopped = await load.ask({ cmd: 'stop', timeoutMs: C.UPGRADE_LOAD_STOP_TIMEOUT_MS }, 'stopped', C.UPGRADE_LOAD_STOP_TIMEOUT_MS + C.CHILD_REPLY_TIMEOUT_MS);
    const gen = servingGeneration(handle.runDir).pids;
    const { http, tcp } = stopped;
    return {
      status: 'ok',
      workers: peer.workers,
      planned,
      stopReason,
      warmups,
      summary: summarizeUpgrades(upgrades),
      upgrades,
      steady,
      during,
      http,
      tcp,
      stopTimedOut: stopped.stopTimedOut,
      reconnects: http.connects - http.clients + (tcp ? tcp.connects - tcp.streams : 0),
      bytesLost: tcp ? tcp.sent - tcp.received : 0,
      rssAfter: rssBytes(gen),
      processesAfter: gen.length,
    };
  } finally {
    if (load) await load.stop();
    await stopPeer(ctx, handle);
    if (echo) await echo.stop();
  }
}

/**
 * Scenario "upgrade-idle": 1,000 idle keep-alive connections (each answered once), one upgrade,
 * then one more request on every connection, on the same socket.
 */
async function measureUpgradeIdle(ctx, peer, scenario) {
  let handle = null;
  let client = null;
  try {
    handle = await peer.start(ctx, { dirName: `${scenario.id}-${peer.id}` });
    const bad = await sanity(handle.httpPort, scenario.path, SMALL_BODY);
    if (bad) return { status: 'failed', reason: `sanity check (one GET) failed: ${bad}` };
    const install = alternateInstall(ctx);
    client = new IdleClient(ctx.registry, ctx.plan.load);
    const count = scenario.conns;
    const opened = await client.open(handle.httpPort, scenario.path, count);
    await sleep(C.UPGRADE_IDLE_SETTLE_MS);
    const rssBefore = rssBytes(servingGeneration(handle.runDir).pids);
    const upgrade = await oneUpgrade(ctx, handle.runDir, install);
    await sleep(C.UPGRADE_IDLE_SETTLE_MS);
    const gen = servingGeneration(handle.runDir).pids;
    const rssAfter = rssBytes(gen);
    const probe = await client.probe();
    return {
      status: 'ok',
      workers: peer.workers,
      count,
      opened: opened.ok,
      openFailed: opened.failed,
      upgrade,
      moved: upgrade.moved,
      handoverMs: upgrade.handoverMs,
      handoverTargetMs: C.UPGRADE_IDLE_HANDOVER_TARGET_MS,
      answered: probe.ok,
      failedAfter: probe.failed,
      closedDuring: probe.closedWhileIdle,
      firstError: probe.firstError,
      rssBefore,
      rssAfter,
      processesAfter: gen.length,
    };
  } finally {
    if (client) await client.close();
    await stopPeer(ctx, handle);
  }
}

module.exports = { measureUpgrades, measureUpgradeIdle, summarizeUpgrades, oneUpgrade };
