'use strict';
/**
 * Request smuggling and desync (the hardening issue): every way two HTTP/1.1 parsers can
 * disagree about where a request ends must end with mosnd rejecting the request (>= 400 and
 * the connection closed) or forwarding exactly what the client sent, re-framed so that the
 * strict parser and llhttp read it alike. The corpus (test/helpers/smuggle-corpus.js) is run
 * through the differential harness (test/helpers/smuggle-harness.js) against a real mosnd,
 * with victim clients on other connections sharing the upstream pool.
 *
 * The summary line (cases, rejected, forwarded, desyncs) and every desync's reasons go to
 * stderr. SMUGGLE_ONLY=<regex> runs the cases whose name matches; SMUGGLE_REPORT=<file> writes
 * every verdict with its reasons and notes as JSON.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');
const { isGone } = require('./helpers/procs');
const { startHarness, runCase, summarize, session, responsesOf } = require('./helpers/smuggle-harness');
const { buildCorpus } = require('./helpers/smuggle-corpus');

test('no smuggling case ends in a desync: each is rejected or forwarded as exactly the request the client sent', { timeout: 170_000 }, async (t) => {
  const corpus = buildCorpus();
  assert.ok(corpus.length >= 300, `a corpus of at least 300 cases (have ${corpus.length})`);
  const hs = await startHarness(t);
  const only = process.env.SMUGGLE_ONLY ? new RegExp(process.env.SMUGGLE_ONLY) : null;
  const results = [];
  for (const kase of corpus) {
    if (only && !only.test(kase.name)) continue;
    await t.test(kase.name, async () => {
      const r = await runCase(hs, kase);
      results.push(r);
      assert.notEqual(r.verdict, 'desync', r.reasons.join('\n'));
    });
  }
  const { line, details } = summarize(results);
  if (process.env.SMUGGLE_REPORT) require('node:fs').writeFileSync(process.env.SMUGGLE_REPORT, JSON.stringify(results, null, 1));
  t.diagnostic(line);
  process.stderr.write(`${line}\n${details.map((d) => `  ${d}`).join('\n')}\n`);
  const counts = Object.fromEntries(['rejected', 'forwarded'].map((v) => [v, results.filter((r) => r.verdict === v).length]));
  // The corpus exercises both outcomes: a harness that saw only one would be blind to the other.
  if (!only) assert.ok(counts.rejected > 100 && counts.forwarded > 50, JSON.stringify(counts));
});

/** Requests mosnd answers itself, pipelined in one write: each answer must go out without
 *  the worker growing its stack per request (a burst of ~3,000 used to kill it). */
const BURST = 5_000;

for (const [what, request, status] of [
  ['a direct_response', 'GET /local HTTP/1.1\r\nHost: t\r\n\r\n', 200],
  ['a 404 (no route)', 'GET /x HTTP/1.1\r\nHost: noroute\r\n\r\n', 404],
]) {
  test(`${BURST} pipelined requests answered by ${what} in one burst are all answered and the worker lives`, async (t) => {
    const hs = await startHarness(t);
    const s = session(hs.port);
    t.after(() => s.close());
    await s.connected;
    s.socket.write(request.repeat(BURST));
    const count = () => (s.buf.toString('latin1').match(/HTTP\/1\.1 \d{3} /g) ?? []).length;
    await s.until((x) => x.closed || count() >= BURST, 30_000);
    // A request on a new connection is answered by a live worker: the same one as before.
    const after = await h.request(hs.port, { path: '/local' });
    assert.equal(after.status, 200);
    assert.deepEqual(h.workerPids(hs.m.pid), hs.workers, 'the worker did not die');
    assert.equal(isGone(hs.workers[0]), false, 'the worker did not die');
    const r = responsesOf(s);
    assert.equal(r.error, null);
    assert.equal(r.responses.length, BURST);
    assert.ok(r.responses.every((x) => x.status === status));
    assert.equal(s.closed, false, 'the connection stays open for more');
  });
}
