'use strict';
/**
 * HTTP routing end to end: a real mosnd (CLI, master + worker) in front of real node:http
 * upstreams that say who they are and echo what they received.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const h = require('./helpers/mosnd');

/** An upstream answering JSON { name, method, url, headers } (headers as node lower-cases them). */
async function echoUpstream(t, name, extraHeaders = {}) {
  const up = await h.startHttpUpstream((req, res) => {
    const body = JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers, raw: req.rawHeaders });
    res.writeHead(200, { 'content-type': 'application/json', ...extraHeaders });
    res.end(body);
  });
  t.after(() => up.close());
  return up;
}

async function start(t, config, workers = 1) {
  const m = await h.startMosnd({ config, workers });
  t.after(() => m.kill());
  return m;
}

/** GET through mosnd; returns { status, headers, body (string), json (if any) }. */
async function get(m, path, headers = {}, opts = {}) {
  const r = await h.request(m.ports.http, { path, headers, ...opts });
  let json;
  try {
    json = JSON.parse(r.body.toString());
  } catch {}
  return { status: r.status, headers: r.headers, body: r.body.toString(), json };
}

/** Counts which upstream answered `n` GETs on one keep-alive connection. */
async function tally(port, n, path = '/') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const counts = {};
  try {
    const all = [];
    for (let i = 0; i < n; i++) {
      all.push(
        h.request(port, { path, agent }).then((r) => {
          assert.equal(r.status, 200);
          const who = JSON.parse(r.body.toString()).name;
          counts[who] = (counts[who] ?? 0) + 1;
        }),
      );
    }
    await Promise.all(all);
  } finally {
    agent.destroy();
  }
  return counts;
}

test('routes by exact path, regex and prefix, in config order, ignoring the query', async (t) => {
  const [exact, regex, prefix, dflt] = await Promise.all(['exact', 'regex', 'prefix', 'default'].map((n) => echoUpstream(t, n)));
  const m = await start(
    t,
    h.proxyConfig({
      routes: [
        { match: { path: '/exact' }, route: { cluster_name: 'exact' } },
        { match: { regex: '^/re/[0-9]+$' }, route: { cluster_name: 'regex' } },
        { match: { prefix: '/p/' }, route: { cluster_name: 'prefix' } },
        { match: { prefix: '/' }, route: { cluster_name: 'default' } },
      ],
      clusters: [
        h.cluster('exact', [exact.address]),
        h.cluster('regex', [regex.address]),
        h.cluster('prefix', [prefix.address]),
        h.cluster('default', [dflt.address]),
      ],
    }),
  );
  const cases = [
    ['/exact', 'exact'],
    ['/exact?q=1', 'exact'],
    ['/exact/more', 'default'],
    ['/exactly', 'default'],
    ['/re/123', 'regex'],
    ['/re/123?x=y', 'regex'],
    ['/re/12a', 'default'],
    ['/re/123/x', 'default'],
    ['/p/anything', 'prefix'],
    ['/p', 'default'],
    ['/P/upper', 'default'],
    ['/', 'default'],
  ];
  for (const [path, who] of cases) {
    const r = await get(m, path);
    assert.equal(r.status, 200, path);
    assert.equal(r.json.name, who, path);
    assert.equal(r.json.url, path, 'the path reaches the upstream unchanged');
  }
});

test('routes by request header, exact value and full-match regex', async (t) => {
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((n) => echoUpstream(t, n)));
  const m = await start(
    t,
    h.proxyConfig({
      routes: [
        { match: { prefix: '/', headers: [{ name: 'x-version', value: '2' }] }, route: { cluster_name: 'b' } },
        { match: { prefix: '/', headers: [{ name: 'X-Canary', value: '^(1|true)$', regex: true }] }, route: { cluster_name: 'c' } },
        { match: { prefix: '/' }, route: { cluster_name: 'a' } },
      ],
      clusters: [h.cluster('a', [a.address]), h.cluster('b', [b.address]), h.cluster('c', [c.address])],
    }),
  );
  const cases = [
    [{}, 'a'],
    [{ 'x-version': '2' }, 'b'],
    [{ 'X-VERSION': '2' }, 'b'],
    [{ 'x-version': '22' }, 'a'],
    [{ 'x-version': ' 2' }, 'b'], // leading whitespace is not part of a field value
    [{ 'x-canary': '1' }, 'c'],
    [{ 'x-canary': 'true' }, 'c'],
    [{ 'x-canary': 'truex' }, 'a'],
    [{ 'x-canary': '0' }, 'a'],
    [{ 'x-version': '2', 'x-canary': '1' }, 'b'],
  ];
  for (const [headers, who] of cases) {
    const r = await get(m, '/x', headers);
    assert.equal(r.status, 200);
    assert.equal(r.json.name, who, JSON.stringify(headers));
  }
});

