'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  RouteTable,
  hostWithoutPort,
  pickCluster,
  rewritePath,
  redirectLocation,
  applyRequestHeaderMutations,
  applyResponseHeaderMutations,
} = require('../dist/worker/router');

const noMutations = () => ({
  requestHeadersToAdd: [],
  requestHeadersToRemove: [],
  responseHeadersToAdd: [],
  responseHeadersToRemove: [],
});

function route(match, action = { kind: 'cluster', cluster: 'c', timeoutMs: 0 }, mutations = {}) {
  return { ...noMutations(), ...mutations, match: { headers: [], ...match }, action };
}

function vhost(name, domains, routes, mutations = {}) {
  return { ...noMutations(), ...mutations, name, domains, routes };
}

function table(virtualHosts, mutations = {}) {
  return new RouteTable({ ...noMutations(), ...mutations, name: 'r1', virtualHosts });
}

function req(path, host = 'example.com', headers = [], method = 'GET') {
  return { method, path, host, headers };
}

const { seeded } = require('./helpers/random');

const catchAll = (name) => vhost(name, ['*'], [route({ prefix: '/' })]);

test('hostWithoutPort strips a numeric port from names, IPv4 and bracketed IPv6', () => {
  assert.equal(hostWithoutPort('example.com:8080'), 'example.com');
  assert.equal(hostWithoutPort('example.com'), 'example.com');
  assert.equal(hostWithoutPort('10.0.0.1:80'), '10.0.0.1');
  assert.equal(hostWithoutPort('[::1]:80'), '[::1]');
  assert.equal(hostWithoutPort('[::1]'), '[::1]');
  assert.equal(hostWithoutPort('::1'), '::1');
  assert.equal(hostWithoutPort('example.com:http'), 'example.com:http');
});

test('an exact domain wins over every wildcard, compared case-insensitively without the port', () => {
  const t = table([
    catchAll('any'),
    vhost('suffix', ['*.example.com'], []),
    vhost('prefix', ['www.*'], []),
    vhost('exact', ['www.example.com'], []),
  ]);
  assert.equal(t.selectVirtualHost('WWW.Example.COM:8443').name, 'exact');
  assert.equal(t.selectVirtualHost('www.example.com').name, 'exact');
});

test('the longest suffix wildcard wins and a wildcard must stand for at least one character', () => {
  const t = table([
    vhost('short', ['*.com'], []),
    vhost('long', ['*.example.com'], []),
    vhost('dash', ['*-bar.example.com'], []),
    catchAll('any'),
  ]);
  assert.equal(t.selectVirtualHost('a.example.com').name, 'long');
  assert.equal(t.selectVirtualHost('a.b.example.com').name, 'long');
  assert.equal(t.selectVirtualHost('foo-bar.example.com').name, 'dash');
  assert.equal(t.selectVirtualHost('other.com').name, 'short');
  // ".example.com" itself: "*.example.com" would match the empty string, so the shorter "*.com" wins.
  assert.equal(t.selectVirtualHost('.example.com').name, 'short');
  assert.equal(t.selectVirtualHost('-bar.example.com').name, 'long');
});

test('suffix wildcards win over prefix wildcards, which win over the catch-all', () => {
  const t = table([catchAll('any'), vhost('prefix', ['api.*'], []), vhost('suffix', ['*.internal'], [])]);
  assert.equal(t.selectVirtualHost('api.internal').name, 'suffix');
  assert.equal(t.selectVirtualHost('api.example.org:80').name, 'prefix');
  assert.equal(t.selectVirtualHost('api.').name, 'any');
  assert.equal(t.selectVirtualHost('web.example.org').name, 'any');
});

test('the longest prefix wildcard wins', () => {
  const t = table([vhost('short', ['api.*'], []), vhost('long', ['api.v2.*'], [])]);
  assert.equal(t.selectVirtualHost('api.v2.example.org').name, 'long');
  assert.equal(t.selectVirtualHost('api.v1.example.org').name, 'short');
});

