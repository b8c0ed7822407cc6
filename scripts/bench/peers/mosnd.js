'use strict';
// Peers "mosnd-1w" and "mosnd-2w": the project's own proxy, started from this checkout with
// `node bin/mosnd.js start`, an HTTP reverse-proxy listener, the same routes on an HTTP/2
// listener (downstream_protocol Http2, HTTP/1.1 upstream) and a tcp_proxy listener to the
// backend. While mosnd cannot start (not written/built yet, or broken) the peer reports
// "unavailable: <reason>" and the run goes on. The upgrade scenarios start their own instance
// (tcp_proxy to an echo server) and drive `mosnd upgrade` with runUpgrade().

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { freePort } = require('../lib/system');
const { MOSND_LISTENING_LINES_TIMEOUT_MS, MOSND_PROBE_TIMEOUT_MS, MOSND_UPGRADE_TIMEOUT_MS } = require('../lib/constants');
const { Unavailable, peerDir, waitReady } = require('./common');

/** The mosnd install under test: this checkout unless --mosnd-dir names another one. */
function bin(ctx) {
  return path.join(ctx.mosndRoot, 'bin', 'mosnd.js');
}

/** The listeners config() writes: each announces itself with a `listening` line. */
const LISTENERS = 3;

/** `tcpTargetPort`: where the tcp_proxy listener forwards (the backend unless given). */
function config(httpPort, tcpPort, backendPort, tcpTargetPort = backendPort, h2Port = 0) {
  return {
    servers: [
      {
        // INFO: mosnd announces each listener ("listener http listening on ...") at info once all
        // workers are ready, which is the readiness signal used below; it logs nothing per request.
        default_log_level: 'INFO',
        routers: [
          {
            router_config_name: 'r',
            virtual_hosts: [{ name: 'v', domains: ['*'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'backend' } }] }],
          },
        ],
        listeners: [
          {
            name: 'http',
            address: `127.0.0.1:${httpPort}`,
            bind_port: true,
            filter_chains: [
              { filters: [{ type: 'proxy', config: { downstream_protocol: 'Http1', upstream_protocol: 'Http1', router_config_name: 'r' } }] },
            ],
          },
          {
            name: 'h2',
            address: `127.0.0.1:${h2Port}`,
            bind_port: true,
            filter_chains: [{ filters: [{ type: 'proxy', config: { downstream_protocol: 'Http2', router_config_name: 'r' } }] }],
          },
          {
            name: 'tcp',
            address: `127.0.0.1:${tcpPort}`,
            bind_port: true,
            filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster: 'tcp_target' } }] }],
          },
        ],
      },
    ],
    cluster_manager: {
      clusters: [
        { name: 'backend', type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', hosts: [{ address: `127.0.0.1:${backendPort}` }] },
        { name: 'tcp_target', type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', hosts: [{ address: `127.0.0.1:${tcpTargetPort}` }] },
      ],
    },
  };
}

/** Whether `mosnd upgrade` exists in this checkout (second stage of the suite). */
function upgradeSupport(ctx) {
  if (!fs.existsSync(bin(ctx))) return { ok: false, reason: 'bin/mosnd.js not found' };
  const r = spawnSync(process.execPath, [bin(ctx), 'upgrade', '--help'], { encoding: 'utf8', timeout: MOSND_PROBE_TIMEOUT_MS });
  // A CLI without the command may still exit 0 and print its general help for `upgrade --help`
  // (commander does): only a usage line naming the upgrade command counts.
  if (r.status === 0 && /Usage:\s*mosnd\s+upgrade\b/.test(r.stdout || '')) return { ok: true };
  if (r.status === 0) return { ok: false, reason: '`mosnd upgrade` does not exist yet (`mosnd upgrade --help` shows no upgrade usage)' };
  const out = `${r.stderr || ''} ${r.stdout || ''}`.trim().split('\n').filter(Boolean).pop() || '';
  return { ok: false, reason: `\`mosnd upgrade --help\` failed (exit ${r.status ?? r.signal})${out ? `: ${out.slice(0, 200)}` : ''}` };
}

function mosndVersion(ctx) {
  if (!fs.existsSync(bin(ctx))) return 'not built';
  const r = spawnSync(process.execPath, [bin(ctx), 'version'], { encoding: 'utf8', timeout: MOSND_PROBE_TIMEOUT_MS });
  return r.status === 0 ? (r.stdout || '').trim().split('\n')[0].replace(/^mosnd\s+/, '') : 'unknown';
}

