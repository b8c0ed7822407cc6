#!/usr/bin/env node
'use strict';
// mosnd benchmark suite: `npm run bench` (see bench/README.md).
// Measures mosnd against nginx, HAProxy, http-proxy-3 and a bare Node pipe on this machine, in one
// run, and writes a Markdown report with absolute figures and ratios.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { Registry, stopPeer } = require('./lib/procs');
const system = require('./lib/system');
const { PEERS, SCENARIOS, select } = require('./lib/scenarios');
const { benchCert } = require('./lib/tls-cert');
const { sanity, sanityH2, measureLoad, measureIdle } = require('./lib/measure');
const { combineRounds } = require('./lib/rounds');
const { measureUpgrades, measureUpgradeIdle } = require('./lib/upgrades');
const { cpuTimes, cpuBusy } = require('./lib/proc-stats');
const report = require('./lib/report');
const { startBackend, SMALL_BODY } = require('./peers/backend');
const { Unavailable } = require('./peers/common');
const { upgradeSupport, mosndVersion } = require('./peers/mosnd');
const { WATCHDOG_GRACE_MS } = require('./lib/constants');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const DEFAULT_OUT = path.join(REPO_ROOT, 'bench', 'results', 'latest.md');

// Mode defaults. Full: 7 peers x up to 5 load scenarios of (2 + 8) s plus idle ≈ 6 min, then
// 100 upgrades of mosnd-2w under load with a steady window of the same length before them
// (≈ 2 × 100 × ~1.1 s on a quiet 2-core machine) and one upgrade with 1,000 idle connections per
// mosnd peer: ≈ 9.5 min, under the 10-minute bound (the upgrade loop stops early, and says so,
// when the budget runs out on a slower or busier machine). Quick: three load/idle scenarios of
// (1 + 2) s and upgrade-idle ≈ 50 s; `--only upgrades --quick` (10 upgrades) ≈ 30 s alone.
// roundS: what each round after the first adds with --rounds (load scenarios only: 8 peers x
// up to 8 scenarios of warm-up + measurement, ~490 s measured in full mode, plus starts).
const MODES = {
  full: { warmupS: 2, durationS: 8, idleConns: 10000, upgrades: 100, budgetS: 570, roundS: 560 },
  quick: { warmupS: 1, durationS: 2, idleConns: 1000, upgrades: 10, budgetS: 55, roundS: 40 },
};
// Open files wanted: 10,000 idle connections on each side plus upstream pools, with room to spare.
const NOFILE_WANTED = 65536;
// Length of the "how busy is the machine without us" sample taken before the run.
const IDLE_SAMPLE_MS = { quick: 500, full: 2000 };
// Busy % of a CPU, with nothing of ours running, above which the run is flagged as noisy.
const NOISY_BUSY_PERCENT = 5;
// Descriptors kept free beside the idle connections in each process (upstream pools, listeners).
const IDLE_FD_MARGIN = 2000;

const HELP = `Usage: node scripts/bench/run.js [options]   (npm run bench -- [options])

  --quick            short run (about 1 minute): small-64, tcp-small-64, idle (1000 conns), upgrade-idle
  --only a,b         peers and/or scenarios by id or prefix (see --list), e.g. --only nginx,mosnd,small-64;
                     the HTTP/2 scenario (h2load) runs only when named: --only h2
  --json FILE        also write the results as JSON
  --out FILE         Markdown report path (default bench/results/latest.md; "-" = do not write)
  --duration S       seconds measured per peer and scenario (default 8, quick 2)
  --warmup S         warm-up seconds before each measurement (default 2, quick 1)
  --idle-conns N     idle connections for the idle scenario (default 10000, quick 1000)
  --upgrades N       upgrades in a row in the upgrades scenario (default 100, quick 10)
  --budget S         time budget in seconds; measurements that would pass it are skipped
                     (default 570, quick 55; with --rounds, 560 / 40 more per extra round)
  --rounds N         measure the load scenarios N times, every peer once per round, and keep each
                     peer's median round: ratios between peers then do not carry the machine's
                     drift between one peer's turn and the next (idle and upgrades: last round only)
  --no-pin           do not pin processes to CPUs with taskset
  --no-install       do not run scripts/install-bench-tools.sh when a tool is missing
  --keep-tmp         keep the temp directory (configs and logs of every peer)
  --mosnd-dir DIR    the mosnd install to measure (default: this checkout)
  --list             list peer and scenario ids
  -h, --help         this help`;

