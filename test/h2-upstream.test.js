'use strict';
/**
 * HTTP/2 upstream sessions of mosnd, against bare Node http2 servers that misbehave on
 * demand: GOAWAY in the middle of a load, max_concurrent_streams of 1, streams held to fill
 * the circuit breakers, an upstream that dies mid-stream; and the request as an HTTP/2
 * upstream sees it (fields, trailers).
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const h = require('./helpers/mosnd');
const h2 = require('./helpers/h2');
const g = require('./helpers/grpc-upstream');

const { grpc } = g;
const { NGHTTP2_NO_ERROR } = h2.http2.constants;

test('GOAWAY from the upstream in the middle of a load loses no call: refused streams go again on a new session', async (t) => {
  let seen = 0;
  let goaways = 0;
  const up = await g.startBareGrpc(t, {
    onStream(stream) {
      seen++;
      if (seen % 20 !== 0) return false;
      // This stream and any later one on the session were not processed: the client must
      // send them again elsewhere. The streams below it are answered as usual.
      goaways++;
      stream.session.goaway(NGHTTP2_NO_ERROR, Math.max(0, stream.id - 2));
      return true;
    },
  });
  const m = await g.mosndToH2(t, up.address);
  const c = g.client(t, m.ports.h2);
  const failures = [];
  let ok = 0;
  const loop = async (w) => {
    for (let i = 0; i < 40; i++) {
      const text = `w${w} call ${i}`;
      try {
        const r = await g.unary(c, { text });
        assert.equal(r.msg.text, text);
        ok++;
      } catch (e) {
        failures.push(`${text}: ${e.message}`);
      }
    }
  };
  await Promise.all([0, 1, 2, 3, 4, 5].map(loop));
  assert.deepEqual(failures, []);
  assert.equal(ok, 240);
  assert.ok(goaways >= 10, `the upstream sent ${goaways} GOAWAYs`);
  assert.ok(up.sessions > goaways, `mosnd opened ${up.sessions} sessions for ${goaways} GOAWAYs`);
});

test('an upstream with max_concurrent_streams 1 gets a second session for a second concurrent stream', async (t) => {
  const held = [];
  const up = await g.startBareGrpc(t, {
    settings: { maxConcurrentStreams: 1 },
    onStream(stream, _headers, ctx) {
      held.push(stream);
      // Both streams must be in flight at once before either is answered: on one session
      // the second would wait for the first forever.
      if (held.length === 2) for (const s of held) g.answerEcho(s, ctx);
      return true;
    },
  });
  const m = await g.mosndToH2(t, up.address);
  const c = g.client(t, m.ports.h2);
  const [a, b] = await Promise.all([g.unary(c, { text: 'a' }, { deadlineMs: 10_000 }), g.unary(c, { text: 'b' }, { deadlineMs: 10_000 })]);
  assert.equal(a.msg.text, 'a');
  assert.equal(b.msg.text, 'b');
  assert.equal(up.sessions, 2);
});

test('the circuit breakers count streams: two streams share one session under max_connections 1, a third beyond max_requests gets 503 UO', async (t) => {
  const held = [];
  const up = await g.startBareGrpc(t, {
    onStream(stream) {
      held.push(stream);
      return true;
    },
  });
  const m = await g.mosndToH2(t, up.address, {
    clusterExtra: { circuit_breakers: [{ max_connections: 1, max_pending_requests: 10, max_requests: 2 }] },
    admin: true,
  });
  const c = g.client(t, m.ports.h2);
  const calls = [g.unary(c, { text: 'one' }), g.unary(c, { text: 'two' })];
  await h.waitFor(() => held.length === 2, 'both streams at the upstream');
  assert.equal(up.sessions, 1, 'both streams on one session');

  // A plain HTTP/2 request sees the 503; a gRPC call the same answer the gRPC way.
  const session = h2.connect(t, m.ports.h2);
  const r = await h2.request(session, { ':method': 'POST', ':path': '/other' }, { body: 'x' });
  assert.equal(r.status, 503);
  assert.equal(r.body.toString(), 'upstream overflow\n');
  await assert.rejects(g.unary(c, { text: 'three' }), (err) => err.code === grpc.status.UNAVAILABLE);

  const stats = await h.scrape(m.ports.__admin);
  assert.equal(stats['mosnd_upstream_rq_pending_overflow_total{cluster="c"}'], 2);
  const hl = `{cluster="c",host="${up.address}"}`;
  assert.equal(stats[`mosnd_upstream_host_http2_sessions${hl}`], 1);
  assert.equal(stats[`mosnd_upstream_host_http2_streams_active${hl}`], 2);
  assert.equal(stats[`mosnd_upstream_host_cx_active${hl}`], 1);

  for (const s of held) g.answerEcho(s);
  const answers = await Promise.all(calls);
  assert.deepEqual(answers.map((x) => x.msg.text), ['one', 'two']);
});

test('an upstream that dies in the middle of a stream gives the client an error, not a hang, and the worker serves on', async (t) => {
  let n = 0;
  const up = await g.startBareGrpc(t, {
    onStream(stream, _headers, ctx) {
      n++;
      if (n > 1) return false;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      // The first message goes out, then the process "dies": its sockets close, no GOAWAY.
      stream.write(g.frame(g.encodeMsg({ text: 'part 0' })), () => {
        for (const s of ctx.sockets) s.destroy();
      });
      return true;
    },
  });
  const m = await g.mosndToH2(t, up.address);
  const pidsBefore = h.workerPids(m.pid);
  const c = g.client(t, m.ports.h2);
  const got = [];
  const err = await new Promise((resolve) => {
    const call = c.Expand({ count: 3 }, { deadline: Date.now() + 20_000 });
    call.on('data', (msg) => got.push(msg.text));
    call.on('error', resolve);
    call.on('end', () => resolve(null));
  });
  assert.deepEqual(got, ['part 0']);
  assert.ok(err !== null, 'the call failed');
  assert.notEqual(err.code, grpc.status.DEADLINE_EXCEEDED, `not a hang: ${err.message}`);
  assert.notEqual(err.code, grpc.status.OK);
  const r = await g.unary(c, { text: 'still here' });
  assert.equal(r.msg.text, 'still here');
  assert.deepEqual(h.workerPids(m.pid), pidsBefore);
});

test('an HTTP/2 upstream gets :authority, X-Forwarded-For, te: trailers and the request trailers, and its response trailers come back', async (t) => {
  let seen = null;
  const up = await g.startBareGrpc(t, {
    onStream(stream, headers) {
      seen = { headers, trailers: null, body: '' };
      stream.on('trailers', (tr) => (seen.trailers = tr));
      stream.on('data', (d) => (seen.body += d));
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'x-up': 'yes' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc', 'grpc-status': '0' }));
        stream.end('answer');
      });
      return true;
    },
  });
  const m = await g.mosndToH2(t, up.address);
  const session = h2.connect(t, m.ports.h2);
  const r = await h2.request(
    session,
    { ':method': 'POST', ':path': '/p?q=1', ':authority': 'svc.example', te: 'trailers', 'x-forwarded-for': '10.0.0.9', 'x-custom': 'v' },
    { body: 'request body', trailers: { 'x-req-trailer': 'sum' } },
  );
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-up'], 'yes');
  assert.equal(r.body.toString(), 'answer');
  assert.equal(r.trailers['x-checksum'], 'abc');
  assert.equal(r.trailers['grpc-status'], '0');
  assert.equal(seen.headers[':authority'], 'svc.example');
  assert.equal(seen.headers[':path'], '/p?q=1');
  assert.equal(seen.headers[':method'], 'POST');
  assert.equal(seen.headers.te, 'trailers');
  assert.equal(seen.headers['x-forwarded-for'], '10.0.0.9, 127.0.0.1');
  assert.equal(seen.headers['x-custom'], 'v');
  assert.match(seen.headers['x-request-id'], /./);
  assert.equal(seen.headers.host, undefined);
  assert.equal(seen.body, 'request body');
  assert.equal(seen.trailers['x-req-trailer'], 'sum');
});

test('an idle HTTP/2 upstream session is closed after the cluster idle_timeout, and the next call opens a new one', async (t) => {
  const up = await g.startBareGrpc(t);
  const m = await g.mosndToH2(t, up.address, { clusterExtra: { idle_timeout: '1s' } });
  const c = g.client(t, m.ports.h2);
  assert.equal((await g.unary(c, { text: 'a' })).msg.text, 'a');
  assert.equal((await g.unary(c, { text: 'b' })).msg.text, 'b');
  assert.equal(up.sessions, 1, 'one session carried both calls');
  await h.waitFor(() => up.closedSessions === 1, 'the idle session closed by mosnd', 10_000);
  assert.equal((await g.unary(c, { text: 'c' })).msg.text, 'c');
  assert.equal(up.sessions, 2);
});

test('a GOAWAY with an error after the upstream took the stream fails it as 502, unless the retry policy may send an idempotent request again', async (t) => {
  const { NGHTTP2_INTERNAL_ERROR } = h2.http2.constants;
  const seen = new Map();
  const up = await g.startBareGrpc(t, {
    onStream(stream, headers) {
      const n = (seen.get(headers[':path']) ?? 0) + 1;
      seen.set(headers[':path'], n);
      if (n > 1) return false; // a second try is answered
      // Processed (its id is the last_stream_id), then the session dies with an error.
      stream.session.goaway(NGHTTP2_INTERNAL_ERROR, stream.id);
      stream.session.destroy();
      return true;
    },
  });
  const m = await g.mosndToH2(t, up.address, { route: { retry_policy: { retry_on: true, num_retries: 1 } } });
  const session = h2.connect(t, m.ports.h2);
  const post = await h2.request(session, { ':method': 'POST', ':path': '/x' }, { body: 'data' });
  assert.equal(post.status, 502);
  assert.equal(post.body.toString(), 'upstream connection closed before the response\n');
  assert.equal(seen.get('/x'), 1, 'a POST the upstream may have processed is not sent again');
  const get = await h2.request(session, { ':method': 'GET', ':path': '/y' });
  assert.equal(get.status, 200);
  assert.equal(seen.get('/y'), 2, 'the GET failed once and was retried');
});

test('a session whose upstream stops answering is found dead by PING and closed; the next call gets a new session', async (t) => {
  const up = await g.startBareGrpc(t);
  // A relay between mosnd and the upstream that can go silent (a dead peer or a dropped NAT
  // entry: the TCP connection stays up, nothing comes back).
  let silent = false;
  const closed = [];
  const relay = net.createServer((down) => {
    const upSock = net.connect(up.port, '127.0.0.1');
    down.on('data', (d) => upSock.write(d));
    upSock.on('data', (d) => {
      if (!silent) down.write(d);
    });
    down.on('close', () => {
      closed.push(Date.now());
      upSock.destroy();
    });
    upSock.on('close', () => down.destroy());
    down.on('error', () => {});
    upSock.on('error', () => {});
  });
  await new Promise((resolve) => relay.listen(0, '127.0.0.1', resolve));
  t.after(() => relay.close());
  // An idle timeout far beyond the PING's, so only the PING can close the session.
  const m = await g.mosndToH2(t, `127.0.0.1:${relay.address().port}`, { clusterExtra: { idle_timeout: '600s' } });
  const c = g.client(t, m.ports.h2);
  assert.equal((await g.unary(c, { text: 'a' })).msg.text, 'a');
  silent = true;
  // H2_UPSTREAM_PING_INTERVAL_MS (30 s) + H2_UPSTREAM_PING_TIMEOUT_MS (10 s), plus the sweep's second.
  await h.waitFor(() => closed.length === 1, 'mosnd closed the silent session', 60_000, 200);
  silent = false;
  assert.equal((await g.unary(c, { text: 'b' })).msg.text, 'b');
  assert.equal(up.sessions, 2);
});

test('a session that fails to connect fails its waiting request, whose retry gets a new session of its own', async (t) => {
  const up = await g.startBareGrpc(t);
  // The first connection is cut at once (a refused connect, as mosnd sees it); later ones pass.
  let accepted = 0;
  const relay = net.createServer((down) => {
    accepted++;
    if (accepted === 1) {
      down.destroy();
      return;
    }
    const upSock = net.connect(up.port, '127.0.0.1');
    down.pipe(upSock).pipe(down);
    down.on('error', () => {});
    upSock.on('error', () => {});
  });
  await new Promise((resolve) => relay.listen(0, '127.0.0.1', resolve));
  t.after(() => relay.close());
  const m = await g.mosndToH2(t, `127.0.0.1:${relay.address().port}`, { route: { retry_policy: { retry_on: true, num_retries: 1 } } });
  const session = h2.connect(t, m.ports.h2);
  const r = await h2.request(session, { ':method': 'GET', ':path': '/' });
  assert.equal(r.status, 200);
  assert.equal(accepted, 2);
});
