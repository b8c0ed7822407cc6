'use strict';
/**
 * gRPC end to end through a real mosnd: grpc-js clients → mosnd (HTTP/2 listener, upstream
 * protocol following it, MOSN's rule) → real gRPC servers over HTTP/2 upstream sessions.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./helpers/mosnd');
const g = require('./helpers/grpc-upstream');

const { grpc } = g;

/** An Echo service whose handlers do what their names say. */
function echoImpl(extra = {}) {
  return {
    Unary(call, cb) {
      const md = new grpc.Metadata();
      md.set('x-seen-authority', call.getHost());
      md.set('x-seen-custom', String(call.metadata.get('x-custom')[0] ?? ''));
      md.set('x-seen-xff', String(call.metadata.get('x-forwarded-for')[0] ?? ''));
      call.sendMetadata(md);
      cb(null, { text: `echo: ${call.request.text}`, payload: call.request.payload });
    },
    Collect(call, cb) {
      let count = 0;
      let bytes = 0;
      call.on('data', (m) => {
        count++;
        bytes += m.payload.length;
      });
      call.on('end', () => cb(null, { text: 'collected', count, size: bytes }));
    },
    Expand(call) {
      for (let i = 0; i < call.request.count; i++) call.write({ text: `part ${i}`, payload: Buffer.alloc(call.request.size, i % 256) });
      call.end();
    },
    Chat(call) {
      call.on('data', (m) => call.write({ text: `re: ${m.text}` }));
      call.on('end', () => call.end());
    },
    ...extra,
  };
}

test('a unary gRPC call goes through mosnd to a gRPC server over HTTP/2 and back, metadata both ways', async (t) => {
  const up = await g.startGrpcServer(t, echoImpl());
  const m = await g.mosndToH2(t, up.address);
  const c = g.client(t, m.ports.h2);
  const md = new grpc.Metadata();
  md.set('x-custom', 'from the client');
  const payload = crypto.randomBytes(1000);
  let headers = null;
  const res = await new Promise((resolve, reject) => {
    const call = c.Unary({ text: 'hi', payload }, md, (err, r) => (err ? reject(err) : resolve(r)));
    call.on('metadata', (mdIn) => (headers = mdIn));
  });
  assert.equal(res.text, 'echo: hi');
  assert.deepEqual(Buffer.from(res.payload), payload);
  assert.equal(headers.get('x-seen-custom')[0], 'from the client');
  assert.equal(headers.get('x-seen-authority')[0], `127.0.0.1:${m.ports.h2}`);
  assert.equal(headers.get('x-seen-xff')[0], '127.0.0.1');
});

test('client streaming, server streaming and bidirectional gRPC calls stream through mosnd', async (t) => {
  const up = await g.startGrpcServer(t, echoImpl());
  const m = await g.mosndToH2(t, up.address);
  const c = g.client(t, m.ports.h2);

  const collected = await new Promise((resolve, reject) => {
    const call = c.Collect((err, r) => (err ? reject(err) : resolve(r)));
    for (let i = 0; i < 50; i++) call.write({ payload: Buffer.alloc(1000, i) });
    call.end();
  });
  assert.equal(collected.count, 50);
  assert.equal(collected.size, 50_000);

  const parts = [];
  await new Promise((resolve, reject) => {
    const call = c.Expand({ count: 40, size: 500 });
    call.on('data', (msg) => parts.push(msg));
    call.on('error', reject);
    call.on('end', resolve);
  });
  assert.equal(parts.length, 40);
  assert.equal(parts[39].text, 'part 39');
  assert.deepEqual(Buffer.from(parts[39].payload), Buffer.alloc(500, 39));

  // Bidi: each answer comes back before the next message is sent (true interleaving, not a
  // request buffered whole and then answered).
  const call = c.Chat();
  const replies = [];
  const next = () => new Promise((resolve) => call.once('data', (msg) => resolve(msg)));
  for (let i = 0; i < 5; i++) {
    const reply = next();
    call.write({ text: `line ${i}` });
    replies.push((await reply).text);
  }
  call.end();
  await new Promise((resolve) => call.on('status', resolve));
  assert.deepEqual(replies, ['re: line 0', 're: line 1', 're: line 2', 're: line 3', 're: line 4']);
});

