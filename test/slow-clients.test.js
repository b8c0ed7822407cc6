'use strict';
/**
 * Slow and stuck clients: a head sent a byte at a time (slowloris), a request body that stops
 * arriving, an idle keep-alive connection. Each ends that connection with the right answer,
 * counted under the SI response flag, while other clients are served.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');
const raw = require('./helpers/http-raw');

/** The listener timeouts of these tests: short, so the tests are; the clients' pace is a
 *  fraction of them, so a loaded machine cannot make a well-paced client look stuck. */
const HEAD_TIMEOUT = '1s';
const IDLE_TIMEOUT = '1s';
/** A slowloris client's pace: well inside the idle timeout, so only the head deadline can stop it. */
const TRICKLE_MS = 150;
/** How long the slowloris keeps trying before the test calls the guard missing. */
const TRICKLE_FOR_MS = 8_000;

async function start(t, listenerExtra) {
  const up = await h.startHttpUpstream((req, res) => {
    req.resume();
    req.on('end', () => res.end(`ok ${req.url}`));
  });
  t.after(() => up.close());
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [h.cluster('c', [up.address])],
      listeners: [{ ...h.httpListener('http', 'r'), ...listenerExtra }],
      extra: { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } },
    }),
  });
  t.after(() => m.kill());
  return { up, m };
}

async function siCount(m) {
  const prom = await h.scrape(m.ports.__admin);
  return prom['mosnd_downstream_rq_response_flag_total{listener="http",response_flag="SI"}'] ?? 0;
}

test('a client that sends its head a byte at a time gets 408 at request_headers_timeout, though it never goes idle', { timeout: 30_000 }, async (t) => {
  const { m } = await start(t, { request_headers_timeout: HEAD_TIMEOUT, connection_idle_timeout: '10s' });
  const c = raw.rawClient(m.ports.http);
  t.after(() => c.close());
  await c.connected;
  const head = `GET / HTTP/1.1\r\nHost: t\r\n${'X-Pad: slow\r\n'.repeat(100)}\r\n`;
  const started = Date.now();
  let i = 0;
  while (!c.isClosed && i < head.length && Date.now() - started < TRICKLE_FOR_MS) {
    c.send(head[i++]);
    await h.sleep(TRICKLE_MS);
  }
  const r = await c.read();
  assert.equal(r.status, 408);
  assert.equal(await c.waitClosed(), true);
  assert.ok(i < head.length, 'stopped before the head was complete');
  // Others were never affected.
  assert.equal((await h.request(m.ports.http, { path: '/other' })).body.toString(), 'ok /other');
  assert.equal(await siCount(m), 1);
});

test('a request body that stops arriving gets 408 after connection_idle_timeout, and the half-sent upstream connection is not reused', { timeout: 30_000 }, async (t) => {
  const { up, m } = await start(t, { connection_idle_timeout: IDLE_TIMEOUT });
  const c = raw.rawClient(m.ports.http);
  t.after(() => c.close());
  c.send('POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789');
  const r = await c.read();
  assert.equal(r.status, 408);
  assert.equal(await c.waitClosed(), true);
  const connections = up.connections;
  assert.equal((await h.request(m.ports.http, { path: '/next' })).body.toString(), 'ok /next');
  assert.equal(up.connections, connections + 1, 'the upstream connection that got part of a body was closed');
  assert.equal(await siCount(m), 1);
});

test('an idle keep-alive connection is closed after the listener connection_idle_timeout (MOSN key)', { timeout: 30_000 }, async (t) => {
  const { m } = await start(t, { connection_idle_timeout: IDLE_TIMEOUT });
  const c = raw.rawClient(m.ports.http);
  t.after(() => c.close());
  c.send('GET /a HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.equal((await c.read()).status, 200);
  const idleSince = Date.now();
  assert.equal(await c.waitClosed(15_000), true);
  assert.ok(Date.now() - idleSince >= 900, 'not before the timeout');
  assert.equal(await siCount(m), 0, 'an idle connection between requests is no failed request');
});

test('connection_idle_timeout on a tcp_proxy listener is warned about by path, not silently ignored', async (t) => {
  const m = await h.startMosnd({
    config: h.proxyConfig({
      clusters: [h.cluster('c', ['127.0.0.1:1'])],
      listeners: [{ ...h.tcpListener('tcp', 'c'), connection_idle_timeout: '5s' }],
    }),
  });
  t.after(() => m.kill());
  const warning = m.logs.find((l) => /connection_idle_timeout/.test(l.msg ?? '') || /connection_idle_timeout/.test(JSON.stringify(l)));
  assert.ok(warning, 'a warning names the key');
  assert.match(JSON.stringify(warning), /servers\[0\]\.listeners\[0\]\.connection_idle_timeout/);
});
