'use strict';
/**
 * Fuzzing our own sockets: random and truncated messages, wrong fd counts and out-of-order
 * steps thrown at both ends of the handover (the old master's upgrade.sock, the new master's
 * connection to it, a new worker's transfer socket, an old worker's batches) and at the control
 * API. Every time, the generation that serves keeps serving: same master, same workers, the
 * load answered, nothing leaked. The random inputs come from a seeded source; the seed is in
 * every assertion message, so a failure can be replayed.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const h = require('./helpers/mosnd');
const u = require('./helpers/upgrade');
const { httpLoad, tcpStreams, loadUnderWay, stopLoadIntact } = require('./helpers/load');
const { seeded } = require('./helpers/random');
const { FdChannel } = require('../dist/transfer/fdpass');

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 100000);
const rand = seeded(SEED);
const HTTP_CLIENTS = 4;
const TCP_STREAMS = 1;
/** A fuzzed peer process is gone, or a worker has closed the fds of a bad message, within this. */
const SETTLE_MS = 10_000;
/** How long a fake peer waits for the other side. */
const PEER_WAIT_MS = 10_000;
/** The fake new worker holds the handover this long before its master goes: the old workers
 *  send their batches (HANDOVER_POLL_MS is 5 ms) and get the bad answers meanwhile. */
const FAKE_HOLD_MS = 1_000;

function randomBytes(max) {
  const n = 1 + Math.floor(rand() * max);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256)));
}

/** A valid message cut at a random point (never empty). */
function truncated(obj) {
  const s = JSON.stringify(obj);
  return s.slice(0, 1 + Math.floor(rand() * (s.length - 1)));
}

async function startServing(t, { load = true } = {}) {
  const up = await h.startHttpUpstream((req, res) => res.end('ok'));
  const echo = await h.startEchoServer();
  const mark = u.processMark();
  const config = h.proxyConfig({
    routes: [{ match: { prefix: '/' }, route: { cluster_name: 'web' } }],
    clusters: [h.cluster('web', [up.address]), h.cluster('echo', [echo.address])],
    listeners: [h.httpListener('http', 'r'), h.tcpListener('tcp', 'echo')],
  });
  const m = await h.startMosnd({ config, env: mark.env });
  const web = load ? httpLoad(m.ports.http, { clients: HTTP_CLIENTS }) : null;
  const streams = load ? tcpStreams(m.ports.tcp, { streams: TCP_STREAMS }) : null;
  const dirs = [];
  t.after(async () => {
    await Promise.race([Promise.all([web?.stop(), streams?.stop()]), h.sleep(5_000)]);
    await h.runCli(['stop', '--fast', '--run-dir', m.runDir], { timeoutMs: 10_000 }).catch(() => {});
    await h.waitFor(() => mark.pids().length === 0, 'processes to exit', 3_000).catch(() => {});
    mark.killAll();
    await up.close();
    await echo.close();
    for (const dir of [...dirs, m.runDir, path.dirname(m.configFile)]) fs.rmSync(dir, { recursive: true, force: true });
  });
  if (load) await loadUnderWay(h, web, streams, HTTP_CLIENTS);
  return { m, mark, web, streams, dirs };
}

