'use strict';
/**
 * Hostile upstreams (the hardening issue): a response with duplicate or conflicting framing,
 * bytes after its body, a bare LF, an endless head, a 1xx flood or a close mid-body must
 * never poison the pooled connection for the next request or another client. For every case:
 * the client that asked gets a response it can delimit (or a 502, or a closed connection),
 * never a byte the upstream smuggled after the body; a next request on the same client
 * connection and one on a new connection get their own answers, from a NEW upstream
 * connection (the hostile one received nothing more); the worker is the same process.
 * A well-behaved control case proves the test sees reuse when it happens.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');
const raw = require('./helpers/http-raw');
const { isGone } = require('./helpers/procs');
const sp = require('./helpers/smuggle-parser');
const { session } = require('./helpers/smuggle-harness');

/** How long one exchange may take: answers come in milliseconds; 1xx floods and 64 KiB heads
 *  in a few more. Only a hang runs into it. */
const EXCHANGE_WAIT_MS = 10_000;
/** What a hostile upstream puts where no client may ever see it. */
const EVIL = 'EVIL';

const OK_HEAD = 'HTTP/1.1 200 OK\r\n';
const SMUGGLED = `HTTP/1.1 200 OK\r\nContent-Length: ${EVIL.length}\r\n\r\n${EVIL}`;

/**
 * [name, what the upstream writes (string, or a function of the socket), options]. `mayReuse`:
 * odd but unambiguous, so mosnd may keep the connection as long as nothing is poisoned (README,
 * Security: identical duplicate lengths collapse, framing fields listed in Connection are
 * re-framed, a later HTTP/1.x is 1.1); every other case must close it.
 */
