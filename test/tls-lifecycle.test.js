'use strict';
/**
 * TLS across a reload and an upgrade: a reload swaps certificates for new handshakes without
 * touching established connections, and a bad certificate is refused with the old one still
 * served; an upgrade drains TLS connections (they cannot move with their OpenSSL state) and
 * clients resume their TLS sessions with the new generation (ticket keys handed over).
 */
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const tls = require('node:tls');
const h = require('./helpers/mosnd');
const { makePki } = require('./helpers/certs');

const pki = makePki();
after(() => pki.cleanup());
const ca = fs.readFileSync(pki.ca, 'utf8');
const v1 = pki.issue('v1', { dns: ['a.test'] });
const v2 = pki.issue('v2', { dns: ['a.test'] });
const expired = pki.issue('gone', { dns: ['a.test'], expired: true });

function config(up, cert) {
  const l = h.httpListener('https', 'r');
  l.filter_chains[0].tls_context = { status: true, cert_chain: cert.cert, private_key: cert.key };
  return h.proxyConfig({
    routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
    clusters: [h.cluster('c', [up.address])],
    listeners: [l],
    extra: { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } },
  });
}

function writeConfig(file, c) {
  fs.writeFileSync(file, JSON.stringify(c, null, 2));
}

/** A TLS connection to a.test with its server certificate CN; `session` resumes one. */
function connect(port, session) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'a.test', ca, ...(session ? { session } : {}) }, () =>
      resolve({ socket: s, cn: s.getPeerCertificate()?.subject?.CN, reused: s.isSessionReused() }),
    );
    s.once('error', reject);
  });
}

/** Sends one keep-alive request on `socket` and resolves its status and head text. */
function exchange(socket, p = '/') {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d) => {
      buf += d;
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const len = Number(/\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + len) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve({ status: Number(buf.slice(9, 12)), head: buf.slice(0, end) });
    };
    const onClose = () => reject(new Error(`closed before an answer (got ${JSON.stringify(buf)})`));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(`GET ${p} HTTP/1.1\r\nhost: a.test\r\n\r\n`);
  });
}

/** The TLS session ticket a server sends after the handshake (TLS 1.3: after the first read). */
async function sessionOf(port) {
  const c = await connect(port);
  const session = new Promise((resolve) => c.socket.once('session', resolve));
  await exchange(c.socket);
  const s = await session;
  c.socket.end();
  return s;
}

