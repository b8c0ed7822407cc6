'use strict';
/**
 * The differential smuggling harness: a real mosnd (one worker) in front of the recording
 * upstream (smuggle-upstream.js). Each case sends its raw bytes on a fresh client connection
 * while victim keep-alive clients on other connections share the worker's upstream pool, then
 * compares three readings of the same traffic:
 *
 *   the client's bytes, read by the strict parser: what the client meant (requests E);
 *   the bytes each upstream connection received, read by the strict parser AND by llhttp:
 *     what mosnd forwarded (requests U), which both must read the same way, with canonical
 *     framing (one Content-Length or one Transfer-Encoding ending in chunked);
 *   what every client got back: the upstream echoes the request it read, so an answer meant
 *     for someone else shows.
 *
 * Verdict: 'rejected' (mosnd answered >= 400 and closed; only a prefix of E was forwarded),
 * 'forwarded' (exactly E went upstream, each request once, read alike by both parsers) or
 * 'desync' with the reasons (anything else: an extra or altered request upstream, a partial
 * request left on a pooled upstream connection, a victim answered wrongly, a worker crash, a
 * request a strict parser refuses that mosnd forwarded, a hang).
 */
const net = require('node:net');
const h = require('./mosnd');
const { isGone } = require('./procs');
const sp = require('./smuggle-parser');
const { startRecordingUpstream, received, llhttpView, echoOf } = require('./smuggle-upstream');

/** How long a case may take to be answered. Cases are answered in milliseconds (a few
 *  hundred on a CI machine running other suites); only a disagreement (mosnd waiting for bytes
 *  the client never sends) runs into it. */
const CASE_WAIT_MS = 5_000;
/** How long an upstream connection holding a partial request may take to be closed by mosnd
 *  (its FIN is on the way when the client already has the rejection). */
const ABORT_WAIT_MS = 2_000;

/** A raw client connection that gathers everything it receives. */
function session(port) {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  const s = {
    socket,
    chunks: [],
    closed: false,
    waiters: new Set(),
    connected: new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    get buf() {
      return Buffer.concat(s.chunks);
    },
    /** Resolves true once pred(s) holds, false after ms. */
    until(pred, ms) {
      if (pred(s)) return Promise.resolve(true);
      return new Promise((resolve) => {
        const w = {
          check: () => {
            if (!pred(s)) return;
            clearTimeout(w.timer);
            s.waiters.delete(w);
            resolve(true);
          },
          timer: setTimeout(() => {
            s.waiters.delete(w);
            resolve(false);
          }, ms),
        };
        s.waiters.add(w);
      });
    },
    close() {
      socket.destroy();
    },
  };
  const wake = () => {
    for (const w of [...s.waiters]) w.check();
  };
  socket.on('data', (d) => {
    s.chunks.push(d);
    wake();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    s.closed = true;
    wake();
  });
  return s;
}

/** The responses a session got so far (strict reading), with bytes it could not read. */
function responsesOf(s, from = 0) {
  const buf = s.buf.subarray(from);
  return sp.parseResponses(buf, { closed: s.closed });
}

/** A persistent victim connection: one GET at a time, must get its own echo. */
async function victimRequest(h0, key, path) {
  let v = h0.victims[key];
  if (!v || v.closed) {
    v = h0.victims[key] = session(h0.port);
    await v.connected;
  }
  const from = v.buf.length;
  v.socket.write(`GET ${path} HTTP/1.1\r\nHost: t\r\n\r\n`);
  await v.until((x) => x.closed || responsesOf(x, from).responses.length >= 1, CASE_WAIT_MS);
  const r = responsesOf(v, from);
  const want = echoOf('GET', path, Buffer.alloc(0));
  if (r.responses.length !== 1 || r.leftover !== 0) {
    return `victim ${path} got ${r.responses.length} responses${r.error ? ` (${r.error})` : ''}: ${show(v.buf.subarray(from), 200)}`;
  }
  const got = r.responses[0];
  if (got.status !== 200 || got.body.toString('latin1') !== want) {
    return `victim ${path} got someone else's answer: ${got.status} ${show(got.body, 120)}`;
  }
  return null;
}

/**
 * Starts the upstream and a mosnd with one worker: /local is a direct_response and Host
 * "noroute" has no route (both answered without the upstream), everything else goes to the
 * recording upstream. Stopped by `t`.
 */