test('selects the virtual host by exact domain, then *.suffix, then the * catch-all', async (t) => {
  const direct = (body) => [{ match: { prefix: '/' }, direct_response: { status: 200, body } }];
  const m = await start(
    t,
    h.proxyConfig({
      virtualHosts: [
        { name: 'exact', domains: ['www.example.com'], routers: direct('exact') },
        { name: 'suffix', domains: ['*.example.com'], routers: direct('suffix') },
        { name: 'deeper', domains: ['*.api.example.com'], routers: direct('deeper') },
        { name: 'any', domains: ['*'], routers: direct('any') },
      ],
    }),
  );
  const cases = [
    ['www.example.com', 'exact'],
    ['WWW.Example.COM', 'exact'],
    ['www.example.com:8080', 'exact'],
    ['shop.example.com', 'suffix'],
    ['a.b.example.com', 'suffix'],
    ['v1.api.example.com', 'deeper'],
    ['example.com', 'any'],
    ['other.org', 'any'],
  ];
  for (const [host, who] of cases) {
    const r = await get(m, '/', { host });
    assert.equal(r.status, 200, host);
    assert.equal(r.body, who, host);
  }
});

test('answers 404 when no virtual host matches the Host and none is a catch-all', async (t) => {
  const up = await echoUpstream(t, 'only');
  const m = await start(
    t,
    h.proxyConfig({
      virtualHosts: [{ name: 'only', domains: ['only.test'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }] }],
      clusters: [h.cluster('c', [up.address])],
    }),
  );
  assert.equal((await get(m, '/', { host: 'only.test' })).status, 200);
  const r = await get(m, '/', { host: 'elsewhere.test' });
  assert.equal(r.status, 404);
  assert.equal(up.requests, 1, 'the unmatched request never reached the upstream');
});

