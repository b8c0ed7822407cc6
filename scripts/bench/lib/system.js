'use strict';
// Facts about the machine and the tools, plus small networking helpers.

const fs = require('node:fs');
const os = require('node:os');
const net = require('node:net');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { PORT_POLL_INTERVAL_MS, INSTALL_TIMEOUT_MS } = require('./constants');

const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';
// h2load (nghttp2-client) drives the HTTP/2 scenarios only; the run goes on without it.
const REQUIRED_TOOLS = ['wrk', 'nginx', 'haproxy', 'curl', 'taskset', 'h2load'];

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

function missingTools() {
  const missing = REQUIRED_TOOLS.filter((t) => !which(t));
  if (!fs.existsSync(NGINX_STREAM_MODULE) && !missing.includes('nginx')) missing.push('nginx stream module');
  return missing;
}

/** Runs scripts/install-bench-tools.sh when a tool is missing; returns the tools still missing. */
function ensureTools(repoRoot, log) {
  let missing = missingTools();
  if (missing.length === 0) return [];
  log(`missing tools: ${missing.join(', ')}; running scripts/install-bench-tools.sh`);
  const r = spawnSync('bash', [path.join(repoRoot, 'scripts', 'install-bench-tools.sh')], {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: INSTALL_TIMEOUT_MS,
  });
  if (r.status !== 0) log(`install-bench-tools.sh failed (exit ${r.status})`);
  missing = missingTools();
  return missing;
}

function cpuInfo() {
  let model = 'unknown';
  try {
    const text = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const m = /^model name\s*:\s*(.+)$/m.exec(text) || /^Hardware\s*:\s*(.+)$/m.exec(text);
    if (m) model = m[1].trim();
  } catch {
    // not Linux
  }
  // The CPUs this process may run on (a container's cpuset), which is what pinning can use.
  let allowed = [];
  try {
    const m = /^Cpus_allowed_list:\s*(.+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) allowed = expandCpuList(m[1].trim());
  } catch {
    // fall through
  }
  if (allowed.length === 0) allowed = os.cpus().map((_, i) => i);
  return { model, count: allowed.length, allowed, online: os.cpus().length };
}

function expandCpuList(list) {
  const out = [];
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let i = a; i <= (Number.isFinite(b) ? b : a); i++) out.push(i);
  }
  return out;
}

/**
 * Chooses CPU sets: proxy under test on the first CPU, load generator + backend on the second,
 * a two-worker proxy on two CPUs that are not the load CPU when there are 3+ CPUs (else on both).
 */
function cpuPlan(cpu, enabled) {
  const a = cpu.allowed;
  if (!enabled || a.length < 2) {
    return { enabled: false, proxy: null, load: null, proxy2: null, note: enabled ? 'fewer than 2 CPUs: no pinning' : 'pinning disabled (--no-pin)' };
  }
  const proxy = String(a[0]);
  const load = String(a[1]);
  const proxy2 = a.length >= 3 ? `${a[0]},${a[2]}` : `${a[0]},${a[1]}`;
  return { enabled: true, proxy, load, proxy2, note: '' };
}

function firstLine(cmd, args) {
  try {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
    const text = `${r.stdout || ''}\n${r.stderr || ''}`;
    return text.split('\n').map((l) => l.trim()).find(Boolean) || 'unknown';
  } catch {
    return 'unknown';
  }
}

function toolVersions(repoRoot) {
  let hp3 = 'missing';
  try {
    hp3 = require(path.join(repoRoot, 'node_modules', 'http-proxy-3', 'package.json')).version;
  } catch {
    // not installed
  }
  return {
    node: process.version,
    nginx: firstLine('nginx', ['-v']).replace(/^nginx version:\s*(nginx\/)?/, ''),
    haproxy: firstLine('haproxy', ['-v']).replace(/^HAProxy version\s*/, '').split(' ')[0],
    wrk: firstLine('wrk', ['-v']).split(' ')[1] || 'unknown',
    h2load: (/nghttp2\/(\S+)/.exec(firstLine('h2load', ['--version'])) || [])[1] || 'missing',
    'http-proxy-3': hp3,
    kernel: os.release(),
  };
}

/**
 * Raises the open-file limit of this process (inherited by every process it spawns) so that
 * 10,000 idle connections fit on both sides. Returns the soft limit now in force.
 */
function raiseNofile(want) {
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${want}:${want}`], { stdio: 'ignore' });
  } catch {
    try {
      // Not root: the soft limit can still go up to the hard limit.
      const hard = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
      const n = hard === 'unlimited' ? want : Math.min(want, Number(hard));
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${n}:`], { stdio: 'ignore' });
    } catch {
      // keep what we have
    }
  }
  return currentNofile();
}

function currentNofile() {
  try {
    const text = fs.readFileSync('/proc/self/limits', 'utf8');
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
    if (m) return m[1] === 'unlimited' ? Infinity : Number(m[1]);
  } catch {
    // fall through
  }
  return 1024;
}

/** Ports freePort() handed out in this run: the kernel may give a port it just freed again, and
 *  two listeners of one peer's config then collide (seen once: "listeners[1].address overlaps
 *  listeners[0]"). */
const portsGiven = new Set();
/** Attempts at a port not handed out yet before giving up (the ephemeral range has thousands). */
const FREE_PORT_ATTEMPTS = 100;

/** A free TCP port on 127.0.0.1 (bound then released; the small race is acceptable here). */
function probePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A port free now and not handed out before in this run. */
async function freePort() {
  for (let i = 0; i < FREE_PORT_ATTEMPTS; i++) {
    const port = await probePort();
    if (!portsGiven.has(port)) {
      portsGiven.add(port);
      return port;
    }
  }
  throw new Error(`no free port not already handed out after ${FREE_PORT_ATTEMPTS} attempts`);
}

function tryConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Waits until 127.0.0.1:port accepts, or the process exits, or the timeout passes. */
async function waitPort(port, timeoutMs, proc) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && proc.exited) return false;
    if (await tryConnect(port)) return true;
    await new Promise((r) => setTimeout(r, PORT_POLL_INTERVAL_MS));
  }
  return false;
}

module.exports = {
  which,
  ensureTools,
  missingTools,
  cpuInfo,
  cpuPlan,
  toolVersions,
  raiseNofile,
  currentNofile,
  freePort,
  waitPort,
  NGINX_STREAM_MODULE,
};
