'use strict';
/**
 * systemd's notify protocol against a real receiver: a Python process bound to a Unix
 * datagram socket stands in for systemd and prints every notification it gets. mosnd must
 * say READY=1 with its MAINPID once serving, RELOADING=1 then READY=1 around a reload, hand
 * MAINPID to the new master on an upgrade (and the old one must not say STOPPING=1, which
 * would make systemd stop the service), and STOPPING=1 when asked to stop.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const h = require('./helpers/mosnd');
const p = require('./helpers/procs');

/** How long a notification may take to arrive after the event that causes it (a loaded CI). */
const NOTIFY_WAIT_MS = 20_000;

/** `address` is a path, or '@name' for the abstract namespace as in $NOTIFY_SOCKET. */
const RECEIVER = `
import json, socket, sys
a = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + a[1:] if a.startswith('@') else a)
print(json.dumps({"bound": True}), flush=True)
while True:
    d = s.recv(65536).decode()
    print(json.dumps(dict(l.split('=', 1) for l in d.split('\\n') if '=' in l)), flush=True)
`;

/** Starts the stand-in systemd; resolves once it is bound. `messages` fills as they arrive. */
async function fakeSystemd(t, address) {
  const child = spawn('python3', ['-c', RECEIVER, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  const r = { address, messages: [] };
  let buf = '';
  const bound = new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`the notify receiver exited (${code})`)));
    child.stdout.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) !== -1) {
        const m = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (m.bound) resolve();
        else r.messages.push(m);
      }
    });
  });
  await bound;
  /** Resolves with the first message (after index `from`) for which pred is true. */
  r.waitFor = (pred, what, from = 0) =>
    p.waitFor(() => r.messages.slice(from).find(pred), NOTIFY_WAIT_MS, `notification ${what}; got ${JSON.stringify(r.messages)}`);
  return r;
}

function directConfig() {
  return h.proxyConfig({ routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: 'ok' } }] });
}

test('under systemd mosnd notifies READY with its pid, RELOADING around a reload, the new MAINPID after an upgrade, and STOPPING', async (t) => {
  const sd = await fakeSystemd(t, path.join(h.tmpDir('mosnd-sd-'), 'notify.sock'));
  const m = await h.startMosnd({ config: directConfig(), env: { NOTIFY_SOCKET: sd.address } });
  t.after(() => m.kill());

  const ready = await sd.waitFor((n) => n.READY === '1', 'READY=1');
  assert.equal(Number(ready.MAINPID), m.pid);
  assert.match(ready.STATUS, /serving generation 1 with 1 worker/);

  let mark = sd.messages.length;
  const r = await m.cli(['reload']);
  assert.equal(r.code, 0, r.stderr);
  const reloading = await sd.waitFor((n) => n.RELOADING === '1', 'RELOADING=1', mark);
  assert.match(reloading.MONOTONIC_USEC, /^\d+$/, 'RELOADING=1 carries MONOTONIC_USEC (Type=notify-reload wants it)');
  await sd.waitFor((n) => n.READY === '1' && /reloaded/.test(n.STATUS), 'READY=1 after the reload', mark);

  mark = sd.messages.length;
  process.kill(m.pid, 'SIGUSR2');
  assert.equal((await m.exitPromise).code, 0, 'the old master hands over and exits');
  const next = h.servingPid(m.runDir);
  assert.ok(next && next !== m.pid);
  const handed = await sd.waitFor((n) => n.MAINPID !== undefined, 'MAINPID of the new master', mark);
  assert.equal(Number(handed.MAINPID), next);
  assert.equal(handed.READY, '1');
  assert.match(handed.STATUS, /generation 2/);
  assert.equal(sd.messages.filter((n) => n.STOPPING).length, 0, 'nobody said STOPPING during the upgrade');

  mark = sd.messages.length;
  process.kill(next, 'SIGTERM');
  await sd.waitFor((n) => n.STOPPING === '1', 'STOPPING=1', mark);
  await p.waitGone([next], NOTIFY_WAIT_MS);
});

test('a NOTIFY_SOCKET in the abstract namespace (@name) is reached too', async (t) => {
  const sd = await fakeSystemd(t, `@mosnd-test-${process.pid}-${Date.now()}`);
  const m = await h.startMosnd({ config: directConfig(), env: { NOTIFY_SOCKET: sd.address } });
  t.after(() => m.kill());
  const ready = await sd.waitFor((n) => n.READY === '1', 'READY=1');
  assert.equal(Number(ready.MAINPID), m.pid);
});

test('a NOTIFY_SOCKET nobody listens on does not keep mosnd from serving', async (t) => {
  const m = await h.startMosnd({ config: directConfig(), env: { NOTIFY_SOCKET: path.join(h.tmpDir('mosnd-sd-'), 'nobody.sock') } });
  t.after(() => m.kill());
  assert.equal((await h.request(m.ports.http)).status, 200);
  const r = await m.cli(['reload']);
  assert.equal(r.code, 0, r.stderr);
});
