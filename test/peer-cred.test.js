'use strict';
/**
 * Our own sockets check who connects (SO_PEERCRED) before reading a byte: only the master's
 * user or root. The 0600 socket files in a 0700 run dir normally keep others out already; these
 * tests loosen those modes on purpose (a shared run dir, a chmod by hand) and connect as another
 * user, to prove the second fence holds: the peer is refused, and the refusal is logged with
 * its pid and uid.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./helpers/mosnd');

/** nobody: a user that is not the master's. */
const OTHER_UID = 65534;
const IS_ROOT = process.getuid() === 0;
const SKIP = !IS_ROOT && 'needs root to connect as another user';
/** How long the other user's client may take to be refused (a local connect, a node start). */
const CLIENT_TIMEOUT_MS = 20_000;

/** Runs `node args` as OTHER_UID; resolves with { code, stdout, stderr, pid }. */
function runAsOther(args) {
  const child = spawn(process.execPath, args, { uid: OTHER_UID, gid: OTHER_UID, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), CLIENT_TIMEOUT_MS);
  return h.whenDone(child).then(({ code }) => {
    clearTimeout(timer);
    return { code, stdout, stderr, pid: child.pid };
  });
}

async function serving(t) {
  const up = await h.startHttpUpstream((req, res) => res.end('ok'));
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'web' } }],
      clusters: [h.cluster('web', [up.address])],
      listeners: [h.httpListener('http', 'r')],
    }),
  });
  t.after(async () => {
    await h.runCli(['stop', '--fast', '--run-dir', m.runDir]).catch(() => {});
    m.child.kill('SIGKILL');
    await up.close();
    for (const dir of [m.runDir, path.dirname(m.configFile)]) fs.rmSync(dir, { recursive: true, force: true });
  });
  // What a careless operator might do: open the run dir to everyone.
  fs.chmodSync(m.runDir, 0o755);
  return m;
}

const logLine = (re) => (l) => re.test(JSON.stringify(l));

test('another user is refused at the control socket even with its modes loosened, and the refusal names the pid and uid', { skip: SKIP }, async (t) => {
  const m = await serving(t);
  fs.chmodSync(path.join(m.runDir, 'control.sock'), 0o666);
  const r = await runAsOther([h.BIN, 'status', '--json', '--run-dir', m.runDir]);
  assert.notEqual(r.code, 0, `the other user got an answer: ${r.stdout}`);
  assert.doesNotMatch(r.stdout, /masterPid/, 'no status reached the other user');
  const line = await m.waitForLog(logLine(new RegExp(`refused a connection to [^"]*control\\.sock from pid ${r.pid}, uid ${OTHER_UID}`)));
  assert.equal(line.peerUid, OTHER_UID);
  assert.equal(line.peerPid, r.pid);
  // Our own user still drives the master.
  const own = await h.runCli(['status', '--json', '--run-dir', m.runDir]);
  assert.equal(own.code, 0, own.stderr);
  assert.equal(JSON.parse(own.stdout).masterPid, m.pid);
});

test('another user is refused at a worker transfer socket before it reads the batch, and the worker serves on', { skip: SKIP }, async (t) => {
  const m = await serving(t);
  const up = await h.runCli(['upgrade', '--binary', h.ROOT, '--run-dir', m.runDir]);
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const xfer = path.join(m.runDir, fs.readdirSync(m.runDir).find((f) => /^xfer-2-\d+\.sock$/.test(f)));
  fs.chmodSync(m.runDir, 0o755);
  fs.chmodSync(xfer, 0o666);
  // A batch claiming a connection, carrying an fd: a forged connection for the worker to serve.
  const script = `
    const { FdChannel } = require(${JSON.stringify(path.join(h.ROOT, 'dist', 'transfer', 'fdpass.js'))});
    (async () => {
      const ch = await FdChannel.connect(${JSON.stringify(xfer)}, 5000);
      const fd = require('fs').openSync('/dev/null', 'r');
      await ch.send(Buffer.from(JSON.stringify({ t: 'conns', items: [{ kind: 'http', id: 1, listener: 'http', fd: 0, data: '' }] })), [fd]).catch(() => {});
      const reply = await ch.recv(5000).then((m) => m.data.toString(), (e) => e.code);
      process.stdout.write(reply);
    })();`;
  const r = await runAsOther(['-e', script]);
  assert.equal(r.stdout, 'MOSND_ERR_TRANSFER_CLOSED', `the worker closed the channel without an answer: ${r.stdout}${r.stderr}`);
  await m.waitForLog(logLine(new RegExp(`refused a connection to [^"]*xfer-2-\\d+\\.sock from pid ${r.pid}, uid ${OTHER_UID}`)));
  assert.equal((await h.request(m.ports.http)).status, 200, 'the worker serves on');
});
