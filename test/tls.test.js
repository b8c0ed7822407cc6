'use strict';
/**
 * TLS listeners: certificates by SNI, mTLS with XFCC for routing, ALPN choosing the codec,
 * handshake failures closed and counted, certificate rotation on reload. Certificates are
 * made by the test with the `openssl` command (test/helpers/certs.js); clients are real:
 * Node's tls/https/http2, curl, openssl s_client.
 */
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');
const https = require('node:https');
const http2 = require('node:http2');
const { execFile } = require('node:child_process');
const h = require('./helpers/mosnd');
const { makePki } = require('./helpers/certs');

const pki = makePki();
const otherCa = makePki('another CA');
after(() => {
  pki.cleanup();
  otherCa.cleanup();
});
const read = (f) => fs.readFileSync(f, 'utf8');
const ADMIN = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };

const certA = pki.issue('a', { dns: ['a.test'] });
const certWild = pki.issue('wild', { dns: ['*.b.test'] });
const certDefault = pki.issue('default', { dns: ['default.test'] });
const alice = pki.issue('alice', { cn: 'alice', uri: 'spiffe://test/alice' });
const mallory = otherCa.issue('mallory', { cn: 'alice' });

/** An HTTP listener with `tls` as its filter chain's tls_context (or tls_context_set when an array). */
function tlsListener(tlsCfg, protocol = 'Http1') {
  const l = h.httpListener('https', 'r');
  l.filter_chains[0].filters[0].config.downstream_protocol = protocol;
  l.filter_chains[0].filters[0].config.upstream_protocol = 'Http1';
  if (Array.isArray(tlsCfg)) l.filter_chains[0].tls_context_set = tlsCfg;
  else l.filter_chains[0].tls_context = tlsCfg;
  return l;
}

function ctxOf(c, extra = {}) {
  return { status: true, cert_chain: c.cert, private_key: c.key, ...extra };
}

async function start(t, { listener, routes, upstream, configFile }) {
  const up = upstream ?? (await h.startHttpUpstream((req, res) => res.end(JSON.stringify({ url: req.url, headers: req.headers }))));
  if (!upstream) t.after(() => up.close());
  const config = h.proxyConfig({
    routes: routes ?? [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
    clusters: [h.cluster('c', [up.address])],
    listeners: [listener],
    extra: ADMIN,
  });
  const m = await h.startMosnd(configFile ? { configFile: writeTo(configFile, config) } : { config });
  t.after(() => m.kill());
  return { m, up, config };
}

function writeTo(file, config) {
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** Handshakes and returns the server certificate's CN and the socket (ended by the caller). */
function handshake(port, opts = {}) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: read(pki.ca), ...opts }, () => {
      resolve({ cn: s.getPeerCertificate().subject.CN, socket: s, alpn: s.alpnProtocol, reused: s.isSessionReused() });
    });
    s.once('error', reject);
  });
}

/** One HTTPS request; resolves { status, body } or rejects with the client's error. */
function get(port, { path = '/', agent = false, headers = {}, ...tlsOpts } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path, agent, headers, ca: read(pki.ca), servername: 'a.test', ...tlsOpts }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

function run(cmd, args, input) {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 20_000 }, (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
  });
}

async function tlsMetric(m, reason) {
  const s = await h.scrape(m.ports.__admin);
  return s[`mosnd_tls_handshake_errors_total{listener="https",reason="${reason}"}`] ?? 0;
}

