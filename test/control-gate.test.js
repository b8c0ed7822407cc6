'use strict';
// The control socket's accept gate (src/master/control-gate.ts) with real Unix sockets: what
// serves the control API (grpc-js, in the master) is made at the first allowed connection, and a
// failure to make it costs that connection only.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const { listenGated } = require('../dist/master/control-gate');

/** Connects and collects what the server sends until it closes the connection. */
function exchange(socketPath) {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (got += d));
    s.on('error', (err) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
    s.on('close', () => resolve(got));
  });
}

async function gated(t, openSink, onSinkError) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosnd-gate-'));
  const socketPath = path.join(dir, 'c.sock');
  const gate = await listenGated(openSink, socketPath, socketPath, () => assert.fail('own user refused'), onSinkError);
  t.after(() => {
    gate.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return socketPath;
}

/** A sink that answers each connection with one line and closes it. */
const answering = (line) => (socket) => socket.end(`${line}\n`);

test('what serves the control API is made at the first allowed connection, once', async (t) => {
  let made = 0;
  const socketPath = await gated(t, () => {
    made++;
    return answering('served');
  });
  assert.equal(made, 0, 'nothing is made while nobody has connected');
  assert.equal(await exchange(socketPath), 'served\n');
  assert.equal(await exchange(socketPath), 'served\n');
  assert.equal(made, 1, 'the second connection uses what the first one made');
});

test('a control API that fails to load closes that connection, reports why, and the next connection tries again', async (t) => {
  const errors = [];
  let attempts = 0;
  const socketPath = await gated(
    t,
    () => {
      attempts++;
      if (attempts === 1) throw new Error('cannot load control.proto');
      return answering('served');
    },
    (err) => errors.push(err.message),
  );
  assert.equal(await exchange(socketPath), '', 'the first connection is closed unanswered');
  assert.deepEqual(errors, ['cannot load control.proto']);
  assert.equal(await exchange(socketPath), 'served\n', 'the gate still listens, and loads again');
  assert.equal(attempts, 2);
});
