'use strict';
/**
 * The recording upstream of the smuggling harness: a raw `net` server that keeps every byte
 * each connection received, splits them into requests with the strict parser
 * (smuggle-parser.js) and answers each one with an echo of what it understood
 * ("<method> <path> <body length> <body sha1>"), so a client that gets someone else's answer
 * can tell. A request the strict parser refuses is answered 400 and the connection closed.
 *
 * llhttpView() reads the same recorded bytes with Node's own parser (llhttp, strict by
 * default and independent of mosnd) so each connection is seen by two parsers.
 */
const crypto = require('node:crypto');
const net = require('node:net');
const { HTTPParser, methods } = require('_http_common');
const sp = require('./smuggle-parser');

function sha(buf) {
  return crypto.createHash('sha1').update(buf).digest('hex').slice(0, 12);
}

/** What the upstream answers for a request: the client compares it with what it sent. */
function echoOf(method, path, body) {
  return `${method} ${path} ${body.length} ${sha(body)}`;
}

function startRecordingUpstream() {
  const up = {
    address: '',
    port: 0,
    /** Every connection ever accepted: { id, chunks, socket, requests, error, endedByPeer }. */
    conns: [],
    seq: 0,
    /** Connections accepted since the last beginCase(). */
    caseConns: [],
  };
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const conn = { id: up.conns.length, chunks: [], socket, requests: [], error: null, endedByPeer: false, pos: 0, closedByUs: false };
    up.conns.push(conn);
    up.caseConns.push(conn);
    socket.on('error', () => {});
    socket.on('end', () => {
      conn.endedByPeer = true;
      socket.end();
    });
    socket.on('data', (d) => {
      conn.chunks.push(d);
      if (conn.error !== null) return;
      const buf = Buffer.concat(conn.chunks);
      for (;;) {
        const r = sp.parseRequest(buf, conn.pos);
        if (r.kind === 'incomplete') return;
        if (r.kind === 'error') {
          conn.error = r.reason;
          socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
          return;
        }
        conn.pos = r.next;
        const req = r.request;
        req.seq = up.seq++;
        conn.requests.push(req);
        const body = echoOf(req.method, req.path, req.body);
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      }
    });
  });
  up.server = server;
  /** Closes every connection (a clean slate for the next case). */
  up.beginCase = () => {
    for (const c of up.caseConns) {
      c.closedByUs = !c.socket.destroyed;
      c.socket.destroy();
    }
    up.caseConns = [];
  };
  up.close = () =>
    new Promise((r) => {
      up.beginCase();
      server.close(() => r());
    });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      up.port = server.address().port;
      up.address = `127.0.0.1:${up.port}`;
      resolve(up);
    });
  });
}

/** The bytes a connection received so far. */
function received(conn) {
  return Buffer.concat(conn.chunks);
}

/**
 * How llhttp splits `buf` into requests: { requests: [{ method, url, body, complete }], error,
 * at }. `error` is llhttp's code when it refused something (then `at` is the byte offset).
 * The last request is incomplete when the bytes end inside it.
 */
function llhttpView(buf, type = 'request') {
  const p = new HTTPParser();
  p.initialize(type === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {});
  const out = [];
  let cur = null;
  let urlSoFar = '';
  // Long heads come in pieces (kOnHeaders) before kOnHeadersComplete; only the url matters here.
  p[HTTPParser.kOnHeaders] = (headers, url) => {
    urlSoFar += url ?? '';
  };
  p[HTTPParser.kOnExecute] = () => {};
  p[HTTPParser.kOnMessageBegin] = () => {};
  let upgrade = false;
  p[HTTPParser.kOnHeadersComplete] = (major, minor, headers, method, url, status, statusMessage, isUpgrade) => {
    // An Upgrade request: llhttp stops after it (what follows would be another protocol).
    if (isUpgrade) upgrade = true;
    // As Node's own parserOnHeadersComplete: the url comes here, or in pieces before.
    cur = { method: methods[method], url: url || urlSoFar, status, headers, parts: [], complete: false };
    urlSoFar = '';
    out.push(cur);
    return 0;
  };
  p[HTTPParser.kOnBody] = (b) => cur.parts.push(Buffer.from(b));
  p[HTTPParser.kOnMessageComplete] = () => {
    cur.complete = true;
    urlSoFar = ''; // trailers come through kOnHeaders with a stale url
  };
  const fin = buf.length > 0 ? p.execute(buf) : 0;
  p.close?.();
  const requests = out.map((m) => ({ method: m.method, url: m.url, status: m.status, body: Buffer.concat(m.parts), complete: m.complete }));
  if (fin instanceof Error && !upgrade) return { requests, error: fin.code, at: fin.bytesParsed ?? -1, upgrade };
  return { requests, error: null, at: typeof fin === 'number' ? fin : buf.length, upgrade };
}

module.exports = { startRecordingUpstream, received, llhttpView, echoOf, sha };