test('SNI picks the certificate by exact and wildcard name, and a client without SNI gets the first one', async (t) => {
  const { m } = await start(t, { listener: tlsListener([ctxOf(certDefault), ctxOf(certA), ctxOf(certWild)]) });
  const port = m.ports.https;
  for (const [servername, cn] of [['a.test', 'a'], ['x.b.test', 'wild'], ['unknown.test', 'default'], [undefined, 'default']]) {
    // The CN is checked here; the chain is verified against the CA as usual.
    const opts = { servername: servername ?? '', checkServerIdentity: () => undefined };
    const { cn: got, socket } = await handshake(port, opts);
    socket.end();
    assert.equal(got, cn, `SNI ${servername}`);
  }
  // Real clients: curl verifies the chain and the name; openssl s_client shows the subject.
  const curl = await run('curl', ['-sS', '--cacert', pki.ca, '--resolve', `x.b.test:${port}:127.0.0.1`, `https://x.b.test:${port}/hello`]);
  assert.equal(curl.code, 0, curl.stderr);
  assert.equal(JSON.parse(curl.stdout).url, '/hello');
  const sc = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'a.test', '-CAfile', pki.ca, '-verify_return_error'], 'Q\n');
  assert.match(sc.stdout, /subject=CN ?= ?a\b/);
  assert.match(sc.stdout, /Verify return code: 0 \(ok\)/);
  // When each served certificate expires, for alerts.
  const prom = await h.scrape(m.ports.__admin);
  for (const [c, name] of [[certDefault, 'default.test'], [certA, 'a.test'], [certWild, '*.b.test']]) {
    const validTo = Math.floor(Date.parse(new (require('node:crypto').X509Certificate)(read(c.cert)).validTo) / 1000);
    assert.equal(prom[`mosnd_tls_cert_expiry_timestamp_seconds{listener="https",name="${name}"}`], validTo, name);
  }
});

test('the upstream is told the request came over TLS (x-forwarded-proto https), and a client that half-closes after its request gets the answer', async (t) => {
  const { m } = await start(t, { listener: tlsListener(ctxOf(certA)) });
  const r = await get(m.ports.https);
  assert.equal(r.status, 200);
  assert.equal(JSON.parse(r.body).headers['x-forwarded-proto'], 'https');
  const { socket } = await handshake(m.ports.https, { servername: 'a.test' });
  let answer = '';
  socket.on('data', (d) => (answer += d));
  socket.end('GET /after-fin HTTP/1.1\r\nhost: a.test\r\n\r\n');
  await new Promise((resolve) => socket.on('close', resolve));
  assert.match(answer, /^HTTP\/1\.1 200 /);
  assert.match(answer, /after-fin/);
});

test('mTLS refuses a client without a certificate and one signed by another CA, and counts both', async (t) => {
  const { m } = await start(t, { listener: tlsListener(ctxOf(certA, { ca_cert: pki.ca, verify_client: true })) });
  const port = m.ports.https;
  await assert.rejects(get(port), /socket hang up|ECONNRESET|certificate required|alert/i);
  await assert.rejects(get(port, { cert: read(mallory.cert), key: read(mallory.key) }), /socket hang up|ECONNRESET|alert/i);
  const curl = await run('curl', ['-sS', '--cacert', pki.ca, '--resolve', `a.test:${port}:127.0.0.1`, `https://a.test:${port}/`]);
  assert.notEqual(curl.code, 0, 'curl without a client certificate must fail');
  await h.waitFor(async () => (await tlsMetric(m, 'client_cert')) >= 3, 'three client_cert refusals counted');
  const ok = await get(port, { cert: read(alice.cert), key: read(alice.key) });
  assert.equal(ok.status, 200);
});

