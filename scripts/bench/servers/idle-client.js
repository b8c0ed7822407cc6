'use strict';
// Idle keep-alive client, driven by the harness over IPC. It opens N HTTP/1.1 connections to a
// proxy, sends one request on each (so that each is a real keep-alive connection the proxy has
// parsed and answered), then leaves them idle while the harness samples the proxy's RSS. On
// "probe" it sends one more request on every connection still open, to prove the connections
// were alive through the measurement (or through an upgrade).
//
// Messages in:  {cmd:'open', port, path, count, concurrency} | {cmd:'probe', concurrency} | {cmd:'close'}
// Messages out: {event:'opened', ok, failed, ms, firstError} | {event:'probed', ok, failed, closedWhileIdle, ms, firstError}

const net = require('node:net');

/** @type {{sock: net.Socket, closed: boolean, waiter: ((err: Error|null) => void)|null, buf: Buffer}[]} */
const conns = [];
let target = { port: 0, path: '/' };

function request(conn) {
  return new Promise((resolve) => {
    if (conn.closed) return resolve(new Error('closed before request'));
    conn.buf = Buffer.alloc(0);
    conn.waiter = resolve;
    conn.sock.write(`GET ${target.path} HTTP/1.1\r\nHost: 127.0.0.1:${target.port}\r\n\r\n`);
  });
}

/** Returns true when buf holds one complete response (Content-Length or chunked body). */
function complete(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const head = buf.subarray(0, end).toString('latin1');
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (cl) return buf.length >= end + 4 + Number(cl[1]);
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) return buf.indexOf('\r\n0\r\n\r\n', end) >= 0 || buf.subarray(end + 4).indexOf('0\r\n\r\n') === 0;
  return true; // no body (e.g. 204/304)
}

function status(buf) {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(buf.subarray(0, 16).toString('latin1'));
  return m ? Number(m[1]) : 0;
}

function openOne() {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port: target.port });
    const conn = { sock, closed: false, waiter: null, buf: Buffer.alloc(0) };
    const finish = (err) => {
      const w = conn.waiter;
      conn.waiter = null;
      if (w) w(err);
    };
    sock.on('data', (d) => {
      conn.buf = Buffer.concat([conn.buf, d]);
      if (conn.waiter && complete(conn.buf)) {
        const code = status(conn.buf);
        finish(code === 200 ? null : new Error(`status ${code}`));
      }
    });
    sock.on('error', (e) => finish(e));
    sock.on('close', () => {
      conn.closed = true;
      finish(new Error('connection closed'));
    });
    sock.once('connect', async () => {
      sock.setNoDelay(true);
      conns.push(conn);
      resolve(await request(conn));
    });
    sock.once('error', (e) => {
      if (!conns.includes(conn)) resolve(e);
    });
  });
}

async function pool(count, concurrency, fn) {
  let next = 0;
  let ok = 0;
  let failed = 0;
  let firstError = null;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const err = await fn(i);
      if (err) {
        failed++;
        if (!firstError) firstError = err.message;
      } else ok++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { ok, failed, firstError };
}

process.on('message', async (msg) => {
  const t0 = Date.now();
  if (msg.cmd === 'open') {
    target = { port: msg.port, path: msg.path };
    const r = await pool(msg.count, msg.concurrency, () => openOne());
    process.send({ event: 'opened', ...r, ms: Date.now() - t0 });
  } else if (msg.cmd === 'probe') {
    const closedWhileIdle = conns.filter((c) => c.closed).length;
    const r = await pool(conns.length, msg.concurrency, (i) => request(conns[i]));
    process.send({ event: 'probed', ...r, closedWhileIdle, ms: Date.now() - t0 });
  } else if (msg.cmd === 'close') {
    for (const c of conns) c.sock.destroy();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
