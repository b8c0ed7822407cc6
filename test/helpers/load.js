'use strict';
/**
 * Continuous load for upgrade tests and benchmarks, with strict accounting: every client
 * owns exactly one TCP connection for its whole life (a reconnect is counted, never hidden),
 * every response and every echoed byte is checked.
 *
 * httpLoad: N keep-alive clients sending GET requests back to back on raw sockets.
 * tcpStreams: N streams through a tcp_proxy to an echo server, each sending a deterministic
 * byte sequence and checking the echo byte for byte, in order.
 */
const net = require('node:net');

/** Pause between a client's requests: keeps the load steady without saturating 2 cores. */
const HTTP_THINK_MS = 2;
/** Bytes a TCP stream keeps in flight before waiting for its echo. */
const TCP_WINDOW_BYTES = 64 * 1024;
/** Size of each write of a TCP stream. */
const TCP_CHUNK_BYTES = 8 * 1024;

function httpLoad(port, { clients = 32, path = '/', host = '127.0.0.1', thinkMs = HTTP_THINK_MS } = {}) {
  const stats = { ok: 0, failed: 0, errors: [], connects: 0, closes: 0, statuses: {}, latencies: [] };
  let running = true;
  const all = [];

  function client(idx) {
    return new Promise((resolveClient) => {
      const sock = net.connect(port, host);
      stats.connects++;
      let buf = Buffer.alloc(0);
      let sentAt = 0;
      let waiting = false;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        resolveClient();
      };
      const send = () => {
        if (!running) {
          sock.end();
          return;
        }
        sentAt = process.hrtime.bigint();
        waiting = true;
        sock.write(`GET ${path}?c=${idx} HTTP/1.1\r\nHost: load\r\n\r\n`);
      };
      sock.setNoDelay(true);
      sock.on('connect', send);
      sock.on('data', (d) => {
        buf = buf.length ? Buffer.concat([buf, d]) : d;
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end === -1) return;
          const head = buf.toString('latin1', 0, end);
          const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
          const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
          if (!m || !cl) {
            stats.failed++;
            stats.errors.push(`client ${idx}: unparseable response ${JSON.stringify(head.slice(0, 80))}`);
            sock.destroy();
            return;
          }
          const total = end + 4 + Number(cl[1]);
          if (buf.length < total) return;
          buf = buf.subarray(total);
          const status = Number(m[1]);
          stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
          if (status === 200) stats.ok++;
          else stats.failed++;
          stats.latencies.push(Number(process.hrtime.bigint() - sentAt) / 1e6);
          waiting = false;
          if (/\r\nconnection: *close/i.test(head)) {
            stats.errors.push(`client ${idx}: server closed the keep-alive connection`);
            sock.end();
            return;
          }
          if (thinkMs > 0) setTimeout(send, thinkMs);
          else send();
        }
      });
      sock.on('error', (e) => {
        stats.errors.push(`client ${idx}: ${e.code ?? e.message}`);
        if (waiting) stats.failed++;
        waiting = false;
      });
      sock.on('close', () => {
        stats.closes++;
        if (running) stats.errors.push(`client ${idx}: connection closed while running`);
        if (waiting && running) stats.failed++;
        finish();
      });
    });
  }

  for (let i = 0; i < clients; i++) all.push(client(i));
  return {
    stats,
    async stop() {
      running = false;
      await Promise.all(all);
      return stats;
    },
  };
}

/** Deterministic content of stream `id` at offset `off`, so the echo can be checked. */
function patternByte(id, off) {
  return (off * 31 + id * 7 + (off >>> 8)) & 0xff;
}

function fill(id, off, n) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = patternByte(id, off + i);
  return b;
}

function tcpStreams(port, { streams = 8, host = '127.0.0.1' } = {}) {
  const stats = { streams, sent: 0, received: 0, mismatches: 0, errors: [], connects: 0, closes: 0 };
  let running = true;
  const all = [];

  function stream(id) {
    return new Promise((resolveStream) => {
      const sock = net.connect({ port, host, allowHalfOpen: true });
      stats.connects++;
      let sent = 0;
      let received = 0;
      let ended = false;
      const pump = () => {
        while (running && sent - received < TCP_WINDOW_BYTES) {
          const chunk = fill(id, sent, TCP_CHUNK_BYTES);
          sent += chunk.length;
          stats.sent += chunk.length;
          if (!sock.write(chunk)) {
            sock.once('drain', pump);
            return;
          }
        }
        if (!running && !ended) {
          ended = true;
          sock.end(); // half-close: the echo of what is in flight still comes back
        }
      };
      sock.setNoDelay(true);
      sock.on('connect', pump);
      sock.on('data', (d) => {
        for (let i = 0; i < d.length; i++) {
          if (d[i] !== patternByte(id, received + i)) {
            stats.mismatches++;
            stats.errors.push(`stream ${id}: byte ${received + i} differs`);
            sock.destroy();
            return;
          }
        }
        received += d.length;
        stats.received += d.length;
        pump();
      });
      sock.on('end', () => {
        if (received !== sent) stats.errors.push(`stream ${id}: ended with ${sent - received} bytes missing`);
        sock.end();
      });
      sock.on('error', (e) => stats.errors.push(`stream ${id}: ${e.code ?? e.message}`));
      sock.on('close', () => {
        stats.closes++;
        if (running) stats.errors.push(`stream ${id}: closed while running`);
        resolveStream();
      });
    });
  }

  for (let i = 0; i < streams; i++) all.push(stream(i));
  return {
    stats,
    async stop() {
      running = false;
      for (const p of all) void p;
      await Promise.all(all);
      return stats;
    },
  };
}

function percentile(values, p) {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Resolves once a load is under way, instead of sleeping a fixed warm-up that a loaded machine
 * outruns: every HTTP client had a few answers' worth of traffic (in total) and the TCP streams
 * echoed bytes back.
 */
function loadUnderWay(h, web, streams, clients, timeoutMs = 20_000) {
  return h.waitFor(() => web.stats.ok >= 3 * clients && streams.stats.received > 0, 'the load to be under way', timeoutMs);
}

/**
 * Stops both loads and checks they lost nothing: no client error or failed request, some
 * answered, no HTTP client reconnected, no stream error, every byte echoed unchanged; with
 * `streams` given, no TCP stream reconnected either. `why` ends each message (a fuzz seed).
 * Returns the final figures.
 */
async function stopLoadIntact(web, tcpLoad, { clients, streams, why = '' }) {
  const assert = require('node:assert/strict');
  const w = await web.stop();
  const tcp = await tcpLoad.stop();
  assert.deepEqual(w.errors, [], `no HTTP client error${why}`);
  assert.equal(w.failed, 0, `no failed HTTP request${why}`);
  assert.ok(w.ok > 0, `HTTP requests were answered${why}`);
  assert.equal(w.connects, clients, `no HTTP client reconnected${why}`);
  assert.deepEqual(tcp.errors, [], `no TCP stream error${why}`);
  assert.equal(tcp.mismatches, 0, `no byte changed on the way${why}`);
  assert.equal(tcp.received, tcp.sent, `every byte sent through tcp_proxy came back${why}`);
  if (streams !== undefined) assert.equal(tcp.connects, streams, `no TCP stream reconnected${why}`);
  return { web: w, tcp };
}

module.exports = { httpLoad, tcpStreams, percentile, patternByte, loadUnderWay, stopLoadIntact };
