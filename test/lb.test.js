'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  createLoadBalancer,
  RoundRobinBalancer,
  RandomBalancer,
  SmoothWeightedBalancer,
  LeastRequestBalancer,
} = require('../dist/worker/lb');

function hosts(spec) {
  return spec.map(([name, weight = 1, healthy = true, activeRequests = 0]) => ({ name, weight, healthy, activeRequests }));
}

const { seeded } = require('./helpers/random');

function names(lb, n, exclude) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(lb.pick(exclude)?.name);
  return out;
}

function counts(lb, n) {
  const c = {};
  for (let i = 0; i < n; i++) {
    const h = lb.pick();
    c[h.name] = (c[h.name] ?? 0) + 1;
  }
  return c;
}

const ALL_TYPES = ['ROUNDROBIN', 'RANDOM', 'WEIGHTED_ROUNDROBIN', 'LEAST_REQUEST'];

test('createLoadBalancer builds the policy named by the lb type', () => {
  const hs = hosts([['a']]);
  assert.ok(createLoadBalancer('ROUNDROBIN', hs) instanceof RoundRobinBalancer);
  assert.ok(createLoadBalancer('RANDOM', hs) instanceof RandomBalancer);
  assert.ok(createLoadBalancer('WEIGHTED_ROUNDROBIN', hs) instanceof SmoothWeightedBalancer);
  assert.ok(createLoadBalancer('LEAST_REQUEST', hs) instanceof LeastRequestBalancer);
  assert.throws(() => createLoadBalancer('MAGLEV', hs), TypeError);
});

