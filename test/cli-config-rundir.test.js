'use strict';
/**
 * A mosnd started from a MOSN file with `uds_dir` (its run dir) and `pid` is found by every
 * command given the same file with -c; --run-dir still wins over -c; the `pid` file is a copy
 * for other tools, never the run dir's lock.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./helpers/mosnd');
const { running } = require('./helpers/upgrade');

/** Every CLI call gets an empty default run dir of its own: only -c or --run-dir can find a master. */
function cliEnv() {
  return { XDG_RUNTIME_DIR: h.tmpDir('mosnd-xdg-') };
}

function cli(args) {
  return h.runCli(args, { env: cliEnv() });
}

/** A config serving "ok" whose run dir is `udsDir` and whose pid file is `pidFile`. */
function configFile(dir, { udsDir, pidFile }) {
  const c = h.proxyConfig({ routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: 'ok' } }] });
  if (udsDir) c.uds_dir = udsDir;
  if (pidFile) c.pid = pidFile;
  return h.writeConfig(c, dir);
}

function readPid(file) {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return 0;
  }
}

/** Kills every master a test started from its run dir's pidfile (and their workers) at its end. */
function cleanUp(t, runDir) {
  const seen = new Set();
  const remember = () => {
    const pid = readPid(path.join(runDir, 'mosnd.pid'));
    if (pid) seen.add(pid);
  };
  t.after(() => {
    remember();
    for (const pid of seen) {
      for (const p of [...h.workerPids(pid), pid]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {}
      }
    }
  });
  return remember;
}

/** `mosnd start -c FILE --daemon` without --run-dir: the run dir comes from the file. */
async function startDaemon(file) {
  const r = await cli(['start', '--daemon', '-c', file, '--workers', '1']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return Number(/pid (\d+)/.exec(r.stdout)[1]);
}

test('a mosnd started from a config with uds_dir and pid is found by status, reload, upgrade and stop given -c', async (t) => {
  const dir = h.tmpDir('mosnd-uds-');
  const udsDir = path.join(dir, 'uds');
  const pidFile = path.join(dir, 'pids', 'custom.pid');
  const file = configFile(dir, { udsDir, pidFile });
  const remember = cleanUp(t, udsDir);
  const pid = await startDaemon(file);
  remember();
  assert.equal(readPid(path.join(udsDir, 'mosnd.pid')), pid, 'the run dir is uds_dir and holds the pidfile');
  assert.equal(readPid(pidFile), pid, 'the config\'s pid file names the master too');

  const st = await cli(['status', '--json', '-c', file]);
  assert.equal(st.code, 0, st.stderr);
  assert.equal(JSON.parse(st.stdout).masterPid, pid);
  const table = await cli(['status', '-c', file]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`\\b${pid}\\b`));

  const rl = await cli(['reload', '-c', file]);
  assert.equal(rl.code, 0, rl.stderr);
  assert.match(rl.stdout, /configuration reloaded/);

  const up = await cli(['upgrade', '--binary', h.ROOT, '-c', file]);
  assert.equal(up.code, 0, up.stdout + up.stderr);
  assert.match(up.stdout, /done: upgraded to generation 2/);
  remember();
  const after = JSON.parse((await cli(['status', '--json', '-c', file])).stdout);
  assert.equal(after.generation, 2);
  assert.notEqual(after.masterPid, pid);
  assert.equal(readPid(pidFile), after.masterPid, 'the new generation rewrote the config\'s pid file');

  const stop = await cli(['stop', '-c', file]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(stop.stdout, `mosnd (pid ${after.masterPid}) stopped\n`);
  assert.ok(!running(after.masterPid));
  assert.ok(!fs.existsSync(pidFile), 'the config\'s pid file is removed on stop');
  assert.ok(!fs.existsSync(path.join(udsDir, 'mosnd.pid')));
  const gone = await cli(['status', '-c', file]);
  assert.equal(gone.code, 3);
});

test('--run-dir wins over the uds_dir of -c', async (t) => {
  const dir = h.tmpDir('mosnd-uds-');
  const udsDir = path.join(dir, 'uds');
  const file = configFile(dir, { udsDir });
  const elsewhere = configFile(h.tmpDir('mosnd-uds-'), { udsDir: path.join(dir, 'nothing-here') });
  const remember = cleanUp(t, udsDir);
  const pid = await startDaemon(file);
  remember();
  // The right file, another run dir: nothing runs there.
  const miss = await cli(['status', '-c', file, '--run-dir', h.tmpDir('mosnd-run-')]);
  assert.equal(miss.code, 3, miss.stdout + miss.stderr);
  // A file whose uds_dir is empty of masters, the right run dir: found.
  const hit = await cli(['status', '--json', '-c', elsewhere, '--run-dir', udsDir]);
  assert.equal(hit.code, 0, hit.stderr);
  assert.equal(JSON.parse(hit.stdout).masterPid, pid);
  const stop = await cli(['stop', '-c', elsewhere, '--run-dir', udsDir]);
  assert.equal(stop.code, 0, stop.stderr);
  assert.ok(!running(pid));
});

test('two configs with one uds_dir and different pid files cannot both run: the run dir has one lock', async (t) => {
  const dir = h.tmpDir('mosnd-uds-');
  const udsDir = path.join(dir, 'uds');
  const first = configFile(h.tmpDir('mosnd-cfg-'), { udsDir, pidFile: path.join(dir, 'a.pid') });
  const second = configFile(h.tmpDir('mosnd-cfg-'), { udsDir, pidFile: path.join(dir, 'b.pid') });
  const remember = cleanUp(t, udsDir);
  const pid = await startDaemon(first);
  remember();
  const r = await cli(['start', '--daemon', '-c', second, '--workers', '1']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`already running with pid ${pid} .*\\[MOSND_ERR_ALREADY_RUNNING\\]`));
  assert.ok(!fs.existsSync(path.join(dir, 'b.pid')), 'the refused start wrote no pid file');
  // The first one still owns its control socket and answers.
  const st = await cli(['status', '--json', '-c', first]);
  assert.equal(st.code, 0, st.stderr);
  assert.equal(JSON.parse(st.stdout).masterPid, pid);
});

test('stop -c with a file that cannot be read says so instead of looking in the default run dir', async () => {
  const missing = path.join(h.tmpDir('mosnd-cfg-'), 'missing.json');
  const r = await cli(['stop', '-c', missing]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot read .*missing\.json: ENOENT.*\[MOSND_ERR_CONFIG_READ\]|\[MOSND_ERR_CONFIG_READ\][\s\S]*cannot read .*missing\.json: ENOENT/);
});