test('a verified client certificate reaches routing and the upstream as x-forwarded-client-cert, and a forged one is removed', async (t) => {
  const listener = tlsListener(ctxOf(certA, { ca_cert: pki.ca, verify_client: true, require_client_cert: false }), 'Auto');
  const routes = [
    { match: { prefix: '/', headers: [{ name: 'x-forwarded-client-cert', value: 'Subject="CN=alice"', regex: true }] }, route: { cluster_name: 'c' } },
    { match: { prefix: '/' }, direct_response: { status: 403, body: 'no client certificate' } },
  ];
  const logFile = require('node:path').join(pki.dir, 'access.log');
  listener.access_logs = [{ log_path: logFile }];
  const { m } = await start(t, { listener, routes });
  const port = m.ports.https;
  const r = await get(port, { cert: read(alice.cert), key: read(alice.key) });
  assert.equal(r.status, 200);
  const xfcc = JSON.parse(r.body).headers['x-forwarded-client-cert'];
  assert.match(xfcc, /^Hash=[0-9a-f]{64};Subject="CN=alice";URI=spiffe:\/\/test\/alice$/);
  // No certificate (allowed: require_client_cert false) and a forged header: not routed as alice.
  const forged = await get(port, { headers: { 'x-forwarded-client-cert': 'Subject="CN=alice"' } });
  assert.equal(forged.status, 403);
  // HTTP/2 over TLS (ALPN h2) carries the same XFCC.
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: read(pki.ca), servername: 'a.test', cert: read(alice.cert), key: read(alice.key) });
  t.after(() => session.close());
  const h2body = await new Promise((resolve, reject) => {
    const req = session.request({ ':path': '/h2', 'x-forwarded-client-cert': 'Subject="CN=mallory"' });
    let b = '';
    req.on('data', (d) => (b += d));
    req.on('end', () => resolve(b));
    req.on('error', reject);
  });
  assert.equal(JSON.parse(h2body).headers['x-forwarded-client-cert'], xfcc);
  // The access log names the certificate of the requests that had one, and only of those.
  const lines = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean).map(JSON.parse) : []);
  await h.waitFor(() => lines().length === 3, 'three access log lines');
  assert.deepEqual(lines().map((l) => [l.path, l.status, l.client_cert]), [['/', 200, 'CN=alice'], ['/', 403, undefined], ['/h2', 200, 'CN=alice']]);
});

test('ALPN h2 serves HTTP/2 and http/1.1 serves HTTP/1.1 on one Auto TLS listener; no ALPN falls back to the listener protocol', async (t) => {
  const { m } = await start(t, { listener: tlsListener(ctxOf(certA), 'Auto') });
  const port = m.ports.https;
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: read(pki.ca), servername: 'a.test' });
  t.after(() => session.close());
  const body = await new Promise((resolve, reject) => {
    const req = session.request({ ':path': '/via-h2' });
    let b = '';
    req.on('data', (d) => (b += d));
    req.on('end', () => resolve(b));
    req.on('error', reject);
  });
  assert.equal(session.alpnProtocol, 'h2');
  assert.equal(JSON.parse(body).url, '/via-h2');
  assert.equal(JSON.parse(body).headers['x-forwarded-proto'], 'https');
  const r = await get(port, { ALPNProtocols: ['http/1.1'], path: '/via-h1' });
  assert.equal(JSON.parse(r.body).url, '/via-h1');
  // No ALPN at all: Auto sniffs the bytes, as on plaintext.
  const noAlpn = await get(port, { path: '/no-alpn' });
  assert.equal(JSON.parse(noAlpn.body).url, '/no-alpn');
  const curl = await run('curl', ['-sS', '--http2', '-w', '%{http_version}', '-o', '/dev/null', '--cacert', pki.ca, '--resolve', `a.test:${port}:127.0.0.1`, `https://a.test:${port}/`]);
  assert.equal(curl.stdout, '2', curl.stderr);
  // No ALPN, HTTP/2 with prior knowledge: sniffed by its preface, as on plaintext.
  const prior = await run('curl', ['-sS', '--no-alpn', '--http2-prior-knowledge', '-w', '%{http_version}', '-o', '/dev/null', '--cacert', pki.ca, '--resolve', `a.test:${port}:127.0.0.1`, `https://a.test:${port}/`]);
  assert.equal(prior.stdout, '2', prior.stderr);
});

