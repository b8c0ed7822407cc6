'use strict';
// Peer "node-raw": the bare-bones JavaScript HTTP/1.1 keep-alive proxy, the practical ceiling of a
// JS proxy on this machine. Raw `net` sockets, a LIFO pool of upstream connections, the request
// head forwarded as received, the response framed by its Content-Length (close-delimited
// otherwise). No routing, header rewriting, metrics, timeouts or logs: what is left is the cost
// any JS proxy pays (socket reads and writes, one head search per message). One request at a
// time per client connection; a request sent on a pooled connection that the upstream closed
// while idle (before any response byte) is sent again on a fresh one, so the peer survives an
// upstream that closes idle keep-alive connections.
// Usage: node node-raw-http.js <listenPort> <backendPort> <tag>
// (tag: the run's temp dir, only there so that the harness can find and kill this process)

const net = require('node:net');

const [listenPort, backendPort] = process.argv.slice(2, 4).map(Number);
const CRLF2 = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const idle = [];

function upstream() {
  const up = net.connect({ host: '127.0.0.1', port: backendPort, noDelay: true });
  up.client = null;
  up.on('data', (d) => (up.client ? up.client.onUpData(d) : up.destroy()));
  up.on('error', () => {});
  up.on('close', () => {
    const i = idle.indexOf(up);
    if (i !== -1) idle.splice(i, 1);
    if (up.client) up.client.onUpClose();
  });
  return up;
}

class Client {
  constructor(down) {
    this.down = down;
    this.buf = null; // request bytes not yet forwarded
    this.req = null; // the request in flight (kept until the first response byte, for a resend)
    this.up = null;
    this.reused = false; // this.up came from the pool
    this.head = null; // response head bytes so far
    this.remaining = -1; // response body bytes left; -1: close-delimited
    down.setNoDelay(true);
    down.on('data', (d) => this.onDownData(d));
    down.on('drain', () => this.up && this.up.resume());
    down.on('error', () => {});
    down.on('close', () => this.up && this.up.destroy());
  }

  onDownData(d) {
    this.buf = this.buf === null ? d : Buffer.concat([this.buf, d]);
    this.next();
  }

  next() {
    if (this.req !== null || this.up !== null || this.buf === null) return;
    const end = this.buf.indexOf(CRLF2);
    if (end === -1) return;
    this.req = end + 4 === this.buf.length ? this.buf : this.buf.subarray(0, end + 4);
    this.buf = end + 4 === this.buf.length ? null : this.buf.subarray(end + 4);
    const pooled = idle.pop();
    this.send(pooled || upstream(), pooled !== undefined);
  }

  send(up, reused) {
    this.up = up;
    this.reused = reused;
    this.head = null;
    up.client = this;
    up.write(this.req);
  }

  onUpData(d) {
    if (this.req !== null) {
      this.head = this.head === null ? d : Buffer.concat([this.head, d]);
      const end = this.head.indexOf(CRLF2);
      if (end === -1) return;
      this.req = null;
      const m = CONTENT_LENGTH.exec(this.head.latin1Slice(0, end));
      this.remaining = m ? Number(m[1]) - (this.head.length - end - 4) : -1;
      d = this.head;
    } else if (this.remaining !== -1) {
      this.remaining -= d.length;
    }
    if (!this.down.write(d)) this.up.pause();
    if (this.remaining === 0) {
      this.up.client = null;
      // Paused by the write above if the client was slow: a pooled connection must read its next response.
      this.up.resume();
      idle.push(this.up);
      this.up = null;
      this.next();
    }
  }

  onUpClose() {
    this.up = null;
    // A pooled connection closed before any response byte had gone stale: send again, once.
    if (this.reused && this.req !== null && this.head === null && !this.down.destroyed) this.send(upstream(), false);
    else this.down.end();
  }
}

net.createServer((down) => new Client(down)).listen(listenPort, '127.0.0.1', () => console.log(`node-raw listening on 127.0.0.1:${listenPort}`));
process.on('SIGTERM', () => process.exit(0));