test('answers 404 when no route of the virtual host matches, and keeps the connection', async (t) => {
  const up = await echoUpstream(t, 'only');
  const m = await start(
    t,
    h.proxyConfig({
      routes: [{ match: { prefix: '/only' }, route: { cluster_name: 'c' } }],
      clusters: [h.cluster('c', [up.address])],
    }),
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const r1 = await h.request(m.ports.http, { path: '/nope', agent });
  assert.equal(r1.status, 404);
  const r2 = await h.request(m.ports.http, { path: '/only/yes', agent });
  assert.equal(r2.status, 200);
  assert.equal(r1.socket, r2.socket, 'a 404 does not close a keep-alive connection');
  assert.equal(up.requests, 1);
});

test('answers a direct_response route with its status and body, without a body for HEAD', async (t) => {
  const m = await start(
    t,
    h.proxyConfig({
      routes: [
        { match: { path: '/forbidden' }, direct_response: { status: 403, body: 'go away\n' } },
        { match: { path: '/empty' }, direct_response: { status: 204 } },
        { match: { prefix: '/' }, direct_response: { status: 200, body: 'hello from mosnd' } },
      ],
    }),
  );
  const r1 = await get(m, '/forbidden');
  assert.equal(r1.status, 403);
  assert.equal(r1.body, 'go away\n');
  assert.equal(r1.headers['content-length'], '8');
  const r2 = await get(m, '/empty');
  assert.equal(r2.status, 204);
  assert.equal(r2.body, '');
  const r3 = await get(m, '/any');
  assert.equal(r3.status, 200);
  assert.equal(r3.body, 'hello from mosnd');
  const r4 = await h.request(m.ports.http, { method: 'HEAD', path: '/any' });
  assert.equal(r4.status, 200);
  assert.equal(r4.body.length, 0);
  assert.equal(r4.headers['content-length'], String('hello from mosnd'.length));
});

test('answers a redirect route with the Location and the response code', async (t) => {
  const m = await start(
    t,
    h.proxyConfig({
      routes: [
        { match: { path: '/old' }, redirect: { path_redirect: '/new', response_code: 308 } },
        { match: { prefix: '/secure' }, redirect: { scheme_redirect: 'https', host_redirect: 'secure.example.com' } },
        { match: { prefix: '/' }, redirect: { path_redirect: '/home', response_code: 302 } },
      ],
    }),
  );
  const r1 = await get(m, '/old?keep=1', { host: 'a.test:8080' });
  assert.equal(r1.status, 308);
  assert.equal(r1.headers.location, 'http://a.test:8080/new?keep=1');
  const r2 = await get(m, '/secure/x', { host: 'a.test' });
  assert.equal(r2.status, 301, 'MOSN defaults a redirect to 301');
  assert.equal(r2.headers.location, 'https://secure.example.com/secure/x');
  const r3 = await get(m, '/whatever', { host: 'b.test' });
  assert.equal(r3.status, 302);
  assert.equal(r3.headers.location, 'http://b.test/home');
});

test('sends the upstream the prefix-rewritten path and the rewritten Host', async (t) => {
  const up = await echoUpstream(t, 'up');
  const m = await start(
    t,
    h.proxyConfig({
      routes: [
        { match: { prefix: '/api/' }, route: { cluster_name: 'c', prefix_rewrite: '/v2/', host_rewrite: 'internal.test' } },
        { match: { path: '/exact' }, route: { cluster_name: 'c', prefix_rewrite: '/replaced' } },
        { match: { prefix: '/' }, route: { cluster_name: 'c' } },
      ],
      clusters: [h.cluster('c', [up.address])],
    }),
  );
  const r1 = await get(m, '/api/users/7?fields=name', { host: 'public.test' });
  assert.equal(r1.json.url, '/v2/users/7?fields=name');
  assert.equal(r1.json.headers.host, 'internal.test');
  const r2 = await get(m, '/exact?a=b', { host: 'public.test' });
  assert.equal(r2.json.url, '/replaced?a=b');
  assert.equal(r2.json.headers.host, 'public.test', 'no host_rewrite: the client Host is kept');
  const r3 = await get(m, '/other', { host: 'public.test' });
  assert.equal(r3.json.url, '/other');
});

test('adds and removes request headers seen at the upstream and response headers seen by the client', async (t) => {
  const up = await echoUpstream(t, 'up', { 'x-powered-by': 'upstream', 'x-keep': 'yes', 'x-replace': 'old' });
  const m = await start(
    t,
    h.proxyConfig({
      routes: [
        {
          match: { prefix: '/' },
          route: {
            cluster_name: 'c',
            request_headers_to_add: [
              { header: { key: 'x-added', value: 'by-route' } },
              { header: { key: 'x-multi', value: 'two' }, append: true },
              { header: { key: 'x-set', value: 'new' }, append: false },
            ],
            request_headers_to_remove: ['cookie2', 'X-Secret'],
            response_headers_to_add: [
              { header: { key: 'x-served-by', value: 'mosnd' } },
              { header: { key: 'x-replace', value: 'new' }, append: false },
            ],
            response_headers_to_remove: ['X-Powered-By'],
          },
        },
      ],
      clusters: [h.cluster('c', [up.address])],
    }),
  );
  const r = await get(m, '/', { 'x-secret': 's3cr3t', cookie2: 'c', 'x-multi': 'one', 'x-set': 'old', 'x-other': 'kept' });
  assert.equal(r.status, 200);
  const seen = r.json.headers;
  assert.equal(seen['x-added'], 'by-route');
  assert.equal(seen['x-multi'], 'one, two');
  assert.equal(seen['x-set'], 'new');
  assert.equal(seen['x-other'], 'kept');
  assert.equal(seen['x-secret'], undefined);
  assert.equal(seen.cookie2, undefined);
  assert.equal(r.headers['x-served-by'], 'mosnd');
  assert.equal(r.headers['x-powered-by'], undefined);
  assert.equal(r.headers['x-replace'], 'new');
  assert.equal(r.headers['x-keep'], 'yes');
});

test('splits requests across weighted_clusters in proportion to their weights', async (t) => {
  const [a, b, z] = await Promise.all(['a', 'b', 'zero'].map((n) => echoUpstream(t, n)));
  const m = await start(
    t,
    h.proxyConfig({
      routes: [
        {
          match: { prefix: '/' },
          route: {
            weighted_clusters: [
              { cluster: { name: 'a', weight: 80 } },
              { cluster: { name: 'b', weight: 20 } },
              { cluster: { name: 'zero', weight: 0 } },
            ],
          },
        },
      ],
      clusters: [h.cluster('a', [a.address]), h.cluster('b', [b.address]), h.cluster('zero', [z.address])],
    }),
  );
  const n = 600;
  const counts = await tally(m.ports.http, n);
  // Binomial(600, 0.2): mean 120, sd ~9.8; +-45 is more than 4.5 sd.
  assert.ok(Math.abs((counts.b ?? 0) - 120) <= 45, JSON.stringify(counts));
  assert.equal((counts.a ?? 0) + (counts.b ?? 0), n, 'a zero-weight cluster gets nothing');
  assert.equal(z.requests, 0);
});

test('spreads requests evenly over three hosts with round robin, across two workers', async (t) => {
  const ups = await Promise.all(['h1', 'h2', 'h3'].map((n) => echoUpstream(t, n)));
  const m = await start(
    t,
    h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [h.cluster('c', ups.map((u) => u.address), { lb_type: 'LB_ROUNDROBIN' })],
    }),
    2,
  );
  // A new client connection per request, so both workers take a share.
  const counts = {};
  for (let i = 0; i < 90; i++) {
    const r = await get(m, '/');
    assert.equal(r.status, 200);
    counts[r.json.name] = (counts[r.json.name] ?? 0) + 1;
  }
  // Each worker rotates over the three hosts on its own, so each host is within a few of 30.
  for (const n of ['h1', 'h2', 'h3']) assert.ok(Math.abs((counts[n] ?? 0) - 30) <= 4, JSON.stringify(counts));
});

