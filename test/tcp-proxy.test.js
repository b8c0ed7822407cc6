'use strict';
/**
 * tcp_proxy against real processes and sockets: bytes both ways with checksums, half-close
 * in both directions, upstreams that refuse or black-hole, and backpressure.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const { spawn } = require('node:child_process');
const h = require('./helpers/mosnd');
const p = require('./helpers/procs');
const { randomPayload, sha256, tcpRoundTrip, whenClosed } = require('./helpers/clients');

/** A client connection whose upstream cannot be reached must be closed within this bound
 *  (three refused attempts take milliseconds; the bound only catches a hang). */
const CLOSE_BOUND_MS = 5_000;
/** connect_timeout of the black-hole tests: long enough to tell from a refusal, short enough to keep the test quick. */
const CONNECT_TIMEOUT_MS = 300;
/** idle_timeout of the idle test, and the pause between the busy pair's writes there: ten
 *  ticks per timeout, so a loaded machine that delays a tick several-fold keeps it open. */
const IDLE_TIMEOUT_MS = 2_000;
const TICK_MS = 200;
/** The busy pair must live this long (through two and a half idle timeouts). */
const BUSY_LIFE_MS = 2.5 * IDLE_TIMEOUT_MS;

function tcpConfig(hosts, clusterExtra = {}) {
  return h.proxyConfig({ listeners: [h.tcpListener('tcp', 'c')], clusters: [h.cluster('c', hosts, clusterExtra)] });
}

/** A TCP server running `onConnection(socket)`, half-open allowed; closes its sockets on close(). */
function startServer(t, onConnection) {
  const sockets = new Set();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    onConnection(s);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = server.address().port;
      t.after(
        () =>
          new Promise((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      );
      resolve({ server, port, address: `127.0.0.1:${port}` });
    });
  });
}

/** An address where nothing listens (bound once, then released). */
async function deadAddress() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return `127.0.0.1:${port}`;
}

/** Reads a socket slowly: one chunk, then a pause of `pauseMs`. Resolves { sha, bytes } at end. */
function slowRead(socket, pauseMs) {
  return new Promise((resolve, reject) => {
    const hash = crypto.createHash('sha256');
    let bytes = 0;
    socket.on('data', (d) => {
      hash.update(d);
      bytes += d.length;
      socket.pause();
      setTimeout(() => socket.resume(), pauseMs);
    });
    socket.on('end', () => resolve({ sha: hash.digest('hex'), bytes }));
    socket.on('error', reject);
  });
}

