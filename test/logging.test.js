'use strict';
/**
 * Logs: MOSN's listener access_logs in the config, access log lines with Envoy's response
 * flags, the log level changed at run time (master and workers, also a restarted worker),
 * `gen` and `worker` on every line, and SIGUSR1 reopening log files after logrotate.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const h = require('./helpers/mosnd');
const { parseConfig, formatIssue } = require('../dist/shared/config/load.js');

const ADMIN = { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };
/** Access logs are flushed every second (ACCESS_LOG_FLUSH_MS); lines must show up well within this. */
const ACCESS_LOG_WAIT_MS = 5_000;
const MALFORMED = 'GARBAGE\r\n\r\n';

function readLines(file) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch (e) {
    if (e.code === 'ENOENT') return [];
    throw e;
  }
}

async function waitLines(file, pred, what) {
  let lines = [];
  await h.waitFor(() => (lines = readLines(file)).some(pred), what, ACCESS_LOG_WAIT_MS);
  return lines;
}

function postLevel(port, level) {
  return h.request(port, { method: 'POST', path: `/logging?level=${level}` }).then((r) => assert.equal(r.status, 200));
}

/**
 * Resolves once every log line written before the call has been read from the master's
 * stdout: the master and its workers share that pipe and log synchronously (a worker writes
 * its line before it answers the request that caused it), so a line the master writes now
 * comes after all of them. The marker: the admin API's info line for a level change, sent
 * here at the level in force, which changes nothing.
 */
async function logBarrier(m, level = 'info') {
  const seen = m.logs.length;
  await postLevel(m.ports.__admin, level);
  await m.waitForLog((l) => m.logs.indexOf(l) >= seen && l.msg === `log level set to ${level} by the admin API`);
}

/**
 * Resolves once every worker has applied the last level change: the master sends it over
 * each worker's IPC channel, where the stats request of `mosnd status` follows it in order;
 * a worker that answered the latter has applied the former.
 */
async function levelApplied(m) {
  await h.waitFor(async () => {
    const r = await m.cli(['status', '--json']);
    assert.equal(r.code, 0, r.stderr);
    // 'unresponsive': a worker that did not answer in time (a loaded box): ask again.
    return JSON.parse(r.stdout).processes.slice(1).every((w) => w.state === 'ready');
  }, 'every worker answering status');
}

test('a listener\'s access_logs reach the model; disabled ones are dropped and log_format is warned about', () => {
  const d = h.proxyConfig({ routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: 'ok' } }] });
  d.servers[0].listeners[0].access_logs = [
    { log_path: '/var/log/mosnd/access.log', log_format: '%start_time% %request_received_duration%' },
    { log_path: 'stdout' },
    { log_path: '/tmp/off.log', disable: true },
  ];
  const r = parseConfig(JSON.stringify(d), 'test.json');
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.config.listeners[0].accessLogs, [{ path: '/var/log/mosnd/access.log' }, { path: 'stdout' }]);
  assert.deepEqual(r.warnings.map(formatIssue), ['servers[0].listeners[0].access_logs[0].log_format: not implemented by mosnd yet, ignored']);

  d.servers[0].listeners[0].access_logs = [{ log_format: '%x%' }];
  const bad = parseConfig(JSON.stringify(d), 'test.json');
  assert.deepEqual(bad.errors.map((e) => e.path), ['servers[0].listeners[0].access_logs[0].log_path']);
});

