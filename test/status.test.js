'use strict';
/**
 * `mosnd status` against real masters: the JSON document and the table, restarts after a
 * worker is killed, --watch, exit codes, and the rows of a generation still draining
 * after an upgrade.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const h = require('./helpers/mosnd');
const procs = require('./helpers/procs');

const ADMIN = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };
const CLEAR = '\x1b[H\x1b[2J';

function directConfig(extra = ADMIN) {
  return h.proxyConfig({ routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: 'ok' } }], extra });
}

async function statusJson(m) {
  const r = await m.cli(['status', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** The status document, or null while the master does not say it serves (exit 4 around an
 *  upgrade's commit): for polling, where that moment is expected. */
async function statusIfServing(m) {
  const r = await m.cli(['status', '--json']);
  return r.code === 0 ? JSON.parse(r.stdout) : null;
}

/** The row of the table for `pid`, split into its columns. */
function tableRow(table, pid) {
  const line = table.split('\n').find((l) => new RegExp(`^\\S+\\s+\\d+\\s+\\d+\\s+${pid}\\s`).test(l));
  assert.ok(line, `a row for pid ${pid} in:\n${table}`);
  return line.trim().split(/\s+/);
}

/** How long `status --watch` may take to draw its frames: a CLI start (Node, gRPC) on a
 *  loaded 2-core machine can take seconds. */
const WATCH_BOUND_MS = 20_000;

/**
 * Runs `mosnd status --watch` until its output holds `frames` complete frames (screens, or
 * JSON lines with --json), then sends SIGINT; resolves { code, stdout } once it has exited. Waiting for
 * frames, not for a fixed time, keeps a slow start from looking like a watch that never drew.
 */
function watch(args, frames = 2) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [h.BIN, 'status', '--watch', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    // Complete frames: JSON lines ended by a newline; screens followed by the next one's clear.
    const count = () => (args.includes('--json') ? stdout.split('\n').length - 1 : stdout.split(CLEAR).length - 2);
    const stop = () => {
      clearTimeout(bound);
      child.kill('SIGINT');
    };
    const bound = setTimeout(stop, WATCH_BOUND_MS);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (count() >= frames) stop();
    });
    h.whenDone(child).then(({ code }) => {
      clearTimeout(bound);
      resolve({ code, stdout });
    });
  });
}

test('status --json and the table show every process with role, pid, state, uptime, restarts, cpu and memory', async (t) => {
  const m = await h.startMosnd({ config: directConfig(), workers: 2 });
  t.after(() => m.kill());
  for (let i = 0; i < 5; i++) await h.request(m.ports.http);
  const st = await statusJson(m);
  assert.equal(st.generation, 1);
  assert.equal(st.state, 'serving');
  assert.equal(st.adminAddress, `127.0.0.1:${m.ports.__admin}`);
  assert.deepEqual(st.processes.map((p) => [p.role, p.workerId, p.generation]), [['master', 0, 1], ['worker', 1, 1], ['worker', 2, 1]]);
  assert.deepEqual(st.processes.slice(1).map((p) => p.pid).sort(), h.workerPids(m.pid).sort());
  for (const p of st.processes) {
    for (const field of ['role', 'pid', 'state', 'uptimeMs', 'restarts', 'cpu', 'memory', 'connections', 'rps']) {
      assert.ok(field in p, `${field} in ${JSON.stringify(p)}`);
    }
    assert.ok(p.memory > 1 << 20);
    assert.ok(p.cpu >= 0);
    assert.equal(p.restarts, 0);
  }
  assert.equal(st.processes.slice(1).reduce((n, p) => n + p.requestsTotal, 0), 5);
  assert.deepEqual(st.listeners, [{ name: 'http', address: `127.0.0.1:${m.ports.http}`, protocol: 'http' }]);
  assert.equal(st.lastUpgrade.result, 'none');

  const table = await m.cli(['status']);
  assert.equal(table.code, 0);
  assert.match(table.stdout, /^ROLE\s+ID\s+GEN\s+PID\s+STATE\s+UPTIME\s+RESTARTS\s+CPU\s+MEM\s+CONNS\s+H2-SESS\/STREAMS\s+REQ\/S$/m);
  assert.deepEqual(tableRow(table.stdout, m.pid).slice(0, 5), ['master', '0', '1', String(m.pid), 'serving']);
  for (const w of st.processes.slice(1)) assert.deepEqual(tableRow(table.stdout, w.pid).slice(4, 7).filter((_, i) => i !== 1), ['ready', '0']);
  assert.match(table.stdout, new RegExp(`^http\\s+127\\.0\\.0\\.1:${m.ports.http}\\s+http$`, 'm'));
  assert.match(table.stdout, new RegExp(`admin http://127\\.0\\.0\\.1:${m.ports.__admin}/`));
  assert.match(table.stdout, /^last upgrade: none$/m);
});

