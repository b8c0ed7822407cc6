'use strict';
/**
 * The access log line is built by hand (not by JSON.stringify of an object) for speed: these
 * prove it is still exactly the JSON of its fields, in the documented order, both for plain
 * values and for values that need JSON escaping (a path with a quote or a backslash).
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const h = require('./helpers/mosnd');

/** Access logs are flushed every second (ACCESS_LOG_FLUSH_MS); lines must show up well within this. */
const ACCESS_LOG_WAIT_MS = 5_000;
const FIELDS = ['time', 'gen', 'worker', 'listener', 'client', 'method', 'path', 'status', 'bytes_received', 'bytes_sent', 'duration_ms', 'upstream_host', 'upstream_ms', 'cluster', 'response_flags', 'attempts'];

function readLines(file) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch (e) {
    if (e.code === 'ENOENT') return [];
    throw e;
  }
}

test('access log lines are canonical JSON with every field in order, for plain paths and for paths that need escaping', async (t) => {
  const up = await h.startHttpUpstream((req, res) => res.end('ok'));
  t.after(() => up.close());
  const { m, file } = await h.proxyWithAccessLog(t, up.address);
  const paths = ['/plain/a?x=1', '/q"uote', '/back\\slash', '/"both\\"'];
  for (const p of paths) {
    const { data } = await h.rawExchange(m.ports.http, Buffer.from(`GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1'));
    assert.match(data, /^HTTP\/1\.1 200 /, `${p} is proxied`);
  }
  let lines = [];
  await h.waitFor(() => (lines = readLines(file)).length >= paths.length, 'the access log lines', ACCESS_LOG_WAIT_MS);
  assert.equal(lines.length, paths.length);
  for (let i = 0; i < lines.length; i++) {
    const o = JSON.parse(lines[i]);
    assert.deepEqual(Object.keys(o), FIELDS);
    assert.equal(lines[i], JSON.stringify(o), 'the same text JSON.stringify gives for the same values');
    assert.equal(o.path, paths[i]);
    assert.equal(o.status, 200);
    assert.equal(o.response_flags, '-');
  }
});

test('durations in the access log are written exactly as JSON writes the value rounded to the microsecond', () => {
  const { millis3 } = require('../dist/worker/access-log');
  const values = [0, 0.0004, 0.0005, 0.001, 0.01, 0.1, 0.5, 1, 1.5, 7.25, 12.034, 999.9995, 1e6 + 0.25, 86_400_000.001];
  // A fixed-seed walk over five orders of magnitude (LCG), so a failure names a reproducible value.
  let seed = 12345;
  for (let i = 0; i < 200_000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    values.push((seed / 2 ** 31) * 10 ** (i % 6));
  }
  for (const ms of values) assert.equal(millis3(ms), JSON.stringify(Math.round(ms * 1000) / 1000), `for ${ms} ms`);
});
