'use strict';
/**
 * Test helpers: start a real mosnd master through the CLI, real upstream servers, and
 * clients. Everything binds port 0 on 127.0.0.1 and is cleaned up by the caller (use
 * `t.after(...)` or the returned `stop()`).
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'mosnd.js');

/** How long a master may take to report it serves: spawning workers takes ~200 ms, but the
 *  test runner runs files in parallel on 2 cores. */
const START_TIMEOUT_MS = 20_000;
/** How long a CLI command may take in tests. */
const CLI_TIMEOUT_MS = 60_000;
/** After a child exits, how long its stdout/stderr may take to deliver their last bytes. The
 *  pipes normally close in the same loop turn; a grandchild that inherited them (an upgraded
 *  master) keeps them open forever, so the wait must end. */
const STDIO_DRAIN_MS = 2_000;

/** Temp dirs made by this test process, removed when it exits (run dirs, configs, installs). */
const createdDirs = [];
process.on('exit', () => {
  for (const d of createdDirs) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {
      /* a process of ours may still be writing there: best effort */
    }
  }
});

function tmpDir(prefix = 'mosnd-test-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  createdDirs.push(d);
  return d;
}

function writeConfig(config, dir = tmpDir()) {
  const file = path.join(dir, 'mosn.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** An HTTP listener entry of a MOSN config. */
/**
 * An HTTP/2 (h2c, prior knowledge) listener. `upstreamProtocol`: 'Http1' (default: the tests'
 * upstreams are mostly HTTP/1.1), 'Http2', or null to leave it unset (it then follows the
 * clients, MOSN's rule: HTTP/2 upstreams).
 */
function h2Listener(name, routerName, upstreamProtocol = 'Http1') {
  const l = httpListener(name, routerName);
  const cfg = l.filter_chains[0].filters[0].config;
  cfg.downstream_protocol = 'Http2';
  if (upstreamProtocol === null) delete cfg.upstream_protocol;
  else cfg.upstream_protocol = upstreamProtocol;
  return l;
}

function httpListener(name, routerName, port = 0) {
  return {
    name,
    address: `127.0.0.1:${port}`,
    bind_port: true,
    filter_chains: [
      {
        filters: [
          {
            type: 'proxy',
            config: { downstream_protocol: 'Http1', upstream_protocol: 'Http1', router_config_name: routerName },
          },
        ],
      },
    ],
  };
}

function tcpListener(name, cluster, port = 0) {
  return {
    name,
    address: `127.0.0.1:${port}`,
    bind_port: true,
    filter_chains: [{ filters: [{ type: 'tcp_proxy', config: { cluster } }] }],
  };
}

function cluster(name, addresses, extra = {}) {
  return {
    name,
    type: 'SIMPLE',
    lb_type: 'LB_ROUNDROBIN',
    hosts: addresses.map((a) => (typeof a === 'string' ? { address: a } : a)),
    ...extra,
  };
}

/**
 * A whole MOSN config: `routes` are the routers of one virtual host with domains ["*"]
 * (or pass `virtualHosts`), `clusters` as built by cluster(), `listeners` default to one
 * HTTP listener "http" on port 0.
 */
function proxyConfig({ routes, virtualHosts, clusters = [], listeners, server = {}, extra = {} }) {
  return {
    servers: [
      {
        default_log_path: 'stdout',
        default_log_level: 'INFO',
        graceful_timeout: '5s',
        routers: [
          {
            router_config_name: 'r',
            virtual_hosts: virtualHosts ?? [{ name: 'v', domains: ['*'], routers: routes ?? [] }],
          },
        ],
        listeners: listeners ?? [httpListener('http', 'r')],
        ...server,
      },
    ],
    cluster_manager: { clusters },
    ...extra,
  };
}

/**
 * Starts `mosnd start` on a config object (or file path). Resolves once the master says it
 * serves, with the listener ports parsed from its "listening on" lines.
 */
function startMosnd({ config, configFile, workers = 1, runDir = tmpDir('mosnd-run-'), args = [], env = {} }) {
  const file = configFile ?? writeConfig(config);
  const child = spawn(process.execPath, [BIN, 'start', '-c', file, '--workers', String(workers), '--run-dir', runDir, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const m = {
    child,
    pid: child.pid,
    runDir,
    configFile: file,
    ports: {},
    logs: [],
    stderr: '',
    exited: null,
    exitPromise: new Promise((resolve) => child.on('exit', (code, signal) => resolve((m.exited = { code, signal })))),
    logWaiters: [],
    /** Resolves with the first log line (parsed JSON) for which pred is true. */
    waitForLog(pred, timeoutMs = START_TIMEOUT_MS) {
      const found = m.logs.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`log line not seen in ${timeoutMs} ms; stderr: ${m.stderr}`)), timeoutMs);
        m.logWaiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      });
    },
    async stop(signal = 'SIGTERM') {
      if (m.exited) return m.exited;
      child.kill(signal);
      return m.exitPromise;
    },
    /**
     * Kills the master and its workers (they would exit by themselves when the master is
     * gone, but a test must not leave them draining in the background) — and, after an
     * upgrade, the serving generation too: its master is not our child, the pidfile names it.
     */
    async kill() {
      // Only a master that served can have handed over to another; a start that failed must
      // not touch the master that owns the run dir (it is someone else's).
      const serving = m.served ? servingPid(runDir) : 0;
      for (const master of [child.pid, serving]) {
        if (!master || (master === child.pid && m.exited) || (master !== child.pid && !isAlive(master))) continue;
        for (const p of [...workerPids(master), master]) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {}
        }
      }
      return m.exitPromise;
    },
    cli(cmdArgs, opts) {
      return runCli([...cmdArgs, '--run-dir', runDir], opts);
    },
  };
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let obj;
      try {
        obj = JSON.parse(line);
      } catch {
        obj = { msg: line };
      }
      m.logs.push(obj);
      if (obj.listener && obj.address && / listening on /.test(obj.msg)) {
        m.ports[obj.listener] = Number(obj.address.slice(obj.address.lastIndexOf(':') + 1));
      }
      for (const w of [...m.logWaiters]) {
        if (w.pred(obj)) {
          m.logWaiters.splice(m.logWaiters.indexOf(w), 1);
          w.resolve(obj);
        }
      }
    }
  });
  child.stderr.on('data', (d) => (m.stderr += d));
  const ready = m.waitForLog((l) => /serving with/.test(l.msg ?? '')).then((l) => {
    m.served = true;
    return l;
  });
  return Promise.race([
    ready.then(() => m),
    m.exitPromise.then((e) => {
      throw new Error(`mosnd exited before serving (code ${e.code}, signal ${e.signal}): ${m.stderr}`);
    }),
  ]).catch(async (e) => {
    // Never leave a master behind that nobody will stop: its piped stdio would keep the
    // test process alive after the last test.
    await m.kill();
    throw e;
  });
}

