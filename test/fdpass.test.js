'use strict';
// The fd-passing channel between unrelated processes: the peer is a separately
// spawned node process (test/fixtures/fdpass-peer.js), never a fork with IPC.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { once } = require('node:events');
const {
  FdChannel, fdOf, native, MAX_FDS_PER_MESSAGE, MAX_MESSAGE_BYTES,
} = require('../dist/transfer/fdpass.js');

const PEER = path.join(__dirname, 'fixtures', 'fdpass-peer.js');
/** Bound for each step that involves the peer process (spawn + node startup on a loaded 2-core machine). */
const STEP_TIMEOUT_MS = 10_000;
/** The timeout under test in "recv timeout" cases: short so the test is fast, long enough to measure. */
const SHORT_TIMEOUT_MS = 150;
/** How late a timer may fire on a busy machine before we call the timeout broken. */
const TIMER_SLACK_MS = 400;

function tmpSocketPath(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdpass-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'ch.sock');
}

function openFdCount() {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Spawns the peer in `mode`; resolves its JSON stdout lines one by one via next(). */
function spawnPeer(t, mode, socketPath, arg) {
  const child = spawn(process.execPath, [PEER, mode, socketPath, ...(arg === undefined ? [] : [String(arg)])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'close');
  t.after(() => child.kill('SIGKILL'));
  const lines = [];
  const waiters = [];
  let rest = '';
  child.stdout.on('data', (d) => {
    rest += d;
    let i;
    while ((i = rest.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(rest.slice(0, i)));
      rest = rest.slice(i + 1);
      while (waiters.length && lines.length) waiters.shift()(lines.shift());
    }
  });
  const next = () => new Promise((resolve, reject) => {
    if (lines.length) return resolve(lines.shift());
    const timer = setTimeout(() => reject(new Error(`peer ${mode} said nothing in ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
    waiters.push((line) => { clearTimeout(timer); resolve(line); });
  });
  return { child, next, exited };
}

/** A listening channel with a connected in-process client, for cases that need no peer process. */
async function localPair(t) {
  const server = FdChannel.listen(tmpSocketPath(t));
  const [a, b] = await Promise.all([server.accept(STEP_TIMEOUT_MS), FdChannel.connect(server.path, STEP_TIMEOUT_MS)]);
  t.after(() => { a.close(); b.close(); server.close(); });
  return { server, a, b };
}

test('a listening TCP socket handed to an unrelated process accepts there on the same socket, without a rebind', async (t) => {
  const channels = FdChannel.listen(tmpSocketPath(t));
  t.after(() => channels.close());
  const tcp = net.createServer(() => assert.fail('the old process must not accept after the handover'));
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  const { port } = tcp.address();
  const fd = fdOf(tcp);
  const inode = fs.readlinkSync(`/proc/self/fd/${fd}`);

  const peer = spawnPeer(t, 'listener', channels.path);
  const ch = await channels.accept(STEP_TIMEOUT_MS);
  await ch.send(Buffer.from('listener'), [fd]);
  const ready = await peer.next();
  assert.equal(ready.inode, inode, 'the peer holds the very same socket');
  assert.equal(ready.address.port, port);
  tcp.close(); // our copy goes away: the port stays open only through the peer

  const client = net.connect(port, '127.0.0.1');
  client.end('hello');
  let answer = '';
  for await (const chunk of client) answer += chunk;
  assert.equal(answer, `peer ${peer.child.pid} got hello`);
  ch.close();
  await peer.exited;
});

test('a connected TCP socket handed over mid-stream keeps every byte in both directions', async (t) => {
  const channels = FdChannel.listen(tmpSocketPath(t));
  t.after(() => channels.close());
  let serverSide;
  let oldEchoed = 0;
  const tcp = net.createServer((sock) => {
    serverSide = sock;
    sock.on('data', (d) => { oldEchoed += d.length; sock.write(d); });
  });
  tcp.listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  t.after(() => tcp.close());

  const client = net.connect(tcp.address().port, '127.0.0.1');
  await once(client, 'connect');
  const sent = [];
  const received = [];
  client.on('data', (d) => received.push(d));
  let seq = 0;
  const writer = setInterval(() => {
    const chunk = Buffer.from(`chunk-${seq++};`.repeat(1 + (seq % 50)));
    sent.push(chunk);
    client.write(chunk);
  }, 1);
  t.after(() => clearInterval(writer));
  while (oldEchoed < 20_000) await new Promise((r) => setTimeout(r, 5));

  const peer = spawnPeer(t, 'connection', channels.path);
  const ch = await channels.accept(STEP_TIMEOUT_MS);
  // The handover of one live connection: stop kernel reads now, flush our writes,
  // pass the fd with what user space already holds, drop our copy after the ack.
  serverSide._handle.readStop();
  while (serverSide.writableLength > 0) await new Promise((r) => setTimeout(r, 1));
  const leftover = serverSide.read() ?? Buffer.alloc(0);
  await ch.send(Buffer.from(JSON.stringify({ leftover: leftover.toString('base64') })), [fdOf(serverSide)]);
  const ack = await ch.recv(STEP_TIMEOUT_MS);
  assert.equal(ack.data.toString(), 'adopted');
  serverSide.destroy();

  await new Promise((r) => setTimeout(r, 200)); // keep writing through the new owner for a while
  clearInterval(writer);
  const total = Buffer.concat(sent);
  while (Buffer.concat(received).length < total.length) await once(client, 'data');
  client.end();
  const { echoed } = await peer.next();
  assert.ok(echoed > 0, 'the peer echoed part of the stream');
  assert.equal(oldEchoed + echoed, total.length, 'each byte was echoed exactly once');
  assert.ok(Buffer.concat(received).equals(total), 'the echoed stream is the sent stream, in order');
  ch.close();
  await peer.exited;
});

test('600 fds sent in batches of at most 253 all arrive, in order, and work', async (t) => {
  const channels = FdChannel.listen(tmpSocketPath(t));
  t.after(() => channels.close());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdpass-files-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const count = 600;
  const fds = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `f${i}`);
    fs.writeFileSync(file, `file-${i}`);
    fds.push(fs.openSync(file, 'r'));
  }
  t.after(() => fds.forEach((fd) => fs.closeSync(fd)));

  const peer = spawnPeer(t, 'files', channels.path, count);
  const ch = await channels.accept(STEP_TIMEOUT_MS);
  for (let i = 0; i < count; i += MAX_FDS_PER_MESSAGE) {
    await ch.send(Buffer.from(`batch ${i}`), fds.slice(i, i + MAX_FDS_PER_MESSAGE));
  }
  const reply = JSON.parse((await ch.recv(STEP_TIMEOUT_MS)).data.toString());
  assert.equal(reply.messages, 3);
  assert.deepEqual(reply.contents, fds.map((_, i) => `file-${i}`));
  ch.close();
  await peer.exited;
});

test('sending 254 fds in one message is refused and sends nothing; 253 go through', async (t) => {
  const { a, b } = await localPair(t);
  const nul = fs.openSync('/dev/null', 'r');
  t.after(() => fs.closeSync(nul));
  await assert.rejects(a.send(Buffer.from('x'), new Array(MAX_FDS_PER_MESSAGE + 1).fill(nul)), {
    name: 'RangeError',
    code: 'ERR_OUT_OF_RANGE',
    message: /254 fds .* limit is 253/,
  });
  await assert.rejects(b.recv(SHORT_TIMEOUT_MS), { code: 'MOSND_ERR_TRANSFER_TIMEOUT' });
  await a.send(Buffer.from('y'), new Array(MAX_FDS_PER_MESSAGE).fill(nul));
  const msg = await b.recv(STEP_TIMEOUT_MS);
  assert.equal(msg.data.toString(), 'y');
  assert.equal(msg.fds.length, MAX_FDS_PER_MESSAGE);
  msg.fds.forEach((fd) => native().close(fd));
});

test('a peer sending garbage and dying mid-way never crashes the receiver and leaks no fd', async (t) => {
  const before = openFdCount();
  const socketPath = tmpSocketPath(t);
  const channels = FdChannel.listen(socketPath);
  const randomMessages = 30;
  const peer = spawnPeer(t, 'garbage', socketPath, randomMessages);
  const ch = await channels.accept(STEP_TIMEOUT_MS);

  // 20 fds where 4 are expected: MSG_CTRUNC, the 4 (or 5) that arrived are closed.
  await assert.rejects(ch.recv(STEP_TIMEOUT_MS, { maxFds: 4 }), { code: 'MOSND_ERR_TRANSFER_PROTOCOL' });
  // 70 000 bytes where 64 KiB is the limit: MSG_TRUNC, its 3 fds are closed.
  await assert.rejects(ch.recv(STEP_TIMEOUT_MS), { code: 'MOSND_ERR_TRANSFER_PROTOCOL', message: /65536 bytes/ });
  let fdsReceived = 0;
  for (let i = 0; i < randomMessages; i++) {
    const msg = await ch.recv(STEP_TIMEOUT_MS);
    assert.ok(msg.data.length >= 1 && msg.data.length <= MAX_MESSAGE_BYTES);
    fdsReceived += msg.fds.length;
    msg.fds.forEach((fd) => native().close(fd));
  }
  assert.ok(fdsReceived > 0);
  await assert.rejects(ch.recv(STEP_TIMEOUT_MS), { code: 'MOSND_ERR_TRANSFER_CLOSED' });
  await assert.rejects(ch.recv(STEP_TIMEOUT_MS), { code: 'MOSND_ERR_TRANSFER_CLOSED' }, 'EOF stays EOF');
  await assert.rejects(ch.send(Buffer.from('anyone?')), { code: 'MOSND_ERR_TRANSFER_CLOSED' });
  ch.close();
  channels.close();
  await peer.exited;
  assert.equal(openFdCount(), before, 'every fd opened or received during the exchange is closed');
});

test('recv, accept and send reject with a timeout error in time', async (t) => {
  const { server, a, b } = await localPair(t);
  for (const [what, op] of [
    ['recv', () => b.recv(SHORT_TIMEOUT_MS)],
    ['accept', () => server.accept(SHORT_TIMEOUT_MS)],
  ]) {
    const started = Date.now();
    await assert.rejects(op(), { code: 'MOSND_ERR_TRANSFER_TIMEOUT' }, what);
    const took = Date.now() - started;
    assert.ok(took >= SHORT_TIMEOUT_MS - 5 && took < SHORT_TIMEOUT_MS + TIMER_SLACK_MS, `${what} took ${took} ms`);
  }
  // Nobody reads b: a's sends fill b's receive queue, then one waits and times out.
  const filler = Buffer.alloc(MAX_MESSAGE_BYTES);
  let sent = 0;
  await assert.rejects(async () => {
    for (;;) { await a.send(filler, [], SHORT_TIMEOUT_MS); sent += 1; }
  }, { code: 'MOSND_ERR_TRANSFER_TIMEOUT' });
  assert.ok(sent > 0);
  // The channel still works after timeouts: queued messages arrive intact and in order.
  const first = await b.recv(STEP_TIMEOUT_MS);
  assert.equal(first.data.length, MAX_MESSAGE_BYTES);
});

test('pending operations reject when the channel is closed locally, and close is idempotent', async (t) => {
  const { a } = await localPair(t);
  const pending = a.recv(STEP_TIMEOUT_MS);
  a.close();
  a.close();
  await assert.rejects(pending, { code: 'MOSND_ERR_TRANSFER_CLOSED' });
  await assert.rejects(a.recv(STEP_TIMEOUT_MS), { code: 'MOSND_ERR_TRANSFER_CLOSED' });
});

test('connect and listen report errno codes; close removes only its own socket file', async (t) => {
  const socketPath = tmpSocketPath(t);
  await assert.rejects(FdChannel.connect(socketPath, STEP_TIMEOUT_MS), { code: 'ENOENT', syscall: 'connect' });
  const server = FdChannel.listen(socketPath);
  assert.equal(fs.statSync(socketPath).mode & 0o777, 0o600);
  assert.throws(() => FdChannel.listen(socketPath), { code: 'EADDRINUSE', syscall: 'bind' });
  server.close();
  assert.equal(fs.existsSync(socketPath), false);
  fs.writeFileSync(socketPath, 'stale');
  assert.throws(() => FdChannel.listen(socketPath), { code: 'EADDRINUSE' });
  fs.rmSync(socketPath);
  const replaced = FdChannel.listen(socketPath);
  fs.rmSync(socketPath);
  const successor = FdChannel.listen(socketPath); // a new generation bound the path again
  replaced.close();
  assert.equal(fs.existsSync(socketPath), true, "the successor's socket file is left alone");
  successor.close();
});

test('received fds of the wrong kind are refused by socketFromFd and serverFromFd', async (t) => {
  const { socketFromFd, serverFromFd } = require('../dist/transfer/fdpass.js');
  const { server, a } = await localPair(t);
  assert.throws(() => socketFromFd(server.fd), { code: 'MOSND_ERR_TRANSFER_PROTOCOL', message: /seqpacket/ });
  assert.throws(() => serverFromFd(a.fd), { code: 'MOSND_ERR_TRANSFER_PROTOCOL', message: /expected a listening stream socket/ });
  assert.throws(() => fdOf(new net.Socket()), TypeError);
});

test('a missing addon is reported with a stable code and how to build it', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdpass-noaddon-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const dist = path.join(__dirname, '..', 'dist');
  for (const rel of ['transfer/fdpass.js', 'transfer/constants.js', 'transfer/peer-cred.js', 'shared/errors.js', 'shared/constants.js']) {
    fs.mkdirSync(path.dirname(path.join(dir, 'dist', rel)), { recursive: true });
    fs.copyFileSync(path.join(dist, rel), path.join(dir, 'dist', rel));
  }
  const copy = require(path.join(dir, 'dist', 'transfer', 'fdpass.js'));
  assert.throws(() => copy.FdChannel.listen(path.join(dir, 'x.sock')), {
    code: 'MOSND_ERR_TRANSFER_ADDON',
    message: /node-gyp rebuild/,
  });
});

test('a worker thread that exits while a channel waits does not crash the process', async (t) => {
  const { Worker } = require('node:worker_threads');
  const socketPath = tmpSocketPath(t);
  const worker = new Worker(`
    const { FdChannel } = require(${JSON.stringify(require.resolve('../dist/transfer/fdpass.js'))});
    const server = FdChannel.listen(${JSON.stringify(socketPath)});
    server.accept(${STEP_TIMEOUT_MS}).catch(() => {});
    require('node:worker_threads').parentPort.postMessage('waiting');
  `, { eval: true });
  await once(worker, 'message');
  await worker.terminate(); // libuv runs the addon's close callbacks after Node unloads addons of the worker
  const { a, b } = await localPair(t); // still alive, and the addon still works here
  await a.send(Buffer.from('after'));
  assert.equal((await b.recv(STEP_TIMEOUT_MS)).data.toString(), 'after');
});

test('a peer that closes with our messages unread ends a pending recv with MOSND_ERR_TRANSFER_CLOSED', async (t) => {
  const { a, b } = await localPair(t);
  const pending = a.recv(STEP_TIMEOUT_MS);
  await a.send(Buffer.from('never read'));
  b.close(); // unread data in b's queue: the kernel resets a (POLLERR, then ECONNRESET)
  await assert.rejects(pending, { code: 'MOSND_ERR_TRANSFER_CLOSED' });
  await assert.rejects(a.recv(STEP_TIMEOUT_MS), { code: 'MOSND_ERR_TRANSFER_CLOSED' });
  await assert.rejects(a.send(Buffer.from('x')), { code: 'MOSND_ERR_TRANSFER_CLOSED' });
});
