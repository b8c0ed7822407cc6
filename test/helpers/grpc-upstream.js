'use strict';
/**
 * gRPC for the proxy tests: the Echo service of test/fixtures/grpc/echo.proto served by a real
 * @grpc/grpc-js server, grpc-js clients, mosnd configs whose listener speaks HTTP/2 to
 * clients (and so, by MOSN's rule, to upstreams), and a bare HTTP/2 server that answers unary
 * Echo calls itself (gRPC framing by hand) for what grpc-js servers do not do on demand:
 * GOAWAY with a chosen last_stream_id, a tiny max_concurrent_streams, dying mid-stream.
 */
const path = require('node:path');
const http2 = require('node:http2');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const h = require('./mosnd');

const PROTO = path.join(__dirname, '..', 'fixtures', 'grpc', 'echo.proto');
const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, defaults: true }));
const Echo = pkg.mosnd.test.Echo;

/** A grpc-js server of `impl` (handlers of Unary, Collect, Expand, Chat) on 127.0.0.1:0. */
async function startGrpcServer(t, impl, options = {}) {
  const server = new grpc.Server(options);
  server.addService(Echo.service, impl);
  const port = await new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  t.after(() => server.forceShutdown());
  return { server, port, address: `127.0.0.1:${port}` };
}

/** A grpc-js Echo client of 127.0.0.1:port; closed when the test ends. */
function client(t, port, options = {}) {
  const c = new Echo(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options);
  t.after(() => c.close());
  return c;
}

/** Promise of one unary call: resolves { msg, trailers } or rejects with the gRPC error. */
function unary(c, msg, { metadata = new grpc.Metadata(), deadlineMs = 20_000, method = 'Unary' } = {}) {
  return new Promise((resolve, reject) => {
    let trailers = null;
    const call = c[method](msg, metadata, { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve({ msg: res, trailers })));
    call.on('status', (s) => (trailers = s.metadata));
  });
}

/** mosnd with one HTTP/2 listener routing every request to cluster "c" of `addresses`
 *  (`admin`: with an admin port, m.ports.__admin). */
async function mosndToH2(t, addresses, { listener = {}, clusterExtra = {}, route = {}, admin = false } = {}) {
  const l = h.httpListener('h2', 'r');
  const cfg = l.filter_chains[0].filters[0].config;
  cfg.downstream_protocol = 'Http2';
  delete cfg.upstream_protocol; // MOSN's rule: HTTP/2 clients, HTTP/2 upstreams
  Object.assign(cfg, listener);
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', ...route } }],
      clusters: [h.cluster('c', Array.isArray(addresses) ? addresses : [addresses], clusterExtra)],
      listeners: [l],
      extra: admin ? { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } } : {},
    }),
  });
  t.after(() => m.kill());
  return m;
}

/** The protobuf bytes of an Echo message, and back. */
const encodeMsg = (msg) => Echo.service.Unary.requestSerialize(msg);
const decodeMsg = (buf) => Echo.service.Unary.requestDeserialize(buf);

/** One gRPC message frame (uncompressed): flag, 4-byte length, message. */
function frame(message) {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/**
 * A bare HTTP/2 server answering every stream as a unary gRPC call that echoes its request
 * message (the Echo request and response types are the same). `onStream(stream, headers, ctx)`
 * may take a stream over (return true) before it is answered; `ctx` counts sessions and
 * streams. `settings` go in its SETTINGS (e.g. maxConcurrentStreams).
 */
async function startBareGrpc(t, { settings = {}, onStream = () => false } = {}) {
  const ctx = { sessions: 0, closedSessions: 0, streams: 0, answered: 0, server: null, port: 0, address: '', sockets: new Set() };
  const server = http2.createServer({ settings });
  ctx.server = server;
  // The TCP sockets, to kill the server's side abruptly as a crash would (no GOAWAY).
  server.on('connection', (sock) => {
    ctx.sockets.add(sock);
    sock.on('close', () => ctx.sockets.delete(sock));
  });
  const live = new Set();
  server.on('session', (s) => {
    ctx.sessions++;
    live.add(s);
    s.on('close', () => {
      live.delete(s);
      ctx.closedSessions++;
    });
    s.on('error', () => {});
  });
  server.on('stream', (stream, headers) => {
    ctx.streams++;
    stream.on('error', () => {});
    if (onStream(stream, headers, ctx)) return;
    answerEcho(stream, ctx);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  ctx.port = server.address().port;
  ctx.address = `127.0.0.1:${ctx.port}`;
  // mosnd keeps idle sessions open (its idle_timeout): the server drops them to close.
  t.after(() => {
    for (const s of live) s.destroy();
    return new Promise((r) => server.close(() => r()));
  });
  return ctx;
}

/** Reads the request to its end and answers it with the same message bytes and status 0. */
function answerEcho(stream, ctx) {
  const chunks = [];
  stream.on('data', (d) => chunks.push(d));
  stream.on('end', () => {
    if (stream.destroyed || stream.closed) return;
    const body = Buffer.concat(chunks);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(body); // the request frame is a valid response frame of the same type
    if (ctx) ctx.answered++;
  });
}

module.exports = { grpc, Echo, startGrpcServer, client, unary, mosndToH2, startBareGrpc, answerEcho, frame, encodeMsg, decodeMsg };