test('IPv6 hosts select the virtual host of their bracketed literal', () => {
  const t = table([vhost('v6', ['[::1]'], []), vhost('bare', ['fe80::2'], []), catchAll('any')]);
  assert.equal(t.selectVirtualHost('[::1]:80').name, 'v6');
  assert.equal(t.selectVirtualHost('[::1]').name, 'v6');
  assert.equal(t.selectVirtualHost('[FE80::2]:8080').name, 'bare');
});

test('no matching virtual host gives no route', () => {
  const t = table([vhost('only', ['example.com'], [route({ prefix: '/' })])]);
  assert.equal(t.match(req('/', 'other.com')), undefined);
  assert.equal(t.match(req('/', '')), undefined);
  assert.equal(t.match(req('/', 'example.com:9000')).vhost.name, 'only');
});

test('repeated and alternating Host headers keep selecting their own virtual host', () => {
  const t = table([vhost('a', ['a.com'], []), vhost('b', ['b.com'], [])]);
  const seq = ['a.com', 'a.com', 'B.com', 'x.com', 'x.com', 'b.com', 'a.com:1'];
  assert.deepEqual(seq.map((h) => t.selectVirtualHost(h)?.name), ['a', 'a', 'b', undefined, undefined, 'b', 'a']);
});

test('rejects two virtual hosts claiming the same domain', () => {
  assert.throws(
    () => table([vhost('a', ['Example.com'], []), vhost('b', ['example.com'], [])]),
    (e) => e.code === 'MOSND_ERR_CONFIG_INVALID' && /example\.com/.test(e.details[0]),
  );
});

test('prefix matching is case-sensitive and ignores the query string', () => {
  const t = table([vhost('v', ['*'], [route({ prefix: '/api/' })])]);
  assert.ok(t.match(req('/api/users')));
  assert.ok(t.match(req('/api/')));
  assert.equal(t.match(req('/API/users')), undefined);
  assert.equal(t.match(req('/api')), undefined);
  assert.equal(t.match(req('/api?x=/api/')), undefined);
});

test('path matching needs the exact path, with or without a query', () => {
  const t = table([vhost('v', ['*'], [route({ path: '/health' })])]);
  assert.ok(t.match(req('/health')));
  assert.ok(t.match(req('/health?verbose=1')));
  assert.equal(t.match(req('/health/')), undefined);
  assert.equal(t.match(req('/Health')), undefined);
  assert.equal(t.match(req('/healthz')), undefined);
});

test('a route regex matches anywhere in the path without the query, as MOSN does, unless anchored', () => {
  const t = table([vhost('v', ['*'], [route({ regex: '^/users/[0-9]+$' })])]);
  assert.ok(t.match(req('/users/42')));
  assert.ok(t.match(req('/users/42?tab=1')));
  assert.equal(t.match(req('/users/42/posts')), undefined);
  assert.equal(t.match(req('/v1/users/42')), undefined);
  const loose = table([vhost('v', ['*'], [route({ regex: '/users/[0-9]+' })])]);
  assert.ok(loose.match(req('/v1/users/42/posts')));
  assert.equal(loose.match(req('/users/x?id=/users/1')), undefined, 'the query is not searched');
  const prefixLike = table([vhost('v', ['*'], [route({ regex: '^/api' })])]);
  assert.ok(prefixLike.match(req('/api/users')));
});

test('a regex starting with (?i) matches case-insensitively', () => {
  const t = table([vhost('v', ['*'], [route({ regex: '(?i)/Users/.*' })])]);
  assert.ok(t.match(req('/USERS/x')));
});

test('rejects an invalid route regex with the route position', () => {
  assert.throws(
    () => table([vhost('v', ['*'], [route({ prefix: '/' }), route({ regex: '/a(' })])]),
    (e) => e.code === 'MOSND_ERR_CONFIG_INVALID' && /virtual_hosts\[0\]\.routers\[1\]\.match\.regex/.test(e.details[0]),
  );
});

