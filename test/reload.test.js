'use strict';
/**
 * Reload against real processes: `mosnd reload` and SIGHUP apply a new config without
 * dropping live connections; a bad config or a listener that cannot bind is rejected and
 * the running config stays.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const h = require('./helpers/mosnd');
const p = require('./helpers/procs');
const { keepAliveClient } = require('./helpers/clients');

/** How long a new listener may take to show up in the master's log after a reload. */
const LISTENER_BOUND_MS = 10_000;

/** A direct-response route: GET `prefix` answers 200 with `body`. */
function answer(prefix, body) {
  return { match: { prefix }, direct_response: { status: 200, body } };
}

function config({ routes, listeners, clusters }) {
  return h.proxyConfig({ routes, listeners, clusters });
}

function rewrite(file, cfg) {
  fs.writeFileSync(file, JSON.stringify(cfg, null, 2));
}

const { tryConnect } = h;

/** The master's "listening on" port for `name` once it differs from `notPort`. */
function newPort(m, name, notPort) {
  return p.waitFor(() => (m.ports[name] && m.ports[name] !== notPort ? m.ports[name] : 0), LISTENER_BOUND_MS, `listener ${name}`);
}

for (const how of ['mosnd reload', 'SIGHUP']) {
  test(`${how} adds a route and a listener without dropping a live keep-alive connection`, async (t) => {
    const m = await h.startMosnd({ config: config({ routes: [answer('/a', 'A')] }), workers: 2 });
    t.after(() => m.kill());
    const port = m.ports.http;
    const c = await keepAliveClient(port);
    t.after(() => c.close());
    assert.equal((await c.get('/a')).body, 'A');
    assert.equal((await c.get('/b')).status, 404);

    rewrite(
      m.configFile,
      config({ routes: [answer('/a', 'A'), answer('/b', 'B')], listeners: [h.httpListener('http', 'r'), h.httpListener('extra', 'r')] }),
    );
    if (how === 'SIGHUP') {
      m.child.kill('SIGHUP');
      await m.waitForLog((l) => l.msg === 'reload applied');
    } else {
      const r = await m.cli(['reload']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'configuration reloaded\n');
    }
    // The same socket: still open, and it sees the new route.
    assert.equal((await c.get('/b')).body, 'B');
    assert.equal((await c.get('/a')).body, 'A');
    assert.equal(c.closed, false);
    // The kept listener keeps its port and accepts new connections.
    assert.equal((await h.request(port, { path: '/b' })).body.toString(), 'B');
    const extra = await newPort(m, 'extra', 0);
    assert.notEqual(extra, port);
    assert.equal((await h.request(extra, { path: '/b' })).body.toString(), 'B');
    const st = await p.statusJson(m.runDir);
    assert.deepEqual(
      st.listeners.map((l) => `${l.name} ${l.address}`).sort(),
      [`extra 127.0.0.1:${extra}`, `http 127.0.0.1:${port}`],
    );
  });
}

test('a reload with an unchanged config changes nothing: same ports, same connections', async (t) => {
  const m = await h.startMosnd({
    config: config({ routes: [answer('/', 'x')], listeners: [h.httpListener('one', 'r'), h.httpListener('two', 'r')] }),
  });
  t.after(() => m.kill());
  const before = { ...m.ports };
  const c = await keepAliveClient(before.two);
  t.after(() => c.close());
  const r = await m.cli(['reload']);
  assert.equal(r.code, 0, r.stderr);
  const st = await p.statusJson(m.runDir);
  assert.deepEqual(
    st.listeners.map((l) => `${l.name} ${l.address}`).sort(),
    [`one 127.0.0.1:${before.one}`, `two 127.0.0.1:${before.two}`],
  );
  for (const port of Object.values(before)) assert.equal((await h.request(port)).status, 200);
  assert.equal((await c.get('/')).status, 200);
});

test('a changed cluster host takes effect on new and on live connections', async (t) => {
  const upA = await h.startHttpUpstream((req, res) => res.end('from A'));
  const upB = await h.startHttpUpstream((req, res) => res.end('from B'));
  t.after(() => upA.close());
  t.after(() => upB.close());
  const routes = [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }];
  const m = await h.startMosnd({ config: config({ routes, clusters: [h.cluster('c', [upA.address])] }) });
  t.after(() => m.kill());
  const c = await keepAliveClient(m.ports.http);
  t.after(() => c.close());
  assert.equal((await c.get('/')).body, 'from A');
  rewrite(m.configFile, config({ routes, clusters: [h.cluster('c', [upB.address])] }));
  const r = await m.cli(['reload']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await c.get('/')).body, 'from B');
  assert.equal((await h.request(m.ports.http)).body.toString(), 'from B');
  assert.equal(upA.requests, 1);
});

