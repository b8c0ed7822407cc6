'use strict';
/**
 * gRPC across hot upgrades: HTTP/2 connections are drained, not moved (GOAWAY, then the client
 * reconnects to the new generation). A grpc-js client making unary calls in a loop and short
 * server-streaming calls beside them sees no failed call over twenty upgrades in a row.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');
const g = require('./helpers/grpc-upstream');

const UPGRADES = 20;
/** Unary loops and server-streaming loops running at once over the one client channel. */
const UNARY_LOOPS = 4;
const STREAM_LOOPS = 2;
/** Calls that must succeed after each upgrade before the next one starts: the client has
 *  reconnected and is served by the new generation, not only draining on the old one. */
const CALLS_BETWEEN_UPGRADES = 20;

function echoImpl() {
  return {
    Unary(call, cb) {
      cb(null, { text: `echo: ${call.request.text}` });
    },
    Expand(call) {
      for (let i = 0; i < call.request.count; i++) call.write({ text: `part ${i}`, payload: Buffer.alloc(call.request.size, i) });
      call.end();
    },
  };
}

function serverStream(c, count) {
  return new Promise((resolve, reject) => {
    const parts = [];
    const call = c.Expand({ count, size: 256 }, { deadline: Date.now() + 20_000 });
    call.on('data', (m) => parts.push(m.text));
    call.on('error', reject);
    call.on('end', () => resolve(parts));
  });
}

/** Runs the call loops until stop(); counts successes and keeps every failure. */
function grpcLoad(c) {
  const s = { ok: 0, failures: [], running: true };
  let n = 0;
  const unaryLoop = async () => {
    while (s.running) {
      const text = `call ${n++}`;
      try {
        const { msg } = await g.unary(c, { text });
        if (msg.text !== `echo: ${text}`) throw new Error(`wrong answer ${msg.text} to ${text}`);
        s.ok++;
      } catch (err) {
        s.failures.push(`unary: ${err.code ?? ''} ${err.message}`);
      }
    }
  };
  const streamLoop = async () => {
    while (s.running) {
      try {
        const parts = await serverStream(c, 5);
        if (parts.length !== 5 || parts[4] !== 'part 4') throw new Error(`stream ended early: ${parts.length} parts`);
        s.ok++;
      } catch (err) {
        s.failures.push(`stream: ${err.code ?? ''} ${err.message}`);
      }
    }
  };
  const loops = [...Array.from({ length: UNARY_LOOPS }, unaryLoop), ...Array.from({ length: STREAM_LOOPS }, streamLoop)];
  s.stop = async () => {
    s.running = false;
    await Promise.all(loops);
  };
  return s;
}

test('a grpc-js client making unary and server-streaming calls sees no failed call over twenty upgrades in a row', { timeout: 300_000 }, async (t) => {
  const up = await g.startGrpcServer(t, echoImpl());
  const l = h.h2Listener('h2', 'r', null); // upstream_protocol unset: HTTP/2 upstream too (MOSN's rule)
  const m = await h.startMosnd({
    workers: 2,
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [h.cluster('c', [up.address])],
      listeners: [l],
    }),
  });
  t.after(() => m.kill());
  const c = g.client(t, m.ports.h2);
  const load = grpcLoad(c);
  t.after(() => load.stop());
  await h.waitFor(() => load.ok >= CALLS_BETWEEN_UPGRADES, 'the gRPC load to be under way', 20_000);

  const installs = [h.makeInstall(), h.makeInstall()];
  for (let i = 0; i < UPGRADES; i++) {
    const r = await h.runCli(['upgrade', '--binary', installs[i % 2], '--run-dir', m.runDir]);
    assert.equal(r.code, 0, `upgrade ${i + 1} failed: ${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /done: upgraded to generation/);
    const before = load.ok;
    await h.waitFor(() => load.ok >= before + CALLS_BETWEEN_UPGRADES, `gRPC calls to go on after upgrade ${i + 1}`, 20_000);
  }
  await load.stop();
  assert.deepEqual(load.failures, [], `${load.failures.length} of ${load.ok + load.failures.length} calls failed`);
  t.diagnostic(`${load.ok} gRPC calls over ${UPGRADES} upgrades, 0 failed`);
});
