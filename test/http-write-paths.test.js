'use strict';
/**
 * The write paths of an exchange: the response head goes out in one write with the first body
 * bytes when they are small, in two writes when they are large, alone when none came with it;
 * client reads pause only when a request has to wait for an upstream connection. Each path
 * must deliver the same bytes and keep the connection usable.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const h = require('./helpers/mosnd');

/** The cut between "copied behind the head" and "written after it" (COALESCE_MAX_BODY_BYTES). */
const COALESCE = 16 * 1024;
const SIZES = [0, 1, 100, COALESCE - 1, COALESCE, COALESCE + 1, 60_000, 300_000];

function pattern(n, seed) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

test('responses of every size reach the client byte for byte on one keep-alive connection, framed by length or chunked', async (t) => {
  const up = await h.startHttpUpstream((req, res) => {
    const [, kind, n] = req.url.split('/');
    const body = pattern(Number(n), Number(n) % 251);
    if (kind === 'len') {
      res.setHeader('content-length', body.length);
      res.end(body); // head and body in one write: mosnd reads them together
    } else {
      res.write(body.subarray(0, body.length >> 1)); // no content-length: chunked
      res.end(body.subarray(body.length >> 1));
    }
  });
  t.after(() => up.close());
  const m = await h.proxyTo(t, up.address);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const sockets = new Set();
  for (const kind of ['len', 'chunked']) {
    for (const n of SIZES) {
      const r = await h.request(m.ports.http, { path: `/${kind}/${n}`, agent });
      assert.equal(r.status, 200, `${kind} ${n}`);
      assert.ok(r.body.equals(pattern(n, n % 251)), `${kind} ${n}: the same bytes`);
      if (kind === 'len') assert.equal(r.headers['content-length'], String(n));
      else assert.equal(r.headers['transfer-encoding'], 'chunked');
      sockets.add(r.socket);
    }
  }
  assert.equal(sockets.size, 1, 'every response kept the client connection open');
});

test('a request body is forwarded intact whether the request takes a pooled connection at once or waits for one', async (t) => {
  const up = await h.startHttpUpstream((req, res) => {
    const hash = crypto.createHash('sha256');
    req.on('data', (c) => hash.update(c));
    // Answer late enough that a concurrent request has to queue for the one connection.
    req.on('end', () => setTimeout(() => res.end(hash.digest('hex')), 50));
  });
  t.after(() => up.close());
  const m = await h.proxyTo(t, up.address, { clusterExtra: { circuit_breakers: [{ max_connections: 1, max_pending_requests: 8 }] } });
  const post = (seed) => {
    const body = pattern(200_000, seed);
    return h.request(m.ports.http, { method: 'POST', path: '/p', body }).then((r) => {
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), crypto.createHash('sha256').update(body).digest('hex'), `body ${seed}`);
    });
  };
  await post(1); // the pool is empty: the request waits for a new connection
  await post(2); // a pooled connection is taken in the same call
  await Promise.all([post(3), post(4), post(5)]); // two of them wait in the pending queue
  assert.equal(up.connections, 1, 'one upstream connection served them all');
});