test('a worker killed with SIGKILL shows restarts 1 and a new pid in the JSON and the table', async (t) => {
  const m = await h.startMosnd({ config: directConfig(), workers: 2 });
  t.after(() => m.kill());
  const before = await statusJson(m);
  const victim = before.processes.find((p) => p.workerId === 2);
  process.kill(victim.pid, 'SIGKILL');
  const killedAt = Date.now();
  let after;
  await h.waitFor(async () => {
    after = await statusJson(m);
    const w = after.processes.find((p) => p.workerId === 2);
    return w.pid !== victim.pid && w.pid !== 0 && w.state === 'ready';
  }, 'the replacement worker ready');
  const w2 = after.processes.find((p) => p.workerId === 2);
  assert.equal(w2.restarts, 1);
  assert.equal(after.processes.find((p) => p.workerId === 1).restarts, 0);
  // The replacement's uptime counts from its own start, after the kill; not from the slot's.
  assert.ok(w2.uptimeMs <= Date.now() - killedAt, `uptime ${w2.uptimeMs} ms, killed ${Date.now() - killedAt} ms ago`);
  const table = (await m.cli(['status'])).stdout;
  const row = tableRow(table, w2.pid);
  assert.equal(row[1], '2');
  assert.equal(row[6], '1', `RESTARTS column in: ${row.join(' ')}`);
  assert.ok(!new RegExp(`\\b${victim.pid}\\b`).test(table), 'the dead pid is gone');
});

test('a ready worker that does not answer is listed as unresponsive while status answers for the others', async (t) => {
  // The watchdog warns after 3 s as usual but kills only after a minute: the frozen worker
  // stays for the whole test, however slow the machine.
  const m = await h.startMosnd({ config: directConfig(), workers: 2, env: { MOSND_WATCHDOG_KILL_MS: '60000' } });
  t.after(() => m.kill());
  const before = await statusJson(m);
  const [frozen, other] = before.processes.slice(1);
  t.after(() => procs.killAll([frozen.pid]));
  await procs.freeze(frozen.pid);
  // The other worker answers (on a loaded box it may itself be late once: ask again).
  let st;
  await h.waitFor(async () => (st = await statusJson(m)).processes.find((x) => x.pid === other.pid).state === 'ready', 'the other worker answering');
  const row = (pid) => st.processes.find((x) => x.pid === pid);
  assert.equal(row(frozen.pid).state, 'unresponsive');
  assert.deepEqual(tableRow((await m.cli(['status'])).stdout, frozen.pid).slice(0, 5), ['worker', '1', '1', String(frozen.pid), 'unresponsive']);
  // Once the watchdog has found it silent too, status does not ask it any more: same rows.
  await m.waitForLog((l) => l.level === 'warn' && l.workerPid === frozen.pid && /unresponsive for/.test(l.msg ?? ''));
  const later = await statusJson(m);
  assert.equal(later.processes.find((x) => x.pid === frozen.pid).state, 'unresponsive');
  process.kill(frozen.pid, 'SIGCONT');
  let again;
  await h.waitFor(async () => (again = (await statusJson(m)).processes.find((x) => x.pid === frozen.pid))?.state === 'ready', 'the thawed worker answering again');
  assert.equal(again.restarts, 0, 'listed, not restarted');
});

test('status exits 3 with one line when nothing runs, --watch says so in each frame', async () => {
  const runDir = h.tmpDir('mosnd-run-');
  const [plain, json] = await Promise.all([
    h.runCli(['status', '--run-dir', runDir]),
    h.runCli(['status', '--json', '--run-dir', runDir]),
  ]);
  for (const r of [plain, json]) {
    assert.equal(r.code, 3);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'mosnd is not running\n');
  }
  const w = await watch(['--interval', '200ms', '--run-dir', runDir]);
  assert.equal(w.code, 0);
  const frames = w.stdout.split(CLEAR).slice(1, -1); // the last one may be cut by the SIGINT
  assert.ok(frames.length >= 2, `several frames in ${JSON.stringify(w.stdout)}`);
  for (const f of frames) assert.match(f, /mosnd is not running/);
});