test('the first route in order whose matchers all match wins', () => {
  const a = route({ prefix: '/api' }, { kind: 'cluster', cluster: 'a', timeoutMs: 0 });
  const b = route({ prefix: '/api/v2' }, { kind: 'cluster', cluster: 'b', timeoutMs: 0 });
  const c = route({ prefix: '/' }, { kind: 'cluster', cluster: 'c', timeoutMs: 0 });
  const t = table([vhost('v', ['*'], [a, b, c])]);
  assert.equal(t.match(req('/api/v2/x')).route, a);
  assert.equal(t.match(req('/other')).route, c);
  const t2 = table([vhost('v', ['*'], [b, a, c])]);
  assert.equal(t2.match(req('/api/v2/x')).route, b);
  assert.equal(t2.match(req('/api/v1/x')).route, a);
});

test('header matchers compare names case-insensitively and values exactly', () => {
  const canary = route({ prefix: '/', headers: [{ name: 'x-version', value: '2', regex: false }] });
  const fallback = route({ prefix: '/' });
  const t = table([vhost('v', ['*'], [canary, fallback])]);
  assert.equal(t.match(req('/', 'h', ['X-Version', '2'])).route, canary);
  assert.equal(t.match(req('/', 'h', ['x-version', '20'])).route, fallback);
  assert.equal(t.match(req('/', 'h', ['x-version', 'V2'])).route, fallback);
  assert.equal(t.match(req('/', 'h', [])).route, fallback, 'an absent header fails the matcher');
});

test('a regex header matcher searches the value like MOSN, and matches the whole value when anchored', () => {
  const r = route({ prefix: '/', headers: [{ name: 'user-agent', value: '^curl/.*', regex: true }] });
  const t = table([vhost('v', ['*'], [r])]);
  assert.ok(t.match(req('/', 'h', ['User-Agent', 'curl/8.5.0'])));
  assert.equal(t.match(req('/', 'h', ['User-Agent', 'Mozilla curl/8.5.0'])), undefined);
  const loose = table([vhost('v', ['*'], [route({ prefix: '/', headers: [{ name: 'user-agent', value: 'curl', regex: true }] })])]);
  assert.ok(loose.match(req('/', 'h', ['User-Agent', 'Mozilla curl/8.5.0'])));
  assert.equal(t.match(req('/', 'h', ['Accept', 'curl/8'])), undefined);
});

test('every header matcher of a route must match', () => {
  const r = route({
    prefix: '/',
    headers: [
      { name: 'x-a', value: '1', regex: false },
      { name: 'x-b', value: '[0-9]+', regex: true },
    ],
  });
  const t = table([vhost('v', ['*'], [r])]);
  assert.ok(t.match(req('/', 'h', ['x-b', '77', 'X-A', '1'])));
  assert.equal(t.match(req('/', 'h', ['X-A', '1'])), undefined);
  assert.equal(t.match(req('/', 'h', ['X-A', '1', 'x-b', 'no'])), undefined);
});

test('repeated headers are matched as their values joined with commas', () => {
  const r = route({ prefix: '/', headers: [{ name: 'x-tag', value: 'a,b', regex: false }] });
  const t = table([vhost('v', ['*'], [r])]);
  assert.ok(t.match(req('/', 'h', ['X-Tag', 'a', 'x-tag', 'b'])));
  assert.equal(t.match(req('/', 'h', ['X-Tag', 'a'])), undefined);
});

test(':authority, :path and :method match the host, request-target and method', () => {
  const byAuthority = route({ prefix: '/', headers: [{ name: ':authority', value: 'api\\.example\\.com(:\\d+)?', regex: true }] });
  const byPath = route({ prefix: '/', headers: [{ name: ':path', value: '/q?debug=1', regex: false }] });
  const byMethod = route({ prefix: '/', headers: [{ name: ':method', value: 'POST', regex: false }] });
  const t = table([vhost('v', ['*'], [byAuthority, byPath, byMethod])]);
  assert.equal(t.match(req('/', 'api.example.com:8080')).route, byAuthority);
  assert.equal(t.match(req('/q?debug=1', 'web')).route, byPath);
  assert.equal(t.match(req('/q', 'web', [], 'POST')).route, byMethod);
  assert.equal(t.match(req('/q', 'web', [':method', 'POST'], 'GET')), undefined);
});

test('match returns the same result object for the same route', () => {
  const t = table([catchAll('any')]);
  assert.equal(t.match(req('/a')), t.match(req('/b?c')));
});