test('a gRPC error reaches the client with its status, message and custom trailing metadata intact', async (t) => {
  const up = await g.startGrpcServer(
    t,
    echoImpl({
      Unary(call, cb) {
        const md = new grpc.Metadata();
        md.set('x-detail', 'the thing is gone');
        md.set('x-detail-bin', Buffer.from([0, 1, 2, 255]));
        cb({ code: grpc.status.NOT_FOUND, details: 'no such thing: ünïcode ok', metadata: md });
      },
      Expand(call) {
        call.write({ text: 'first' });
        const md = new grpc.Metadata();
        md.set('x-after-data', 'yes');
        call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: 'stopped after one', metadata: md });
      },
    }),
  );
  const m = await g.mosndToH2(t, up.address);
  const c = g.client(t, m.ports.h2);
  await assert.rejects(g.unary(c, { text: 'x' }), (err) => {
    assert.equal(err.code, grpc.status.NOT_FOUND);
    assert.equal(err.details, 'no such thing: ünïcode ok');
    assert.equal(err.metadata.get('x-detail')[0], 'the thing is gone');
    assert.deepEqual(err.metadata.get('x-detail-bin')[0], Buffer.from([0, 1, 2, 255]));
    return true;
  });
  // Trailers after data (not trailers-only): the status rides on the trailer section.
  const got = [];
  const err = await new Promise((resolve) => {
    const call = c.Expand({ count: 1 });
    call.on('data', (msg) => got.push(msg.text));
    call.on('error', resolve);
  });
  assert.deepEqual(got, ['first']);
  assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.equal(err.details, 'stopped after one');
  assert.equal(err.metadata.get('x-after-data')[0], 'yes');
});

test('an 8 MB server stream to a slow reader flows at the reader’s pace: mosnd does not buffer it', async (t) => {
  const MESSAGES = 256;
  const SIZE = 32 * 1024;
  const TOTAL = MESSAGES * SIZE;
  let received = 0;
  let receivedWhenServerDone = -1;
  const up = await g.startGrpcServer(
    t,
    echoImpl({
      // Writes as fast as the stream takes them (each write waits for 'drain' when told to).
      Expand(call) {
        let i = 0;
        const pump = () => {
          while (i < MESSAGES) {
            const ok = call.write({ count: i, payload: Buffer.alloc(SIZE, i % 256) });
            i++;
            if (!ok) {
              call.once('drain', pump);
              return;
            }
          }
          receivedWhenServerDone = received;
          call.end();
        };
        pump();
      },
    }),
  );
  const m = await g.mosndToH2(t, up.address);
  const c = g.client(t, m.ports.h2);
  const hash = crypto.createHash('sha256');
  const want = crypto.createHash('sha256');
  for (let i = 0; i < MESSAGES; i++) want.update(Buffer.alloc(SIZE, i % 256));
  await new Promise((resolve, reject) => {
    const call = c.Expand({});
    // A slow reader: a pause of a few milliseconds after every message.
    call.on('data', (msg) => {
      received += msg.payload.length;
      hash.update(msg.payload);
      call.pause();
      setTimeout(() => call.resume(), 4);
    });
    call.on('error', reject);
    call.on('end', resolve);
  });
  assert.equal(received, TOTAL);
  assert.equal(hash.digest('hex'), want.digest('hex'));
  // With flow control tied end to end, the server can only finish writing once the reader has
  // taken all but what the windows and stream buffers on the way hold (about 600 KB measured,
  // all hops together); with mosnd reading the upstream as fast as it sends (its pause on a
  // full client taken out), the server was done when the reader had about 3 MB of the 8.
  assert.ok(receivedWhenServerDone >= TOTAL - 2 * 1024 * 1024, `the reader had ${receivedWhenServerDone} of ${TOTAL} bytes when the server finished writing`);
});