async function startHarness(t) {
  const up = await startRecordingUpstream();
  t.after(() => up.close());
  const m = await h.startMosnd({
    config: h.proxyConfig({
      virtualHosts: [
        // Host "noroute": every request is answered 404 by mosnd itself.
        { name: 'none', domains: ['noroute'], routers: [] },
        {
          name: 'v',
          domains: ['*'],
          routers: [
            { match: { prefix: '/local' }, direct_response: { status: 200, body: 'local' } },
            { match: { prefix: '/' }, route: { cluster_name: 'c' } },
          ],
        },
      ],
      clusters: [h.cluster('c', [up.address])],
    }),
  });
  t.after(() => m.kill());
  const workers = h.workerPids(m.pid);
  if (workers.length !== 1) throw new Error(`expected one worker, have ${workers}`);
  const harness = { up, m, port: m.ports.http, workers, victims: {}, caseNo: 0 };
  t.after(() => {
    for (const v of Object.values(harness.victims)) v.close();
  });
  return harness;
}

function sameBody(a, b) {
  return Buffer.compare(a, b) === 0;
}

function show(buf, n = 160) {
  return sp.printable(buf.toString('latin1').slice(0, n));
}

/** An answer the recording upstream gave (an echo), as opposed to one mosnd made itself. */
function isEcho(resp) {
  return resp.status === 200 && /^\S+ \S+ \d+ [0-9a-f]{12}$/.test(resp.body.toString('latin1'));
}

/** Sends the case's bytes and waits until mosnd has answered all it will answer. */
async function attack(hs, i, bytes, E) {
  const att = session(hs.port);
  await att.connected;
  // Bytes that end inside a head (no CRLF CRLF after the last request the strict parser
  // read) would leave mosnd waiting for the rest: once the complete requests are answered,
  // the client says it has nothing more (a FIN earlier would cut the pipeline short).
  const unterminated = bytes.indexOf('\r\n\r\n', E.next) === -1 && /[^\r\n]/.test(bytes.toString('latin1', E.next));
  att.socket.write(bytes);
  const concurrent = victimRequest(hs, 'c', `/victim-${i}-c`);
  const partial = E.error === null && E.leftover > 0 && !unterminated; // the client's last request is unfinished
  const expected = E.requests.length + (E.error !== null ? 1 : 0);
  const isRejection = (x) => x.status >= 400 && !isEcho(x);
  await att.until((s) => {
    if (s.closed) return true;
    const r = responsesOf(s);
    if (r.error) return true;
    if (r.leftover !== 0) return false;
    if ((partial || unterminated) && r.responses.length >= E.requests.length) return true;
    return r.responses.some(isRejection) || (expected > 0 && r.responses.length >= expected);
  }, CASE_WAIT_MS);
  if (unterminated && !att.closed) {
    att.socket.end();
    await att.until((s) => s.closed, CASE_WAIT_MS);
  }
  if (partial && !att.closed) {
    // Positive event for an unfinished request: its start reached an upstream (or mosnd closed).
    const deadline = Date.now() + CASE_WAIT_MS;
    while (!att.closed && Date.now() < deadline && !hs.up.caseConns.some((c) => c.pos < received(c).length)) await h.sleep(10);
  }
  const r = responsesOf(att);
  let probe = null;
  let probeProblem = null;
  if (!att.closed && !partial && r.error === null && r.leftover === 0) {
    // A request on the same connection after everything the case sent. After a rejection
    // mosnd has closed (we see the close) or, wrongly, answers it. Otherwise it must answer
    // it as a request of its own: mosnd is not still inside a body the strict parser saw end.
    const from = att.buf.length;
    probe = `/probe-${i}`;
    att.socket.write(`GET ${probe} HTTP/1.1\r\nHost: t\r\n\r\n`);
    await att.until((s) => s.closed || responsesOf(s, from).responses.length >= 1, CASE_WAIT_MS);
    const pr = responsesOf(att, from);
    if (!r.responses.some(isRejection) && (pr.responses.length !== 1 || pr.responses[0].body.toString('latin1') !== echoOf('GET', probe, Buffer.alloc(0)))) {
      probeProblem = `a request after the case on the same connection was not answered as itself: ${show(att.buf.subarray(from))}`;
    }
  }
  return { att, partial, unterminated, probe, probeProblem, concurrent };
}

