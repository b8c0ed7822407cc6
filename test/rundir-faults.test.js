'use strict';
/**
 * A run dir that cannot be trusted or written: another user's directory, a full disk, a
 * pidfile naming someone else's process. Each gives a clear MOSND_ERR_RUNDIR (or a refusal
 * naming the pid), and nothing is damaged: no mode changed, no temp file left, no stranger's
 * process signalled.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./helpers/mosnd');
const u = require('./helpers/upgrade');

/** The uid of nobody: a user that is not us. */
const OTHER_UID = 65534;
const IS_ROOT = process.getuid() === 0;
/** A tmpfs this small is filled by one file of this size. */
const TINY_FS = '64k';

function simpleConfig() {
  const file = h.writeConfig(
    h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'web' } }],
      clusters: [h.cluster('web', ['127.0.0.1:9'])],
      listeners: [h.httpListener('http', 'r')],
    }),
  );
  return file;
}

/** A process that is not a mosnd master, running as `uid`, whose command line says `label`. */
function stranger(t, { uid, label }) {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', label], { stdio: 'ignore', uid });
  t.after(() => child.kill('SIGKILL'));
  return child;
}

test('a run dir owned by another user is refused with its owner named, and left as it was', { skip: !IS_ROOT && 'needs root to create another user\'s directory' }, async (t) => {
  const dir = h.tmpDir('mosnd-foreign-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.chmodSync(dir, 0o755);
  fs.chownSync(dir, OTHER_UID, OTHER_UID);
  const cfg = simpleConfig();
  t.after(() => fs.rmSync(path.dirname(cfg), { recursive: true, force: true }));
  const r = await h.runCli(['start', '-c', cfg, '--run-dir', dir]);
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stderr, new RegExp(`belongs to uid ${OTHER_UID}, not to this user \\(uid 0\\).*\\[MOSND_ERR_RUNDIR\\]`));
  const st = fs.statSync(dir);
  assert.equal(st.mode & 0o777, 0o755, 'its mode was not changed');
  assert.equal(st.uid, OTHER_UID);
  assert.deepEqual(fs.readdirSync(dir), [], 'nothing was written into it');
});

test('a run dir on a full disk gives a clear error and leaves no file behind', { skip: !IS_ROOT && 'needs root to mount a small tmpfs' }, async (t) => {
  const mnt = h.tmpDir('mosnd-full-');
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TINY_FS}`, 'tmpfs', mnt]);
  if (mounted.status !== 0) {
    t.skip(`cannot mount a tmpfs here: ${mounted.stderr}`);
    return;
  }
  t.after(() => {
    spawnSync('umount', [mnt]);
    fs.rmSync(mnt, { recursive: true, force: true });
  });
  const runDir = path.join(mnt, 'run');
  fs.mkdirSync(runDir, { mode: 0o700 });
  // Fill it: write until the file system refuses.
  const fd = fs.openSync(path.join(mnt, 'filler'), 'w');
  try {
    for (;;) fs.writeSync(fd, Buffer.alloc(4096));
  } catch (e) {
    assert.equal(e.code, 'ENOSPC');
  } finally {
    fs.closeSync(fd);
  }
  const cfg = simpleConfig();
  t.after(() => fs.rmSync(path.dirname(cfg), { recursive: true, force: true }));
  const mark = u.processMark();
  const r = await h.runCli(['start', '-c', cfg, '--run-dir', runDir], { env: mark.env });
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stderr, /cannot write the pidfile .*mosnd\.pid: its file system is full \(ENOSPC\).*\[MOSND_ERR_RUNDIR\]/);
  assert.deepEqual(fs.readdirSync(runDir), [], 'no pidfile, no temp file, no socket left');
  assert.deepEqual(mark.pids(), [], 'no worker was started');
});

test('a pidfile naming a process that is not our mosnd is never signalled by stop, and does not block a start', async (t) => {
  const runDir = h.tmpDir('mosnd-run-');
  t.after(() => fs.rmSync(runDir, { recursive: true, force: true }));
  const strangers = [stranger(t, { label: 'not-a-proxy' })];
  // Someone else's mosnd that got the pid of ours after a crash: not ours either.
  if (IS_ROOT) strangers.push(stranger(t, { uid: OTHER_UID, label: 'mosnd-of-someone-else' }));
  for (const s of strangers) {
    fs.writeFileSync(path.join(runDir, 'mosnd.pid'), `${s.pid}\n`);
    const r = await h.runCli(['stop', '--run-dir', runDir]);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, new RegExp(`pidfile names pid ${s.pid}, which is not a mosnd of this user: nothing was signalled`));
    await h.sleep(200);
    assert.equal(s.exitCode, null, 'the process was not signalled');
    assert.equal(s.signalCode, null, 'the process was not signalled');
  }
  // A start treats such a pidfile as stale, claims the run dir and serves.
  const m = await h.startMosnd({ config: h.proxyConfig({ routes: [{ match: { prefix: '/' }, route: { cluster_name: 'web' } }], clusters: [h.cluster('web', ['127.0.0.1:9'])], listeners: [h.httpListener('http', 'r')] }), runDir });
  t.after(async () => {
    await h.runCli(['stop', '--fast', '--run-dir', runDir]).catch(() => {});
    m.child.kill('SIGKILL');
    fs.rmSync(path.dirname(m.configFile), { recursive: true, force: true });
  });
  assert.equal(h.servingPid(runDir), m.pid, 'the pidfile names the new master');
  for (const s of strangers) assert.equal(s.exitCode ?? s.signalCode, null, 'the strangers still run');
});
