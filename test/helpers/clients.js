'use strict';
/**
 * Clients for the supervisor, reload and tcp_proxy tests: one HTTP/1.1 keep-alive
 * connection driven by hand (so a test knows every request went over the same socket),
 * a load loop of fresh connections, and TCP stream helpers.
 */
const crypto = require('node:crypto');
const net = require('node:net');

/** How long one exchange may take in tests before it counts as hung. */
const EXCHANGE_TIMEOUT_MS = 10_000;

/**
 * One client TCP connection to an HTTP listener. `get(path)` sends a request and resolves
 * with { status, headers, body } once the whole response (Content-Length framed) is in.
 * `closed` tells whether the server closed the socket; `closedPromise` resolves then.
 */
function keepAliveClient(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let waiter = null;
    const c = {
      socket,
      closed: false,
      closedPromise: null,
      get(path, headers = {}) {
        if (waiter) return Promise.reject(new Error('one request at a time'));
        if (c.closed) return Promise.reject(new Error('connection closed by the server'));
        const lines = [`GET ${path} HTTP/1.1`, 'Host: test', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
        return new Promise((res, rej) => {
          const timer = setTimeout(() => {
            waiter = null;
            rej(new Error(`no response to ${path} in ${EXCHANGE_TIMEOUT_MS} ms`));
          }, EXCHANGE_TIMEOUT_MS);
          waiter = {
            resolve: (v) => (clearTimeout(timer), (waiter = null), res(v)),
            reject: (e) => (clearTimeout(timer), (waiter = null), rej(e)),
          };
          socket.write(`${lines.join('\r\n')}\r\n\r\n`);
        });
      },
      close() {
        socket.destroy();
      },
    };
    c.closedPromise = new Promise((r) => socket.on('close', () => ((c.closed = true), waiter?.reject(new Error('connection closed by the server')), r())));
    const parse = () => {
      if (!waiter) return;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0])?.[1] ?? 0);
      const headers = {};
      for (const l of head.slice(1)) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      if (headers['content-length'] === undefined) {
        waiter.reject(new Error(`response without Content-Length: ${head.join(' | ')}`));
        return;
      }
      const len = Number(headers['content-length']);
      if (buf.length < end + 4 + len) return;
      const body = buf.subarray(end + 4, end + 4 + len).toString();
      buf = buf.subarray(end + 4 + len);
      waiter.resolve({ status, headers, body });
    };
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      parse();
    });
    socket.on('error', () => {});
    socket.once('connect', () => resolve(c));
    socket.once('error', reject);
  });
}

/**
 * Sends requests one after another, each on a fresh connection, until stop() is called.
 * `send(i)` performs one request and resolves with a status code (or throws).
 * Resolves (from stop) with the list of { at, ok, status, error }.
 */
function loadLoop(send, { concurrency = 2 } = {}) {
  const results = [];
  let running = true;
  const lanes = [];
  for (let l = 0; l < concurrency; l++) {
    lanes.push(
      (async () => {
        let i = 0;
        while (running) {
          const at = Date.now();
          try {
            const status = await send(i++);
            results.push({ at, done: Date.now(), ok: status === 200, status });
          } catch (e) {
            results.push({ at, done: Date.now(), ok: false, error: e.message });
          }
        }
      })(),
    );
  }
  return {
    results,
    async stop() {
      running = false;
      await Promise.all(lanes);
      return results;
    },
  };
}

/** Random bytes and their sha256 (hex). */
function randomPayload(bytes) {
  const data = crypto.randomBytes(bytes);
  return { data, sha: sha256(data) };
}

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

/**
 * Connects to `port`, writes `data` in `chunkSize` pieces (respecting backpressure), ends,
 * and resolves with { sha, bytes } of everything received until the server's FIN.
 */
function tcpRoundTrip(port, data, { chunkSize = 64 * 1024, timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const hash = crypto.createHash('sha256');
    let bytes = 0;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`round trip not finished in ${timeoutMs} ms (${bytes} bytes back)`));
    }, timeoutMs);
    s.on('data', (d) => {
      hash.update(d);
      bytes += d.length;
    });
    s.on('end', () => {
      clearTimeout(timer);
      s.end();
      resolve({ sha: hash.digest('hex'), bytes });
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('connect', async () => {
      for (let off = 0; off < data.length; off += chunkSize) {
        if (!s.write(data.subarray(off, off + chunkSize))) await new Promise((r) => s.once('drain', r));
      }
      s.end();
    });
  });
}

/** Resolves once the socket is closed by the peer; with how it ended ({ ms, error }). */
function whenClosed(socket) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    let error = null;
    socket.on('error', (e) => (error = e.code ?? e.message));
    socket.on('close', () => resolve({ ms: Date.now() - t0, error }));
  });
}

module.exports = { keepAliveClient, loadLoop, randomPayload, sha256, tcpRoundTrip, whenClosed };