function parseArgs(argv) {
  const o = { quick: false, only: '', json: null, out: DEFAULT_OUT, pin: true, install: true, keepTmp: false };
  const num = (name, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) fail(`${name} needs a non-negative number, got ${JSON.stringify(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--only') o.only = next();
    else if (a === '--json') o.json = path.resolve(next());
    else if (a === '--out') {
      const v = next();
      o.out = v === '-' ? null : path.resolve(v);
    } else if (a === '--duration') o.durationS = num(a, next());
    else if (a === '--warmup') o.warmupS = num(a, next());
    else if (a === '--idle-conns') o.idleConns = Math.floor(num(a, next()));
    else if (a === '--upgrades') o.upgrades = Math.floor(num(a, next()));
    else if (a === '--budget') o.budgetS = num(a, next());
    else if (a === '--rounds') o.rounds = Math.max(1, Math.floor(num(a, next())));
    else if (a === '--no-pin') o.pin = false;
    else if (a === '--no-install') o.install = false;
    else if (a === '--keep-tmp') o.keepTmp = true;
    else if (a === '--mosnd-dir') o.mosndDir = path.resolve(next());
    else if (a === '--list') o.list = true;
    else if (a === '-h' || a === '--help') o.help = true;
    else fail(`unknown option ${a} (see --help)`);
  }
  const mode = MODES[o.quick ? 'quick' : 'full'];
  o.rounds ??= 1;
  if (o.budgetS === undefined) o.budgetS = mode.budgetS + (o.rounds - 1) * mode.roundS;
  for (const k of Object.keys(mode)) if (o[k] === undefined) o[k] = mode[k];
  if (o.durationS < 1) fail('--duration must be at least 1 second');
  return o;
}

function fail(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

const t0 = Date.now();
function log(msg) {
  const s = ((Date.now() - t0) / 1000).toFixed(0).padStart(3);
  process.stderr.write(`[${s}s] ${msg}\n`);
}

function gitDescribe(dir) {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `${rev}${dirty ? ' (with uncommitted changes)' : ''}`;
  } catch {
    return 'unknown';
  }
}

function summary(peer, scenario, r) {
  if (r.status !== 'ok') return `${r.status}${r.reason ? `: ${r.reason}` : ''}`;
  if (scenario.kind === 'load') {
    const w = r.wrk;
    const thr = scenario.metric === 'MBps' ? `${(w.bytesPerSec / 1048576).toFixed(0)} MB/s` : `${w.rps.toFixed(0)} req/s`;
    const cpu = r.cpuPerReqUs === null ? '' : `, proxy ${r.cpuPerReqUs.toFixed(1)} µs CPU/req (${r.cpuPercent.toFixed(0)}%)`;
    // h2load gives the mean latency, not percentiles.
    const lat = w.latencyMs.p99 === null ? `mean ${w.latencyMs.mean.toFixed(2)} ms` : `p99 ${w.latencyMs.p99.toFixed(2)} ms, p99.9 ${w.latencyMs.p999.toFixed(2)} ms`;
    return `${thr}, ${lat}, errors ${w.errors.total}${cpu}`;
  }
  if (scenario.kind === 'idle') {
    return `${r.opened}/${r.count} open, RSS ${(r.rssBefore / 1048576).toFixed(1)} -> ${(r.rssAfter / 1048576).toFixed(1)} MB, ${r.alive} alive at probe`;
  }
  return report.upgradeSummary(scenario, r);
}

function applies(peer, scenario) {
  if (scenario.mosndOnly && !peer.isMosnd) return false;
  if (scenario.kind !== 'load' && !peer.isProxy) return false;
  return Boolean(peer[scenario.mode]);
}

async function runPeer(ctx, peer, scenarios, run) {
  const mine = scenarios.filter((s) => applies(peer, s.scenario));
  if (mine.length === 0) return;
  const set = (s, r) => {
    s.results[peer.id] = r;
    log(`${peer.id} ${s.scenario.id}: ${summary(peer, s.scenario, r)}`);
  };
  const todo = mine.filter((s) => {
    if (s.skipped) return false;
    if (s.scenario.needsUpgrade && !ctx.upgrade.ok) {
      s.results[peer.id] = { status: 'skipped', reason: ctx.upgrade.reason };
      return false;
    }
    if (ctx.quick && s.scenario.quickPeers && !s.scenario.quickPeers.includes(peer.id)) return false;
    if (!ctx.peersNamed && s.scenario.defaultPeers && !s.scenario.defaultPeers.includes(peer.id)) return false;
    return true;
  });
  const shared = todo.filter((s) => !s.scenario.ownInstance);
  if (shared.length) await runShared(ctx, peer, shared, run, set);
  // The upgrade scenarios start (and stop) their own instance each.
  for (const s of todo.filter((x) => x.scenario.ownInstance)) {
    const sc = s.scenario;
    if (Date.now() + sc.minSeconds * 1000 > ctx.deadline) {
      set(s, { status: 'skipped', reason: 'time budget reached' });
      continue;
    }
    log(`${peer.id} ${sc.id}: starting its own instance`);
    try {
      set(s, sc.kind === 'upgrades' ? await measureUpgrades(ctx, peer, sc) : await measureUpgradeIdle(ctx, peer, sc));
    } catch (e) {
      set(s, { status: e instanceof Unavailable ? 'unavailable' : 'failed', reason: oneLine(e.message) });
    }
  }
}

/** `--rounds N` (see lib/rounds.js): every peer once per round, then each peer's median round. */
async function runRounds(ctx, peers, run, rounds) {
  const byRound = [];
  for (let r = 0; r < rounds; r++) {
    log(`round ${r + 1} of ${rounds}`);
    // Idle and upgrades in the last round: the load rounds come first, and the upgrades loop
    // (which stops early, and says so, when the budget runs out) gets what is left.
    const scenarios = run.scenarios
      .filter((s) => r === rounds - 1 || s.scenario.kind === 'load')
      .map((s) => ({ ...s, results: {} }));
    // A measurement cached in one round must not stand in for the next round's.
    ctx.cache = new Map();
    for (const peer of peers) await runPeer(ctx, peer, scenarios, run);
    byRound.push(scenarios);
  }
  for (const s of run.scenarios) {
    const mine = byRound.map((sc) => sc.find((x) => x.scenario === s.scenario)).filter(Boolean);
    s.results = combineRounds(mine.map((x) => x.results));
  }
  run.meta.notes.push(`load scenarios: each peer's median of ${rounds} rounds (peers interleaved round by round); idle and upgrades from the last round`);
}

/** The scenarios that share one started instance of the peer (load and idle). */
async function runShared(ctx, peer, todo, run, set) {
  let handle = null;
  try {
    log(`starting ${peer.id}`);
    handle = await peer.start(ctx);
    if (handle.note) run.meta.notes.push(`${peer.id}: ${handle.note}`);
  } catch (e) {
    const status = e instanceof Unavailable ? 'unavailable' : 'failed';
    for (const s of todo) set(s, { status, reason: oneLine(e.message) });
    await stopPeer(ctx, handle);
    return;
  }
  try {
    const broken = {};
    // Only the modes this run measures: an HTTP/2 port is checked when an h2 scenario is on.
    for (const mode of [...new Set(todo.map((s) => s.scenario.mode))]) {
      const port = handle[`${mode}Port`];
      if (port) {
        const bad = mode === 'h2' ? await sanityH2(port, '/small', SMALL_BODY) : await sanity(port, '/small', SMALL_BODY, mode === 'https');
        if (bad) broken[mode] = `sanity check (one GET through ${mode} port) failed: ${bad}`;
      } else if (peer[mode]) {
        broken[mode] = handle[`${mode}Unavailable`] || `no ${mode} port`;
      }
    }
    for (const s of todo) {
      const sc = s.scenario;
      if (broken[sc.mode]) {
        set(s, { status: handle[`${sc.mode}Unavailable`] ? 'unavailable' : 'failed', reason: broken[sc.mode] });
        continue;
      }
      const need = ctx.warmupS + ctx.durationS + 2;
      if (Date.now() + need * 1000 > ctx.deadline) {
        set(s, { status: 'skipped', reason: 'time budget reached' });
        continue;
      }
      // "direct" gives the same figures to the http and tcp variants of one scenario: measure once.
      const cacheKey = `${peer.id}|${sc.mode}|${handle[`${sc.mode}Port`]}|${sc.path}|${sc.conns}|${sc.kind}|${(sc.headers ?? []).join(',')}|${sc.pauseMs ?? 0}`;
      if (sc.kind === 'load' && ctx.cache.has(cacheKey)) {
        const prev = ctx.cache.get(cacheKey);
        set(s, { ...prev.result, note: `(same measurement as ${prev.scenario})` });
        continue;
      }
      try {
        let r;
        if (sc.kind === 'load') r = await measureLoad(ctx, peer, handle, sc);
        else r = await measureIdle(ctx, peer, handle, sc);
        if (sc.kind === 'load' && r.status === 'ok') ctx.cache.set(cacheKey, { scenario: sc.id, result: r });
        set(s, r);
      } catch (e) {
        set(s, { status: 'failed', reason: oneLine(e.message) });
      }
      if (handle.proc && handle.proc.exited && peer.id !== 'direct') {
        const why = `${peer.id} exited during ${sc.id} (${handle.proc.exited.code ?? handle.proc.exited.signal}): ${oneLine(handle.proc.lastLines(2))}`;
        run.meta.notes.push(why);
        for (const rest of todo.slice(todo.indexOf(s) + 1)) set(rest, { status: 'failed', reason: why });
        break;
      }
    }
  } finally {
    await stopPeer(ctx, handle);
  }
}

function oneLine(s) {
  return String(s).replace(/\s+/g, ' ').replace(/\|/g, '/').trim().slice(0, 300);
}

function writeOutputs(opts, run) {
  const md = report.markdown(run);
  if (opts.out) {
    fs.mkdirSync(path.dirname(opts.out), { recursive: true });
    fs.writeFileSync(opts.out, md);
  }
  if (opts.json) {
    fs.mkdirSync(path.dirname(opts.json), { recursive: true });
    fs.writeFileSync(opts.json, `${JSON.stringify(report.json(run), null, 2)}\n`);
  }
  return md;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (opts.list) {
    process.stdout.write(`peers: ${PEERS.map((p) => p.id).join(', ')}\nscenarios: ${SCENARIOS.map((s) => `${s.id}${s.quick ? ' (quick)' : ''}${s.optIn ? ` (opt-in: --only ${s.id.split('-')[0]})` : ''}${s.mosndOnly ? ' (mosnd only)' : ''}`).join(', ')}\n`);
    return 0;
  }
  const sel = select(opts.only, opts.quick);
  if (sel.unknown.length) fail(`--only: unknown peer or scenario ${sel.unknown.join(', ')} (see --list)`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mosnd-bench-'));
  fs.chmodSync(tmp, 0o755);
  const registry = new Registry(tmp);
  const cleanupSync = () => registry.killAllSync();
  process.on('exit', cleanupSync);
  // First signal: stop every process gracefully (so that nginx/mosnd masters reap their workers)
  // within a bounded time, remove the temp directory, exit. A second signal: kill at once.
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      if (stopping) {
        cleanupSync();
        process.exit(130);
      }
      stopping = true;
      log(`${sig}: stopping every process of the run`);
      registry.stopAll().finally(() => {
        if (!opts.keepTmp) fs.rmSync(tmp, { recursive: true, force: true });
        process.exit(130);
      });
    });
  }

  const cpu = system.cpuInfo();
  const plan = system.cpuPlan(cpu, opts.pin);
  const run = {
    peers: sel.peers,
    scenarios: sel.scenarios.map((scenario) => ({ scenario, results: {}, skipped: null })),
    ratios: [],
    meta: {
      date: new Date().toISOString(),
      mode: opts.quick ? 'quick' : 'full',
      warmupS: opts.warmupS,
      durationS: opts.durationS,
      idleConns: opts.idleConns,
      upgrades: opts.upgrades,
      cpu,
      pinning: plan.enabled
        ? `proxy under test on CPU ${plan.proxy} (1 worker / process / thread each); wrk, the backend nginx and the idle client on CPU ${plan.load}; mosnd 2 workers (†) on CPUs ${plan.proxy2}`
        : plan.note,
      versions: {},
      nofile: null,
      loadStart: os.loadavg()[0].toFixed(2),
      loadEnd: null,
      elapsedS: null,
      notes: [],
    },
  };
  const finish = () => {
    run.meta.loadEnd = os.loadavg()[0].toFixed(2);
    run.meta.elapsedS = ((Date.now() - t0) / 1000).toFixed(0);
    run.ratios = report.ratios(run);
    return writeOutputs(opts, run);
  };

  // Hard bound on the whole run: whatever hangs, every process dies and the partial report is written.
  const watchdog = setTimeout(() => {
    log(`watchdog: run exceeded ${opts.budgetS} s + grace; killing every process`);
    cleanupSync();
    run.meta.notes.push('the run was cut by the watchdog; figures are partial');
    try {
      process.stdout.write(finish());
    } finally {
      process.exit(3);
    }
  }, opts.budgetS * 1000 + WATCHDOG_GRACE_MS);

  try {
    const missing = opts.install ? system.ensureTools(REPO_ROOT, log) : system.missingTools();
    if (missing.includes('wrk') || missing.includes('nginx')) {
      throw new Error(`cannot run without ${missing.join(', ')} (scripts/install-bench-tools.sh installs them)`);
    }
    if (missing.length) run.meta.notes.push(`missing: ${missing.join(', ')}`);
    const nofile = system.raiseNofile(NOFILE_WANTED);
    run.meta.nofile = nofile;
    // The idle client holds one fd per connection, and so does an HTTP proxy (its upstream pool
    // stays small); keep a margin for upstream pools, listeners and logs.
    if (nofile < opts.idleConns + IDLE_FD_MARGIN) {
      const fit = Math.max(100, nofile - IDLE_FD_MARGIN);
      run.meta.notes.push(`open-file limit ${nofile} too low for ${opts.idleConns} idle connections; using ${fit}`);
      opts.idleConns = fit;
      run.meta.idleConns = fit;
    }
    const ctx = {
      repoRoot: REPO_ROOT,
      mosndRoot: opts.mosndDir || REPO_ROOT,
      tmp,
      registry,
      plan,
      quick: opts.quick,
      warmupS: opts.warmupS,
      durationS: opts.durationS,
      idleConns: opts.idleConns,
      upgrades: opts.upgrades,
      peersNamed: sel.peersNamed,
      nofile,
      // Per nginx worker: every idle client connection plus its upstream, with headroom.
      workerConnections: Math.max(1024, Math.min(nofile - 200, 40000)),
      deadline: t0 + opts.budgetS * 1000,
      cache: new Map(),
      upgrade: { ok: false, reason: 'not checked' },
      backend: null,
      // The certificate of the HTTPS scenarios, made only when one of them runs.
      tlsCert: sel.scenarios.some((s) => s.mode === 'https') ? benchCert(tmp) : null,
    };
    run.meta.versions = { ...system.toolVersions(REPO_ROOT), mosnd: `${mosndVersion(ctx)} @ ${gitDescribe(ctx.mosndRoot)}` };
    log(`CPU: ${cpu.model}, ${cpu.count} usable CPU(s); ${run.meta.pinning}`);
    log(`Node ${process.version}; mode ${run.meta.mode}; peers ${sel.peers.map((p) => p.id).join(',')}; scenarios ${sel.scenarios.map((s) => s.id).join(',')}`);
    // How busy the machine is without us: the noise floor of every figure that follows.
    const before = cpuTimes();
    await new Promise((r) => setTimeout(r, opts.quick ? IDLE_SAMPLE_MS.quick : IDLE_SAMPLE_MS.full));
    run.meta.idleBusy = cpuBusy(before, cpuTimes());
    const noisy = Object.entries(run.meta.idleBusy).filter(([, v]) => v > NOISY_BUSY_PERCENT);
    if (noisy.length) {
      const text = noisy.map(([c, v]) => `CPU ${c} ${v.toFixed(0)}% busy`).join(', ');
      log(`note: ${text} before the run: other work on the machine makes the figures noisy`);
    }

    if (sel.scenarios.some((s) => s.needsUpgrade) && sel.peers.some((p) => p.isMosnd)) {
      ctx.upgrade = upgradeSupport(ctx);
      if (!ctx.upgrade.ok) log(`upgrade scenarios skipped: ${ctx.upgrade.reason}`);
    }

    ctx.backend = await startBackend(ctx);
    const bad = await sanity(ctx.backend.port, '/small', SMALL_BODY);
    if (bad) throw new Error(`backend nginx does not answer: ${bad}`);
    log(`backend nginx on 127.0.0.1:${ctx.backend.port}`);

    if (opts.rounds > 1) await runRounds(ctx, sel.peers, run, opts.rounds);
    else for (const peer of sel.peers) await runPeer(ctx, peer, run.scenarios, run);
    await registry.stop(ctx.backend.proc, 'SIGTERM');
  } catch (e) {
    run.meta.notes.push(`run aborted: ${oneLine(e.message)}`);
    log(`error: ${e.message}`);
    process.exitCode = 1;
  } finally {
    await registry.stopAll();
    clearTimeout(watchdog);
    if (opts.keepTmp) log(`temp directory kept: ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
  const md = finish();
  process.stdout.write(md);
  if (opts.out) log(`report written to ${path.relative(process.cwd(), opts.out) || opts.out}`);
  if (opts.json) log(`JSON written to ${opts.json}`);
  return process.exitCode || 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`bench: ${e.stack || e}\n`);
    process.exit(1);
  },
);
