'use strict';
/**
 * Resource exhaustion, with real limits: a worker's file-descriptor limit lowered with
 * prlimit(1), and the overload manager's heap threshold set below the worker's resting heap
 * (the threshold is configuration, the heap is real), and listener max_connections.
 * The worker must keep its pid, never spin, and serve again when the pressure goes.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const { execFileSync } = require('node:child_process');
const h = require('./helpers/mosnd');
const raw = require('./helpers/http-raw');

/** The overload manager's refresh in these tests: quick, so waits stay short. */
const REFRESH = '100ms';
/** File descriptors left to the worker above what it holds at rest. */
const FD_HEADROOM = 40;
/** Idle connections opened to run the worker out of descriptors (more than the headroom). */
const IDLE_CONNECTIONS = 60;

function cpuTicks(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}

function openIdle(port, n) {
  const sockets = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    sockets.push(s);
  }
  return sockets;
}

test('a worker out of file descriptors stops accepting, a new client waits in the queue instead of being reset, and is served once descriptors free up', { timeout: 60_000 }, async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end('served'));
  t.after(() => up.close());
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [h.cluster('c', [up.address])],
      extra: { overload_manager: { refresh_interval: REFRESH } },
    }),
  });
  t.after(() => m.kill());
  const [worker] = h.workerPids(m.pid);
  const atRest = fs.readdirSync(`/proc/${worker}/fd`).length;
  execFileSync('prlimit', ['--pid', String(worker), `--nofile=${atRest + FD_HEADROOM}:${atRest + FD_HEADROOM}`]);

  const idle = openIdle(m.ports.http, IDLE_CONNECTIONS);
  t.after(() => idle.forEach((s) => s.destroy()));
  const paused = await m.waitForLog((l) => /^overload: stopped accepting/.test(l.msg ?? ''), 10_000);
  assert.ok(paused.fdRatio >= 0.95, `fd ratio ${paused.fdRatio}`);

  // Not a busy loop: over a second of refreshes the worker uses a small part of a core.
  const before = cpuTicks(worker);
  await h.sleep(1_000);
  assert.ok(cpuTicks(worker) - before < 50, 'the worker does not spin at the limit');

  // This client's connection waits in the kernel's accept queue: no reset, no refusal.
  const waiting = h.request(m.ports.http, { path: '/after', timeoutMs: 20_000 });
  await h.sleep(300);
  idle.forEach((s) => s.destroy());
  const r = await waiting;
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'served');
  await m.waitForLog((l) => l.msg === 'overload: accepting connections again');
  assert.deepEqual(h.workerPids(m.pid), [worker], 'the worker did not crash');
});

test('past heap_threshold a worker closes idle connections, ends busy ones after their answer, answers new requests 503 OM, and serves again below it', { timeout: 60_000 }, async (t) => {
  const { up, release } = await h.heldUpstream(t);
  const cfg = (heapThreshold) =>
    h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [h.cluster('c', [up.address])],
      extra: { overload_manager: { refresh_interval: REFRESH, ...(heapThreshold !== undefined ? { heap_threshold: heapThreshold } : {}) } },
    });
  const m = await h.startMosnd({ config: cfg() });
  t.after(() => m.kill());
  const [worker] = h.workerPids(m.pid);

  const idle = raw.rawClient(m.ports.http);
  const partial = raw.rawClient(m.ports.http);
  const busy = raw.rawClient(m.ports.http);
  t.after(() => [idle, partial, busy].forEach((c) => c.close()));
  idle.send('GET /x HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.equal((await idle.read()).status, 200);
  await partial.connected;
  partial.send('GET /late HTTP/1.1\r\nHost: t\r\n');
  busy.send('GET /slow HTTP/1.1\r\nHost: t\r\n\r\n');
  await h.waitFor(() => up.requests >= 2, 'the slow request reached the upstream');

  // The heap is real; the threshold goes below it (a worker rests far above 0.1%).
  fs.writeFileSync(m.configFile, JSON.stringify(cfg(0.001)));
  assert.equal((await m.cli(['reload'])).code, 0);
  const onset = await m.waitForLog((l) => /^overload: heap at/.test(l.msg ?? ''), 10_000);
  assert.ok(onset.heapRatio > 0.001);
  assert.equal(await idle.waitClosed(), true, 'the idle keep-alive connection was closed');

  partial.send('\r\n');
  const shed = await partial.read();
  assert.equal(shed.status, 503);
  assert.equal(shed.headers.connection, 'close');
  assert.equal(await partial.waitClosed(), true);

  release();
  const slow = await busy.read();
  assert.equal(slow.status, 200, 'a request in flight is finished, not failed');
  assert.equal(slow.headers.connection, 'close');

  fs.writeFileSync(m.configFile, JSON.stringify(cfg()));
  assert.equal((await m.cli(['reload'])).code, 0);
  await m.waitForLog((l) => l.msg === 'overload: heap back under its threshold; serving requests again');
  await m.waitForLog((l) => l.msg === 'overload: accepting connections again');
  const again = await h.request(m.ports.http, { path: '/again', timeoutMs: 10_000 });
  assert.equal(again.status, 200);
  assert.deepEqual(h.workerPids(m.pid), [worker]);
  const recoveries = m.logs.filter((l) => l.msg === 'overload: heap back under its threshold; serving requests again');
  assert.equal(recoveries.length, 1, 'one line per change of state, not one per refresh');
});

test('a listener at max_connections closes new connections at once and counts them, while its open ones are served', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end('ok'));
  t.after(() => up.close());
  const listener = { ...h.httpListener('http', 'r'), max_connections: 2 };
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [h.cluster('c', [up.address])],
      listeners: [listener],
      extra: { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } },
    }),
  });
  t.after(() => m.kill());
  const a = raw.rawClient(m.ports.http);
  const b = raw.rawClient(m.ports.http);
  t.after(() => [a, b].forEach((c) => c.close()));
  for (const c of [a, b]) {
    c.send('GET / HTTP/1.1\r\nHost: t\r\n\r\n');
    assert.equal((await c.read()).status, 200);
  }
  const third = await h.rawExchange(m.ports.http, 'GET / HTTP/1.1\r\nHost: t\r\n\r\n', { timeoutMs: 5_000 });
  assert.equal(third.closed, true);
  assert.equal(third.data, '', 'closed without an answer');
  a.close();
  await h.waitFor(async () => (await h.rawExchange(m.ports.http, 'GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')).status === 200, 'a slot frees up');
  const prom = await h.scrape(m.ports.__admin);
  assert.ok(prom['mosnd_downstream_cx_overflow_total'] >= 1, JSON.stringify(prom['mosnd_downstream_cx_overflow_total']));
});