/** Reads every upstream connection of the case with both parsers; fills `forwarded`. */
async function readUpstream(hs, reasons, notes) {
  const conns = [...hs.up.caseConns];
  for (const c of conns) {
    if (c.pos < received(c).length && !c.endedByPeer && c.error === null) {
      await new Promise((res) => {
        const t0 = setTimeout(res, ABORT_WAIT_MS);
        c.socket.once('end', () => (clearTimeout(t0), res()));
      });
    }
  }
  const forwarded = [];
  const partials = [];
  for (const c of conns) {
    const buf = received(c);
    if (c.error !== null) {
      reasons.push(`the upstream (strict parser) refused what mosnd forwarded: ${c.error} in ${show(buf.subarray(c.pos), 400)}`);
    } else if (c.pos < buf.length) {
      partials.push({ tail: buf.subarray(c.pos), closed: c.endedByPeer });
    }
    const lv = llhttpView(buf);
    for (const [j, q] of c.requests.entries()) {
      const l = lv.requests[j];
      const refusal = () => notes.push(`llhttp refuses a forwarded request mosnd sent (${lv.error}): ${show(buf.subarray(Math.max(0, lv.at - 40)), 120)}`);
      if (!l) {
        if (lv.error) refusal();
        else if (!lv.upgrade) reasons.push(`llhttp did not read request ${j} of ${show(buf)}`);
        break;
      }
      if (!l.complete && lv.error) {
        refusal();
        break;
      }
      if (l.method !== q.method || l.url !== q.target || !sameBody(l.body, q.body) || !l.complete) {
        reasons.push(`llhttp and the strict parser read the forwarded bytes differently: ${l.method} ${l.url} ${show(l.body, 40)} vs ${q.method} ${q.target} ${show(q.body, 40)}`);
      }
    }
    if (lv.requests.filter((l) => l.complete).length > c.requests.length) {
      reasons.push(`llhttp reads more requests than the strict parser in ${show(buf, 400)}`);
    }
    for (const q of c.requests) {
      const fp = sp.framingProblem(q);
      if (fp) reasons.push(`forwarded with ambiguous framing: ${fp}`);
      const look = sp.lookalikeFields(q.fields);
      if (look.length > 0) notes.push(`forwarded a field that looks like a framing field: ${look.join(', ')}`);
      forwarded.push(q);
    }
  }
  forwarded.sort((a, b) => a.seq - b.seq);
  return { forwarded, partials };
}

/**
 * Runs one case: { name, bytes (latin1 string or Buffer) }. Resolves { name, verdict,
 * reasons, notes }.
 */