function connect(port, { allowHalfOpen = true } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

function vmRssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

test('carries several MB each way on concurrent streams, byte for byte (sha256)', async (t) => {
  const STREAMS = 4;
  const BYTES = 3 * 1024 * 1024 + 777;
  const fromServer = [];
  const atServer = [];
  const up = await startServer(t, (s) => {
    const { data, sha } = randomPayload(BYTES);
    fromServer.push(sha);
    const hash = crypto.createHash('sha256');
    let n = 0;
    s.on('data', (d) => {
      hash.update(d);
      n += d.length;
    });
    s.on('end', () => atServer.push({ sha: hash.digest('hex'), bytes: n }));
    s.end(data);
  });
  const m = await h.startMosnd({ config: tcpConfig([up.address]), workers: 2 });
  t.after(() => m.kill());
  const payloads = Array.from({ length: STREAMS }, () => randomPayload(BYTES));
  const got = await Promise.all(payloads.map((pl) => tcpRoundTrip(m.ports.tcp, pl.data)));
  await p.waitFor(() => atServer.length === STREAMS, 5_000, 'server saw every stream end');
  assert.deepEqual(got.map((g) => g.bytes), Array(STREAMS).fill(BYTES));
  assert.deepEqual(got.map((g) => g.sha).sort(), [...fromServer].sort());
  assert.deepEqual(atServer.map((x) => x.sha).sort(), payloads.map((pl) => pl.sha).sort());
});

/** Each half-close test repeats its exchange: losing the tail depends on where the last chunk
 *  lands in the buffers, so one exchange can pass by luck. */
const HALF_CLOSE_REPEATS = 6;

test('a client that ends its side first still receives everything the server sends after, even reading slowly', async (t) => {
  const BYTES = 2 * 1024 * 1024 + 1234; // not a multiple of any buffer size: the last chunk is small
  const reply = randomPayload(BYTES);
  const requests = [];
  const up = await startServer(t, (s) => {
    let request = '';
    s.on('data', (d) => (request += d));
    // Answer only once the client's FIN has arrived.
    s.on('end', () => {
      requests.push(request);
      s.end(reply.data);
    });
  });
  const m = await h.startMosnd({ config: tcpConfig([up.address]) });
  t.after(() => m.kill());
  for (let i = 0; i < HALF_CLOSE_REPEATS; i++) {
    const c = await connect(m.ports.tcp);
    t.after(() => c.destroy());
    const reading = slowRead(c, 2);
    c.end(`request ${i}`);
    const got = await reading;
    assert.equal(requests[i], `request ${i}`);
    assert.equal(got.bytes, BYTES, `exchange ${i}`);
    assert.equal(got.sha, reply.sha);
  }
});

test('after the server ends its side first, the client can still send and the server gets it all', async (t) => {
  const BYTES = 2 * 1024 * 1024 + 4321;
  const payload = randomPayload(BYTES);
  const received = [];
  const up = await startServer(t, (s) => {
    s.end('bye\n'); // FIN at once; keep reading, slowly
    received.push(slowRead(s, 2));
  });
  const m = await h.startMosnd({ config: tcpConfig([up.address]) });
  t.after(() => m.kill());
  for (let i = 0; i < HALF_CLOSE_REPEATS; i++) {
    const c = await connect(m.ports.tcp);
    t.after(() => c.destroy());
    let greeting = '';
    c.on('data', (d) => (greeting += d));
    await new Promise((r) => c.once('end', r));
    assert.equal(greeting, 'bye\n');
    assert.equal(c.writable, true, 'the client may still send after the server’s FIN');
    const closed = whenClosed(c);
    c.end(payload.data);
    const at = await received[i];
    assert.equal(at.bytes, BYTES, `exchange ${i}`);
    assert.equal(at.sha, payload.sha);
    assert.equal((await closed).error, null);
  }
});

test('an echo through the proxy works after a half-close by the client', async (t) => {
  const echo = await h.startEchoServer();
  t.after(() => echo.close());
  const m = await h.startMosnd({ config: tcpConfig([echo.address]) });
  t.after(() => m.kill());
  const data = randomPayload(2 * 1024 * 1024 + 5);
  const got = await tcpRoundTrip(m.ports.tcp, data.data);
  assert.equal(got.bytes, data.data.length);
  assert.equal(got.sha, data.sha);
});

test('an upstream that refuses makes the proxy close the client connection promptly', async (t) => {
  const m = await h.startMosnd({ config: tcpConfig([await deadAddress()]) });
  t.after(() => m.kill());
  const c = await connect(m.ports.tcp, { allowHalfOpen: false });
  t.after(() => c.destroy());
  let bytes = 0;
  c.on('data', (d) => (bytes += d.length));
  c.write('hello?');
  const closed = await p.within(whenClosed(c), CLOSE_BOUND_MS, 'still open');
  assert.notEqual(closed, 'still open');
  assert.equal(bytes, 0);
});

test('a refused connection is retried on the other hosts of the cluster', async (t) => {
  const echo = await h.startEchoServer();
  t.after(() => echo.close());
  // Random picks: with two refusing hosts out of three, a retry that only avoided the host it
  // had just tried would go back to the first one a quarter of the time.
  const hosts = [await deadAddress(), await deadAddress(), echo.address];
  const m = await h.startMosnd({ config: tcpConfig(hosts, { lb_type: 'LB_RANDOM' }) });
  t.after(() => m.kill());
  const results = [];
  for (let i = 0; i < 24; i++) {
    const msg = Buffer.from(`ping ${i}`);
    results.push(await tcpRoundTrip(m.ports.tcp, msg, { timeoutMs: CLOSE_BOUND_MS }).then((r) => r.sha === sha256(msg), () => false));
  }
  assert.equal(results.filter((ok) => !ok).length, 0, `failed connections: ${results.map((ok, i) => (ok ? '' : i)).filter(String).join(',')}`);
});

/**
 * An address that black-holes connects: a listener in a stopped process whose accept
 * queue is full, so the kernel drops further SYNs. Resolves null when the kernel does not
 * behave that way here.
 */
async function blackHole(t) {
  const child = spawn(
    process.execPath,
    ['-e', "const s=require('net').createServer(); s.listen({port:0,host:'127.0.0.1',backlog:1},()=>process.stdout.write(String(s.address().port)))"],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => child.kill('SIGKILL'));
  const port = Number(await new Promise((r) => child.stdout.once('data', r)));
  child.kill('SIGSTOP');
  const fillers = [];
  t.after(() => fillers.forEach((s) => s.destroy()));
  for (let i = 0; i < 4; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
  }
  await p.sleep(100);
  const probe = net.connect(port, '127.0.0.1');
  probe.on('error', () => {});
  const outcome = await p.within(new Promise((r) => probe.once('connect', () => r('connected'))), 1_000, 'hangs');
  probe.destroy();
  return outcome === 'hangs' ? `127.0.0.1:${port}` : null;
}

test('connect_timeout gives up on an upstream that never answers the handshake', async (t) => {
  const hole = await blackHole(t);
  if (!hole) {
    t.skip('this kernel completes handshakes beyond a full accept queue: no black hole to test with');
    return;
  }
  const echo = await h.startEchoServer();
  t.after(() => echo.close());
  const m = await h.startMosnd({
    config: h.proxyConfig({
      listeners: [h.tcpListener('only_hole', 'hole'), h.tcpListener('mixed', 'mixed')],
      clusters: [
        h.cluster('hole', [hole], { connect_timeout: `${CONNECT_TIMEOUT_MS}ms` }),
        h.cluster('mixed', [hole, echo.address], { connect_timeout: `${CONNECT_TIMEOUT_MS}ms` }),
      ],
    }),
  });
  t.after(() => m.kill());
  // Only the black hole: the client is closed after the attempts time out, not after the
  // kernel's own SYN retries (minutes).
  const c = await connect(m.ports.only_hole, { allowHalfOpen: false });
  t.after(() => c.destroy());
  const closed = await p.within(whenClosed(c), CLOSE_BOUND_MS * 2, null);
  assert.ok(closed, 'the client connection was closed');
  assert.ok(closed.ms >= CONNECT_TIMEOUT_MS - 50, `closed after ${closed.ms} ms, before connect_timeout`);
  // With a live host beside it, every connection gets through, the ones that tried the hole after its timeout.
  for (let i = 0; i < 4; i++) {
    const msg = Buffer.from(`via mixed ${i}`);
    const r = await tcpRoundTrip(m.ports.mixed, msg, { timeoutMs: CLOSE_BOUND_MS });
    assert.equal(r.sha, sha256(msg));
  }
});

test('a slow reader does not make the worker buffer what the upstream sends (backpressure)', async (t) => {
  const TOTAL = 256 * 1024 * 1024;
  const CHUNK = Buffer.alloc(64 * 1024, 'x');
  let sent = 0;
  const up = await startServer(t, (s) => {
    const pump = () => {
      while (sent < TOTAL) {
        sent += CHUNK.length;
        if (!s.write(CHUNK)) return;
      }
      s.end();
    };
    s.on('drain', pump);
    pump();
  });
  const m = await h.startMosnd({ config: tcpConfig([up.address]) });
  t.after(() => m.kill());
  const [worker] = h.workerPids(m.pid);
  const rssBefore = vmRssBytes(worker);
  const c = await connect(m.ports.tcp);
  t.after(() => c.destroy());
  c.pause(); // read nothing
  // Wait until the upstream cannot send more: every buffer on the way is full.
  let last = -1;
  await p.waitFor(
    async () => {
      const now = sent;
      const stalled = now === last && now > 0;
      last = now;
      await p.sleep(300);
      return stalled;
    },
    20_000,
    'the upstream stalls',
  );
  const rssGrowth = vmRssBytes(worker) - rssBefore;
  t.diagnostic(`stalled after ${(sent / 1048576).toFixed(1)} MB sent; worker RSS +${(rssGrowth / 1048576).toFixed(1)} MB`);
  assert.ok(sent < TOTAL / 2, `the upstream sent ${sent} bytes to a client that reads nothing`);
  assert.ok(rssGrowth < 64 * 1024 * 1024, `worker RSS grew by ${rssGrowth} bytes`);
  // Reading resumes: everything arrives.
  let bytes = 0;
  c.on('data', (d) => (bytes += d.length));
  c.resume();
  await new Promise((r) => c.once('end', r));
  assert.equal(bytes, TOTAL);
});

test('idle_timeout closes a pair without traffic, and traffic keeps a pair open', async (t) => {
  const echo = await h.startEchoServer();
  t.after(() => echo.close());
  const cfg = tcpConfig([echo.address]);
  cfg.servers[0].listeners[0].filter_chains[0].filters[0].config.idle_timeout = `${IDLE_TIMEOUT_MS}ms`;
  const m = await h.startMosnd({ config: cfg });
  t.after(() => m.kill());
  const idle = await connect(m.ports.tcp, { allowHalfOpen: false });
  const busy = await connect(m.ports.tcp, { allowHalfOpen: false });
  t.after(() => idle.destroy());
  t.after(() => busy.destroy());
  const idleClosed = whenClosed(idle);
  let echoed = 0;
  busy.on('data', (d) => (echoed += d.length));
  const busyClosed = whenClosed(busy);
  // Traffic on one pair every TICK_MS, nothing on the other, until the idle one is closed and
  // the busy one has lived through several idle timeouts.
  const busySince = Date.now();
  let ticks = 0;
  let ticking = true;
  const ticker = (async () => {
    while (ticking) {
      busy.write('tick');
      ticks++;
      await p.sleep(TICK_MS);
    }
  })();
  const idleEnd = await p.within(idleClosed, IDLE_TIMEOUT_MS + CLOSE_BOUND_MS, 'still open');
  assert.notEqual(idleEnd, 'still open', 'the idle pair was closed');
  assert.ok(idleEnd.ms >= IDLE_TIMEOUT_MS * 0.9, `closed after ${idleEnd.ms} ms, before idle_timeout`);
  await p.waitFor(() => Date.now() - busySince >= BUSY_LIFE_MS, BUSY_LIFE_MS + CLOSE_BOUND_MS, 'the busy pair to outlive the idle timeouts');
  ticking = false;
  await ticker;
  assert.equal(await p.within(busyClosed, 0, 'still open'), 'still open');
  await p.waitFor(() => echoed === ticks * 4, 5_000, 'every tick echoed');
});
