'use strict';
/**
 * HTTP/2 limits with real clients: rapid reset (CVE-2023-44487) closes only the offending
 * connection, flow control follows the upstream's backpressure, oversized header lists and
 * stalled request bodies are refused per stream, and no client's bytes take a worker down.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const net = require('node:net');
const h = require('./helpers/mosnd');
const h2 = require('./helpers/h2');

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM } = h2.http2.constants;

/** Must match H2_RAPID_RESET_MAX in src/shared/constants.ts: the test resets more than that. */
const RAPID_RESET_MAX = 200;

function h2Listener(name, extra = {}) {
  const l = h.httpListener(name, 'r');
  l.filter_chains[0].filters[0].config.downstream_protocol = 'Http2';
  l.filter_chains[0].filters[0].config.upstream_protocol = 'Http1'; // HTTP/1.1 upstreams (unset would follow the clients: HTTP/2)
  return { ...l, ...extra };
}

async function start(t, up, listenerExtra = {}) {
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [h.cluster('c', [up.address])],
      listeners: [h2Listener('h2', listenerExtra)],
    }),
  });
  t.after(() => m.kill());
  return m;
}

async function workerPids(m) {
  const r = await m.cli(['status', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).processes.filter((p) => p.role !== 'master').map((p) => p.pid).sort();
}

test('a client that resets streams rapidly gets GOAWAY ENHANCE_YOUR_CALM; the worker and other clients carry on', async (t) => {
  const up = await h.startHttpUpstream((req, res) => (req.url === '/slow' ? setTimeout(() => res.end('late'), 5_000) : res.end('ok')));
  t.after(() => up.close());
  const m = await start(t, up);
  const before = await workerPids(m);
  const bystander = h2.connect(t, m.ports.h2);
  assert.equal((await h2.request(bystander, { ':path': '/' })).status, 200);

  const attacker = h2.connect(t, m.ports.h2);
  const goaway = new Promise((resolve) => attacker.on('goaway', (code) => resolve(code)));
  const closed = new Promise((resolve) => attacker.on('close', resolve));
  await new Promise((resolve) => attacker.on('connect', resolve));
  for (let i = 0; i < RAPID_RESET_MAX * 3 && !attacker.closed && !attacker.destroyed; i++) {
    const req = attacker.request({ ':path': '/slow' });
    req.on('error', () => {});
    // Let the HEADERS go out, then cancel: the attack's pattern.
    await new Promise((r) => setImmediate(r));
    if (!req.destroyed) req.close(NGHTTP2_CANCEL);
  }
  assert.equal(await goaway, NGHTTP2_ENHANCE_YOUR_CALM);
  await closed;
  await m.waitForLog((l) => /rapid reset/.test(l.msg ?? ''));

  assert.equal((await h2.request(bystander, { ':path': '/' })).status, 200);
  const fresh = h2.connect(t, m.ports.h2);
  assert.equal((await h2.request(fresh, { ':path': '/' })).status, 200);
  assert.deepEqual(await workerPids(m), before);
});

/** HEADERS (GET / on `id`, end of stream) then RST_STREAM(CANCEL) on it: the attack's frame pair. */
function headersThenReset(id) {
  // HPACK: GET, http, :path "/slow" (literal), :authority "x" (literal).
  const block = Buffer.concat([Buffer.from([0x82, 0x86, 0x44, 0x05]), Buffer.from('/slow'), Buffer.from([0x41, 0x01, 0x78])]);
  const headers = Buffer.alloc(9);
  headers.writeUIntBE(block.length, 0, 3);
  headers[3] = 0x1; // HEADERS
  headers[4] = 0x5; // END_STREAM | END_HEADERS
  headers.writeUInt32BE(id, 5);
  const rst = Buffer.from([0, 0, 4, 0x3, 0, 0, 0, 0, 0, 0, 0, 0, 0x8]);
  rst.writeUInt32BE(id, 5);
  return Buffer.concat([headers, block, rst]);
}

/** The error code of the first GOAWAY frame in `bytes` (server frames after its preface), or -1. */
function goawayCode(bytes) {
  let at = 0;
  while (at + 9 <= bytes.length) {
    const len = bytes.readUIntBE(at, 3);
    if (bytes[at + 3] === 0x7 && at + 9 + 8 <= bytes.length) return bytes.readUInt32BE(at + 9 + 4);
    at += 9 + len;
  }
  return -1;
}

test('HEADERS and RST_STREAM pairs sent in one write (the attack as it is sent) end in GOAWAY ENHANCE_YOUR_CALM', async (t) => {
  const up = await h.startHttpUpstream((req, res) => (req.url === '/slow' ? setTimeout(() => res.end('late'), 5_000) : res.end('ok')));
  t.after(() => up.close());
  const m = await start(t, up);
  const before = await workerPids(m);
  const pairs = [];
  for (let i = 0; i < RAPID_RESET_MAX * 3; i++) pairs.push(headersThenReset(1 + 2 * i));
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
  const r = await h.rawExchange(m.ports.h2, Buffer.concat([preface, settings, ...pairs]), { timeoutMs: 10_000 });
  assert.ok(r.closed, 'the connection was closed');
  assert.equal(goawayCode(Buffer.from(r.data, 'latin1')), NGHTTP2_ENHANCE_YOUR_CALM);
  const s = h2.connect(t, m.ports.h2);
  assert.equal((await h2.request(s, { ':path': '/' })).status, 200);
  await m.waitForLog((l) => /rapid reset/.test(l.msg ?? ''));
  assert.deepEqual(await workerPids(m), before);
});

test('a request body is read only as fast as the upstream takes it (HTTP/2 flow control follows backpressure)', async (t) => {
  let received = 0;
  let upReq = null;
  const hash = crypto.createHash('sha256');
  const up = await h.startHttpUpstream((req, res) => {
    upReq = req;
    req.on('data', (d) => {
      received += d.length;
      hash.update(d);
    });
    req.pause(); // reads nothing until the test says so
    req.on('end', () => res.end(`${received} ${hash.digest('hex')}`));
  });
  t.after(() => up.close());
  const m = await start(t, up);
  const s = h2.connect(t, m.ports.h2);
  const body = crypto.randomBytes(32 * 1024 * 1024);
  const digest = crypto.createHash('sha256').update(body).digest('hex');
  const req = s.request({ ':method': 'POST', ':path': '/upload', 'content-length': String(body.length) });
  const chunks = [];
  const done = new Promise((resolve, reject) => {
    req.on('data', (d) => chunks.push(d));
    req.on('end', resolve);
    req.on('error', reject);
  });
  req.end(body);
  await h.waitFor(() => upReq !== null, 'the upstream to get the request');
  // Everything the kernel buffers between the three processes is in flight; then the client
  // is stuck with the rest: its writes wait for a window mosnd does not open.
  let last = -1;
  let stable = 0;
  await h.waitFor(
    () => {
      const total = received + upReq.socket.readableLength + (upReq.readableLength ?? 0);
      stable = total === last ? stable + 1 : 0;
      last = total;
      return stable >= 5 && req.writableLength > 0;
    },
    'the client to be held back by flow control',
    20_000,
    200,
  );
  assert.ok(req.writableLength > body.length / 4, `the client should still hold most of the body, holds ${req.writableLength}`);
  upReq.resume();
  await done;
  assert.equal(Buffer.concat(chunks).toString(), `${body.length} ${digest}`);
});

test('mosnd announces its stream and header limits in its HTTP/2 SETTINGS', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end('ok'));
  t.after(() => up.close());
  const m = await start(t, up);
  const s = h2.connect(t, m.ports.h2);
  const settings = await new Promise((resolve) => s.on('remoteSettings', resolve));
  // H2_MAX_CONCURRENT_STREAMS and H2_MAX_HEADER_LIST_BYTES in src/shared/constants.ts.
  assert.equal(settings.maxConcurrentStreams, 100);
  assert.equal(settings.maxHeaderListSize, 64 * 1024);
});