async function runCase(hs, kase) {
  const i = hs.caseNo++;
  const t0 = Date.now();
  const bytes = Buffer.isBuffer(kase.bytes) ? kase.bytes : Buffer.from(kase.bytes, 'latin1');
  const reasons = [];
  const notes = [];
  hs.up.beginCase();
  const E = sp.parseRequests(bytes);

  const { att, partial, unterminated, probe, probeProblem, concurrent } = await attack(hs, i, bytes, E);
  const cv = await concurrent;
  if (cv) reasons.push(cv);
  for (const k of ['a', 'b']) {
    const v = await victimRequest(hs, k, `/victim-${i}-${k}`);
    if (v) reasons.push(v);
  }
  att.close();

  const { forwarded, partials } = await readUpstream(hs, reasons, notes);
  const isVictim = (q) => q.method === 'GET' && q.body.length === 0 && new RegExp(`^/(victim-${i}-[abc]|probe-${i})$`).test(q.target);
  const U = forwarded.filter((q) => !isVictim(q));
  for (const q of forwarded.filter(isVictim)) {
    if (forwarded.filter((x) => x.target === q.target).length !== 1) reasons.push(`${q.target} reached the upstream more than once`);
  }

  // Walk the client's requests (E) and the answers it got side by side: each request was
  // forwarded (an echo of it came back, and it is the next one the upstream saw), answered by
  // mosnd itself (a route answer; the connection goes on), or rejected (>= 400, then closed).
  const r = responsesOf(att);
  if (r.error) reasons.push(`mosnd's answer is not a valid HTTP/1.1 response: ${r.error} in ${show(att.buf)}`);
  const answers = r.responses.filter((x) => !(probe && x.body.toString('latin1') === echoOf('GET', probe, Buffer.alloc(0))));
  let u = 0;
  let j = 0;
  let verdict = 'forwarded';
  let stopped = false;
  for (const [k, got] of answers.entries()) {
    const e = E.requests[j];
    const last = k === answers.length - 1;
    if (isEcho(got)) {
      const q = U[u];
      if (!e) {
        reasons.push(`the client got an answer from the upstream for a request the strict parser does not see (${E.error ?? 'none left'}): ${show(got.body, 80)}`);
        break;
      }
      if (got.body.toString('latin1') !== echoOf(e.method, e.path, e.body)) {
        reasons.push(`the client got an answer to something else for request ${j}: ${show(got.body, 80)} (sent ${e.method} ${e.path} ${show(e.body, 40)})`);
      }
      if (q && (q.method !== e.method || q.target !== e.path || !sameBody(q.body, e.body))) {
        reasons.push(`forwarded request ${j} differs from the client's: ${q.method} ${q.target} ${show(q.body, 60)} vs ${e.method} ${e.path} ${show(e.body, 60)}`);
      }
      if (e.semanticError) notes.push(`forwarded a request with ${e.semanticError}`);
      u++;
      j++;
    } else if (last && att.closed && got.status >= 400) {
      verdict = 'rejected';
      stopped = true;
      if (e && !e.semanticError) notes.push(`stricter than RFC 9112: rejected a valid request with ${got.status}`);
    } else if (got.status >= 400 && last) {
      reasons.push(`mosnd rejected request ${j} (${got.status}) but kept the connection open`);
      stopped = true;
    } else if (e) {
      notes.push(`answered by mosnd itself: ${got.status}`);
      j++;
    } else {
      reasons.push(`an answer (${got.status}) to no request the strict parser sees (${E.error ?? 'none left'})`);
      break;
    }
  }
  if (U.length > u) {
    const q = U[u];
    reasons.push(
      `mosnd forwarded a request whose answer the client did not get as its own (strict parser: ${E.error ?? 'no such request'}): ${q.method} ${q.target} ${show(q.body, 60)}`,
    );
  }
  if (!stopped && reasons.length === 0 && unterminated && att.closed && j === E.requests.length) {
    verdict = 'rejected'; // the client ended inside a head: mosnd closed without forwarding it
  } else if (!stopped && reasons.length === 0) {
    if (E.error !== null || j < E.requests.length) {
      if (!(partial && j === E.requests.length)) {
        reasons.push(`mosnd neither forwarded nor rejected request ${j}${att.closed ? ' (it closed without an answer)' : ' (no answer)'}`);
      }
    } else if (probeProblem && !E.closedAt) {
      reasons.push(probeProblem);
    }
  }
  for (const p of partials) {
    // Bytes of an unfinished request on an upstream connection: only where the client's own
    // request is unfinished, or mosnd gave up on it (rejected) and closed that connection.
    if (partial || (p.closed && verdict === 'rejected')) continue;
    reasons.push(`${p.closed ? 'an upstream connection was closed' : 'a partial request was left on an open upstream connection'}: ${show(p.tail)}`);
  }
  const now = h.workerPids(hs.m.pid);
  if (now.length !== 1 || now[0] !== hs.workers[0] || isGone(hs.workers[0])) {
    reasons.push(`the worker died (pid ${hs.workers[0]} → ${now.join(',') || 'none'})`);
    // Go on with the respawned worker, so that one crash does not fail every later case.
    await h.waitFor(() => h.workerPids(hs.m.pid).length === 1 && h.workerPids(hs.m.pid)[0] !== hs.workers[0], 'a respawned worker', 20_000);
    hs.workers = h.workerPids(hs.m.pid);
  }
  if (reasons.length > 0) verdict = 'desync';
  return { name: kase.name, verdict, reasons, notes, ms: Date.now() - t0 };
}

/** One summary line and the details of every desync / note, for the test log. */
function summarize(results) {
  const count = (v) => results.filter((r) => r.verdict === v).length;
  const line = `smuggling: ${results.length} cases, ${count('rejected')} rejected, ${count('forwarded')} forwarded, ${count('desync')} desyncs`;
  const details = [];
  for (const r of results.filter((x) => x.verdict === 'desync')) details.push(`DESYNC ${r.name}: ${r.reasons.join(' | ')}`);
  const noteCount = new Map();
  for (const r of results) for (const n of r.notes) noteCount.set(n.replace(/:.*/, ''), (noteCount.get(n.replace(/:.*/, '')) ?? 0) + 1);
  for (const [n, c] of noteCount) details.push(`note (${c} cases): ${n}`);
  const slow = [...results].sort((a, b) => b.ms - a.ms).slice(0, 5);
  details.push(`slowest: ${slow.map((r) => `${r.name} ${r.ms} ms`).join(', ')}`);
  return { line, details };
}

module.exports = { startHarness, runCase, summarize, session, responsesOf, CASE_WAIT_MS };