async function status(runDir) {
  const r = await h.runCli(['status', '--json', '--run-dir', runDir]);
  assert.equal(r.code, 0, `status failed (seed ${SEED}): ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Same master, same generation, same processes, and a fresh request is answered. */
async function assertStillServing(ctx, before, what) {
  const st = await status(ctx.m.runDir);
  assert.equal(st.masterPid, before.masterPid, `${what}: same master (seed ${SEED})`);
  assert.equal(st.generation, before.generation, `${what}: same generation (seed ${SEED})`);
  assert.deepEqual(st.processes.map((p) => p.pid).sort(), before.processes.map((p) => p.pid).sort(), `${what}: same processes (seed ${SEED})`);
  assert.equal((await h.request(ctx.m.ports.http, { path: '/fresh' })).status, 200, `${what}: a fresh request is answered (seed ${SEED})`);
}

async function assertLoadUnharmed(ctx) {
  await stopLoadIntact(ctx.web, ctx.streams, { clients: HTTP_CLIENTS, why: ` (seed ${SEED})` });
}

function openFds(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

// ---------------------------------------------------------------- control API

test('random bytes, a truncated HTTP/2 preface and random gRPC payloads at the control socket leave the master serving', async (t) => {
  const ctx = await startServing(t);
  const before = await status(ctx.m.runDir);
  const sock = path.join(ctx.m.runDir, 'control.sock');
  const junk = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM'), Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0'), Buffer.alloc(0)];
  for (let i = 0; i < 20; i++) junk.push(randomBytes(4096));
  for (const bytes of junk) {
    await new Promise((resolve) => {
      const s = net.connect(sock, () => s.end(bytes));
      s.on('error', resolve);
      s.on('close', resolve);
      s.resume();
      setTimeout(() => s.destroy(), 500).unref();
    });
  }
  // Well-framed gRPC calls whose protobuf bodies are random (Stop is left out: a random body
  // may well decode as a valid Stop request, which stops the master by design).
  const grpc = require('@grpc/grpc-js');
  const client = new grpc.Client(`unix:${sock}`, grpc.credentials.createInsecure());
  const id = (b) => b;
  const calls = ['Status', 'Reload', 'NoSuchMethod'];
  for (let i = 0; i < 30; i++) {
    const method = calls[i % calls.length];
    const body = i % 2 ? randomBytes(256) : Buffer.from(truncated({ configPath: '/nonexistent/x.json' }));
    await new Promise((resolve) => {
      client.makeUnaryRequest(`/mosnd.control.v1.Control/${method}`, id, id, body, { deadline: Date.now() + 5_000 }, () => resolve());
    });
  }
  client.close();
  await assertStillServing(ctx, before, 'control fuzz');
  await assertLoadUnharmed(ctx);
});

// ---------------------------------------------------------------- old master's upgrade.sock

const HELLO = { t: 'hello', v: 1, pid: 1, version: 'fuzz' };

function oldMasterCases() {
  return [
    ['random bytes instead of hello', [{ raw: randomBytes(512).toString('base64') }]],
    ['a truncated hello', [{ send: truncated(HELLO) }]],
    ['a hello carrying fds', [{ send: HELLO, fds: 2 }]],
    ['a hello with wrong types', [{ send: { t: 'hello', v: '1', pid: -1, version: 3 } }]],
    ['a message over 64 KiB', [{ send: { t: 'hello', v: 1, pid: 1, version: 'x'.repeat(70_000) } }]],
    ['ready before hello', [{ send: { t: 'ready', workers: [] } }]],
    ['serving instead of ready', [{ send: HELLO }, { recv: true }, { send: { t: 'serving', pid: 1 } }]],
    ['a ready with malformed workers', [{ send: HELLO }, { recv: true }, { send: { t: 'ready', workers: [{ id: 1, pid: 1, transferPath: 7 }] } }]],
    ['a ready carrying an fd', [{ send: HELLO }, { recv: true }, { send: { t: 'ready', workers: [] }, fds: 1 }]],
    ['random bytes instead of ready', [{ send: HELLO }, { recv: true }, { raw: randomBytes(2048).toString('base64') }]],
  ];
}

test('a new master that sends random, truncated, fd-carrying or out-of-order messages fails the upgrade and the old generation serves on', async (t) => {
  const ctx = await startServing(t);
  const before = await status(ctx.m.runDir);
  const dir = h.makeInstall((d) => fs.copyFileSync(path.join(__dirname, 'fixtures', 'fuzz-new-master.js'), path.join(d, 'dist', 'master', 'cli.js')));
  ctx.dirs.push(dir);
  for (const [what, steps] of oldMasterCases()) {
    fs.writeFileSync(path.join(dir, 'fuzz-case.json'), JSON.stringify(steps));
    const r = await h.runCli(['upgrade', '--binary', dir, '--run-dir', ctx.m.runDir]);
    assert.notEqual(r.code, 0, `${what}: the upgrade fails (seed ${SEED}): ${r.stdout}`);
    assert.match(r.stderr, /MOSND_ERR_UPGRADE_FAILED/, what);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
    await h.waitFor(() => u.pidsWithCmdline(dir).length === 0, `${what}: the fake new master to be gone`, SETTLE_MS);
    await assertStillServing(ctx, before, what);
  }
  await assertLoadUnharmed(ctx);
  assert.deepEqual(fs.readdirSync(ctx.m.runDir).filter((f) => /^(upgrade|fuzz-xfer)/.test(f)), [], 'no handover socket is left');
});

for (const how of ['garbage', 'wrong-ack', 'no-release']) {
  test(`an old worker whose batches a new worker answers with ${how} finishes those connections itself, none is reset`, async (t) => {
    // The fake new master says "serving", so the old generation hands over to it and exits
    // once its connections are finished: what matters here is the old worker's end of the
    // channel. Every batch it offers comes back broken, so it keeps the connections and
    // finishes them (a clean close at a request boundary), never a crash or a reset.
    const ctx = await startServing(t, { load: false });
    const dir = h.makeInstall((d) => fs.copyFileSync(path.join(__dirname, 'fixtures', 'fuzz-new-master.js'), path.join(d, 'dist', 'master', 'cli.js')));
    ctx.dirs.push(dir);
    const clients = [];
    for (let i = 0; i < 3; i++) {
      const c = await u.keepAliveClient(ctx.m.ports.http);
      assert.equal((await c.get('/')).status, 200);
      clients.push(c);
    }
    fs.writeFileSync(path.join(dir, 'fuzz-case.json'), JSON.stringify([{ send: HELLO }, { recv: true }, { xfer: how, holdMs: FAKE_HOLD_MS }]));
    const r = await h.runCli(['upgrade', '--binary', dir, '--run-dir', ctx.m.runDir]);
    assert.match(r.stdout, /moved: 0 connections moved, 3 finished here, 0 closed at the deadline/, `${how}: ${r.stdout}${r.stderr}`);
    for (const c of clients) assert.deepEqual(await c.closed, { error: null }, `${how}: closed with FIN, not reset`);
  });
}

// ---------------------------------------------------------------- new master's end

/** Starts `mosnd start --upgrade-from SOCK` against a fake old master that sends `reply` (and
 *  `fds`) after the hello; resolves with the new master's exit and output. */
async function newMasterAgainst(t, reply, fds = []) {
  const dir = h.tmpDir('mosnd-fuzz-new-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sock = path.join(dir, 'upgrade.sock');
  const cfg = h.writeConfig(
    h.proxyConfig({ routes: [{ match: { prefix: '/' }, route: { cluster_name: 'web' } }], clusters: [h.cluster('web', ['127.0.0.1:9'])], listeners: [h.httpListener('http', 'r')] }),
  );
  t.after(() => fs.rmSync(path.dirname(cfg), { recursive: true, force: true }));
  const server = FdChannel.listen(sock);
  const child = spawn(process.execPath, [h.BIN, 'start', '-c', cfg, '--run-dir', dir, '--upgrade-from', sock], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const done = h.whenDone(child);
  try {
    const ch = await server.accept(PEER_WAIT_MS);
    await ch.recv(PEER_WAIT_MS); // hello
    await ch.send(reply, fds).catch(() => {});
    const timer = setTimeout(() => child.kill('SIGKILL'), PEER_WAIT_MS);
    const r = await done;
    clearTimeout(timer);
    ch.close();
    return { ...r, out, dir };
  } finally {
    server.close();
    child.kill('SIGKILL');
  }
}

test('a new master fed random, truncated, mis-counted or out-of-order listeners refuses them with a protocol error and takes nothing over', async (t) => {
  const listeners = (n) => ({ t: 'listeners', generation: 1, listeners: Array.from({ length: n }, (_, i) => ({ name: 'http', host: '127.0.0.1', port: 1000 + i })), counters: '' });
  const devNull = () => fs.openSync('/dev/null', 'r');
  const cases = [
    ['random bytes', randomBytes(1024), []],
    ['truncated listeners', Buffer.from(truncated(listeners(1))), []],
    ['one listener and no fd', Buffer.from(JSON.stringify(listeners(1))), []],
    ['no listener and one fd', Buffer.from(JSON.stringify(listeners(0))), [devNull()]],
    ['a listener whose fd is not a socket', Buffer.from(JSON.stringify(listeners(1))), [devNull()]],
    ['commit before the listeners', Buffer.from(JSON.stringify({ t: 'commit' })), []],
    ['a done message first', Buffer.from(JSON.stringify({ t: 'done', moved: 1, drained: 0, closed: 0 })), []],
  ];
  for (const [what, data, fds] of cases) {
    const r = await newMasterAgainst(t, data, fds);
    for (const fd of fds) fs.closeSync(fd);
    assert.notEqual(r.code, 0, `${what}: the new master exits with an error (seed ${SEED}): ${r.out}`);
    assert.equal(r.signal, null, `${what}: it exited by itself: ${r.out}`);
    assert.match(r.out, /MOSND_ERR_(TRANSFER_PROTOCOL|LISTEN)/, `${what}: ${r.out}`);
    assert.doesNotMatch(r.out, /\n\s+at /, `${what}: no stack trace`);
    assert.equal(fs.existsSync(path.join(r.dir, 'mosnd.pid')), false, `${what}: the run dir was not taken over`);
  }
});

// ---------------------------------------------------------------- a new worker's transfer socket

test('random, truncated, fd-carrying and out-of-order messages at a worker transfer socket are refused, the worker serves on and leaks no fd', async (t) => {
  const ctx = await startServing(t);
  // Upgrade once: the workers of generation 2 listen on their transfer sockets.
  const up = await h.runCli(['upgrade', '--binary', h.ROOT, '--run-dir', ctx.m.runDir]);
  assert.equal(up.code, 0, up.stdout + up.stderr);
  await h.waitFor(async () => (await status(ctx.m.runDir)).processes.length === 2, 'the old generation to be gone', SETTLE_MS);
  const before = await status(ctx.m.runDir);
  const worker = before.processes.find((p) => p.role === 'worker').pid;
  const xfer = path.join(ctx.m.runDir, fs.readdirSync(ctx.m.runDir).find((f) => /^xfer-2-\d+\.sock$/.test(f)));
  const baseline = openFds(worker);
  const pipeFds = () => {
    const [r, w] = [fs.openSync('/dev/null', 'r'), fs.openSync('/dev/zero', 'r')];
    return [r, w];
  };
  const http = (id, fd, data = '') => ({ kind: 'http', id, listener: 'http', fd, data });
  const cases = [
    ['random bytes', randomBytes(4096), 0],
    ['a truncated batch', Buffer.from(truncated({ t: 'conns', items: [http(1, 0)] })), 1],
    ['an fd index past the fds', Buffer.from(JSON.stringify({ t: 'conns', items: [http(1, 3)] })), 1],
    ['a batch without its fds', Buffer.from(JSON.stringify({ t: 'conns', items: [http(1, 0)] })), 0],
    ['fds that are not sockets', Buffer.from(JSON.stringify({ t: 'conns', items: [http(1, 0), http(2, 1)] })), 2],
    ['one fd claimed twice', Buffer.from(JSON.stringify({ t: 'conns', items: [http(1, 0), http(2, 0)] })), 1],
    ['an unknown listener', Buffer.from(JSON.stringify({ t: 'conns', items: [{ ...http(1, 0), listener: 'nope' }] })), 1],
    ['a tcp pair on one fd', Buffer.from(JSON.stringify({ t: 'conns', items: [{ kind: 'tcp', id: 1, listener: 'tcp', cluster: 'echo', host: 'x', clientFd: 0, upstreamFd: 0, toUpstream: '', toClient: '' }] })), 1],
    ['released before any batch', Buffer.from(JSON.stringify({ t: 'released', ids: [1, 2] })), 0],
    ['an ack sent to the receiver', Buffer.from(JSON.stringify({ t: 'ack', accepted: [1], refused: [] })), 1],
    ['an unknown message type', Buffer.from(JSON.stringify({ t: 'hello', v: 1 })), 2],
  ];
  for (const [what, data, nfds] of cases) {
    const ch = await FdChannel.connect(xfer, PEER_WAIT_MS);
    const fds = nfds ? pipeFds().slice(0, nfds).concat(nfds > 2 ? pipeFds() : []).slice(0, nfds) : [];
    await ch.send(data, fds).catch(() => {});
    for (const fd of fds) fs.closeSync(fd);
    // Whatever the worker answers (an ack refusing everything), it must not start anything.
    const reply = await ch.recv(2_000).catch(() => null);
    if (reply) {
      for (const fd of reply.fds) fs.closeSync(fd);
      const m = JSON.parse(reply.data.toString());
      assert.equal(m.t, 'ack', what);
      assert.deepEqual(m.accepted, [], `${what}: nothing accepted`);
    }
    ch.close();
    await h.waitFor(() => openFds(worker) <= baseline, `${what}: the worker to close every fd of the message (seed ${SEED})`, SETTLE_MS);
    await assertStillServing(ctx, before, what);
  }
  await assertLoadUnharmed(ctx);
});
