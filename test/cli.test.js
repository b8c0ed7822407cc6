'use strict';
/**
 * The mosnd command line against real processes: start (foreground and daemon), stop,
 * status, version, --help, bad configs, busy ports, the run directory and its files.
 */
const { test, describe, before } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const h = require('./helpers/mosnd');
const p = require('./helpers/procs');

/** A master that is asked to stop must be gone within this time (graceful_timeout is 5 s in these configs, nothing is in flight). */
const EXIT_BOUND_MS = 10_000;

const ROUTE = 'servers[0].routers[0].virtual_hosts[0].routers[0]';
const FILTER0 = 'servers[0].listeners[0].filter_chains[0].filters[0]';

/** One HTTP listener answering 200 "ok" itself (no upstream needed). */
function directConfig(server = {}) {
  return h.proxyConfig({
    routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: 'ok' } }],
    server,
  });
}

/** A valid config with a route to a cluster, for the bad-config mutations. */
function base() {
  return h.proxyConfig({
    routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
    clusters: [h.cluster('c', ['127.0.0.1:1'])],
  });
}

const S = (d) => d.servers[0];
const L = (d, i = 0) => d.servers[0].listeners[i];
const R = (d) => d.servers[0].routers[0].virtual_hosts[0].routers[0];
const C = (d, i = 0) => d.cluster_manager.clusters[i];

/** [what is wrong, the JSON path the error must name, mutation of base()]. */
const BAD_CONFIGS = [
  ['a listener address without a port', 'servers[0].listeners[0].address', (d) => (L(d).address = '127.0.0.1')],
  ['a listener without an address', 'servers[0].listeners[0].address', (d) => delete L(d).address],
  ['a graceful_timeout without a unit', 'servers[0].graceful_timeout', (d) => (S(d).graceful_timeout = '30')],
  ['a log level mosnd does not know', 'servers[0].default_log_level', (d) => (S(d).default_log_level = 'VERBOSE')],
  ['a bind_port that is not a boolean', 'servers[0].listeners[0].bind_port', (d) => (L(d).bind_port = 'yes')],
  ['a zero connect_timeout', 'cluster_manager.clusters[0].connect_timeout', (d) => (C(d).connect_timeout = '0s')],
  ['a route to an unknown cluster', `${ROUTE}.route.cluster_name`, (d) => (R(d).route.cluster_name = 'nope')],
  [
    'a listener naming an unknown router config',
    `${FILTER0}.config.router_config_name`,
    (d) => (L(d).filter_chains[0].filters[0].config.router_config_name = 'r9'),
  ],
  [
    'a tcp_proxy to an unknown cluster',
    `${FILTER0}.config.cluster`,
    (d) => (L(d).filter_chains[0].filters = [{ type: 'tcp_proxy', config: { cluster: 'db' } }]),
  ],
  [
    'two listeners with one name',
    'servers[0].listeners[1].name',
    (d) => S(d).listeners.push({ ...structuredClone(L(d)), address: '127.0.0.1:1' }),
  ],
  [
    'two listeners on one address',
    'servers[0].listeners[1].address',
    (d) => {
      L(d).address = '127.0.0.1:2045';
      S(d).listeners.push({ ...structuredClone(L(d)), name: 'other' });
    },
  ],
  ['two clusters with one name', 'cluster_manager.clusters[1].name', (d) => d.cluster_manager.clusters.push(structuredClone(C(d)))],
  ['a path regex that does not compile', `${ROUTE}.match.regex`, (d) => (R(d).match = { regex: '(' })],
  ['a route matching both a prefix and a path', `${ROUTE}.match`, (d) => (R(d).match = { prefix: '/a', path: '/a/b' })],
  [
    'a header to add with an invalid name',
    `${ROUTE}.route.request_headers_to_add[0].header.key`,
    (d) => (R(d).route.request_headers_to_add = [{ header: { key: 'bad header', value: 'x' } }]),
  ],
  ['an unknown load balancer', 'cluster_manager.clusters[0].lb_type', (d) => (C(d).lb_type = 'LB_FASTEST')],
  [
    'TLS turned on',
    'servers[0].listeners[0].filter_chains[0].tls_context.status',
    (d) => (L(d).filter_chains[0].tls_context = { status: true }),
  ],
  ['a host port out of range', 'cluster_manager.clusters[0].hosts[0].address', (d) => (C(d).hosts[0].address = '10.0.0.1:70000')],
  ['a host weight of zero', 'cluster_manager.clusters[0].hosts[0].weight', (d) => (C(d).hosts[0].weight = 0)],
  [
    'an upstream protocol mosnd does not speak',
    `${FILTER0}.config.upstream_protocol`,
    (d) => (L(d).filter_chains[0].filters[0].config.upstream_protocol = 'dubbo'),
  ],
  [
    'a direct response status above 599',
    `${ROUTE}.direct_response.status`,
    (d) => {
      delete R(d).route;
      R(d).direct_response = { status: 700 };
    },
  ],
  [
    'a redirect with a status that is not a redirect',
    `${ROUTE}.redirect.response_code`,
    (d) => {
      delete R(d).route;
      R(d).redirect = { response_code: 200 };
    },
  ],
  ['a filter chain without a proxy filter', 'servers[0].listeners[0].filter_chains[0].filters', (d) => (L(d).filter_chains[0].filters = [])],
  ['an empty servers list', 'servers', (d) => (d.servers = [])],
  ['hosts that are not a list', 'cluster_manager.clusters[0].hosts', (d) => (C(d).hosts = { address: '127.0.0.1:8080' })],
];