const MAY_REUSE = { mayReuse: true };
const HOSTILE = [
  ['two different Content-Length fields', `${OK_HEAD}Content-Length: 4\r\nContent-Length: 8\r\n\r\nfine${EVIL}`],
  ['two identical Content-Length fields', `${OK_HEAD}Content-Length: 4\r\nContent-Length: 4\r\n\r\nfine`, MAY_REUSE],
  ['a Content-Length list of different values', `${OK_HEAD}Content-Length: 4, 8\r\n\r\nfine${EVIL}`],
  ['a Content-Length list of identical values', `${OK_HEAD}Content-Length: 4, 4\r\n\r\nfine`, MAY_REUSE],
  ['Content-Length with a sign', `${OK_HEAD}Content-Length: +4\r\n\r\nfine`],
  ['Content-Length in hexadecimal', `${OK_HEAD}Content-Length: 0x4\r\n\r\nfine`],
  ['a space before the colon of Content-Length', `${OK_HEAD}Content-Length : 8\r\n\r\nfine${EVIL}`],
  ['Content-Length and Transfer-Encoding: chunked', `${OK_HEAD}Content-Length: 8\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nfine\r\n0\r\n\r\n`],
  ['Transfer-Encoding: chunked twice', `${OK_HEAD}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nfine\r\n0\r\n\r\n`],
  ['Transfer-Encoding: \\xa0chunked with a Content-Length', `${OK_HEAD}Transfer-Encoding: \xa0chunked\r\nContent-Length: 27\r\n\r\n4\r\nfine\r\n0\r\n\r\n${EVIL}`],
  ['an empty Transfer-Encoding with a Content-Length', `${OK_HEAD}Transfer-Encoding:\r\nContent-Length: 4\r\n\r\nfine`],
  ['Transfer-Encoding ending in gzip', `${OK_HEAD}Transfer-Encoding: chunked, gzip\r\n\r\n4\r\nfine\r\n0\r\n\r\n`],
  ['bytes after a Content-Length body', `${OK_HEAD}Content-Length: 4\r\n\r\nfine${SMUGGLED}`],
  ['bytes after a chunked body', `${OK_HEAD}Transfer-Encoding: chunked\r\n\r\n4\r\nfine\r\n0\r\n\r\n${SMUGGLED}`],
  ['bytes after a 204', `HTTP/1.1 204 No Content\r\n\r\n${SMUGGLED}`],
  ['a body on a 304', `HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\n${EVIL}`],
  ['a body on a 100 Continue', `HTTP/1.1 100 Continue\r\nContent-Length: 4\r\n\r\n${EVIL}${OK_HEAD}Content-Length: 4\r\n\r\nfine`],
  ['bare LF line ends', 'HTTP/1.1 200 OK\nContent-Length: 4\n\nfine'],
  ['a bare LF ending one field', `${OK_HEAD}X-A: 1\nContent-Length: 8\r\n\r\nfine${EVIL}`],
  ['a bare CR in a field', `${OK_HEAD}X-A: 1\rContent-Length: 8\r\nContent-Length: 4\r\n\r\nfine${EVIL}`],
  ['obs-fold', `${OK_HEAD}X-A: 1\r\n Content-Length: 8\r\nContent-Length: 4\r\n\r\nfine${EVIL}`],
  ['a NUL in a field value', `${OK_HEAD}X-A: a\x00b\r\nContent-Length: 4\r\n\r\nfine`],
  ['HTTP/1.2', 'HTTP/1.2 200 OK\r\nContent-Length: 4\r\n\r\nfine', MAY_REUSE],
  ['a four-digit status code', 'HTTP/1.1 2000 OK\r\nContent-Length: 4\r\n\r\nfine'],
  ['an unsolicited 101', `HTTP/1.1 101 Switching Protocols\r\nUpgrade: evil\r\nConnection: upgrade\r\n\r\n${SMUGGLED}`],
  ['Connection: Content-Length with a Content-Length body', `${OK_HEAD}Connection: Content-Length\r\nContent-Length: 4\r\n\r\nfine`, MAY_REUSE],
  ['Connection: close, Content-Length with bytes after the body', `${OK_HEAD}Connection: keep-alive, Content-Length\r\nContent-Length: 4\r\n\r\nfine${SMUGGLED}`],
  ['Connection: Transfer-Encoding with a chunked body', `${OK_HEAD}Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nfine\r\n0\r\n\r\n`, MAY_REUSE],
  ['a chunk size followed by junk', `${OK_HEAD}Transfer-Encoding: chunked\r\n\r\n4 8\r\nfine\r\n0\r\n\r\n`],
  ['a chunk size followed by a tab', `${OK_HEAD}Transfer-Encoding: chunked\r\n\r\n4\t\r\nfine\r\n0\r\n\r\n`],
  ['a chunk size line ending in a bare LF', `${OK_HEAD}Transfer-Encoding: chunked\r\n\r\n4\nfine\r\n0\r\n\r\n`],
  ['chunk data longer than its size', `${OK_HEAD}Transfer-Encoding: chunked\r\n\r\n2\r\nfine\r\n0\r\n\r\n`],
  ['a status line as a trailer', `${OK_HEAD}Transfer-Encoding: chunked\r\n\r\n4\r\nfine\r\n0\r\nHTTP/1.1 200 OK\r\n\r\n`],
  ['a trailer with a space before the colon', `${OK_HEAD}Transfer-Encoding: chunked\r\n\r\n4\r\nfine\r\n0\r\nX-T : 1\r\n\r\n`],
  ['an endless header line', (s) => endless(s, `${OK_HEAD}X-Endless: `, 'a'.repeat(1024))],
  ['endless header lines', (s) => endless(s, OK_HEAD, 'X-Line: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n')],
  ['200 interim 100 Continue heads', `${'HTTP/1.1 100 Continue\r\n\r\n'.repeat(200)}${OK_HEAD}Content-Length: 4\r\n\r\nfine`],
  ['200 interim 103 Early Hints heads with fields', `${'HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n'.repeat(200)}${OK_HEAD}Content-Length: 4\r\n\r\nfine`],
  ['20,000 interim 100 Continue heads', `${'HTTP/1.1 100 Continue\r\n\r\n'.repeat(20_000)}${OK_HEAD}Content-Length: 4\r\n\r\nfine`],
  // The shortest interim head mosnd accepts: the most heads in one read (64 KiB) of the worker.
  ['20,000 shortest interim heads', `${'HTTP/1.1 100\r\n\r\n'.repeat(20_000)}${OK_HEAD}Content-Length: 4\r\n\r\nfine`],
  ['a close in the middle of a Content-Length body', (s) => s.end(`${OK_HEAD}Content-Length: 10\r\n\r\nfine`)],
  ['a close in the middle of a chunked body', (s) => s.end(`${OK_HEAD}Transfer-Encoding: chunked\r\n\r\n4\r\nfine\r\n`)],
  ['a close in the middle of the head', (s) => s.end(`${OK_HEAD}Content-Length: 4\r\n`)],
  ['a reset in the middle of a body', (s) => s.write(`${OK_HEAD}Content-Length: 10\r\n\r\nfine`, () => s.resetAndDestroy())],
];

