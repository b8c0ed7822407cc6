'use strict';
/**
 * The Prometheus sink (metrics.sinks[].config.port) is a socket the master binds like the
 * listeners and the admin API: a clash with either is a config error naming both JSON paths,
 * found when the file is read, not a bind failure at start.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const h = require('./helpers/mosnd');
const { parseConfig, formatIssue } = require('../dist/shared/config/load.js');

const SINK = 'metrics.sinks[0].config.port';
const ADMIN = 'admin.address.socket_address.port_value';

/** A config with one HTTP listener on `listenerAddress`, an optional admin and a sink on `sinkPort`. */
function withSink(sinkPort, { listenerAddress = '127.0.0.1:0', admin } = {}) {
  const c = h.proxyConfig({ routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: 'ok' } }] });
  c.servers[0].listeners[0].address = listenerAddress;
  c.metrics = { sinks: [{ type: 'prometheus', config: { port: sinkPort } }] };
  if (admin) c.admin = { address: { socket_address: admin } };
  return c;
}

function problems(doc) {
  const r = parseConfig(JSON.stringify(doc), '/test/mosn.json');
  return { config: r.config, lines: r.errors.map(formatIssue) };
}

/** A port that is free right now (bound and released). */
function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

test('a prometheus sink port equal to a listener port is rejected, naming the sink and the listener', () => {
  const r = problems(withSink(2045, { listenerAddress: '127.0.0.1:2045' }));
  assert.equal(r.config, undefined);
  assert.deepEqual(r.lines, [`${SINK}: "0.0.0.0:2045" overlaps the address of servers[0].listeners[0]; expected a different address or port`]);
});

test('a prometheus sink port equal to the admin port is rejected, naming the sink and the admin address', () => {
  const r = problems(withSink(34901, { admin: { address: '127.0.0.1', port_value: 34901 } }));
  assert.equal(r.config, undefined);
  assert.deepEqual(r.lines, [`${SINK}: "0.0.0.0:34901" overlaps the admin address ${ADMIN}; expected a different address or port`]);
});

test('the sink listens on every interface, so a listener on another host but the same port still clashes', () => {
  const r = problems(withSink(9100, { listenerAddress: '127.0.0.2:9100' }));
  assert.deepEqual(r.lines, [`${SINK}: "0.0.0.0:9100" overlaps the address of servers[0].listeners[0]; expected a different address or port`]);
});

test('a sink on its own port, or on port 0, is accepted', () => {
  for (const port of [9100, 0]) {
    const r = problems(withSink(port, { listenerAddress: '127.0.0.1:2045', admin: { address: '127.0.0.1', port_value: 34901 } }));
    assert.deepEqual(r.lines, []);
    assert.equal(r.config.prometheusPort, port);
  }
});

test('mosnd start refuses a sink port that a listener uses, before binding anything, with both paths', async () => {
  const port = await freePort();
  const runDir = h.tmpDir('mosnd-run-');
  const file = h.writeConfig(withSink(port, { listenerAddress: `127.0.0.1:${port}` }));
  const r = await h.runCli(['start', '-c', file, '--run-dir', runDir, '--workers', '1']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /\[MOSND_ERR_CONFIG_INVALID\]/);
  assert.ok(
    r.stderr.includes(`${SINK}: "0.0.0.0:${port}" overlaps the address of servers[0].listeners[0]`),
    `stderr names both paths: ${r.stderr}`,
  );
  assert.doesNotMatch(r.stderr, /EADDRINUSE/);
  // Nothing was bound: the port is still free for anyone.
  await new Promise((resolve, reject) => {
    const s = net.createServer().once('error', reject).listen(port, '127.0.0.1', () => s.close(resolve));
  });
});
