'use strict';
/**
 * Regex matches keep MOSN's meaning (a search, like Go's regexp.MatchString), not Envoy's
 * full match: a MOSN file must route in mosnd as it does in MOSN. Checked end to end through
 * a real mosnd and two real upstreams that say who answered.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');

async function namedUpstream(t, name) {
  const up = await h.startHttpUpstream((req, res) => res.end(name));
  t.after(() => up.close());
  return up;
}

/** Which upstream answered a GET of `path` with the `headers`. */
async function who(m, path, headers = {}) {
  const r = await h.request(m.ports.http, { path, headers });
  assert.equal(r.status, 200, `${path} ${JSON.stringify(headers)}`);
  return r.body.toString();
}

test('a header regex is searched in the value: "v1" matches v1 and v10, "^v1$" matches only v1', async (t) => {
  const [matched, other] = await Promise.all([namedUpstream(t, 'matched'), namedUpstream(t, 'other')]);
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [
        { match: { prefix: '/loose', headers: [{ name: 'x-version', value: 'v1', regex: true }] }, route: { cluster_name: 'matched' } },
        { match: { prefix: '/anchored', headers: [{ name: 'x-version', value: '^v1$', regex: true }] }, route: { cluster_name: 'matched' } },
        { match: { prefix: '/' }, route: { cluster_name: 'other' } },
      ],
      clusters: [h.cluster('matched', [matched.address]), h.cluster('other', [other.address])],
    }),
  });
  t.after(() => m.kill());
  assert.equal(await who(m, '/loose', { 'x-version': 'v1' }), 'matched');
  assert.equal(await who(m, '/loose', { 'x-version': 'v10' }), 'matched', 'v1 is found inside v10');
  assert.equal(await who(m, '/loose', { 'x-version': 'release-v1.2' }), 'matched');
  assert.equal(await who(m, '/loose', { 'x-version': 'v2' }), 'other');
  assert.equal(await who(m, '/anchored', { 'x-version': 'v1' }), 'matched');
  assert.equal(await who(m, '/anchored', { 'x-version': 'v10' }), 'other', 'an anchored regex matches the whole value only');
  assert.equal(await who(m, '/loose'), 'other', 'a missing header never matches');
});

test('a path regex is searched in the path too: "/v1" matches /api/v10/x, "^/v1$" matches only /v1', async (t) => {
  const [loose, anchored, other] = await Promise.all([namedUpstream(t, 'loose'), namedUpstream(t, 'anchored'), namedUpstream(t, 'other')]);
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [
        { match: { regex: '^/v1$' }, route: { cluster_name: 'anchored' } },
        { match: { regex: '/v1' }, route: { cluster_name: 'loose' } },
        { match: { prefix: '/' }, route: { cluster_name: 'other' } },
      ],
      clusters: [h.cluster('loose', [loose.address]), h.cluster('anchored', [anchored.address]), h.cluster('other', [other.address])],
    }),
  });
  t.after(() => m.kill());
  assert.equal(await who(m, '/v1'), 'anchored');
  assert.equal(await who(m, '/v1?q=1'), 'anchored', 'the query is not part of the path');
  assert.equal(await who(m, '/v10'), 'loose');
  assert.equal(await who(m, '/api/v10/x'), 'loose', 'found in the middle of the path');
  assert.equal(await who(m, '/v2'), 'other');
});