function runDirFiles(dir) {
  try {
    return fs.readdirSync(dir).filter((f) => f === 'mosnd.pid' || f === 'control.sock');
  } catch {
    return [];
  }
}

test('mosnd start -c serves the config file it is given', async (t) => {
  const m = await h.startMosnd({ config: directConfig() });
  t.after(() => m.kill());
  const r = await h.request(m.ports.http, { path: '/hello' });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'ok');
});

test('--help on every command exits 0 and prints that command’s usage', async () => {
  const commands = [[], ['start'], ['stop'], ['reload'], ['status'], ['version']];
  const results = await Promise.all(commands.map((c) => h.runCli([...c, '--help'])));
  results.forEach((r, i) => {
    const name = ['mosnd', ...commands[i]].join(' ');
    assert.equal(r.code, 0, `${name} --help exited ${r.code}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage: ${name}\\b`), `${name} --help printed: ${r.stdout}`);
  });
  assert.match(results[1].stdout, /--config <file>/);
  assert.match(results[2].stdout, /--fast/);
});

test('version and --version print the package version', async () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(h.ROOT, 'package.json'), 'utf8'));
  const [v, flag] = await Promise.all([h.runCli(['version']), h.runCli(['--version'])]);
  assert.equal(v.code, 0);
  assert.equal(v.stdout, `mosnd ${pkg.version} (node ${process.version})\n`);
  assert.equal(flag.code, 0);
  assert.equal(flag.stdout.trim(), pkg.version);
});

test('an unknown command or option is a usage error (exit 2)', async () => {
  const [cmd, opt] = await Promise.all([h.runCli(['frobnicate']), h.runCli(['status', '--bogus'])]);
  assert.equal(cmd.code, 2);
  assert.match(cmd.stderr, /unknown command 'frobnicate'/);
  assert.equal(opt.code, 2);
  assert.match(opt.stderr, /unknown option '--bogus'/);
});

describe('a bad config file is refused by start with the JSON path of the problem', () => {
  const results = new Map();
  before(async () => {
    await Promise.all(
      BAD_CONFIGS.map(async ([what, , mutate]) => {
        const d = base();
        mutate(d);
        const dir = h.tmpDir('mosnd-bad-');
        const file = h.writeConfig(d, dir);
        const runDir = path.join(dir, 'run');
        const r = await h.runCli(['start', '-c', file, '--run-dir', runDir, '--workers', '1']);
        results.set(what, { ...r, runDir, file });
        fs.rmSync(dir, { recursive: true, force: true });
      }),
    );
  });
  for (const [what, jsonPath] of BAD_CONFIGS) {
    test(`refuses ${what}, naming ${jsonPath}`, () => {
      const r = results.get(what);
      assert.equal(r.code, 1, `exit code; stderr: ${r.stderr}`);
      assert.match(r.stderr, /^mosnd: .*\[MOSND_ERR_CONFIG_INVALID\]\n/);
      assert.ok(r.stderr.includes(`\n  - ${jsonPath}: `), `stderr should name ${jsonPath}:\n${r.stderr}`);
      assert.equal(r.stdout, '');
    });
  }
  test('leaves no pidfile or control socket behind for any of them', () => {
    for (const [what] of BAD_CONFIGS) assert.deepEqual(runDirFiles(results.get(what).runDir), [], what);
  });
});

