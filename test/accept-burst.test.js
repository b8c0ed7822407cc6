'use strict';
/**
 * Bursts of new connections: libuv accepts one connection per event-loop turn, so a worker
 * under load used to leave a burst of clients in the kernel's accept queue for seconds. The
 * worker now takes the rest of a burst with each connection libuv hands it
 * (src/worker/accept-batch.ts). The burst is made real by freezing the worker (SIGSTOP) while
 * the clients connect and send, so that they all wait in the queue when it wakes.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const h = require('./helpers/mosnd');

const ADMIN = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };
const BURST = 300;

/** Opens `n` connections to `port`, each writing `bytesFor(i)` once connected; resolves when all are connected. */
async function connectAll(t, port, n, bytesFor) {
  const socks = [];
  t.after(() => socks.forEach((s) => s.destroy()));
  await Promise.all(
    Array.from({ length: n }, (_, i) => new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.write(bytesFor(i));
        resolve();
      });
      s.on('error', reject);
      s.received = '';
      s.setEncoding('latin1');
      s.on('data', (d) => (s.received += d));
      socks.push(s);
    })),
  );
  return socks;
}

test('a burst of clients that queued while the worker was frozen is accepted in batches, and every HTTP and TCP client is answered', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end(`ok ${req.url}`));
  t.after(() => up.close());
  const echo = await h.startEchoServer();
  t.after(() => echo.close());
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [h.cluster('c', [up.address]), h.cluster('echo', [echo.address])],
      listeners: [h.httpListener('http', 'r'), h.tcpListener('tcp', 'echo')],
      extra: ADMIN,
    }),
  });
  t.after(() => m.kill());
  const [worker] = h.workerPids(m.pid);
  assert.ok(worker, 'the worker pid');

  process.kill(worker, 'SIGSTOP');
  let http;
  let tcp;
  try {
    // The kernel completes every handshake (the backlog is 1,024) and queues the bytes.
    http = await connectAll(t, m.ports.http, BURST, (i) => `GET /${i} HTTP/1.1\r\nHost: burst\r\n\r\n`);
    tcp = await connectAll(t, m.ports.tcp, BURST, (i) => `line ${i}\n`);
  } finally {
    process.kill(worker, 'SIGCONT');
  }

  await h.waitFor(
    () => http.every((s, i) => s.received.endsWith(`ok /${i}`)) && tcp.every((s, i) => s.received === `line ${i}\n`),
    'an answer on every connection of the burst',
    30_000,
  );
  for (const [i, s] of http.entries()) assert.match(s.received, /^HTTP\/1\.1 200 /, `client ${i}`);

  const stats = await h.scrape(m.ports.__admin);
  assert.equal(stats.mosnd_downstream_cx_total, 2 * BURST, 'every client accepted once');
  // libuv alone accepts one connection per loop turn: the rest came in batches.
  assert.ok(stats.mosnd_downstream_cx_accepted_in_batch_total >= BURST, `accepted in batches: ${stats.mosnd_downstream_cx_accepted_in_batch_total}`);
});