test('honours host weights with LB_WEIGHTED_ROUNDROBIN', async (t) => {
  const [heavy, light] = await Promise.all(['heavy', 'light'].map((n) => echoUpstream(t, n)));
  const m = await start(
    t,
    h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [
        h.cluster('c', [{ address: heavy.address, weight: 3 }, { address: light.address, weight: 1 }], { lb_type: 'LB_WEIGHTED_ROUNDROBIN' }),
      ],
    }),
  );
  const counts = await tally(m.ports.http, 200);
  // One worker: smooth weighted round robin is exact over every cycle of 4.
  assert.ok(Math.abs((counts.heavy ?? 0) - 150) <= 6, JSON.stringify(counts));
  assert.ok(Math.abs((counts.light ?? 0) - 50) <= 6, JSON.stringify(counts));
});

test('answers 503 for a route to a cluster without hosts, and keeps serving', async (t) => {
  const up = await echoUpstream(t, 'up');
  const m = await start(
    t,
    h.proxyConfig({
      routes: [
        { match: { prefix: '/empty' }, route: { cluster_name: 'empty' } },
        { match: { prefix: '/' }, route: { cluster_name: 'c' } },
      ],
      clusters: [h.cluster('empty', []), h.cluster('c', [up.address])],
    }),
  );
  const r = await get(m, '/empty');
  assert.equal(r.status, 503);
  assert.equal((await get(m, '/fine')).status, 200);
});

test('sends a rewritten path that always starts with a slash, even when the rewrite is empty', async (t) => {
  const up = await echoUpstream(t, 'up');
  const m = await start(
    t,
    h.proxyConfig({
      routes: [
        { match: { prefix: '/api/' }, route: { cluster_name: 'c', prefix_rewrite: '' } },
        { match: { prefix: '/v1' }, route: { cluster_name: 'c', prefix_rewrite: '' } },
      ],
      clusters: [h.cluster('c', [up.address])],
    }),
  );
  assert.equal((await get(m, '/api/x')).json.url, '/x');
  assert.equal((await get(m, '/v1')).json.url, '/');
  assert.equal((await get(m, '/v1?q=1')).json.url, '/?q=1');
  assert.equal((await get(m, '/v1/y')).json.url, '/y');
});