test('a config with no listener is refused: there is nothing to serve', async () => {
  const d = directConfig();
  d.servers[0].listeners = [];
  const r = await h.runCli(['start', '-c', h.writeConfig(d), '--run-dir', h.tmpDir('mosnd-run-')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no listener.*\[MOSND_ERR_CONFIG_INVALID\]/);
});

test('a config file that cannot be read is reported with MOSND_ERR_CONFIG_READ and the reason', async () => {
  const dir = h.tmpDir('mosnd-read-');
  const missing = path.join(dir, 'missing.json');
  const [gone, isDir] = await Promise.all([
    h.runCli(['start', '-c', missing, '--run-dir', path.join(dir, 'run1')]),
    h.runCli(['start', '-c', dir, '--run-dir', path.join(dir, 'run2')]),
  ]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /\[MOSND_ERR_CONFIG_READ\]/);
  assert.ok(gone.stderr.includes(`cannot read ${missing}: ENOENT`), gone.stderr);
  assert.equal(isDir.code, 1);
  assert.match(isDir.stderr, /\[MOSND_ERR_CONFIG_READ\]/);
  assert.match(isDir.stderr, /EISDIR/);
  assert.deepEqual(runDirFiles(path.join(dir, 'run1')), []);
});

test('a config file that is not JSON is reported with MOSND_ERR_CONFIG_JSON, line and column', async () => {
  const dir = h.tmpDir('mosnd-json-');
  const file = path.join(dir, 'broken.json');
  fs.writeFileSync(file, '{\n  "servers": [\n    { "listeners": [] }\n    { "x": 1 }\n  ]\n}\n');
  const r = await h.runCli(['start', '-c', file, '--run-dir', path.join(dir, 'run')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[MOSND_ERR_CONFIG_JSON\]/);
  assert.match(r.stderr, /\n  - invalid JSON at line 4, column 5: expected "," or "\]" after an array element, found "\{"\n$/);
});

test(
  'a stray comma in a config file is reported at its line and column',
  async () => {
    const dir = h.tmpDir('mosnd-json-');
    const file = path.join(dir, 'broken.json');
    fs.writeFileSync(file, '{\n  "servers": [\n    { "listeners": [] },,\n  ]\n}\n');
    const r = await h.runCli(['start', '-c', file, '--run-dir', path.join(dir, 'run')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[MOSND_ERR_CONFIG_JSON\]/);
    assert.match(r.stderr, /\n  - invalid JSON at line 3, column 25: [^\n]*\n$/);
  },
);

/** A config whose listener wants a port another socket already holds (closed at the end). */
async function busyPortConfig(t) {
  const busy = net.createServer();
  await new Promise((r) => busy.listen(0, '127.0.0.1', r));
  t.after(() => busy.close());
  const port = busy.address().port;
  const d = directConfig();
  d.servers[0].listeners[0].address = `127.0.0.1:${port}`;
  return { port, d, busy };
}

test('a port already in use is refused with one clear sentence and nothing is left behind', async (t) => {
  const { port, d, busy } = await busyPortConfig(t);
  const runDir = h.tmpDir('mosnd-run-');
  const r = await h.runCli(['start', '-c', h.writeConfig(d), '--run-dir', runDir, '--workers', '1']);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `mosnd: listener http cannot bind 127.0.0.1:${port}: the address is already in use [MOSND_ERR_LISTEN]\n`,
  );
  assert.deepEqual(runDirFiles(runDir), []);
  // The port still belongs to its owner.
  assert.equal(busy.listening, true);
});

test('a second start on a run dir whose master runs is refused with MOSND_ERR_ALREADY_RUNNING', async (t) => {
  const m = await h.startMosnd({ config: directConfig() });
  t.after(() => m.kill());
  const r = await h.runCli(['start', '-c', m.configFile, '--run-dir', m.runDir, '--workers', '1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`already running with pid ${m.pid} .*\\[MOSND_ERR_ALREADY_RUNNING\\]`));
  // The first one is untouched: its pidfile, its control socket, its listener.
  assert.equal(fs.readFileSync(path.join(m.runDir, 'mosnd.pid'), 'utf8'), `${m.pid}\n`);
  assert.equal((await p.statusJson(m.runDir)).masterPid, m.pid);
  assert.equal((await h.request(m.ports.http)).status, 200);
});

test('two starts racing on one run dir: exactly one serves, the other is refused', async (t) => {
  const dir = h.tmpDir('mosnd-race-');
  const runDir = path.join(dir, 'run');
  const file = h.writeConfig(directConfig(), dir);
  const starts = [0, 1].map(() =>
    h.startMosnd({ configFile: file, runDir, workers: 1 }).then(
      (m) => (t.after(() => m.kill()), { m }),
      (e) => ({ e }),
    ),
  );
  const [a, b] = await Promise.all(starts);
  const served = [a, b].filter((x) => x.m);
  const refused = [a, b].filter((x) => x.e);
  assert.equal(served.length, 1, `exactly one should serve: ${[a, b].map((x) => x.e?.message ?? 'served').join(' / ')}`);
  assert.match(refused[0].e.message, /MOSND_ERR_ALREADY_RUNNING/);
  assert.equal((await p.statusJson(runDir)).masterPid, served[0].m.pid);
});

test('a stale pidfile and control socket left by a dead master are cleaned up and start succeeds', async (t) => {
  const runDir = h.tmpDir('mosnd-run-');
  fs.chmodSync(runDir, 0o700);
  const sock = path.join(runDir, 'control.sock');
  const deadSocketOwner = await p.staleSocket(sock);
  fs.writeFileSync(path.join(runDir, 'mosnd.pid'), `${p.deadPid()}\n`);
  assert.ok(p.isGone(deadSocketOwner));
  const m = await h.startMosnd({ config: directConfig(), runDir });
  t.after(() => m.kill());
  assert.equal(fs.readFileSync(path.join(runDir, 'mosnd.pid'), 'utf8'), `${m.pid}\n`);
  const st = await p.statusJson(runDir);
  assert.equal(st.masterPid, m.pid);
  assert.equal((await h.request(m.ports.http)).status, 200);
});

test('a pidfile whose pid now belongs to another program does not block a start', async (t) => {
  const runDir = h.tmpDir('mosnd-run-');
  const other = require('node:child_process').spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => other.kill('SIGKILL'));
  fs.writeFileSync(path.join(runDir, 'mosnd.pid'), `${other.pid}\n`);
  const m = await h.startMosnd({ config: directConfig(), runDir });
  t.after(() => m.kill());
  assert.equal(fs.readFileSync(path.join(runDir, 'mosnd.pid'), 'utf8'), `${m.pid}\n`);
});

test('the run dir is 0700, the control socket 0600, the pidfile holds the master pid and is removed on stop', async (t) => {
  const runDir = path.join(h.tmpDir('mosnd-run-'), 'nested', 'run');
  const m = await h.startMosnd({ config: directConfig(), runDir });
  t.after(() => m.kill());
  assert.equal(fs.statSync(runDir).mode & 0o777, 0o700);
  const sock = fs.lstatSync(path.join(runDir, 'control.sock'));
  assert.ok(sock.isSocket());
  assert.equal(sock.mode & 0o777, 0o600);
  assert.equal(fs.readFileSync(path.join(runDir, 'mosnd.pid'), 'utf8'), `${m.pid}\n`);
  const r = await m.cli(['stop']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await m.exitPromise, { code: 0, signal: null });
  assert.deepEqual(runDirFiles(runDir), []);
});

test('stop and reload exit 3 with MOSND_ERR_NOT_RUNNING when nothing runs', async () => {
  const runDir = h.tmpDir('mosnd-run-');
  const rs = await Promise.all([h.runCli(['stop', '--run-dir', runDir]), h.runCli(['reload', '--run-dir', runDir])]);
  for (const r of rs) {
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^mosnd: .*\[MOSND_ERR_NOT_RUNNING\]\n$/);
  }
});

test('status --json reports role, pid, state, uptime, restarts, cpu and memory of every process', async (t) => {
  const m = await h.startMosnd({ config: directConfig(), workers: 2 });
  t.after(() => m.kill());
  const st = await p.statusJson(m.runDir);
  assert.equal(st.masterPid, m.pid);
  assert.equal(st.state, 'serving');
  assert.deepEqual(st.processes.map((x) => x.role), ['master', 'worker', 'worker']);
  assert.equal(st.processes[0].pid, m.pid);
  assert.deepEqual(
    p.workersOf(st).map((w) => w.pid).sort(),
    h.workerPids(m.pid).sort(),
  );
  for (const proc of st.processes) {
    assert.ok(proc.pid > 0);
    assert.equal(typeof proc.state, 'string');
    assert.ok(proc.uptimeMs >= 0 && proc.uptimeMs < 60_000, `uptime ${proc.uptimeMs}`);
    assert.equal(proc.restarts, 0);
    assert.ok(Number.isFinite(proc.cpu) && proc.cpu >= 0);
    assert.ok(proc.memory > 1024 * 1024, `memory ${proc.memory}`);
  }
  assert.deepEqual(p.workersOf(st).map((w) => w.state), ['ready', 'ready']);
  assert.deepEqual(st.listeners, [{ name: 'http', address: `127.0.0.1:${m.ports.http}`, protocol: 'http' }]);
  // The table form lists the same processes.
  const table = await m.cli(['status']);
  assert.equal(table.code, 0);
  for (const proc of st.processes) assert.match(table.stdout, new RegExp(`\\b${proc.pid}\\b`));
});

test('stop (graceful) exits 0 once the master and its workers are gone', async (t) => {
  const m = await h.startMosnd({ config: directConfig(), workers: 2 });
  t.after(() => m.kill());
  const workers = h.workerPids(m.pid);
  assert.equal(workers.length, 2);
  const r = await m.cli(['stop']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `mosnd (pid ${m.pid}) stopped\n`);
  assert.ok(p.isGone(m.pid), 'the master is gone when stop returns');
  assert.deepEqual(await m.exitPromise, { code: 0, signal: null });
  await p.waitGone(workers, EXIT_BOUND_MS);
});

test('stop --fast cuts a request in flight instead of waiting for it', async (t) => {
  let held = 0;
  const up = await h.startHttpUpstream(() => held++); // never answers
  t.after(() => up.close());
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', timeout: '60s' } }],
      clusters: [h.cluster('c', [up.address])],
      server: { graceful_timeout: '60s' },
    }),
  });
  t.after(() => m.kill());
  const inFlight = h.request(m.ports.http, { timeoutMs: 30_000 }).then(
    () => 'answered',
    (e) => e.code ?? e.message,
  );
  await p.waitFor(() => held === 1, 5_000, 'request reached the upstream');
  const r = await m.cli(['stop', '--fast']);
  assert.equal(r.code, 0, r.stderr);
  // A graceful stop would wait up to 60 s; the fast one returns as soon as the master is gone.
  assert.equal(await inFlight, 'ECONNRESET');
  assert.deepEqual(await m.exitPromise, { code: 0, signal: null });
});