test('a header list over the limit fails that stream only; the connection keeps serving', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end('ok'));
  t.after(() => up.close());
  const m = await start(t, up);
  // The client's own limit on what it sends is lifted, so the oversized list reaches mosnd.
  const s = h2.connect(t, m.ports.h2, { maxSendHeaderBlockLength: 1024 * 1024 });
  // A first exchange: our SETTINGS (with the limit) are acknowledged before the big request.
  assert.equal((await h2.request(s, { ':path': '/' })).status, 200);
  const big = await h2.request(s, { ':path': '/', 'x-big': crypto.randomBytes(40 * 1024).toString('hex') }).then(
    (r) => `status ${r.status}`,
    (e) => e.message,
  );
  assert.match(big, /NGHTTP2_ENHANCE_YOUR_CALM/);
  assert.equal((await h2.request(s, { ':path': '/' })).status, 200);
});

test('a stalled HTTP/2 request body gets 408 after the listener idle timeout', async (t) => {
  const up = await h.startHttpUpstream((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  t.after(() => up.close());
  const m = await start(t, up, { connection_idle_timeout: '1s' });
  const s = h2.connect(t, m.ports.h2);
  const req = s.request({ ':method': 'POST', ':path': '/' });
  req.write('part of a body');
  const status = await new Promise((resolve, reject) => {
    req.on('response', (hd) => resolve(hd[':status']));
    req.on('error', reject);
  });
  assert.equal(status, 408);
});

test('an HTTP/2 connection with no stream open for the listener idle timeout is closed with GOAWAY', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end('ok'));
  t.after(() => up.close());
  const m = await start(t, up, { connection_idle_timeout: '1s' });
  const s = h2.connect(t, m.ports.h2);
  const goaway = new Promise((resolve) => s.on('goaway', (code) => resolve(code)));
  const closed = new Promise((resolve) => s.on('close', resolve));
  assert.equal((await h2.request(s, { ':path': '/' })).status, 200);
  const idleSince = Date.now();
  assert.equal(await goaway, h2.http2.constants.NGHTTP2_NO_ERROR);
  await closed;
  assert.ok(Date.now() - idleSince >= 900, 'not before the idle timeout');
});