test('a removed listener stops accepting while the other keeps serving', async (t) => {
  const m = await h.startMosnd({
    config: config({ routes: [answer('/', 'x')], listeners: [h.httpListener('keep', 'r'), h.httpListener('drop', 'r')] }),
    workers: 2,
  });
  t.after(() => m.kill());
  const { keep, drop } = m.ports;
  assert.equal((await h.request(drop)).status, 200);
  rewrite(m.configFile, config({ routes: [answer('/', 'x')], listeners: [h.httpListener('keep', 'r')] }));
  const r = await m.cli(['reload']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await tryConnect(drop), 'ECONNREFUSED');
  assert.equal((await h.request(keep)).status, 200);
  await m.waitForLog((l) => l.msg === 'listener drop removed');
  const st = await p.statusJson(m.runDir);
  assert.deepEqual(st.listeners.map((l) => l.name), ['keep']);
});

test('a bad config is rejected with its errors by path and the running config stays', async (t) => {
  const m = await h.startMosnd({ config: config({ routes: [answer('/a', 'A')] }) });
  t.after(() => m.kill());
  const good = fs.readFileSync(m.configFile, 'utf8');
  const bad = config({ routes: [answer('/a', 'changed'), { match: { regex: '(' }, direct_response: { status: 200 } }] });
  bad.servers[0].graceful_timeout = '30';
  rewrite(m.configFile, bad);
  const r = await m.cli(['reload']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^mosnd: .*2 problems \[MOSND_ERR_RELOAD\]\n/);
  assert.ok(r.stderr.includes('\n  - servers[0].graceful_timeout: "30" is not a valid duration'), r.stderr);
  assert.ok(r.stderr.includes('\n  - servers[0].routers[0].virtual_hosts[0].routers[1].match.regex: '), r.stderr);
  assert.equal((await h.request(m.ports.http, { path: '/a' })).body.toString(), 'A');
  // By signal the same: rejected, logged with the errors, nothing changes.
  m.child.kill('SIGHUP');
  const line = await m.waitForLog((l) => /reload rejected/.test(l.msg ?? '') && l !== m.logs.find((x) => /reload rejected/.test(x.msg ?? '')));
  assert.equal(line.level, 'error');
  assert.ok(JSON.stringify(line).includes('servers[0].graceful_timeout'));
  assert.equal((await h.request(m.ports.http, { path: '/a' })).body.toString(), 'A');
  // A fixed file reloads fine afterwards.
  fs.writeFileSync(m.configFile, good.replace('"A"', '"fixed"'));
  const ok = await m.cli(['reload']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((await h.request(m.ports.http, { path: '/a' })).body.toString(), 'fixed');
});

test('a reload whose new listener cannot bind is rejected and nothing changes', async (t) => {
  const busy = net.createServer();
  await new Promise((r) => busy.listen(0, '127.0.0.1', r));
  t.after(() => busy.close());
  const busyPort = busy.address().port;
  const m = await h.startMosnd({ config: config({ routes: [answer('/a', 'A')] }), workers: 2 });
  t.after(() => m.kill());
  const port = m.ports.http;
  rewrite(
    m.configFile,
    config({
      routes: [answer('/a', 'A2'), answer('/b', 'B')],
      listeners: [h.httpListener('http', 'r'), h.httpListener('blocked', 'r', busyPort)],
    }),
  );
  const r = await m.cli(['reload']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[MOSND_ERR_RELOAD\]/);
  assert.ok(r.stderr.includes(`listener blocked cannot bind 127.0.0.1:${busyPort}: the address is already in use`), r.stderr);
  // Neither the route nor the listener changed.
  assert.equal((await h.request(port, { path: '/a' })).body.toString(), 'A');
  assert.equal((await h.request(port, { path: '/b' })).status, 404);
  const st = await p.statusJson(m.runDir);
  assert.deepEqual(st.listeners, [{ name: 'http', address: `127.0.0.1:${port}`, protocol: 'http' }]);
  assert.equal(st.state, 'serving');
  assert.equal(busy.listening, true);
});

test('reload -c other.json switches to that file, and later reloads read it', async (t) => {
  const m = await h.startMosnd({ config: config({ routes: [answer('/', 'first')] }) });
  t.after(() => m.kill());
  const other = path.join(h.tmpDir('mosnd-other-'), 'other.json');
  rewrite(other, config({ routes: [answer('/', 'second')] }));
  const r = await m.cli(['reload', '-c', other]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await h.request(m.ports.http)).body.toString(), 'second');
  assert.equal((await p.statusJson(m.runDir)).configSource, other);
  rewrite(other, config({ routes: [answer('/', 'third')] }));
  const again = await m.cli(['reload']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((await h.request(m.ports.http)).body.toString(), 'third');
  const missing = await m.cli(['reload', '-c', path.join(path.dirname(other), 'missing.json')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read .*missing\.json: ENOENT/);
  assert.equal((await h.request(m.ports.http)).body.toString(), 'third');
});

test('a worker that was starting during a reload serves the reloaded config once ready', async (t) => {
  const listeners = () => [h.httpListener('http', 'r'), h.httpListener('gone', 'r')];
  const m = await h.startMosnd({ config: config({ routes: [answer('/a', 'A')], listeners: listeners() }), workers: 1 });
  t.after(() => m.kill());
  const gone = m.ports.gone;
  const [old] = h.workerPids(m.pid);
  process.kill(old, 'SIGKILL');
  // Catch the replacement before it is ready and hold it there while the reload runs. Only
  // once it runs the worker script: stopped between fork and exec it would also stop the
  // master, whose spawn waits for the exec (libuv), and the reload could not even connect.
  const fresh = await p.waitFor(
    () =>
      h.workerPids(m.pid).find((x) => {
        if (x === old) return false;
        try {
          return fs.readFileSync(`/proc/${x}/cmdline`, 'latin1').includes('worker/main.js');
        } catch {
          return false;
        }
      }),
    10_000,
    'replacement worker running the worker script',
  );
  process.kill(fresh, 'SIGSTOP');
  try {
    rewrite(m.configFile, config({ routes: [answer('/a', 'A'), answer('/b', 'B')], listeners: [h.httpListener('http', 'r')] }));
    const r = await m.cli(['reload']);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    process.kill(fresh, 'SIGCONT');
  }
  await p.waitFor(async () => p.workersOf(await p.statusJson(m.runDir))[0].state === 'ready', 10_000, 'worker ready');
  // It has the new route, and it does not accept on the listener the reload removed.
  assert.equal((await h.request(m.ports.http, { path: '/b' })).body.toString(), 'B');
  assert.equal(await tryConnect(gone), 'ECONNREFUSED');
});

test('a live tcp_proxy stream survives a reload that moves its cluster to another host', async (t) => {
  const echoA = await h.startEchoServer();
  const echoB = await h.startEchoServer();
  t.after(() => echoA.close());
  t.after(() => echoB.close());
  const tcpCfg = (addr) => h.proxyConfig({ listeners: [h.tcpListener('tcp', 'c')], clusters: [h.cluster('c', [addr])] });
  const m = await h.startMosnd({ config: tcpCfg(echoA.address) });
  t.after(() => m.kill());
  const s = net.connect(m.ports.tcp, '127.0.0.1');
  t.after(() => s.destroy());
  let got = '';
  s.on('data', (d) => (got += d));
  s.write('before;');
  await p.waitFor(() => got === 'before;', 5_000, 'first echo');
  rewrite(m.configFile, tcpCfg(echoB.address));
  const r = await m.cli(['reload']);
  assert.equal(r.code, 0, r.stderr);
  s.write('after;');
  await p.waitFor(() => got === 'before;after;', 5_000, 'echo after the reload on the same stream');
  // New streams go to the new host.
  const fresh = net.connect(m.ports.tcp, '127.0.0.1');
  t.after(() => fresh.destroy());
  await new Promise((res) => fresh.once('connect', res));
  fresh.write('x');
  await new Promise((res) => fresh.once('data', res));
  // One stream each: the old one still on A, the new one on B.
  const [a, b] = await Promise.all([echoA.server, echoB.server].map((srv) => new Promise((res) => srv.getConnections((e, n) => res(n)))));
  assert.deepEqual([a, b], [1, 1]);
});