/** Writes `head` then `piece` until 128 KiB went out (twice mosnd's response head limit),
 *  then waits: a head that never ends. */
function endless(socket, head, piece) {
  socket.write(head);
  let sent = 0;
  const more = () => {
    while (sent < 128 * 1024) {
      sent += piece.length;
      if (!socket.write(piece)) return socket.once('drain', more);
    }
    return undefined;
  };
  more();
}

/**
 * The upstream: a request for /hostile-<n> gets case n's bytes; any other request gets a
 * plain answer naming its path and the upstream connection. Every connection's request paths
 * are recorded.
 */
async function startScriptedUpstream(t) {
  const conns = [];
  const up = await raw.startRawUpstream((socket) => {
    const conn = { id: conns.length, paths: [], socket };
    conns.push(conn);
    raw.onRequestHeads(socket, (head) => {
      const path = head.split(' ')[1];
      conn.paths.push(path);
      const m = /^\/hostile-(-?\d+)$/.exec(path);
      if (m) {
        const script = HOSTILE[Number(m[1])]?.[1] ?? CONTROL;
        if (typeof script === 'function') script(socket);
        else socket.write(script, 'latin1');
        return;
      }
      const body = `next ${path}`;
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
  });
  t.after(() => up.close());
  up.conns = conns;
  return up;
}

/** The well-behaved control: answered and reused. */
const CONTROL = `${OK_HEAD}Content-Length: 4\r\n\r\nfine`;

/** A final response head with neither Content-Length nor Transfer-Encoding nor
 *  Connection: close: its body ends at a close that a keep-alive connection never makes. */
function unframedHead(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return false;
  const head = buf.toString('latin1', 0, end);
  return /^HTTP\/1\.1 2(?!04)\d\d/.test(head) && !/\r\n(content-length|transfer-encoding):|\r\nconnection:[^\r]*close/i.test(head);
}

/** Waits until `s` has a complete final response after `from` (or closed); returns them. */
async function finalResponse(s, from = 0) {
  const done = (x) => {
    if (x.closed) return true;
    const r = sp.parseResponses(x.buf.subarray(from));
    return r.error !== null || r.responses.some((y) => y.status >= 200) || unframedHead(x.buf.subarray(from));
  };
  await s.until(done, EXCHANGE_WAIT_MS);
  return sp.parseResponses(s.buf.subarray(from), { closed: s.closed });
}

/** One plain request on a new client connection; its answer must be its own. */
async function freshRequest(port, path) {
  const s = session(port);
  await s.connected;
  s.socket.write(`GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`);
  const r = await finalResponse(s);
  s.close();
  return r;
}

/**
 * Runs case `n` (HOSTILE index, or -1 for the control); returns the list of problems and
 * whether the upstream connection was reused.
 */
async function runHostile(up, m, workers, n, name) {
  const problems = [];
  for (const c of up.conns) c.socket.destroy(); // a clean slate: the next connection is new
  const firstConn = up.conns.length;
  const s = session(m.ports.http);
  await s.connected;
  s.socket.write(`GET /hostile-${n} HTTP/1.1\r\nHost: t\r\n\r\n`);
  let r = await finalResponse(s);
  const text = () => s.buf.toString('latin1');
  const final = r.responses.find((x) => x.status >= 200);
  if (r.error !== null) problems.push(`the client cannot read mosnd's answer (${r.error}): ${sp.printable(text().slice(0, 200))}`);
  else if (final && final.status === 200 && final.body.toString('latin1') !== 'fine') {
    problems.push(`the client got a 200 with the body ${sp.printable(final.body.toString('latin1').slice(0, 80))}`);
  } else if (final && ![200, 204, 304, 502].includes(final.status)) problems.push(`the client got a ${final.status}`);
  if (!final && !s.closed) {
    problems.push(
      unframedHead(s.buf)
        ? `a response without framing on a connection mosnd keeps open: ${sp.printable(text().slice(0, 200))}`
        : `no answer and no close: ${sp.printable(text().slice(0, 200))}`,
    );
  }

  // The worker first: if it died, nothing else can be asked of it.
  const pids = h.workerPids(m.pid);
  if (pids.length !== 1 || pids[0] !== workers[0] || isGone(workers[0])) {
    problems.push(`the worker died (${name})`);
    return { problems, reused: false, died: true };
  }

  // The same client connection, if mosnd kept it: the next answer must be the next request's.
  if (!s.closed && final) {
    const from = s.buf.length;
    s.socket.write(`GET /next-${n}-same HTTP/1.1\r\nHost: t\r\n\r\n`);
    r = await finalResponse(s, from);
    const got = r.responses.find((x) => x.status >= 200);
    if (r.error !== null || !got || got.body.toString('latin1') !== `next /next-${n}-same`) {
      problems.push(`the next request on the same client connection got ${sp.printable(s.buf.toString('latin1', from).slice(0, 200))}`);
    }
  }
  s.close();
  const f = await freshRequest(m.ports.http, `/next-${n}-fresh`);
  const fgot = f.responses.find((x) => x.status >= 200);
  if (!fgot || fgot.status !== 200 || fgot.body.toString('latin1') !== `next /next-${n}-fresh`) {
    problems.push(`a request on a new client connection got ${fgot ? `${fgot.status} ${sp.printable(fgot.body.toString('latin1').slice(0, 80))}` : 'nothing'}`);
  }
  if (text().includes(EVIL)) problems.push('the client received bytes the upstream sent after the response');

  // The upstream side: the hostile connection got nothing after the hostile request.
  const mine = up.conns.slice(firstConn);
  const hostile = mine.find((c) => c.paths.includes(`/hostile-${n}`));
  if (!hostile) problems.push('the hostile request never reached the upstream');
  const reused = hostile !== undefined && hostile.paths.length > 1;
  return { problems, reused, hostilePaths: hostile?.paths ?? [], died: false };
}

test('no hostile upstream response poisons a pooled connection, a client, or the worker', { timeout: 120_000 }, async (t) => {
  const up = await startScriptedUpstream(t);
  const m = await h.proxyTo(t, up.address);
  let workers = h.workerPids(m.pid);
  assert.equal(workers.length, 1);

  await t.test('control: a well-formed response leaves its connection reused (the test sees reuse)', async () => {
    const r = await runHostile(up, m, workers, -1, 'control');
    assert.deepEqual(r.problems, []);
    assert.equal(r.reused, true, `the upstream connection saw ${r.hostilePaths}`);
  });

  for (const [n, [name, , options]] of HOSTILE.entries()) {
    const mayReuse = options?.mayReuse === true;
    const title = mayReuse ? 'nothing is poisoned, reused or not' : 'the connection is closed, never reused, and nobody sees the leftovers';
    await t.test(`${name}: ${title}`, async () => {
      const r = await runHostile(up, m, workers, n, name);
      if (r.died) {
        // Carry on with the respawned worker so one crash does not hide the other cases.
        await h.waitFor(() => h.workerPids(m.pid).length === 1 && h.workerPids(m.pid)[0] !== workers[0], 'a new worker', 20_000);
        workers = h.workerPids(m.pid);
        await h.waitFor(async () => (await h.request(m.ports.http, { path: '/alive' }).catch(() => ({}))).status === 200, 'the new worker serves', 20_000);
      }
      assert.deepEqual(r.problems, []);
      if (!mayReuse) assert.equal(r.reused, false, `the hostile upstream connection was reused for ${r.hostilePaths.slice(1)}`);
    });
  }
});
