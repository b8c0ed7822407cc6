'use strict';
// One measurement of one peer in one scenario. Each returns a result object for the report.
// (The upgrade scenarios are in upgrades.js.)

const http = require('node:http');
const http2 = require('node:http2');
const https = require('node:https');
const { runWrk } = require('./wrk');
const { runH2load } = require('./h2load');
const { IdleClient } = require('./idle');
const { peerPids, cpuByPid, rssBytes, privateBytes, cpuTimes, cpuBusy } = require('./proc-stats');
const { SANITY_TIMEOUT_MS, IDLE_SETTLE_MS, IDLE_SETTLE_STEP_MS, IDLE_SETTLE_EPSILON_BYTES } = require('./constants');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function pidsOf(handle) {
  return handle.proc || handle.tag ? peerPids(handle.proc ? handle.proc.pid : null, handle.tag) : [];
}

/** One GET through the peer; resolves to null when the body is the backend's, else a reason. */
function sanity(port, urlPath, expectBody, tls = false) {
  return new Promise((resolve) => {
    const get = tls ? https.get : http.get;
    const req = get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: SANITY_TIMEOUT_MS, ...(tls ? { rejectUnauthorized: false } : {}) }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) resolve(`status ${res.statusCode}`);
        else if (expectBody !== undefined && body !== expectBody) resolve(`unexpected body ${JSON.stringify(body.slice(0, 60))}`);
        else resolve(null);
      });
      res.on('error', (e) => resolve(e.message));
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(`no answer within ${SANITY_TIMEOUT_MS} ms`);
    });
    req.on('error', (e) => resolve(e.message));
  });
}

/** sanity() over HTTP/2 cleartext (prior knowledge). */
function sanityH2(port, urlPath, expectBody) {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const done = (why) => {
      clearTimeout(timer);
      session.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => done(`no answer within ${SANITY_TIMEOUT_MS} ms`), SANITY_TIMEOUT_MS);
    session.on('error', (e) => done(e.message));
    const req = session.request({ ':path': urlPath });
    let status = 0;
    const chunks = [];
    req.on('response', (h) => (status = h[':status']));
    req.on('data', (c) => chunks.push(c));
    req.on('error', (e) => done(e.message));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (status !== 200) done(`status ${status}`);
      else if (expectBody !== undefined && body !== expectBody) done(`unexpected body ${JSON.stringify(body.slice(0, 60))}`);
      else done(null);
    });
  });
}

function cpuDelta(before, after) {
  let total = 0;
  for (const [pid, v] of after) total += v - (before.get(pid) || 0);
  return total;
}

function portOf(handle, scenario) {
  return handle[`${scenario.mode}Port`];
}

/** The load generator of a scenario: wrk, or h2load for the HTTP/2 ones. */
function loadTool(scenario) {
  return scenario.tool === 'h2load' ? runH2load : runWrk;
}

async function warmUp(ctx, url, scenario) {
  if (ctx.warmupS > 0) await loadTool(scenario)(ctx.registry, { url, conns: scenario.conns, durationS: ctx.warmupS, cpus: ctx.plan.load, headers: scenario.headers ?? [], pauseMs: scenario.pauseMs ?? 0 });
}

/** wrk after a warm-up; proxy CPU time per request and RSS from /proc. */
async function measureLoad(ctx, peer, handle, scenario) {
  const url = `${scenario.mode === 'https' ? 'https' : 'http'}://127.0.0.1:${portOf(handle, scenario)}${scenario.path}`;
  await warmUp(ctx, url, scenario);
  const before = peer.isProxy ? cpuByPid(pidsOf(handle)) : new Map();
  const machineBefore = cpuTimes();
  const w = await loadTool(scenario)(ctx.registry, { url, conns: scenario.conns, durationS: ctx.durationS, cpus: ctx.plan.load, headers: scenario.headers ?? [], pauseMs: scenario.pauseMs ?? 0 });
  const busy = cpuBusy(machineBefore, cpuTimes());
  const pids = peer.isProxy ? pidsOf(handle) : [];
  const cpu = peer.isProxy ? cpuDelta(before, cpuByPid(pids)) : null;
  if (w.requests === 0) return { status: 'failed', reason: `no request completed (errors: ${JSON.stringify(w.errors)})` };
  return {
    status: 'ok',
    wrk: w,
    cpuSeconds: cpu,
    cpuPerReqUs: cpu === null ? null : (cpu / w.requests) * 1e6,
    cpuPercent: cpu === null ? null : (cpu / w.seconds) * 100,
    rssBytes: peer.isProxy ? rssBytes(pids) : null,
    processes: pids.length,
    // Whole-machine busy % of the proxy CPU and the load CPU: which side was the bottleneck
    // (and whether other work on the machine was stealing time).
    cpuBusy: {
      proxy: ctx.plan.proxy !== null ? busy[ctx.plan.proxy] ?? null : null,
      load: ctx.plan.load !== null ? busy[ctx.plan.load] ?? null : null,
    },
  };
}

/** RSS once it stops moving (see IDLE_SETTLE_MS), with the pids it was read from and the wait. */
async function settledRss(handle, { min, max }) {
  const start = Date.now();
  await sleep(min);
  let pids = pidsOf(handle);
  let rss = rssBytes(pids);
  while (Date.now() - start + IDLE_SETTLE_STEP_MS <= max) {
    await sleep(IDLE_SETTLE_STEP_MS);
    pids = pidsOf(handle);
    const next = rssBytes(pids);
    const settled = Math.abs(next - rss) < IDLE_SETTLE_EPSILON_BYTES;
    rss = next;
    if (settled) break;
  }
  return { rss, pids, settleMs: Date.now() - start };
}

/** N idle keep-alive connections: RSS of the proxy before and with them, then a liveness probe. */
async function measureIdle(ctx, peer, handle, scenario) {
  const port = portOf(handle, scenario);
  const rssBefore = rssBytes(pidsOf(handle));
  const privateBefore = privateBytes(pidsOf(handle));
  const client = new IdleClient(ctx.registry, ctx.plan.load);
  try {
    const opened = await client.open(port, scenario.path, ctx.idleConns);
    const { rss: rssAfter, pids, settleMs } = await settledRss(handle, IDLE_SETTLE_MS[ctx.quick ? 'quick' : 'full']);
    const probe = await client.probe();
    return {
      status: 'ok',
      count: ctx.idleConns,
      opened: opened.ok,
      openFailed: opened.failed,
      firstError: opened.firstError,
      openMs: opened.ms,
      rssBefore,
      rssAfter,
      privateBefore,
      perConnKB: opened.ok > 0 ? (rssAfter - rssBefore) / opened.ok / 1024 : null,
      alive: probe.ok,
      closedWhileIdle: probe.closedWhileIdle,
      processes: pids.length,
      settleMs,
    };
  } finally {
    await client.close();
  }
}

module.exports = { sanity, sanityH2, measureLoad, measureIdle, pidsOf };
