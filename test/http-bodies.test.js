'use strict';
/**
 * Large and chunked bodies through a real mosnd, checked byte for byte with sha256 at both
 * ends, and backpressure: a slow client must not make the worker buffer the response.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const net = require('node:net');
const h = require('./helpers/mosnd');
const raw = require('./helpers/http-raw');

const MB = 1024 * 1024;
const BIG = 50 * MB;
/** Generous time for 50 MB through two loopback hops on two busy cores. */
const BIG_TIMEOUT_MS = 40_000;

async function setup(t, handler) {
  const up = await h.startHttpUpstream(handler);
  t.after(() => up.close());
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', timeout: '60s' } }],
      clusters: [h.cluster('c', [up.address])],
    }),
  });
  t.after(() => m.kill());
  return { up, m };
}

/** Upstream handler: hashes the request body, answers JSON { length, sha, te, cl }. */
function hashingHandler(req, res) {
  const hash = crypto.createHash('sha256');
  let length = 0;
  req.on('data', (d) => {
    hash.update(d);
    length += d.length;
  });
  req.on('end', () =>
    res.end(
      JSON.stringify({
        length,
        sha: hash.digest('hex'),
        te: req.headers['transfer-encoding'] ?? null,
        cl: req.headers['content-length'] ?? null,
      }),
    ),
  );
}

/** Writes `buf` to a writable in pieces of `piece` bytes, honouring backpressure. */
async function writeInPieces(w, buf, piece = 256 * 1024) {
  for (let off = 0; off < buf.length; off += piece) {
    if (!w.write(buf.subarray(off, Math.min(off + piece, buf.length)))) {
      await new Promise((r) => w.once('drain', r));
    }
  }
}

/**
 * A request whose response body is hashed as it streams. `send(req)` writes the body.
 * Resolves { status, headers, length, sha }.
 */
function hashedRequest(port, { method = 'GET', path = '/', headers = {}, send }) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const hash = crypto.createHash('sha256');
      let length = 0;
      res.on('data', (d) => {
        hash.update(d);
        length += d.length;
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, length, sha: hash.digest('hex') }));
      res.on('error', reject);
    });
    req.setTimeout(BIG_TIMEOUT_MS, () => req.destroy(new Error('request timeout')));
    req.on('error', reject);
    if (send) send(req).catch(reject);
    else req.end();
  });
}

test('streams 50 MB request and response bodies with Content-Length, byte for byte', { timeout: BIG_TIMEOUT_MS }, async (t) => {
  const body = crypto.randomBytes(BIG);
  const expected = raw.sha256(body);
  let seen;
  const { m } = await setup(t, (req, res) => {
    if (req.method === 'POST') {
      hashingHandler(req, {
        end: (json) => {
          seen = JSON.parse(json);
          res.end(json);
        },
      });
      return;
    }
    res.writeHead(200, { 'content-length': BIG });
    writeInPieces(res, body).then(() => res.end());
  });

  const up = await hashedRequest(m.ports.http, {
    method: 'POST',
    headers: { 'content-length': BIG },
    send: async (req) => {
      await writeInPieces(req, body);
      req.end();
    },
  });
  assert.equal(up.status, 200);
  assert.equal(seen.length, BIG);
  assert.equal(seen.sha, expected, 'the upstream received the exact request body');
  assert.equal(seen.cl, String(BIG));

  const down = await hashedRequest(m.ports.http, { path: '/download' });
  assert.equal(down.status, 200);
  assert.equal(down.headers['content-length'], String(BIG));
  assert.equal(down.length, BIG);
  assert.equal(down.sha, expected, 'the client received the exact response body');
});