test('the access log has one JSON line per request with method, path, status, bytes, duration, upstream host and Envoy flags', async (t) => {
  const up = await h.startHttpUpstream((req, res) => {
    if (req.url.startsWith('/slow')) return; // never answers: the route timeout fires
    let n = 0;
    req.on('data', (c) => (n += c.length));
    req.on('end', () => res.end(`got ${n}`));
  });
  t.after(() => up.close());
  const dir = h.tmpDir();
  const file = path.join(dir, 'access.log');
  const config = h.proxyConfig({
    routes: [
      { match: { prefix: '/ok' }, route: { cluster_name: 'c' } },
      { match: { prefix: '/slow' }, route: { cluster_name: 'c', timeout: '300ms' } },
      { match: { prefix: '/dead' }, route: { cluster_name: 'dead' } },
      { match: { prefix: '/empty' }, route: { cluster_name: 'empty' } },
    ],
    clusters: [h.cluster('c', [up.address]), h.cluster('dead', ['127.0.0.1:1']), h.cluster('empty', [])],
  });
  config.servers[0].listeners[0].access_logs = [{ log_path: file }];
  const m = await h.startMosnd({ config, workers: 2 });
  t.after(() => m.kill());
  const port = m.ports.http;
  assert.equal((await h.request(port, { path: '/ok/a?x=1' })).status, 200);
  assert.equal((await h.request(port, { method: 'POST', path: '/ok/b', body: 'hello' })).status, 200);
  assert.equal((await h.request(port, { path: '/nowhere' })).status, 404);
  assert.equal((await h.request(port, { path: '/dead' })).status, 503);
  assert.equal((await h.request(port, { path: '/empty' })).status, 503);
  assert.equal((await h.request(port, { path: '/slow' })).status, 504);
  // A client that resets its connection before the answer.
  await new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET /slow/gone HTTP/1.1\r\nhost: x\r\n\r\n'));
    s.on('error', () => {});
    setTimeout(() => {
      s.resetAndDestroy();
      resolve();
    }, 100);
  });

  // Two workers write the file, each through its own buffer: wait for all seven lines, not
  // for the last request's (the other worker's lines may be flushed after it).
  let lines = [];
  await h.waitFor(() => (lines = readLines(file)).length >= 7, 'the seven access log lines', ACCESS_LOG_WAIT_MS).catch(() => {});
  assert.equal(lines.length, 7, JSON.stringify(lines, null, 1));
  const by = Object.fromEntries(lines.map((l) => [l.path, l]));
  const ok = by['/ok/a?x=1'];
  assert.equal(ok.method, 'GET');
  assert.equal(ok.status, 200);
  assert.equal(ok.bytes_sent, 'got 0'.length);
  assert.equal(ok.bytes_received, 0);
  assert.equal(ok.upstream_host, up.address);
  assert.equal(ok.cluster, 'c');
  assert.equal(ok.response_flags, '-');
  assert.equal(ok.listener, 'http');
  assert.equal(ok.client, '127.0.0.1');
  assert.ok(ok.duration_ms >= 0 && ok.duration_ms < 5_000);
  assert.ok(ok.upstream_ms >= 0 && ok.upstream_ms <= ok.duration_ms);
  assert.ok(!Number.isNaN(Date.parse(ok.time)));
  assert.equal(ok.gen, 1);
  assert.ok(ok.worker === 0 || ok.worker === 1);
  assert.equal(by['/ok/b'].method, 'POST');
  assert.equal(by['/ok/b'].bytes_received, 5);
  assert.deepEqual(
    ['/nowhere', '/dead', '/empty', '/slow', '/slow/gone'].map((p) => [p, by[p].status, by[p].response_flags]),
    [
      ['/nowhere', 404, 'NR'],
      ['/dead', 503, 'UF'],
      ['/empty', 503, 'UH'],
      ['/slow', 504, 'UT'],
      ['/slow/gone', 0, 'DC'],
    ],
  );
  assert.equal(by['/nowhere'].upstream_host, '-');
});

test('the log level changes at run time in the master and in every worker, also one restarted later', async (t) => {
  const m = await h.startMosnd({
    config: h.proxyConfig({ routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: 'ok' } }], extra: ADMIN }),
    workers: 1,
  });
  t.after(() => m.kill());
  const malformed = (l) => l.msg === 'malformed request';
  assert.equal((await h.rawExchange(m.ports.http, MALFORMED)).status, 400);
  await logBarrier(m);
  assert.equal(m.logs.filter(malformed).length, 0, 'no debug line at INFO');
  assert.equal(m.logs.filter((l) => l.level === 'debug').length, 0);

  await postLevel(m.ports.__admin, 'debug');
  assert.equal((await h.rawExchange(m.ports.http, MALFORMED)).status, 400);
  const [worker] = h.workerPids(m.pid);
  const line = await m.waitForLog(malformed, 5_000);
  assert.equal(line.level, 'debug');
  assert.equal(line.pid, worker);
  assert.equal(line.gen, 1);
  assert.equal(line.worker, 0);

  // A worker started after the change logs at the new level too; so does the master: its
  // debug line "worker ready" (the new worker's own one comes before it is told the level).
  process.kill(worker, 'SIGKILL');
  const ready = await m.waitForLog((l) => l.msg === 'worker ready', 10_000);
  assert.equal(ready.level, 'debug');
  await h.waitFor(() => h.workerPids(m.pid).length === 1 && h.workerPids(m.pid)[0] !== worker, 'the replacement worker');
  const [replacement] = h.workerPids(m.pid);
  await h.waitFor(async () => (await h.rawExchange(m.ports.http, MALFORMED)).status === 400, 'the replacement serving');
  await m.waitForLog((l) => malformed(l) && l.pid === replacement, 5_000);

  await postLevel(m.ports.__admin, 'info');
  await levelApplied(m);
  const count = m.logs.filter(malformed).length;
  assert.equal((await h.rawExchange(m.ports.http, MALFORMED)).status, 400);
  await logBarrier(m);
  assert.equal(m.logs.filter(malformed).length, count, 'back at INFO');

  // Every line of every process carries gen and worker.
  for (const l of m.logs) {
    assert.equal(l.gen, 1, JSON.stringify(l));
    assert.ok(l.worker === 'master' || Number.isInteger(l.worker), JSON.stringify(l));
  }
});

