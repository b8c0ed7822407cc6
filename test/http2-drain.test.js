'use strict';
/**
 * HTTP/2 connections are drained, not moved: on a graceful stop and on a hot upgrade the
 * client gets a graceful GOAWAY, the stream in flight finishes, and a new connection is served
 * (by the new generation after an upgrade).
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');
const h2 = require('./helpers/h2');

const { NGHTTP2_NO_ERROR } = h2.http2.constants;

function config(up) {
  const l = h.httpListener('h2', 'r');
  l.filter_chains[0].filters[0].config.downstream_protocol = 'Http2';
  l.filter_chains[0].filters[0].config.upstream_protocol = 'Http1'; // HTTP/1.1 upstreams (unset would follow the clients: HTTP/2)
  return h.proxyConfig({
    routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
    clusters: [h.cluster('c', [up.address])],
    listeners: [l],
  });
}

/** A stream held in flight on `session` (the upstream answers /slow on release) and the GOAWAY. */
async function streamInFlight(session, up) {
  const goaway = new Promise((resolve) => session.on('goaway', (code) => resolve(code)));
  const response = h2.request(session, { ':path': '/slow' });
  await h.waitFor(() => up.requests >= 1, 'the upstream to have the request');
  return { goaway, response };
}

test('a graceful stop sends GOAWAY to an HTTP/2 client and lets its stream in flight finish', async (t) => {
  const { up, release } = await h.heldUpstream(t);
  const m = await h.startMosnd({ config: config(up) });
  t.after(() => m.kill());
  const s = h2.connect(t, m.ports.h2);
  const { goaway, response } = await streamInFlight(s, up);

  const stopped = m.stop('SIGTERM');
  assert.equal(await goaway, NGHTTP2_NO_ERROR);
  release();
  const r = await response;
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'slow');
  assert.equal((await stopped).code, 0);
});

test('an upgrade drains an HTTP/2 connection: its stream finishes, and the next connection is served by the new generation', async (t) => {
  const { up, release } = await h.heldUpstream(t);
  const m = await h.startMosnd({ config: config(up) });
  t.after(() => m.kill());
  const statusJson = async () => JSON.parse((await m.cli(['status', '--json'])).stdout);
  const oldWorkers = (await statusJson()).processes.map((p) => p.pid);
  const s = h2.connect(t, m.ports.h2);
  assert.equal((await h2.request(s, { ':path': '/' })).status, 200);
  const { goaway, response } = await streamInFlight(s, up);

  const upgraded = m.cli(['upgrade', '--binary', h.makeInstall()]);
  assert.equal(await goaway, NGHTTP2_NO_ERROR);
  release();
  const r = await response;
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'slow');
  const u = await upgraded;
  assert.equal(u.code, 0, `${u.stdout}\n${u.stderr}`);
  assert.match(u.stdout, /done: upgraded to generation/);

  const fresh = h2.connect(t, m.ports.h2);
  const again = await h2.request(fresh, { ':path': '/' });
  assert.equal(again.status, 200);
  assert.equal(again.body.toString(), 'hello');
  const now = (await statusJson()).processes.map((p) => p.pid);
  assert.ok(now.every((p) => !oldWorkers.includes(p)), `old ${oldWorkers} now ${now}`);
});

test('an upgrade of an Auto listener moves its HTTP/1.1 keep-alive connection, drains its HTTP/2 one, and closes one that has sent nothing', async (t) => {
  const raw = require('./helpers/http-raw');
  const { up, release } = await h.heldUpstream(t);
  const cfg = config(up);
  cfg.servers[0].listeners[0].filter_chains[0].filters[0].config.downstream_protocol = 'Auto';
  const m = await h.startMosnd({ config: cfg });
  t.after(() => m.kill());

  const one = raw.rawClient(m.ports.h2);
  t.after(() => one.close());
  one.send('GET /x HTTP/1.1\r\nHost: t\r\n\r\n');
  assert.equal((await one.read()).status, 200);
  const silent = raw.rawClient(m.ports.h2);
  t.after(() => silent.close());
  await silent.connected;
  const s = h2.connect(t, m.ports.h2);
  const { goaway, response } = await streamInFlight(s, up);

  const upgraded = m.cli(['upgrade', '--binary', h.makeInstall()]);
  assert.equal(await goaway, NGHTTP2_NO_ERROR);
  assert.equal(await silent.waitClosed(), true, 'the connection that sent nothing is closed');
  release();
  assert.equal((await response).status, 200);
  const u = await upgraded;
  assert.equal(u.code, 0, `${u.stdout}\n${u.stderr}`);
  assert.match(u.stdout, /moved: 1 connections moved/);

  // The moved HTTP/1.1 connection is served by the new generation on the same socket.
  one.send('GET /y HTTP/1.1\r\nHost: t\r\n\r\n');
  const again = await one.read();
  assert.equal(again.status, 200);
  assert.equal(one.isClosed, false);
});

test('under overload an HTTP/2 connection gets GOAWAY and its stream in flight still finishes', { timeout: 60_000 }, async (t) => {
  const fs = require('node:fs');
  const { up, release } = await h.heldUpstream(t);
  const cfg = (heapThreshold) => {
    const c = config(up);
    c.overload_manager = { refresh_interval: '100ms', ...(heapThreshold !== undefined ? { heap_threshold: heapThreshold } : {}) };
    return c;
  };
  const m = await h.startMosnd({ config: cfg() });
  t.after(() => m.kill());
  const s = h2.connect(t, m.ports.h2);
  const { goaway, response } = await streamInFlight(s, up);
  // The heap is real; the threshold goes below it (a worker rests far above 0.1%).
  fs.writeFileSync(m.configFile, JSON.stringify(cfg(0.001)));
  assert.equal((await m.cli(['reload'])).code, 0);
  assert.equal(await goaway, NGHTTP2_NO_ERROR);
  release();
  const r = await response;
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'slow');
});

test('a drain sends GOAWAY twice: first with the highest stream id, so no stream already on the wire is refused, then with the last stream processed', async (t) => {
  const { up, release } = await h.heldUpstream(t);
  const m = await h.startMosnd({ config: config(up) });
  t.after(() => m.kill());
  const s = h2.connect(t, m.ports.h2);
  assert.equal((await h2.request(s, { ':path': '/' })).status, 200); // stream 1
  const goaways = [];
  const two = new Promise((resolve) =>
    s.on('goaway', (code, lastStreamID) => {
      goaways.push({ code, lastStreamID });
      if (goaways.length === 2) resolve();
    }),
  );
  const response = h2.request(s, { ':path': '/slow' }); // stream 3, held by the upstream
  await h.waitFor(() => up.requests >= 2, 'the upstream to have the held request');

  const stopped = m.stop('SIGTERM');
  await two;
  assert.deepEqual(goaways, [
    { code: NGHTTP2_NO_ERROR, lastStreamID: 2 ** 31 - 1 },
    { code: NGHTTP2_NO_ERROR, lastStreamID: 3 },
  ]);
  release();
  const r = await response;
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'slow');
  assert.equal((await stopped).code, 0);
});
