'use strict';
/**
 * The connection channel's release rule, with real sockets: a new worker never reads a moved
 * connection before the old one says `released`, and drops its copy (without touching the
 * connection) when that never comes.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { FdChannel, fdOf, socketFromFd } = require('../dist/transfer/fdpass');
const { ConnectionReceiver } = require('../dist/transfer/conn-receiver');
const { encode, decodeConnMessage } = require('../dist/transfer/messages');

async function tcpPair() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise((r) => server.once('connection', r));
  const client = net.connect(server.address().port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  const serverSide = await accepted;
  server.close();
  return { client, serverSide };
}

function setup(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xfer-'));
  const events = [];
  const receiver = new ConnectionReceiver(
    path.join(dir, 'x.sock'),
    (desc, fds) => {
      const sock = socketFromFd(fds[0], true, true);
      const got = [];
      sock.on('data', (d) => got.push(d));
      events.push({ id: desc.id, sock, got, started: false, discarded: false });
      const e = events[events.length - 1];
      return {
        start: () => {
          e.started = true;
          sock.resume();
        },
        discard: () => {
          e.discarded = true;
          sock.destroy();
        },
      };
    },
    () => {},
  );
  t.after(() => {
    receiver.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { receiver, events, sockPath: path.join(dir, 'x.sock') };
}

async function offer(ch, socket) {
  await ch.send(encode({ t: 'conns', items: [{ kind: 'http', id: 7, listener: 'http', fd: 0, data: '' }] }), [fdOf(socket)]);
  const raw = await ch.recv(2_000, { maxFds: 0 });
  return decodeConnMessage(raw.data, raw.fds.length);
}

/** Polls `pred` every few ms until it holds; rejects after `ms`. */
async function until(pred, what, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Resolves once `bytes` written by `client` are in the receive queue of its peer and this
 * process has since been through a whole round of I/O events: a socket that was reading
 * would have had its 'data' event by then. The proof: an echo through a second loopback
 * pair, written after those bytes, has come back, and the rest of that round of events
 * (setImmediate runs after it) has run.
 */
async function writtenAndPolled(client, bytes) {
  await new Promise((r) => client.write(bytes, r));
  const { client: a, serverSide: b } = await tcpPair();
  b.on('data', (d) => b.write(d));
  await new Promise((r) => {
    a.once('data', r);
    a.write('ping');
  });
  await new Promise((r) => setImmediate(r));
  a.destroy();
  b.destroy();
}

/** What an old worker does before offering a connection: stop kernel reads now. */
function stopReading(sock) {
  sock._handle.reading = false;
  sock._handle.readStop();
}

test('a moved connection is not read by the new side until the old side says released', async (t) => {
  const { events, sockPath } = setup(t);
  const { client, serverSide } = await tcpPair();
  t.after(() => client.destroy());
  stopReading(serverSide);
  const ch = await FdChannel.connect(sockPath, 2_000);
  t.after(() => ch.close());
  const ack = await offer(ch, serverSide);
  assert.deepEqual(ack, { t: 'ack', accepted: [7], refused: [] });
  await writtenAndPolled(client, 'early');
  assert.equal(events[0].started, false);
  assert.equal(events[0].got.length, 0, 'nothing read before released');
  await ch.send(encode({ t: 'released', ids: [7] }));
  serverSide.destroy(); // the old side lets go of its copy
  await until(() => events[0].got.length > 0, 'the new side reading after released');
  assert.equal(events[0].started, true);
  assert.equal(Buffer.concat(events[0].got).toString(), 'early', 'the bytes waiting in the kernel reach the new side');
});

test('without released, the new side drops its copy and the connection stays usable by the old side', async (t) => {
  const { events, sockPath } = setup(t);
  const { client, serverSide } = await tcpPair();
  t.after(() => client.destroy());
  const ch = await FdChannel.connect(sockPath, 2_000);
  stopReading(serverSide);
  const ack = await offer(ch, serverSide);
  assert.deepEqual(ack.accepted, [7]);
  ch.close(); // the old side gives up: no released
  await until(() => events[0].discarded, 'the new side dropping its copy');
  assert.equal(events[0].discarded, true);
  assert.equal(events[0].started, false);
  // The old side still owns a working connection: no FIN or reset reached the client.
  const echoed = new Promise((r) => client.once('data', r));
  serverSide.on('data', (d) => serverSide.write(d));
  serverSide._handle.reading = true;
  serverSide._handle.readStart(); // the old side takes it back
  client.write('still here');
  assert.equal(String(await echoed), 'still here');
  serverSide.destroy();
});