test('round robin cycles through the hosts in list order', () => {
  const lb = new RoundRobinBalancer(hosts([['a'], ['b', 5], ['c']]));
  assert.deepEqual(names(lb, 7), ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
});

test('round robin skips a host while it is unhealthy and takes it back when it recovers', () => {
  const hs = hosts([['a'], ['b'], ['c']]);
  const lb = new RoundRobinBalancer(hs);
  hs[1].healthy = false;
  assert.deepEqual(names(lb, 4), ['a', 'c', 'a', 'c']);
  hs[1].healthy = true;
  assert.deepEqual(names(lb, 3), ['a', 'b', 'c']);
});

test('smooth weighted round robin interleaves 5:1:1 like nginx', () => {
  const lb = new SmoothWeightedBalancer(hosts([['a', 5], ['b', 1], ['c', 1]]));
  assert.deepEqual(names(lb, 14), ['a', 'a', 'b', 'a', 'c', 'a', 'a', 'a', 'a', 'b', 'a', 'c', 'a', 'a']);
});

test('smooth weighted round robin picks each host exactly its weight times per cycle, alternating equal weights', () => {
  const lb = new SmoothWeightedBalancer(hosts([['a', 3], ['b', 2], ['c', 7], ['d', 1]]));
  for (let cycle = 0; cycle < 3; cycle++) assert.deepEqual(counts(lb, 13), { a: 3, b: 2, c: 7, d: 1 });
  const even = new SmoothWeightedBalancer(hosts([['x', 4], ['y', 4]]));
  assert.deepEqual(names(even, 6), ['x', 'y', 'x', 'y', 'x', 'y']);
});

test('smooth weighted round robin spreads the heavy host evenly across a cycle', () => {
  const lb = new SmoothWeightedBalancer(hosts([['a', 2], ['b', 1]]));
  assert.deepEqual(names(lb, 6), ['a', 'b', 'a', 'a', 'b', 'a']);
});

test('smooth weighted round robin shares the cycle among the healthy hosts only', () => {
  const hs = hosts([['a', 2], ['b', 1], ['c', 3]]);
  const lb = new SmoothWeightedBalancer(hs);
  hs[2].healthy = false;
  assert.deepEqual(counts(lb, 30), { a: 20, b: 10 });
});

test('random picks hosts roughly uniformly and ignores weights', () => {
  const lb = new RandomBalancer(hosts([['a', 1], ['b', 10], ['c', 1], ['d', 1]]), seeded(7));
  const n = 20000;
  const c = counts(lb, n);
  for (const k of ['a', 'b', 'c', 'd']) assert.ok(Math.abs(c[k] / n - 0.25) < 0.02, JSON.stringify(c));
});

test('random stays uniform over the healthy hosts when some are down', () => {
  const lb = new RandomBalancer(hosts([['a'], ['b', 1, false], ['c'], ['d', 1, false], ['e']]), seeded(3));
  const n = 15000;
  const c = counts(lb, n);
  assert.deepEqual(Object.keys(c).sort(), ['a', 'c', 'e']);
  for (const k of ['a', 'c', 'e']) assert.ok(Math.abs(c[k] / n - 1 / 3) < 0.02, JSON.stringify(c));
});

test('least request picks the less loaded of two hosts', () => {
  const hs = hosts([['busy', 1, true, 10], ['idle', 1, true, 0]]);
  const lb = new LeastRequestBalancer(hs, seeded(1));
  assert.deepEqual(counts(lb, 200), { idle: 200 });
  hs[0].activeRequests = 0;
  hs[1].activeRequests = 3;
  assert.deepEqual(counts(lb, 200), { busy: 200 });
});

test('least request with equal weights never picks the most loaded host and favours the idle one', () => {
  const hs = hosts([['a', 1, true, 0], ['b', 1, true, 5], ['c', 1, true, 5], ['d', 1, true, 9]]);
  const lb = new LeastRequestBalancer(hs, seeded(11));
  const n = 12000;
  const c = counts(lb, n);
  assert.equal(c.d, undefined);
  // Two distinct draws out of four: the idle host is one of them half of the time.
  assert.ok(Math.abs(c.a / n - 0.5) < 0.02, JSON.stringify(c));
});

test('least request with unequal weights shares idle traffic by weight and shifts it away from load', () => {
  const hs = hosts([['heavy', 3, true, 0], ['light', 1, true, 0]]);
  const lb = new LeastRequestBalancer(hs, seeded(5));
  const n = 20000;
  let c = counts(lb, n);
  assert.ok(Math.abs(c.heavy / n - 0.75) < 0.02, JSON.stringify(c));
  // heavy: 3 / (5 + 1) = 0.5, light: 1 / (0 + 1) = 1  ->  one third to heavy.
  hs[0].activeRequests = 5;
  c = counts(lb, n);
  assert.ok(Math.abs(c.heavy / n - 1 / 3) < 0.02, JSON.stringify(c));
});

for (const type of ALL_TYPES) {
  test(`${type} returns undefined when every host is unhealthy`, () => {
    const hs = hosts([['a', 2], ['b', 1]]);
    const lb = createLoadBalancer(type, hs);
    hs[0].healthy = false;
    hs[1].healthy = false;
    assert.equal(lb.pick(), undefined);
    assert.equal(lb.pick(hs[0]), undefined);
    hs[1].healthy = true;
    assert.equal(lb.pick().name, 'b');
  });

  test(`${type} never returns an unhealthy host`, () => {
    const hs = hosts([['a', 1, false], ['b', 3], ['c', 2, false], ['d', 1]]);
    const lb = createLoadBalancer(type, hs);
    for (const name of names(lb, 200)) assert.ok(name === 'b' || name === 'd', name);
  });

  test(`${type} avoids the excluded host while another healthy host exists`, () => {
    const hs = hosts([['a', 4], ['b', 1], ['c', 1, false]]);
    const lb = createLoadBalancer(type, hs);
    assert.deepEqual(new Set(names(lb, 50, hs[0])), new Set(['b']));
    assert.deepEqual(new Set(names(lb, 50, hs[1])), new Set(['a']));
  });

  test(`${type} returns the excluded host when it is the only healthy one`, () => {
    const hs = hosts([['a'], ['b', 1, false]]);
    const lb = createLoadBalancer(type, hs);
    assert.equal(lb.pick(hs[0]), hs[0]);
    const stranger = hosts([['z']])[0];
    assert.equal(createLoadBalancer(type, [hs[1]]).pick(stranger), undefined, 'a host of another list is not returned');
  });

  test(`${type} keeps its host list when the caller's array changes`, () => {
    const hs = hosts([['a'], ['b']]);
    const lb = createLoadBalancer(type, hs);
    hs.length = 0;
    assert.ok(['a', 'b'].includes(lb.pick().name));
  });
}