test('weighted clusters are picked in proportion to their weights', () => {
  const action = {
    kind: 'cluster',
    timeoutMs: 0,
    weightedClusters: [
      { name: 'stable', weight: 70 },
      { name: 'canary', weight: 20 },
      { name: 'off', weight: 0 },
      { name: 'shadow', weight: 10 },
    ],
  };
  const t = table([vhost('v', ['*'], [route({ prefix: '/' }, action)])]);
  const result = t.match(req('/'));
  const random = seeded(42);
  const counts = { stable: 0, canary: 0, off: 0, shadow: 0 };
  const n = 20000;
  for (let i = 0; i < n; i++) counts[pickCluster(result, random)]++;
  assert.equal(counts.off, 0);
  assert.ok(Math.abs(counts.stable / n - 0.7) < 0.02, JSON.stringify(counts));
  assert.ok(Math.abs(counts.canary / n - 0.2) < 0.02, JSON.stringify(counts));
  assert.ok(Math.abs(counts.shadow / n - 0.1) < 0.02, JSON.stringify(counts));
  // The edges of the draw land on the first and last non-zero clusters.
  assert.equal(pickCluster(result, () => 0), 'stable');
  assert.equal(pickCluster(result, () => 0.9999999), 'shadow');
});

test('a single-cluster route always picks its cluster', () => {
  const t = table([vhost('v', ['*'], [route({ prefix: '/' }, { kind: 'cluster', cluster: 'one', timeoutMs: 0 })])]);
  assert.equal(pickCluster(t.match(req('/'))), 'one');
});

test('prefix_rewrite replaces the matched prefix and keeps the query', () => {
  const action = { kind: 'cluster', cluster: 'c', timeoutMs: 0, prefixRewrite: '/v2/' };
  const t = table([vhost('v', ['*'], [route({ prefix: '/api/' }, action)])]);
  const r = t.match(req('/api/users?id=1'));
  assert.equal(rewritePath(r, '/api/users?id=1'), '/v2/users?id=1');
  assert.equal(rewritePath(r, '/api/'), '/v2/');
});

test('prefix_rewrite replaces the whole path of a path route and of a regex route', () => {
  const action = { kind: 'cluster', cluster: 'c', timeoutMs: 0, prefixRewrite: '/new' };
  const t = table([vhost('v', ['*'], [route({ path: '/old' }, action), route({ regex: '/re/[a-z]+' }, action)])]);
  assert.equal(rewritePath(t.match(req('/old?a=b')), '/old?a=b'), '/new?a=b');
  assert.equal(rewritePath(t.match(req('/re/abc?z')), '/re/abc?z'), '/new?z');
});

test('without prefix_rewrite the path is sent unchanged', () => {
  const t = table([vhost('v', ['*'], [route({ prefix: '/api' })])]);
  assert.equal(rewritePath(t.match(req('/api/x?y')), '/api/x?y'), '/api/x?y');
});

function redirectTable(action) {
  return table([vhost('v', ['*'], [route({ prefix: '/' }, { kind: 'redirect', responseCode: 301, ...action })])]);
}

test('a scheme redirect keeps host, path and query and drops the old default port', () => {
  const t = redirectTable({ schemeRedirect: 'https' });
  const at = (path, host) => redirectLocation(t.match(req(path, host)), req(path, host), 'http');
  assert.equal(at('/a/b?x=1', 'example.com'), 'https://example.com/a/b?x=1');
  assert.equal(at('/a', 'example.com:80'), 'https://example.com/a');
  assert.equal(at('/a', 'example.com:8080'), 'https://example.com:8080/a');
  assert.equal(at('/a', '[::1]:80'), 'https://[::1]/a');
});

test('a host redirect replaces host and port and keeps the scheme, path and query', () => {
  const t = redirectTable({ hostRedirect: 'new.example.com' });
  const r = req('/p?q=1', 'old.example.com:8080');
  assert.equal(redirectLocation(t.match(r), r, 'http'), 'http://new.example.com/p?q=1');
});