test('start --daemon returns once ready; the daemon serves until stop ends it', async (t) => {
  const dir = h.tmpDir('mosnd-daemon-');
  const runDir = path.join(dir, 'run');
  const file = h.writeConfig(directConfig(), dir);
  const r = await h.runCli(['start', '--daemon', '-c', file, '--run-dir', runDir, '--workers', '1']);
  const pidFile = path.join(runDir, 'mosnd.pid');
  const daemonPid = Number(fs.existsSync(pidFile) ? fs.readFileSync(pidFile, 'utf8') : 0);
  t.after(() => daemonPid && p.killAll([...h.workerPids(daemonPid), daemonPid]));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^mosnd started as a daemon, pid ${daemonPid}, logs in ${runDir}/mosnd.out\\n$`));
  assert.ok(!p.isGone(daemonPid));
  const st = await p.statusJson(runDir);
  assert.equal(st.masterPid, daemonPid);
  const port = Number(st.listeners[0].address.split(':')[1]);
  assert.equal((await h.request(port)).status, 200);
  assert.match(fs.readFileSync(path.join(runDir, 'mosnd.out'), 'utf8'), /serving with 1 worker/);
  const workers = h.workerPids(daemonPid);
  const s = await h.runCli(['stop', '--run-dir', runDir]);
  assert.equal(s.code, 0, s.stderr);
  assert.ok(p.isGone(daemonPid));
  await p.waitGone(workers, EXIT_BOUND_MS);
  assert.deepEqual(runDirFiles(runDir), []);
});

test('start --daemon with a bad config fails in the foreground with the error', async () => {
  const d = base();
  d.servers[0].graceful_timeout = '30';
  const runDir = h.tmpDir('mosnd-run-');
  const r = await h.runCli(['start', '--daemon', '-c', h.writeConfig(d), '--run-dir', runDir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /servers\[0\]\.graceful_timeout: "30" is not a valid duration/);
  assert.deepEqual(runDirFiles(runDir), []);
});

test('start --daemon that cannot start says why in the foreground: a busy port, a run dir already owned', async (t) => {
  const { port, d } = await busyPortConfig(t);
  const dir = h.tmpDir('mosnd-daemon-');
  const runDir = path.join(dir, 'run');
  // An earlier failed run left its lines in the log: only this run's reason is reported.
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(runDir, 'mosnd.out'), 'mosnd: an old failure [MOSND_ERR_RUNDIR]\n');
  const r = await h.runCli(['start', '--daemon', '-c', h.writeConfig(d, dir), '--run-dir', runDir, '--workers', '1']);
  assert.equal(r.code, 1);
  assert.ok(r.stderr.includes(`listener http cannot bind 127.0.0.1:${port}: the address is already in use [MOSND_ERR_LISTEN]`), r.stderr);
  assert.ok(!r.stderr.includes('old failure'), r.stderr);
  assert.deepEqual(runDirFiles(runDir), []);

  const m = await h.startMosnd({ config: directConfig() });
  t.after(() => m.kill());
  const again = await h.runCli(['start', '--daemon', '-c', m.configFile, '--run-dir', m.runDir, '--workers', '1']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, new RegExp(`already running with pid ${m.pid} .*\\[MOSND_ERR_ALREADY_RUNNING\\]`));
  assert.equal((await p.statusJson(m.runDir)).masterPid, m.pid);
});

test('the real MOSN example config starts, warns on stderr about what mosnd ignores, and serves', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end(`upstream ${req.url}`));
  t.after(() => up.close());
  const d = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'configs', 'mosn-real-example.json'), 'utf8'));
  for (const l of d.servers[0].listeners) l.address = '127.0.0.1:0';
  for (const c of d.cluster_manager.clusters) c.hosts[0].address = up.address;
  const accessLog = path.join(h.tmpDir('mosnd-access-'), 'access.log');
  d.servers[0].listeners[0].access_logs[0].log_path = accessLog; // "./access.log" would land in the cwd
  d.admin.address.socket_address.port_value = 0;
  d.metrics.sinks[0].config.port = 0;
  const m = await h.startMosnd({ config: d });
  t.after(() => m.kill());
  for (const w of ['tracing', 'servers[0].mosn_server_name', 'servers[0].listeners[0].stream_filters[1].type']) {
    assert.ok(m.stderr.includes(`mosnd: warning: ${w}: `), `a warning for ${w} in:\n${m.stderr}`);
  }
  for (const line of m.stderr.trim().split('\n')) assert.match(line, /^mosnd: warning: /);
  const [server, client] = await Promise.all([
    h.request(m.ports.serverListener, { path: '/s' }),
    h.request(m.ports.clientListener, { path: '/c' }),
  ]);
  assert.equal(server.status, 200);
  assert.equal(server.body.toString(), 'upstream /s');
  assert.equal(client.status, 200);
  assert.equal(client.body.toString(), 'upstream /c');
});
