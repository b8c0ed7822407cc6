'use strict';
/**
 * Raw HTTP/1.x helpers for proxy tests: a persistent client socket that reads responses one
 * at a time (keep-alive, pipelining, HTTP/1.0, interim 1xx), and raw upstream servers whose
 * behaviour a test scripts byte for byte (malformed answers, resets, early closes).
 */
const crypto = require('node:crypto');
const net = require('node:net');

/** How long a test waits for one response before calling it a hang. */
const READ_TIMEOUT_MS = 10_000;

/**
 * Parses one response from the front of `buf`. Returns null when more bytes are needed, else
 * { response, used }. `noBody` for a HEAD request. `closed` lets a close-delimited body end.
 */
function parseResponse(buf, { noBody = false, closed = false } = {}) {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const head = buf.toString('latin1', 0, end + 4);
  const lines = head.slice(0, -4).split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
  const status = Number(m[2]);
  const headers = {};
  const rawHeaders = [];
  for (const line of lines.slice(1)) {
    const c = line.indexOf(':');
    const name = line.slice(0, c).toLowerCase();
    const value = line.slice(c + 1).trim();
    rawHeaders.push(line.slice(0, c), value);
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const response = { version: `1.${m[1]}`, status, reason: m[3] ?? '', headers, rawHeaders, head, body: Buffer.alloc(0) };
  let pos = end + 4;
  if (noBody || status < 200 || status === 204 || status === 304) return { response, used: pos };
  if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
    const parts = [];
    for (;;) {
      const eol = buf.indexOf('\r\n', pos);
      if (eol === -1) return null;
      const size = parseInt(buf.toString('latin1', pos, eol).split(';')[0], 16);
      if (Number.isNaN(size)) throw new Error('bad chunk size');
      if (size === 0) {
        // Trailers up to the empty line.
        let p = eol + 2;
        for (;;) {
          const e = buf.indexOf('\r\n', p);
          if (e === -1) return null;
          if (e === p) {
            response.body = Buffer.concat(parts);
            return { response, used: e + 2 };
          }
          p = e + 2;
        }
      }
      if (buf.length < eol + 2 + size + 2) return null;
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      pos = eol + 2 + size + 2;
    }
  }
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (buf.length < pos + n) return null;
    response.body = Buffer.from(buf.subarray(pos, pos + n));
    return { response, used: pos + n };
  }
  if (!closed) return null;
  response.body = Buffer.from(buf.subarray(pos));
  return { response, used: buf.length };
}

/**
 * A client connection kept open across requests. `send(bytes)` writes; `read({noBody})`
 * resolves the next complete response (1xx included, one at a time); `closed` resolves when
 * the server closes. Meant for small responses: bytes are gathered in one buffer that is
 * copied on each read, so megabytes make it slow.
 */
function rawClient(port) {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let isClosed = false;
  let waiter = null;
  let resolveClosed;
  const c = {
    socket,
    closed: new Promise((r) => (resolveClosed = r)),
    get isClosed() {
      return isClosed;
    },
    connected: new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    send(bytes) {
      socket.write(bytes);
    },
    read({ noBody = false, timeoutMs = READ_TIMEOUT_MS } = {}) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiter = null;
          reject(new Error(`no complete response in ${timeoutMs} ms; have ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`));
        }, timeoutMs);
        waiter = { noBody, resolve: (r) => (clearTimeout(timer), resolve(r)), reject: (e) => (clearTimeout(timer), reject(e)) };
        tryParse();
      });
    },
    /** Bytes received and not yet consumed as a response. */
    get pending() {
      return buf;
    },
    /** Resolves true if the server closes within `ms`, false otherwise. */
    waitClosed(ms = READ_TIMEOUT_MS) {
      if (isClosed) return Promise.resolve(true);
      return Promise.race([c.closed.then(() => true), new Promise((r) => setTimeout(() => r(false), ms).unref())]);
    },
    close() {
      socket.destroy();
    },
  };
  function tryParse() {
    if (!waiter) return;
    let r;
    try {
      r = parseResponse(buf, { noBody: waiter.noBody, closed: isClosed });
    } catch (e) {
      const w = waiter;
      waiter = null;
      w.reject(e);
      return;
    }
    if (r === null) {
      if (isClosed) {
        const w = waiter;
        waiter = null;
        w.reject(new Error(`connection closed before a complete response; have ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`));
      }
      return;
    }
    buf = buf.subarray(r.used);
    const w = waiter;
    waiter = null;
    w.resolve(r.response);
  }
  socket.on('data', (d) => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
    tryParse();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    isClosed = true;
    resolveClosed();
    tryParse();
  });
  return c;
}

/**
 * A raw TCP upstream: `onConnection(socket, server)` scripts it. Counts connections and keeps
 * the sockets so close() leaves nothing behind.
 */
function startRawUpstream(onConnection) {
  const sockets = new Set();
  const up = { connections: 0, port: 0, address: '', sockets };
  const server = net.createServer((s) => {
    up.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConnection(s, up);
  });
  up.server = server;
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      up.port = server.address().port;
      up.address = `127.0.0.1:${up.port}`;
      up.close = () =>
        new Promise((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        });
      resolve(up);
    });
  });
}

/**
 * Calls `onHead(headText, socket)` for each request head arriving on `socket` (bodies are not
 * expected: for GET-style scripted upstreams).
 */
function onRequestHeads(socket, onHead) {
  let buf = '';
  socket.on('data', (d) => {
    buf += d.toString('latin1');
    let i;
    while ((i = buf.indexOf('\r\n\r\n')) !== -1) {
      const head = buf.slice(0, i + 4);
      buf = buf.slice(i + 4);
      onHead(head, socket);
    }
  });
}

/** A TCP port with nothing listening (bound then closed: connections are refused). */
function deadPort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * An upstream in a child process that accepts connections and never answers, with an accept
 * backlog of 1: after stop() (SIGSTOP) new connections queue, and once the queue is full
 * (fill it with fill()) connects hang in SYN retransmission until cont() (SIGCONT). That
 * makes "a connection still opening" last as long as a test needs.
 */
async function startStoppableUpstream() {
  const { spawn } = require('node:child_process');
  const code =
    "const s = require('net').createServer((c) => c.on('error', () => {}));" +
    "s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => console.log(s.address().port));";
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(Number(String(d).trim())));
    child.once('exit', (c) => reject(new Error(`stoppable upstream exited with ${c}`)));
  });
  const fillers = [];
  return {
    port,
    address: `127.0.0.1:${port}`,
    pid: child.pid,
    stop: () => process.kill(child.pid, 'SIGSTOP'),
    cont: () => process.kill(child.pid, 'SIGCONT'),
    /** Opens `n` connections from here that sit in (or wait for) the accept queue. */
    fill(n = 4) {
      for (let i = 0; i < n; i++) {
        const c = net.connect(port, '127.0.0.1');
        c.on('error', () => {});
        fillers.push(c);
      }
    },
    close() {
      for (const c of fillers) c.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        return new Promise((r) => child.once('exit', r));
      }
      return Promise.resolve();
    },
  };
}

/** Deterministic pseudo-random bytes (fast enough for tens of MB). */
function randomBytes(n, seed = 1) {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  for (; i < n; i++) out[i] = i & 0xff;
  return out;
}

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

/** Resident set size in bytes of a process, from /proc/<pid>/status. */
function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(require('node:fs').readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

module.exports = {
  READ_TIMEOUT_MS,
  parseResponse,
  rawClient,
  startRawUpstream,
  onRequestHeads,
  deadPort,
  startStoppableUpstream,
  randomBytes,
  sha256,
  rssBytes,
};