test('garbage after the HTTP/2 preface closes that connection and the worker keeps serving', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end('ok'));
  t.after(() => up.close());
  const m = await start(t, up);
  const before = await workerPids(m);
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  // An empty SETTINGS frame, then frames of random type, flags, stream and payload.
  const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
  for (let i = 0; i < 20; i++) {
    const payload = crypto.randomBytes(1 + crypto.randomInt(2048));
    const frame = Buffer.alloc(9);
    frame.writeUIntBE(payload.length, 0, 3);
    frame[3] = crypto.randomInt(10);
    frame[4] = crypto.randomInt(256);
    frame.writeUInt32BE(crypto.randomInt(1, 100), 5);
    // Most of these end the connection (a connection error); some are only a stream error
    // or wait for more bytes: either way the worker must stay up, which is checked below.
    await h.rawExchange(m.ports.h2, Buffer.concat([preface, settings, frame, payload]), { timeoutMs: 500 });
  }
  const r = await h.rawExchange(m.ports.h2, Buffer.concat([preface, crypto.randomBytes(4096)]));
  assert.ok(r.closed, 'random bytes after the preface close the connection');
  const plain = await h.rawExchange(m.ports.h2, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.ok(plain.closed); // not HTTP/2: refused by nghttp2, not answered
  const s = h2.connect(t, m.ports.h2);
  assert.equal((await h2.request(s, { ':path': '/' })).status, 200);
  assert.deepEqual(await workerPids(m), before);
  void net;
});

test('an HTTP/2 body longer or shorter than its content-length fails its stream and never reaches the upstream as another request', async (t) => {
  const seen = [];
  const up = await h.startHttpUpstream((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url} ${body}`);
      res.end('ok');
    });
  });
  t.after(() => up.close());
  const m = await start(t, up);
  const s = h2.connect(t, m.ports.h2);
  const smuggle = 'abcGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
  const long = await h2.request(s, { ':method': 'POST', ':path': '/long', 'content-length': '3' }, { body: smuggle }).then((r) => `status ${r.status}`, (e) => e.message);
  const short = await h2.request(s, { ':method': 'POST', ':path': '/short', 'content-length': '100' }, { body: 'abc' }).then((r) => `status ${r.status}`, (e) => e.message);
  assert.match(long, /NGHTTP2_PROTOCOL_ERROR/);
  assert.match(short, /NGHTTP2_PROTOCOL_ERROR/);
  assert.equal((await h2.request(s, { ':path': '/after' })).status, 200);
  assert.deepEqual(seen, ['GET /after ']);
});