test('SIGUSR1 reopens the log file and the access log (logrotate moved them away)', async (t) => {
  const dir = h.tmpDir();
  const logFile = path.join(dir, 'mosnd.log');
  const accessFile = path.join(dir, 'access.log');
  const config = h.proxyConfig({
    routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: 'ok' } }],
    server: { default_log_path: logFile },
    extra: ADMIN,
  });
  config.servers[0].listeners[0].access_logs = [{ log_path: accessFile }];
  const runDir = h.tmpDir('mosnd-run-');
  const child = spawn(process.execPath, [h.BIN, 'start', '-c', h.writeConfig(config), '--workers', '1', '--run-dir', runDir], {
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(async () => {
    for (const p of h.workerPids(child.pid)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {}
    }
    child.kill('SIGKILL');
  });
  await h.waitFor(() => readLines(logFile).some((l) => /serving with/.test(l.msg)), 'the master serving', 20_000);
  const lines = readLines(logFile);
  const port = Number(lines.find((l) => l.listener === 'http').address.split(':')[1]);
  const adminPort = Number(lines.find((l) => l.listener === '__admin').address.split(':')[1]);

  assert.equal((await h.request(port, { path: '/before' })).status, 200);
  await waitLines(accessFile, (l) => l.path === '/before', 'the first access line');
  fs.renameSync(logFile, `${logFile}.1`);
  fs.renameSync(accessFile, `${accessFile}.1`);
  process.kill(child.pid, 'SIGUSR1');
  await h.waitFor(() => readLines(logFile).some((l) => l.msg === 'log files reopened' && l.worker === 'master'), 'the master writing to the new file');

  await postLevel(adminPort, 'debug');
  assert.equal((await h.request(port, { path: '/after' })).status, 200);
  assert.equal((await h.rawExchange(port, MALFORMED)).status, 400);
  await waitLines(accessFile, (l) => l.path === '/after', 'the access line in the new file');
  await h.waitFor(() => readLines(logFile).some((l) => l.msg === 'malformed request' && l.worker === 0), 'the worker writing to the new file');
  assert.ok(!readLines(`${accessFile}.1`).some((l) => l.path === '/after'), 'nothing new in the rotated access log');
  assert.ok(readLines(`${logFile}.1`).some((l) => /serving with/.test(l.msg)), 'the rotated log keeps the old lines');
  assert.ok(!readLines(`${logFile}.1`).some((l) => l.msg === 'malformed request'));

  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});

test('the access log counts the body bytes an HTTP/1.0 client gets from a chunked upstream response', async (t) => {
  const up = await h.startHttpUpstream((req, res) => {
    res.write('x'.repeat(1000)); // no content-length: node sends it chunked
    res.end('y'.repeat(234));
  });
  t.after(() => up.close());
  const { m, file } = await h.proxyWithAccessLog(t, up.address);
  const { data: answer, closed } = await h.rawExchange(m.ports.http, 'GET /old HTTP/1.0\r\nHost: x\r\n\r\n');
  assert.ok(closed, 'an HTTP/1.0 answer ends with the connection');
  const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
  assert.equal(body, 'x'.repeat(1000) + 'y'.repeat(234), 'de-chunked for the HTTP/1.0 client');
  let lines = [];
  await h.waitFor(() => (lines = readLines(file)).length >= 1, 'the access log line', ACCESS_LOG_WAIT_MS);
  assert.equal(lines[0].bytes_sent, 1234);
});