test('a path redirect keeps the request query unless it has its own', () => {
  const keep = redirectTable({ pathRedirect: '/new' });
  const r = req('/old?x=1', 'example.com');
  assert.equal(redirectLocation(keep.match(r), r, 'https'), 'https://example.com/new?x=1');
  const own = redirectTable({ pathRedirect: '/new?y=2' });
  assert.equal(redirectLocation(own.match(r), r, 'https'), 'https://example.com/new?y=2');
  const relative = redirectTable({ pathRedirect: 'rel' });
  const plain = req('/old', 'example.com');
  assert.equal(redirectLocation(relative.match(plain), plain, 'http'), 'http://example.com/rel');
});

test('scheme, host and path redirects combine', () => {
  const t = redirectTable({ schemeRedirect: 'https', hostRedirect: 'secure.example.com', pathRedirect: '/login' });
  const r = req('/signin?next=/home', 'example.com:80');
  assert.equal(redirectLocation(t.match(r), r, 'http'), 'https://secure.example.com/login?next=/home');
});

test('request mutations apply router config, then virtual host, then route, the most specific replace winning', () => {
  const r = route({ prefix: '/' }, undefined, {
    requestHeadersToAdd: [
      { key: 'X-Replaced', value: 'route', append: false },
      { key: 'X-Appended', value: 'route', append: true },
    ],
  });
  const v = vhost('v', ['*'], [r], {
    requestHeadersToAdd: [
      { key: 'x-replaced', value: 'vhost', append: false },
      { key: 'x-appended', value: 'vhost', append: true },
      { key: 'x-vhost-only', value: 'v', append: false },
    ],
  });
  const t = table([v], {
    requestHeadersToAdd: [
      { key: 'x-replaced', value: 'global', append: false },
      { key: 'x-appended', value: 'global', append: true },
    ],
  });
  const headers = ['Host', 'h', 'X-Replaced', 'client', 'X-Appended', 'client', 'X-Vhost-Only', 'client'];
  const out = applyRequestHeaderMutations(t.match(req('/')), headers);
  assert.equal(out, headers, 'applied in place');
  assert.deepEqual(out, [
    'Host', 'h',
    'X-Appended', 'client',
    'x-appended', 'global',
    'x-appended', 'vhost',
    'x-vhost-only', 'v',
    'X-Replaced', 'route',
    'X-Appended', 'route',
  ]);
});

test('a removal at a more specific level also removes what a less specific level added', () => {
  const r = route({ prefix: '/' }, undefined, { requestHeadersToRemove: ['x-debug'] });
  const t = table([vhost('v', ['*'], [r], { requestHeadersToAdd: [{ key: 'x-debug', value: '1', append: true }] })], {
    requestHeadersToRemove: ['x-internal'],
  });
  const out = applyRequestHeaderMutations(t.match(req('/')), ['X-Debug', '0', 'X-Internal', 'secret', 'Accept', '*/*']);
  assert.deepEqual(out, ['Accept', '*/*']);
});

test('an addition at a more specific level survives a removal at a less specific level', () => {
  const r = route({ prefix: '/' }, undefined, { responseHeadersToAdd: [{ key: 'server', value: 'mosnd', append: true }] });
  const t = table([vhost('v', ['*'], [r])], { responseHeadersToRemove: ['server'] });
  const out = applyResponseHeaderMutations(t.match(req('/')), ['Server', 'nginx', 'Content-Length', '0']);
  assert.deepEqual(out, ['Content-Length', '0', 'server', 'mosnd']);
});

test('request and response mutations are kept apart', () => {
  const r = route({ prefix: '/' }, undefined, {
    requestHeadersToAdd: [{ key: 'x-req', value: '1', append: false }],
    responseHeadersToRemove: ['x-powered-by'],
  });
  const t = table([vhost('v', ['*'], [r])]);
  const result = t.match(req('/'));
  assert.deepEqual(applyRequestHeaderMutations(result, ['X-Powered-By', 'a']), ['X-Powered-By', 'a', 'x-req', '1']);
  assert.deepEqual(applyResponseHeaderMutations(result, ['X-Powered-By', 'a', 'X-Req', '0']), ['X-Req', '0']);
});