test('streams chunked request and response bodies both ways, byte for byte', { timeout: BIG_TIMEOUT_MS }, async (t) => {
  const body = crypto.randomBytes(8 * MB + 12345);
  const expected = raw.sha256(body);
  let seen;
  const { m } = await setup(t, (req, res) => {
    const hash = crypto.createHash('sha256');
    let length = 0;
    req.on('data', (d) => {
      hash.update(d);
      length += d.length;
    });
    req.on('end', async () => {
      seen = { length, sha: hash.digest('hex'), te: req.headers['transfer-encoding'] };
      // No Content-Length: node answers chunked; uneven pieces exercise chunk boundaries.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      await writeInPieces(res, body, 100_003);
      res.end();
    });
  });
  const r = await hashedRequest(m.ports.http, {
    method: 'PUT',
    headers: { 'transfer-encoding': 'chunked' },
    send: async (req) => {
      await writeInPieces(req, body, 65_537);
      req.end();
    },
  });
  assert.equal(seen.te, 'chunked', 'the request stays chunked upstream');
  assert.equal(seen.length, body.length);
  assert.equal(seen.sha, expected);
  assert.equal(r.status, 200);
  assert.equal(r.headers['transfer-encoding'], 'chunked', 'the response stays chunked downstream');
  assert.equal(r.length, body.length);
  assert.equal(r.sha, expected);
});

test('passes chunk extensions and trailers through unchanged', async (t) => {
  let seenBody = '';
  const up = await raw.startRawUpstream((s) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('0\r\nX-Req-Trailer: t1\r\n\r\n');
      if (end !== -1) {
        seenBody = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Resp-Trailer\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Resp-Trailer: t2\r\n\r\n');
      }
    });
  });
  t.after(() => up.close());
  const m = await h.proxyTo(t, up.address);
  const reqBody = '3;name=val\r\nabc\r\n0\r\nX-Req-Trailer: t1\r\n\r\n';
  const c = raw.rawClient(m.ports.http);
  t.after(() => c.close());
  c.send(`POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n${reqBody}`);
  const r = await c.read();
  assert.equal(seenBody, reqBody);
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'hello');
  assert.equal(r.headers.trailer, 'X-Resp-Trailer');
});

/**
 * A client that first reads nothing, then reads slowly, a 50 MB response: the upstream must
 * be held back and the worker must not buffer the body. `request` is the raw request;
 * `chunked` makes the upstream answer without Content-Length.
 */
async function slowReader(t, { request, chunked }) {
  const piece = crypto.randomBytes(256 * 1024);
  const pieces = BIG / piece.length;
  const expected = crypto.createHash('sha256');
  for (let i = 0; i < pieces; i++) expected.update(piece);
  let written = 0;
  const { m } = await setup(t, async (req, res) => {
    res.writeHead(200, chunked ? {} : { 'content-length': BIG });
    for (let i = 0; i < pieces; i++) {
      written += piece.length;
      if (!res.write(piece)) await new Promise((r) => res.once('drain', r));
    }
    res.end();
  });
  const [worker] = h.workerPids(m.pid);
  assert.ok(worker > 0);
  // Warm up (code paths, pools) so the baseline is a working process.
  await hashedRequest(m.ports.http, { path: '/warm' });
  written = 0;
  const base = raw.rssBytes(worker);

  // A plain socket (no response parser buffering behind our back).
  const socket = net.connect(m.ports.http, '127.0.0.1');
  t.after(() => socket.destroy());
  await new Promise((r) => socket.once('connect', r));
  socket.pause();
  socket.write(request);
  const closed = new Promise((r) => socket.once('close', r));
  let peak = 0;
  const sample = () => (peak = Math.max(peak, raw.rssBytes(worker)));
  for (let i = 0; i < 10; i++) {
    await h.sleep(100);
    sample();
  }
  const writtenWhilePaused = written;
  const pausedGrowth = peak - base;
  // Loopback socket buffers (client receive, both worker sockets, upstream send) hold what the
  // kernel's autotuning allows — tens of MB where tcp_rmem's maximum is 32 MB — so the
  // upstream must be held back before the whole body, and the worker itself must not grow.
  assert.ok(writtenWhilePaused < BIG, `the upstream wrote all ${writtenWhilePaused} bytes to a client that read nothing`);
  assert.ok(pausedGrowth < 16 * MB, `worker RSS grew by ${(pausedGrowth / MB).toFixed(1)} MB while the client read nothing`);

  // Now read slowly: at most 512 KB per 10 ms, until the end.
  const hash = crypto.createHash('sha256');
  let got = 0;
  let head = true;
  await new Promise((resolve, reject) => {
    let budget = 0;
    const timer = setInterval(() => {
      sample();
      budget = MB / 2;
      socket.resume();
    }, 10);
    socket.on('data', (d) => {
      if (head) {
        const i = d.indexOf('\r\n\r\n');
        const text = d.toString('latin1', 0, i);
        assert.match(text, /^HTTP\/1\.1 200 /);
        assert.doesNotMatch(text, /transfer-encoding/i);
        d = d.subarray(i + 4);
        head = false;
      }
      hash.update(d);
      got += d.length;
      budget -= d.length;
      if (got >= BIG) {
        clearInterval(timer);
        resolve();
      } else if (budget <= 0) socket.pause();
    });
    closed.then(() => {
      clearInterval(timer);
      reject(new Error(`closed after ${got} bytes`));
    });
  });
  assert.equal(got, BIG);
  assert.equal(hash.digest('hex'), expected.digest('hex'));
  const growth = peak - base;
  // Reading churns through buffers that the GC frees lazily; a proxy that buffered the body
  // would add the whole 50 MB on top of that.
  assert.ok(growth < 32 * MB, `worker RSS grew by ${(growth / MB).toFixed(1)} MB while a 50 MB response was read slowly`);
}