/** Pids of the children of `pid` (the workers of a master). */
function workerPids(pid) {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Runs the mosnd CLI; resolves with { code, stdout, stderr }. */
function runCli(args, { timeoutMs = CLI_TIMEOUT_MS, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mosnd ${args.join(' ')} did not finish in ${timeoutMs} ms`));
    }, timeoutMs);
    whenDone(child).then(({ code }) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Resolves with { code, signal } once `child` has exited AND its piped stdout/stderr have
 * delivered everything ('close'). 'exit' alone can fire before the last 'data' event, which
 * made a CLI's one-line error look empty (a CI failure). Gives up on the pipes STDIO_DRAIN_MS
 * after the exit, for a grandchild that holds them.
 */
function whenDone(child) {
  return new Promise((resolve) => {
    let exited = null;
    let drainTimer = null;
    const finish = () => {
      clearTimeout(drainTimer);
      resolve(exited);
    };
    child.once('close', (code, signal) => {
      exited ??= { code, signal };
      finish();
    });
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      drainTimer = setTimeout(finish, STDIO_DRAIN_MS);
    });
  });
}

/**
 * A real HTTP/1.1 upstream (node:http). `handler(req, res)` answers; it counts accepted TCP
 * connections and requests so tests can check reuse.
 */
function startHttpUpstream(handler) {
  const server = http.createServer(handler ?? ((req, res) => res.end(`${req.method} ${req.url}`)));
  server.keepAliveTimeout = 60_000;
  const up = { server, connections: 0, requests: 0, port: 0, address: '' };
  server.on('connection', () => up.connections++);
  server.on('request', () => up.requests++);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      up.port = server.address().port;
      up.address = `127.0.0.1:${up.port}`;
      up.close = () => new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      });
      resolve(up);
    });
  });
}

/** A TCP echo server. */
function startEchoServer() {
  const sockets = new Set();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = server.address().port;
      resolve({
        server,
        port,
        address: `127.0.0.1:${port}`,
        close: () => new Promise((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
      });
    });
  });
}

/** One request with node:http; resolves { status, headers, body (Buffer), socketId }. */
function request(port, { method = 'GET', path: p = '/', headers = {}, body, agent = false, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), socket: res.socket }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('request timeout')));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

/**
 * Sends raw bytes and collects everything the server sends until it closes (or timeout).
 * Resolves { data (string, latin1), closed: boolean, status (first status code or 0) }.
 */
function rawExchange(port, bytes, { timeoutMs = 5_000, endAfterWrite = false } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks = [];
    let closed = false;
    const finish = () => {
      const data = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      resolve({ data, closed, status: m ? Number(m[1]) : 0 });
    };
    const timer = setTimeout(() => {
      s.destroy();
      finish();
    }, timeoutMs);
    s.on('connect', () => {
      if (endAfterWrite) s.end(bytes);
      else s.write(bytes);
    });
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      closed = true;
      clearTimeout(timer);
      finish();
    });
  });
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

module.exports = {
  ROOT,
  BIN,
  tmpDir,
  writeConfig,
  httpListener,
  h2Listener,
  tcpListener,
  cluster,
  proxyConfig,
  startMosnd,
  workerPids,
  runCli,
  whenDone,
  startHttpUpstream,
  startEchoServer,
  request,
  rawExchange,
  sleep,
};

/**
 * A second install of this mosnd (what `npm ci && npm run build` in another checkout gives):
 * the built files copied, node_modules linked. `mutate(dir)` may change it (a broken build).
 */
function makeInstall(mutate) {
  const dir = tmpDir('mosnd-install-');
  for (const item of ['bin', 'dist', 'config', 'package.json', 'proto']) {
    fs.cpSync(path.join(ROOT, item), path.join(dir, item), { recursive: true });
  }
  fs.mkdirSync(path.join(dir, 'src', 'shared'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'src', 'shared', 'control.proto'), path.join(dir, 'src', 'shared', 'control.proto'));
  fs.cpSync(path.join(ROOT, 'build', 'Release'), path.join(dir, 'build', 'Release'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  if (mutate) mutate(dir);
  return dir;
}

/** The pid in the run dir's pidfile (the serving master). */
function servingPid(runDir) {
  try {
    return Number(fs.readFileSync(path.join(runDir, 'mosnd.pid'), 'utf8').trim());
  } catch {
    return 0;
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * An upstream that answers /slow only once the test calls `release()` (a request held in
 * flight across a stop or an upgrade); everything else at once. Released and closed at the end.
 */
async function heldUpstream(t) {
  let release;
  const held = new Promise((r) => (release = r));
  const up = await startHttpUpstream((req, res) => (req.url === '/slow' ? held.then(() => res.end('slow')) : res.end('hello')));
  t.after(() => {
    release();
    return up.close();
  });
  return { up, release };
}

/** Resolves 'connected' or the connect error's code (ECONNREFUSED...). */
function tryConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e) => resolve(e.code));
  });
}

/** Waits until `pred()` is true, polling; rejects after `timeoutMs` with `what`. */
async function waitFor(pred, what, timeoutMs = 10_000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

module.exports.makeInstall = makeInstall;
module.exports.servingPid = servingPid;
module.exports.isAlive = isAlive;
module.exports.waitFor = waitFor;
module.exports.heldUpstream = heldUpstream;
module.exports.tryConnect = tryConnect;

/**
 * The most common test set-up: mosnd with one HTTP listener whose every request goes to one
 * cluster of `addresses`; stopped when the test ends. `route` adds route options (timeout,
 * retry_policy...), `server` server options, `workers` the worker count.
 */
async function proxyTo(t, addresses, { route = {}, server = {}, workers = 1, clusterExtra = {} } = {}) {
  const m = await startMosnd({
    config: proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', ...route } }],
      clusters: [cluster('c', Array.isArray(addresses) ? addresses : [addresses], clusterExtra)],
      server,
    }),
    workers,
  });
  t.after(() => m.kill());
  return m;
}

module.exports.proxyTo = proxyTo;

/** Parses the Prometheus text format into { 'name{a="b"}': value } (labels as written). */
function parseProm(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

/** One scrape of an admin (or metrics sink) port, parsed by parseProm; throws unless 200. */
async function scrape(port, path = '/stats/prometheus') {
  const r = await request(port, { path });
  if (r.status !== 200) throw new Error(`GET ${path} answered ${r.status}`);
  return parseProm(r.body.toString());
}
module.exports.parseProm = parseProm;
module.exports.scrape = scrape;

/**
 * mosnd proxying every request to `upAddress`, its listener writing the access log to a new
 * file; stopped when the test ends. Resolves { m, file }.
 */
async function proxyWithAccessLog(t, upAddress) {
  const file = path.join(tmpDir(), 'access.log');
  const config = proxyConfig({ routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }], clusters: [cluster('c', [upAddress])] });
  config.servers[0].listeners[0].access_logs = [{ log_path: file }];
  const m = await startMosnd({ config });
  t.after(() => m.kill());
  return { m, file };
}
module.exports.proxyWithAccessLog = proxyWithAccessLog;