test('an 8 MB client stream to a slow server flows at the server’s pace: mosnd pauses the client', async (t) => {
  const MESSAGES = 256;
  const SIZE = 32 * 1024;
  const TOTAL = MESSAGES * SIZE;
  let serverReceived = 0;
  const up = await g.startGrpcServer(
    t,
    echoImpl({
      // A slow reader: a pause of a few milliseconds after every message.
      Collect(call, cb) {
        let count = 0;
        call.on('data', (m) => {
          serverReceived += m.payload.length;
          count++;
          call.pause();
          setTimeout(() => call.resume(), 4);
        });
        call.on('end', () => cb(null, { count, size: serverReceived }));
      },
    }),
  );
  const m = await g.mosndToH2(t, up.address);
  const c = g.client(t, m.ports.h2);
  let serverHadWhenClientDone = -1;
  const res = await new Promise((resolve, reject) => {
    const call = c.Collect((err, r) => (err ? reject(err) : resolve(r)));
    let i = 0;
    const pump = () => {
      while (i < MESSAGES) {
        const ok = call.write({ payload: Buffer.alloc(SIZE, i % 256) });
        i++;
        if (!ok) {
          call.once('drain', pump);
          return;
        }
      }
      call.end();
    };
    // 'finish': every message handed to the client's HTTP/2 stream (it takes them only as its
    // window, which mosnd opens, allows).
    call.on('finish', () => (serverHadWhenClientDone = serverReceived));
    pump();
  });
  assert.equal(res.count, MESSAGES);
  assert.equal(res.size, TOTAL);
  // Measured: about 600 KB in flight with the pause; with mosnd's pause of the client taken
  // out, the client was done when the server had about 2 MB of the 8.
  assert.ok(serverHadWhenClientDone >= TOTAL - 2 * 1024 * 1024, `the server had ${serverHadWhenClientDone} of ${TOTAL} bytes when the client finished writing`);
});

test('a stalled stream does not stall the others on the same upstream session (connection window)', async (t) => {
  const SIZE = 32 * 1024;
  const up = await g.startGrpcServer(t, echoImpl());
  const m = await g.mosndToH2(t, up.address);
  // Two clients (two downstream connections) whose streams share mosnd's one upstream session.
  const stalled = g.client(t, m.ports.h2, { 'grpc.use_local_subchannel_pool': 1 });
  const reader = g.client(t, m.ports.h2, { 'grpc.use_local_subchannel_pool': 1 });
  const first = await new Promise((resolve, reject) => {
    const call = stalled.Expand({ count: 64, size: SIZE });
    t.after(() => call.cancel());
    call.once('data', () => {
      call.pause(); // and never reads again
      resolve();
    });
    call.on('error', reject);
  });
  assert.equal(first, undefined);
  let got = 0;
  await new Promise((resolve, reject) => {
    const call = reader.Expand({ count: 64, size: SIZE });
    call.on('data', (msg) => (got += msg.payload.length));
    call.on('error', reject);
    call.on('end', resolve);
  });
  assert.equal(got, 64 * SIZE);
});

test('a client that cancels a call cancels it at the gRPC server too', async (t) => {
  let serverCancelled = null;
  const cancelled = new Promise((resolve) => (serverCancelled = resolve));
  const up = await g.startGrpcServer(
    t,
    echoImpl({
      Expand(call) {
        call.write({ text: 'first' });
        call.on('cancelled', () => serverCancelled(true));
      },
    }),
  );
  const m = await g.mosndToH2(t, up.address);
  const c = g.client(t, m.ports.h2);
  const call = c.Expand({});
  call.on('error', () => {});
  await new Promise((resolve) => call.once('data', resolve));
  call.cancel();
  assert.equal(await cancelled, true);
});

test('an Auto listener without upstream_protocol sends each stream in its own protocol: gRPC to HTTP/2, HTTP/1.1 to HTTP/1.1', async (t) => {
  const grpcUp = await g.startGrpcServer(t, echoImpl());
  const h1Up = await h.startHttpUpstream((req, res) => res.end(`h1 upstream saw HTTP/${req.httpVersion}`));
  t.after(() => h1Up.close());
  const l = h.httpListener('auto', 'r');
  const cfg = l.filter_chains[0].filters[0].config;
  cfg.downstream_protocol = 'Auto';
  delete cfg.upstream_protocol;
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [
        { match: { prefix: '/mosnd.test.Echo/' }, route: { cluster_name: 'grpc' } },
        { match: { prefix: '/' }, route: { cluster_name: 'web' } },
      ],
      clusters: [h.cluster('grpc', [grpcUp.address]), h.cluster('web', [h1Up.address])],
      listeners: [l],
    }),
  });
  t.after(() => m.kill());
  const c = g.client(t, m.ports.auto);
  assert.equal((await g.unary(c, { text: 'via auto' })).msg.text, 'echo: via auto');
  const r = await h.request(m.ports.auto, { path: '/page' });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'h1 upstream saw HTTP/1.1');
});
