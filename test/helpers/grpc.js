'use strict';
/**
 * gRPC test pieces: a mosnd with an HTTP/2 listener, a real @grpc/grpc-js client making unary
 * calls through it (h2c), and HTTP/1.1 upstreams that answer the gRPC way (a 5-byte-prefixed
 * message and grpc-status in chunked trailers, or trailers-only: grpc-status in the head).
 */
const grpc = require('@grpc/grpc-js');
const h = require('./mosnd');

/** The HTTP/2 listener of these tests, to HTTP/1.1 upstreams. */
function h2Listener(name = 'h2', routerName = 'r') {
  return h.h2Listener(name, routerName, 'Http1');
}

/** mosnd with one HTTP/2 listener "h2" on `routes`; `accessLog`: a file path; stopped when the test ends. */
async function startGrpcProxy(t, { routes, clusters = [], accessLog, server = {}, extra = {} }) {
  const l = h2Listener();
  if (accessLog) l.access_logs = [{ log_path: accessLog }];
  const m = await h.startMosnd({ config: h.proxyConfig({ routes, clusters, listeners: [l], server, extra }) });
  t.after(() => m.kill());
  return m;
}

/** A gRPC message on the wire: 1 byte "not compressed", 4 bytes length, the bytes. */
function frame(payload) {
  const b = Buffer.from(payload);
  const out = Buffer.alloc(5 + b.length);
  out.writeUInt32BE(b.length, 1);
  b.copy(out, 5);
  return out;
}

/** A grpc-js client of 127.0.0.1:port over h2c; closed when the test ends. */
function client(t, port) {
  const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.after(() => c.close());
  return c;
}

/** One unary call of `method` with raw bytes: resolves { code, details, value, trailers }. */
function unary(c, method, payload = Buffer.from('ping'), { deadlineMs = 20_000 } = {}) {
  return new Promise((resolve) => {
    const out = { code: -1, details: '', value: null, trailers: null };
    const call = c.makeUnaryRequest(
      method,
      (b) => b,
      (b) => b,
      payload,
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err, value) => {
        if (err) {
          out.code = err.code;
          out.details = err.details;
          out.trailers = err.metadata;
        } else {
          out.code = 0;
          out.value = value;
        }
      },
    );
    call.on('status', (s) => {
      if (out.trailers === null) out.trailers = s.metadata;
      // 'status' comes after the callback: every field is set.
      setImmediate(() => resolve(out));
    });
  });
}

/**
 * An HTTP/1.1 request handler answering gRPC: `reply(req)` gives { status (grpc), message,
 * body, trailersOnly }. Trailers-only puts grpc-status in the head (Content-Length: 0);
 * otherwise the body goes chunked and grpc-status comes in its trailers.
 */
function grpcHandler(reply) {
  return (req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const r = reply(req, Buffer.concat(chunks));
      if (r === null) return; // held: never answered
      if (r.trailersOnly) {
        res.writeHead(200, { 'content-type': 'application/grpc', 'grpc-status': String(r.status), 'grpc-message': r.message ?? '', 'content-length': '0' });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/grpc', trailer: 'grpc-status, grpc-message' });
      res.write(frame(r.body ?? ''));
      res.addTrailers({ 'grpc-status': String(r.status), 'grpc-message': r.message ?? '' });
      res.end();
    });
  };
}

module.exports = { grpc, h2Listener, startGrpcProxy, frame, client, unary, grpcHandler };