test('a reload serves the new certificate to new handshakes, keeps established connections, and refuses an expired one with the current one still served', async (t) => {
  const up = await h.startHttpUpstream();
  t.after(() => up.close());
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'mosnd-tls-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'mosn.json');
  writeConfig(file, config(up, v1));
  const m = await h.startMosnd({ configFile: file });
  t.after(() => m.kill());
  const port = m.ports.https;

  const before = await connect(port);
  assert.equal(before.cn, 'v1');
  assert.equal((await exchange(before.socket)).status, 200);
  let closedEarly = false;
  before.socket.on('close', () => (closedEarly = true));

  writeConfig(file, config(up, v2));
  const r = await m.cli(['reload']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const afterReload = await connect(port);
  assert.equal(afterReload.cn, 'v2', 'a new handshake gets the new certificate');
  afterReload.socket.end();
  // The connection made before the reload still serves, with its old session.
  assert.equal((await exchange(before.socket, '/again')).status, 200);
  assert.equal(closedEarly, false);

  writeConfig(file, config(up, expired));
  const bad = await m.cli(['reload']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stdout + bad.stderr, /filter_chains\[0\]\.tls_context\.cert_chain: .*expired on/);
  const still = await connect(port);
  assert.equal(still.cn, 'v2', 'the certificate in service stays after a refused reload');
  still.socket.end();
  assert.equal((await exchange(before.socket, '/still')).status, 200);
  before.socket.end();
});

test('an upgrade drains TLS connections (Connection: close on the answer in flight, idle ones closed cleanly) and clients resume their TLS sessions with the new generation', async (t) => {
  const { up, release } = await h.heldUpstream(t);
  const m = await h.startMosnd({ config: config(up, v1), workers: 2 });
  t.after(() => m.kill());
  const port = m.ports.https;

  const session = await sessionOf(port);
  const resumedBefore = await connect(port, session);
  assert.equal(resumedBefore.reused, true, 'a ticket resumes on this generation (any worker: keys are shared)');
  resumedBefore.socket.end();

  const idle = await connect(port);
  assert.equal((await exchange(idle.socket)).status, 200);
  const idleClosed = new Promise((resolve) => {
    let error = null;
    idle.socket.on('error', (e) => (error = e));
    idle.socket.on('close', () => resolve(error));
  });
  const busy = await connect(port);
  const slow = exchange(busy.socket, '/slow');
  await h.waitFor(() => up.requests >= 2, 'the slow request at the upstream');

  const upgrade = m.cli(['upgrade', '--binary', h.ROOT]);
  assert.equal(await idleClosed, null, 'the idle TLS connection is closed without an error (close_notify, FIN)');
  release();
  const answer = await slow;
  assert.equal(answer.status, 200);
  assert.match(answer.head, /\r\nconnection: close/i, 'the answer in flight tells the client to reconnect');
  const u = await upgrade;
  assert.equal(u.code, 0, u.stdout + u.stderr);
  assert.match(u.stdout, /done: upgraded to generation 2/);

  const resumedAfter = await connect(port, session);
  assert.equal(resumedAfter.reused, true, 'the ticket from generation 1 resumes with generation 2');
  assert.equal((await exchange(resumedAfter.socket)).status, 200);
  resumedAfter.socket.end();
  const prom = await h.scrape(m.ports.__admin).catch(() => null);
  if (prom) assert.ok((prom['mosnd_tls_handshakes_total{listener="https",resumed="true"}'] ?? 0) >= 1);
});

test('keep-alive HTTPS clients that retry an idempotent request on a closed reused connection see no failure across upgrades under load, and reconnect with resumed sessions', async (t) => {
  const { httpsLoad } = require('./helpers/https-load');
  const up = await h.startHttpUpstream();
  t.after(() => up.close());
  const m = await h.startMosnd({ config: config(up, v1), workers: 2 });
  t.after(() => m.kill());
  const load = httpsLoad(m.ports.https, { clients: 8, ca, servername: 'a.test' });
  t.after(() => load.stop());
  await h.waitFor(() => load.stats.ok >= 200, 'the load under way');
  const UPGRADES = 3;
  for (let i = 0; i < UPGRADES; i++) {
    const before = load.stats.ok;
    const u = await m.cli(['upgrade', '--binary', h.ROOT]);
    assert.equal(u.code, 0, u.stdout + u.stderr);
    await h.waitFor(() => load.stats.ok >= before + 100, 'requests served by the new generation');
  }
  const s = await load.stop();
  assert.deepEqual(s.errors, []);
  assert.equal(s.failed, 0);
  // Every client reconnected at each upgrade (TLS connections are drained, not moved), and
  // those reconnects resumed their sessions with the handed-over ticket keys.
  assert.ok(s.connections >= 8 * (UPGRADES + 1), `connections: ${s.connections}`);
  assert.ok(s.resumed >= 8 * UPGRADES, `resumed: ${s.resumed} of ${s.connections}`);
});

test('certificate rotation under HTTPS load: reloads drop no request and close no established connection', async (t) => {
  const { httpsLoad } = require('./helpers/https-load');
  const up = await h.startHttpUpstream();
  t.after(() => up.close());
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'mosnd-tls-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'mosn.json');
  writeConfig(file, config(up, v1));
  const m = await h.startMosnd({ configFile: file, workers: 2 });
  t.after(() => m.kill());
  const CLIENTS = 8;
  const load = httpsLoad(m.ports.https, { clients: CLIENTS, ca, servername: 'a.test' });
  t.after(() => load.stop());
  await h.waitFor(() => load.stats.ok >= 200, 'the load under way');
  for (const cert of [v2, v1, v2]) {
    const before = load.stats.ok;
    writeConfig(file, config(up, cert));
    const r = await m.cli(['reload']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await h.waitFor(() => load.stats.ok >= before + 100, 'requests after the reload');
  }
  const fresh = await connect(m.ports.https);
  assert.equal(fresh.cn, 'v2');
  fresh.socket.end();
  const s = await load.stop();
  assert.deepEqual(s.errors, []);
  assert.equal(s.failed, 0);
  assert.equal(s.retries, 0, 'no connection was closed under a request');
  assert.equal(s.connections, CLIENTS, 'every client kept the one connection it opened before the reloads');
});

test('ticket keys rotate on their interval for every worker: a ticket from before a rotation no longer resumes, one from after resumes on any worker', async (t) => {
  const up = await h.startHttpUpstream();
  t.after(() => up.close());
  // A short period instead of 12 h (TLS_TICKET_KEY_ROTATE_MS), as MOSND_WATCHDOG_KILL_MS does for the watchdog.
  const m = await h.startMosnd({ config: config(up, v1), workers: 2, env: { MOSND_TLS_TICKET_ROTATE_MS: '4000' } });
  t.after(() => m.kill());
  const port = m.ports.https;
  const rotations = () => m.logs.filter((l) => /ticket keys rotated/.test(l.msg ?? '')).length;
  await h.waitFor(() => rotations() >= 1, 'a first rotation', 15_000);
  const seen = rotations();
  const before = await sessionOf(port);
  for (let i = 0; i < 4; i++) {
    const c = await connect(port, before);
    assert.equal(c.reused, true, 'the ticket resumes until the next rotation');
    c.socket.end();
  }
  await h.waitFor(() => rotations() > seen, 'the next rotation', 15_000);
  await h.waitFor(async () => {
    const c = await connect(port, before);
    c.socket.end();
    return !c.reused;
  }, 'the ticket from before the rotation refused');
  const afterRotation = await sessionOf(port);
  for (let i = 0; i < 6; i++) {
    const c = await connect(port, afterRotation);
    assert.equal(c.reused, true, 'a ticket made with the new keys resumes on every worker');
    c.socket.end();
  }
});

test('a graceful stop drains TLS connections: the answer in flight ends with Connection: close, an idle connection is closed cleanly', async (t) => {
  const { up, release } = await h.heldUpstream(t);
  const m = await h.startMosnd({ config: config(up, v1) });
  t.after(() => m.kill());
  const port = m.ports.https;
  const idle = await connect(port);
  assert.equal((await exchange(idle.socket)).status, 200);
  const idleClosed = new Promise((resolve) => {
    let error = null;
    idle.socket.on('error', (e) => (error = e));
    idle.socket.on('close', () => resolve(error));
  });
  const busy = await connect(port);
  const slow = exchange(busy.socket, '/slow');
  await h.waitFor(() => up.requests >= 2, 'the slow request at the upstream');
  const stopped = m.stop('SIGTERM');
  assert.equal(await idleClosed, null, 'the idle TLS connection is closed without an error');
  release();
  const answer = await slow;
  assert.equal(answer.status, 200);
  assert.match(answer.head, /\r\nconnection: close/i);
  assert.equal((await stopped).code, 0);
});