test('a slow reader holds the upstream back instead of growing the worker memory', { timeout: BIG_TIMEOUT_MS }, async (t) => {
  await slowReader(t, { request: 'GET /slow HTTP/1.1\r\nHost: t\r\n\r\n', chunked: false });
});

test('a slow HTTP/1.0 reader of a chunked response (decoded for it) holds the upstream back too', { timeout: BIG_TIMEOUT_MS }, async (t) => {
  await slowReader(t, { request: 'GET /slow HTTP/1.0\r\n\r\n', chunked: true });
});

test('a slow upstream reader holds the client upload back instead of growing the worker memory', { timeout: BIG_TIMEOUT_MS }, async (t) => {
  let release;
  let seen;
  const released = new Promise((r) => (release = r));
  const { m } = await setup(t, async (req, res) => {
    if (req.url === '/warm') return res.end('warm');
    req.pause();
    await released;
    hashingHandler(req, { end: (json) => ((seen = JSON.parse(json)), res.end(json)) });
    req.resume();
  });
  const [worker] = h.workerPids(m.pid);
  await hashedRequest(m.ports.http, { path: '/warm' });
  const base = raw.rssBytes(worker);
  const body = crypto.randomBytes(BIG);
  let accepted = 0;
  let peak = 0;
  const done = hashedRequest(m.ports.http, {
    method: 'POST',
    path: '/upload',
    headers: { 'content-length': BIG },
    send: async (req) => {
      const piece = 256 * 1024;
      for (let off = 0; off < BIG; off += piece) {
        if (!req.write(body.subarray(off, off + piece))) await new Promise((r) => req.once('drain', r));
        accepted = off + piece;
      }
      req.end();
    },
  });
  for (let i = 0; i < 10; i++) {
    await h.sleep(100);
    peak = Math.max(peak, raw.rssBytes(worker));
  }
  // Socket buffers on the loopback hops hold what kernel autotuning allows (tens of MB where
  // tcp_rmem's maximum is 32 MB); the rest must wait in the client, and the worker not grow.
  assert.ok(accepted < BIG, `the client could write all ${accepted} bytes to an upstream that read nothing`);
  assert.ok(peak - base < 16 * MB, `worker RSS grew by ${((peak - base) / MB).toFixed(1)} MB`);
  release();
  const r = await done;
  assert.equal(r.status, 200);
  assert.equal(seen.length, BIG);
  assert.equal(seen.sha, raw.sha256(body), 'the held-back upload arrived intact');
});