test('status --watch redraws the table in place; with --json it prints one document per line', async (t) => {
  const m = await h.startMosnd({ config: directConfig(), workers: 1 });
  t.after(() => m.kill());
  const [table, json] = await Promise.all([
    watch(['--interval', '300ms', '--run-dir', m.runDir]),
    watch(['--json', '--interval', '300ms', '--run-dir', m.runDir]),
  ]);
  assert.equal(table.code, 0);
  assert.ok(table.stdout.startsWith('\x1b[?25l'), 'the cursor is hidden while watching');
  assert.ok(table.stdout.endsWith('\x1b[?25h'), 'and shown again on exit');
  const frames = table.stdout.split(CLEAR).slice(1, -1); // the last one may be cut by the SIGINT
  assert.ok(frames.length >= 2, `several frames, got ${frames.length}`);
  for (const f of frames) assert.match(f, new RegExp(`^master\\s+0\\s+1\\s+${m.pid}\\s+serving`, 'm'));
  assert.equal(json.code, 0);
  const docs = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(docs.length >= 2);
  for (const d of docs) assert.equal(d.masterPid, m.pid);
  assert.ok(!json.stdout.includes('\x1b['), 'no terminal codes in JSON mode');
});

test('status exits 4 while the master answers but is stopping', async (t) => {
  let release;
  const held = new Promise((r) => (release = r));
  const up = await h.startHttpUpstream((req, res) => held.then(() => res.end('late')));
  t.after(() => up.close());
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', timeout: '30s' } }],
      clusters: [h.cluster('c', [up.address])],
      server: { graceful_timeout: '20s' },
    }),
  });
  t.after(() => m.kill());
  const inFlight = h.request(m.ports.http, { timeoutMs: 30_000 });
  await h.waitFor(() => up.requests === 1, 'the request at the upstream');
  process.kill(m.pid, 'SIGTERM');
  await m.waitForLog((l) => l.msg === 'graceful stop');
  const r = await m.cli(['status', '--json']);
  assert.equal(r.code, 4, r.stderr);
  assert.equal(JSON.parse(r.stdout).state, 'stopping');
  release();
  assert.equal((await inFlight).status, 200);
  assert.deepEqual(await m.exitPromise, { code: 0, signal: null });
});

test('during an upgrade, the old generation\'s processes are listed as draining while they live', async (t) => {
  let release;
  const held = new Promise((r) => (release = r));
  const up = await h.startHttpUpstream((req, res) => (req.url === '/slow' ? held.then(() => res.end('slow')) : res.end('fast')));
  t.after(() => up.close());
  const install = h.makeInstall();
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c', timeout: '30s' } }],
      clusters: [h.cluster('c', [up.address])],
      server: { graceful_timeout: '20s' },
    }),
    workers: 1,
  });
  t.after(() => {
    release();
    return m.kill(); // the serving generation too, after an upgrade
  });
  const [oldWorker] = h.workerPids(m.pid);
  const slow = h.request(m.ports.http, { path: '/slow', timeoutMs: 30_000 });
  await h.waitFor(() => up.requests === 1, 'the slow request at the upstream');
  const upgrade = m.cli(['upgrade', '--binary', install]);
  // The pidfile changes a moment before the new master owns the control socket.
  let st;
  await h.waitFor(async () => (st = await statusIfServing(m))?.generation === 2, 'the new master answering status', 30_000);
  const older = st.processes.filter((p) => p.generation === 1);
  assert.deepEqual(older.map((p) => [p.role, p.pid, p.state]), [['master', m.pid, 'draining'], ['worker', oldWorker, 'draining']]);
  assert.deepEqual(st.processes.filter((p) => p.generation === 2).map((p) => p.role), ['master', 'worker']);
  const table = (await m.cli(['status'])).stdout;
  assert.deepEqual(tableRow(table, oldWorker).slice(0, 5), ['worker', '1', '1', String(oldWorker), 'draining']);
  assert.match(table, /2 processes of an older generation still draining/);

  release();
  assert.equal((await slow).status, 200);
  assert.equal((await upgrade).code, 0);
  await m.exitPromise;
  await h.waitFor(async () => (await statusIfServing(m))?.processes.every((p) => p.generation === 2), 'the old rows gone');
  const done = await statusJson(m);
  assert.equal(done.lastUpgrade.result, 'ok');
  assert.equal(done.lastUpgrade.toGeneration, 2);
});