function makePeer(workers) {
  const id = `mosnd-${workers}w`;
  return {
    id,
    label: workers === 1 ? 'mosnd 1 worker' : `mosnd ${workers} workers †`,
    tcpLabel: workers === 1 ? 'mosnd tcp_proxy 1 worker' : `mosnd tcp_proxy ${workers} workers †`,
    isProxy: true,
    isMosnd: true,
    workers,
    cpuSet: workers === 1 ? 'proxy' : 'proxy2',
    http: true,
    tcp: true,
    h2: true,
    /**
     * `tcpTarget`: port the tcp_proxy listener forwards to (default: the backend); `dirName`: the
     * instance's private directory (its name tags every process of it, upgrades included).
     */
    async start(ctx, { tcpTarget, dirName = id } = {}) {
      if (!fs.existsSync(bin(ctx))) throw new Unavailable('bin/mosnd.js not found');
      const dir = peerDir(ctx, dirName);
      const runDir = path.join(dir, 'run');
      fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
      const httpPort = await freePort();
      const tcpPort = await freePort();
      const h2Port = await freePort();
      const file = path.join(dir, 'mosnd.json');
      fs.writeFileSync(file, JSON.stringify(config(httpPort, tcpPort, ctx.backend.port, tcpTarget, h2Port), null, 2));
      const args = [bin(ctx), 'start', '-c', file, '--workers', String(workers), '--run-dir', runDir];
      const proc = ctx.registry.spawn(id, process.execPath, args, {
        cpus: workers === 1 ? ctx.plan.proxy : ctx.plan.proxy2,
        cwd: ctx.mosndRoot,
        logFile: path.join(dir, 'stdout.log'),
      });
      let listening = 0;
      proc.onOutput((text) => {
        listening += (text.match(/listening/g) || []).length;
      });
      try {
        await waitReady(proc, [httpPort, h2Port, tcpPort], 'mosnd');
      } catch (e) {
        await ctx.registry.stop(proc, 'SIGINT', 2000);
        throw new Unavailable(e.message);
      }
      // One `listening` line per listener is the contract; wait for them (workers may still be
      // starting behind a listening socket the master already holds), but go on without them.
      const deadline = Date.now() + MOSND_LISTENING_LINES_TIMEOUT_MS;
      while (listening < LISTENERS && Date.now() < deadline && !proc.exited) await new Promise((r) => setTimeout(r, 50));
      if (proc.exited) throw new Unavailable(`mosnd exited after start: ${proc.lastLines(3)}`);
      const note = listening < LISTENERS ? `only ${listening} "listening" line(s) seen` : null;
      return { httpPort, h2Port, tcpPort, proc, tag: dir, runDir, note };
    },
  };
}

/**
 * Parses the progress lines of `mosnd upgrade` ("[0.83s] committed: ...",
 * "[0.94s] moved: 40 connections moved, 0 finished here, 0 closed at the deadline (handover 12 ms)").
 * `lines` are [arrivalMs, text] with arrivalMs measured by the harness from the command's spawn:
 * the command's own "[x s]" stamps start after its Node runtime has loaded (~0.3 s later), so
 * the arrival times put every phase on the same clock as the command's duration.
 */
function parseUpgradeOutput(lines) {
  const out = { phaseAtMs: {}, moved: null, drained: null, closed: null, handoverMs: null, done: false };
  for (const [atMs, line] of lines) {
    const m = /^\[(\d+(?:\.\d+)?)s\] ([a-z-]+): (.*)$/.exec(line.trim());
    if (!m) continue;
    const [, , phase, message] = m;
    if (out.phaseAtMs[phase] === undefined) out.phaseAtMs[phase] = atMs;
    if (phase === 'done') out.done = true;
    else if (phase === 'moved') {
      const mv = /(\d+) connections? moved, (\d+) finished here, (\d+) closed at the deadline(?: \(handover (\d+) ms\))?/.exec(message);
      if (mv) {
        out.moved = Number(mv[1]);
        out.drained = Number(mv[2]);
        out.closed = Number(mv[3]);
        out.handoverMs = mv[4] === undefined ? null : Number(mv[4]);
      }
    }
  }
  return out;
}

/**
 * Runs `mosnd upgrade --binary <binaryDir> --run-dir <runDir>` with this install's CLI and
 * resolves { code, signal, ms, timedOut, ...parseUpgradeOutput, output }. `ms` is spawn to exit.
 */
function runUpgrade(ctx, runDir, binaryDir = ctx.mosndRoot) {
  const args = [bin(ctx), 'upgrade', '--binary', binaryDir, '--run-dir', runDir];
  const t0 = Date.now();
  const proc = ctx.registry.spawn('mosnd-upgrade', process.execPath, args, { cwd: ctx.mosndRoot });
  const lines = [];
  let partial = '';
  proc.onOutput((t) => {
    const at = Date.now() - t0;
    const parts = (partial + t).split('\n');
    partial = parts.pop();
    for (const l of parts) lines.push([at, l]);
  });
  let timedOut = false;
  const killer = setTimeout(() => {
    timedOut = true;
    ctx.registry.stop(proc, 'SIGKILL', 0);
  }, MOSND_UPGRADE_TIMEOUT_MS);
  return proc.exitPromise.then((exit) => {
    clearTimeout(killer);
    const ms = Date.now() - t0;
    if (partial) lines.push([ms, partial]);
    return { code: exit.code, signal: exit.signal, ms, timedOut, ...parseUpgradeOutput(lines), output: proc.lastLines(3) };
  });
}

module.exports = { mosnd1: makePeer(1), mosnd2: makePeer(2), upgradeSupport, mosndVersion, runUpgrade, parseUpgradeOutput };
