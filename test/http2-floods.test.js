'use strict';
/**
 * HTTP/2 floods from one client, with raw frames: a CONTINUATION flood (CVE-2024-27316), a
 * SETTINGS flood and a PING flood (CVE-2019-9512/9515). Each ends that connection only: the
 * worker keeps its pid and a well-behaved client on another connection is served before and
 * after. The kind of flood is counted in a metric.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const h = require('./helpers/mosnd');
const h2 = require('./helpers/h2');

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const T = { HEADERS: 1, SETTINGS: 4, PING: 6, GOAWAY: 7, CONTINUATION: 9 };
/** How long the flooding connection may stay open once its flood is sent. */
const CLOSE_WAIT_MS = 15_000;

function frame(type, flags, streamId, payload = Buffer.alloc(0)) {
  const f = Buffer.alloc(9 + payload.length);
  f.writeUIntBE(payload.length, 0, 3);
  f[3] = type;
  f[4] = flags;
  f.writeUInt32BE(streamId, 5);
  payload.copy(f, 9);
  return f;
}

/** A literal header field without indexing, new name (HPACK §6.2.2), short strings only. */
function literal(name, value) {
  return Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
}

async function start(t) {
  const up = await h.startHttpUpstream((req, res) => res.end('ok'));
  t.after(() => up.close());
  const l = h.h2Listener('h2', 'r');
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [h.cluster('c', [up.address])],
      listeners: [l],
      extra: { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } },
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

/**
 * Sends `bytes` after the preface on a raw connection and never reads while sending (a flood
 * works on the frames a server must answer); resolves when the server closes the connection,
 * with the GOAWAY error code it sent (null if none was read).
 */
function flood(port, bytes) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    s.pause();
    s.on('connect', () => {
      s.write(Buffer.concat([PREFACE, frame(T.SETTINGS, 0, 0), bytes]), () => s.resume());
    });
    s.on('data', (d) => {
      if (got.length < 1 << 20) got = Buffer.concat([got, d]);
    });
    s.on('error', () => {});
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`the flooding connection was still open after ${CLOSE_WAIT_MS} ms`));
    }, CLOSE_WAIT_MS);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(goawayCode(got));
    });
  });
}

function goawayCode(buf) {
  for (let off = 0; off + 9 <= buf.length; ) {
    const len = buf.readUIntBE(off, 3);
    if (buf[off + 3] === T.GOAWAY && off + 9 + 8 <= buf.length) return buf.readUInt32BE(off + 9 + 4);
    off += 9 + len;
  }
  return null;
}

async function floodCount(m, kind) {
  const prom = await h.scrape(m.ports.__admin);
  let n = 0;
  for (const [series, value] of Object.entries(prom)) {
    if (series.startsWith('mosnd_http2_floods_total{') && series.includes(`kind="${kind}"`)) n += value;
  }
  return n;
}

async function survives(t, build, kind) {
  const m = await start(t);
  const before = await workerPids(m);
  const bystander = h2.connect(t, m.ports.h2);
  assert.equal((await h2.request(bystander, { ':path': '/' })).status, 200);

  const code = await flood(m.ports.h2, build());
  assert.notEqual(code, 0, `the flood must not end in a GOAWAY NO_ERROR (got ${code})`);

  assert.equal((await h2.request(bystander, { ':path': '/' })).status, 200, 'the other connection is still served');
  const fresh = h2.connect(t, m.ports.h2);
  assert.equal((await h2.request(fresh, { ':path': '/' })).status, 200, 'new connections are served');
  assert.deepEqual(await workerPids(m), before, 'the worker survived');
  await h.waitFor(async () => (await floodCount(m, kind)) >= 1, `mosnd_http2_floods_total{kind="${kind}"} to count the flood`);
}

test('a CONTINUATION flood (one HEADERS and endless CONTINUATION frames) closes that connection only, and is counted', async (t) => {
  await survives(
    t,
    () => {
      const parts = [frame(T.HEADERS, 0, 1, Buffer.concat([Buffer.from([0x82, 0x84, 0x86]), literal(':authority', 'x')]))];
      for (let i = 0; i < 20_000; i++) parts.push(frame(T.CONTINUATION, 0, 1, literal(`x-f${i % 1000}`, 'v')));
      return Buffer.concat(parts);
    },
    'continuation',
  );
});

test('a SETTINGS flood (thousands of SETTINGS frames, their ACKs never read) closes that connection only, and is counted', async (t) => {
  await survives(
    t,
    () => {
      const parts = [];
      for (let i = 0; i < 20_000; i++) parts.push(frame(T.SETTINGS, 0, 0));
      return Buffer.concat(parts);
    },
    'control',
  );
});

test('a PING flood (thousands of PINGs, their ACKs never read) closes that connection only, and is counted', async (t) => {
  await survives(
    t,
    () => {
      const parts = [];
      for (let i = 0; i < 20_000; i++) parts.push(frame(T.PING, 0, 0, Buffer.alloc(8, i % 256)));
      return Buffer.concat(parts);
    },
    'control',
  );
});