test('a plaintext request, a truncated ClientHello and a handshake that never finishes each close that connection and are counted', async (t) => {
  const { m } = await start(t, { listener: tlsListener(ctxOf(certA)) });
  const port = m.ports.https;
  const closed = (s) => new Promise((resolve) => s.on('close', resolve).on('error', () => {}));

  const plain = net.connect(port, '127.0.0.1', () => plain.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n'));
  await closed(plain);
  await h.waitFor(async () => (await tlsMetric(m, 'not_tls')) === 1, 'the plaintext request counted as not_tls');

  // The first bytes of a real ClientHello, then FIN.
  const hello = await clientHelloBytes();
  const cut = net.connect(port, '127.0.0.1', () => cut.end(hello.subarray(0, 40)));
  await closed(cut);
  await h.waitFor(async () => (await tlsMetric(m, 'disconnected')) === 1, 'the truncated ClientHello counted');

  // Half a ClientHello, then silence: closed by TLS_HANDSHAKE_TIMEOUT_MS (10 s).
  const stuck = net.connect(port, '127.0.0.1', () => stuck.write(hello.subarray(0, 40)));
  const t0 = Date.now();
  await closed(stuck);
  assert.ok(Date.now() - t0 >= 9_000, 'closed by the handshake timeout, not before');
  await h.waitFor(async () => (await tlsMetric(m, 'timeout')) === 1, 'the stuck handshake counted as timeout');

  // The listener still serves.
  assert.equal((await get(port)).status, 200);
});

/** The bytes of a ClientHello, as Node's tls client sends them. */
function clientHelloBytes() {
  return new Promise((resolve) => {
    const srv = net.createServer((s) => s.once('data', (d) => {
      resolve(d);
      s.destroy();
      srv.close();
    }));
    srv.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ port: srv.address().port, host: '127.0.0.1', servername: 'a.test' });
      c.on('error', () => {});
    });
  });
}

test('a gRPC call over TLS (@grpc/grpc-js, ALPN h2) goes end to end, trailers and all', async (t) => {
  const grpc = require('@grpc/grpc-js');
  const http = require('node:http');
  // A gRPC service behind mosnd, spoken over HTTP/1.1 (upstreams are HTTP/1.1 in this branch):
  // the message framed as gRPC, grpc-status in the chunked response's trailers, which mosnd
  // sends to the HTTP/2 client as trailers.
  const seen = [];
  const upSrv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ path: req.url, te: req.headers.te, proto: req.headers['x-forwarded-proto'] });
      const msg = Buffer.from(body.subarray(5).toString().toUpperCase());
      const frame = Buffer.alloc(5 + msg.length);
      frame.writeUInt32BE(msg.length, 1);
      msg.copy(frame, 5);
      res.writeHead(200, { 'content-type': 'application/grpc', trailer: 'grpc-status, grpc-message' });
      res.write(frame);
      res.addTrailers({ 'grpc-status': '0', 'grpc-message': '' });
      res.end();
    });
  });
  await new Promise((r) => upSrv.listen(0, '127.0.0.1', r));
  t.after(() => upSrv.close());
  const up = { address: `127.0.0.1:${upSrv.address().port}` };
  const { m } = await start(t, { listener: tlsListener(ctxOf(certA), 'Http2'), upstream: up });
  const client = new grpc.Client(`127.0.0.1:${m.ports.https}`, grpc.credentials.createSsl(fs.readFileSync(pki.ca)), {
    'grpc.ssl_target_name_override': 'a.test',
    'grpc.default_authority': 'a.test',
  });
  t.after(() => client.close());
  const reply = await new Promise((resolve, reject) => {
    client.makeUnaryRequest('/echo.Echo/Upper', (b) => b, (b) => b, Buffer.from('hello grpc'), (err, res) => (err ? reject(err) : resolve(res)));
  });
  assert.equal(reply.toString(), 'HELLO GRPC');
  assert.deepEqual(seen, [{ path: '/echo.Echo/Upper', te: 'trailers', proto: 'https' }]);
});
