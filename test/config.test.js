'use strict';

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const { parseDuration, formatDuration } = require('../dist/shared/duration.js');
const {
  parseConfig,
  loadConfigFile,
  loadConfigOrThrow,
  formatIssue,
  DEFAULT_CONFIG_PATH,
} = require('../dist/shared/config/load.js');
const { MosndError } = require('../dist/shared/errors.js');

const FIXTURES = path.join(__dirname, 'fixtures', 'configs');

/** A small valid MOSN config: one HTTP listener routing to one cluster. */
function base() {
  return {
    servers: [
      {
        default_log_path: 'stdout',
        routers: [
          {
            router_config_name: 'r1',
            virtual_hosts: [
              {
                name: 'vh',
                domains: ['*'],
                routers: [{ match: { prefix: '/' }, route: { cluster_name: 'c1' } }],
              },
            ],
          },
        ],
        listeners: [
          {
            name: 'http',
            address: '127.0.0.1:2045',
            bind_port: true,
            filter_chains: [
              { filters: [{ type: 'proxy', config: { downstream_protocol: 'Http1', router_config_name: 'r1' } }] },
            ],
          },
        ],
      },
    ],
    cluster_manager: {
      clusters: [{ name: 'c1', type: 'SIMPLE', lb_type: 'LB_ROUNDROBIN', hosts: [{ address: '127.0.0.1:8080' }] }],
    },
  };
}

function parse(doc) {
  return parseConfig(typeof doc === 'string' ? doc : JSON.stringify(doc), '/test/config.json');
}

const server = (d) => d.servers[0];
const listener = (d, i = 0) => d.servers[0].listeners[i];
const route = (d, i = 0) => d.servers[0].routers[0].virtual_hosts[0].routers[i];
const cluster = (d, i = 0) => d.cluster_manager.clusters[i];
const ROUTE = 'servers[0].routers[0].virtual_hosts[0].routers[0]';

/** Asserts the config is rejected with a problem at exactly `at` whose message contains `text`. */
function assertProblem(result, at, text) {
  const lines = result.errors.map(formatIssue);
  assert.equal(result.config, undefined, 'a config with errors must not be returned');
  const hit = result.errors.find((e) => e.path === at && e.message.includes(text));
  assert.ok(hit, `expected a problem at ${at} containing ${JSON.stringify(text)}; got:\n${lines.join('\n')}`);
  assert.ok(formatIssue(hit).startsWith(`${at}: `));
}

function assertWarning(result, at, text) {
  const hit = result.warnings.find((w) => w.path === at && w.message.includes(text));
  assert.ok(hit, `expected a warning at ${at} containing ${JSON.stringify(text)}; got:\n${result.warnings.map(formatIssue).join('\n')}`);
}

describe('durations', () => {
  test('parses Go-style durations into milliseconds', () => {
    assert.equal(parseDuration('15s'), 15000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1m30s'), 90000);
    assert.equal(parseDuration('1.5h'), 5_400_000);
    assert.equal(parseDuration('100us'), 0.1);
    assert.equal(parseDuration('3µs'), 0.003);
    assert.equal(parseDuration('2ns'), 0.000002);
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('.5s'), 500);
    assert.equal(parseDuration('-2s'), -2000);
  });

  test('rejects what Go rejects: missing units, empty strings, stray text', () => {
    for (const bad of ['15', '1.5', '', 's', '1h0', '10 s', '1d', 'abc', '.s']) {
      assert.equal(parseDuration(bad), undefined, bad);
    }
  });

  test('formats milliseconds the way Go prints durations', () => {
    assert.equal(formatDuration(90000), '1m30s');
    assert.equal(formatDuration(1500), '1.5s');
    assert.equal(formatDuration(250), '250ms');
    assert.equal(formatDuration(0.1), '100us');
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(5_400_000), '1h30m0s');
    assert.equal(parseDuration(formatDuration(3_723_500)), 3_723_500);
  });
});

describe('rejected configs name the JSON path of each problem', () => {
  test('rejects a listener address without a port, saying what was expected', () => {
    const d = base();
    listener(d).address = '127.0.0.1';
    const r = parse(d);
    assert.deepEqual(r.errors.map(formatIssue), [
      'servers[0].listeners[0].address: "127.0.0.1" is not a valid address; expected "host:port" such as "0.0.0.0:2045"',
    ]);
  });

  test('rejects a listener without an address', () => {
    const d = base();
    delete listener(d).address;
    assertProblem(parse(d), 'servers[0].listeners[0].address', 'missing; expected "host:port"');
  });

  test('rejects a duration without a unit, as a string or a number', () => {
    const d = base();
    server(d).graceful_timeout = '30';
    route(d).route.timeout = 30;
    const r = parse(d);
    assertProblem(r, 'servers[0].graceful_timeout', '"30" is not a valid duration; expected a duration such as "15s"');
    assertProblem(r, `${ROUTE}.route.timeout`, '30 is not a valid duration (a number needs a unit)');
  });

  test('rejects a zero connect timeout', () => {
    const d = base();
    cluster(d).connect_timeout = '0s';
    assertProblem(parse(d), 'cluster_manager.clusters[0].connect_timeout', '"0s" is zero');
  });

  test('rejects a route to a cluster that does not exist, listing the known ones', () => {
    const d = base();
    route(d).route.cluster_name = 'nope';
    assertProblem(parse(d), `${ROUTE}.route.cluster_name`, '"nope" is not a known cluster; expected one of "c1"');
  });

  test('rejects a weighted cluster that does not exist', () => {
    const d = base();
    route(d).route = {
      weighted_clusters: [{ cluster: { name: 'c1', weight: 80 } }, { cluster: { name: 'ghost', weight: 20 } }],
    };
    assertProblem(parse(d), `${ROUTE}.route.weighted_clusters[1].cluster.name`, '"ghost" is not a known cluster');
  });

  test('rejects weighted clusters whose weights are all zero, but allows a parked cluster beside a live one', () => {
    const d = base();
    cluster(d, 1);
    d.cluster_manager.clusters.push({ name: 'c2', hosts: [{ address: '127.0.0.1:8081' }] });
    route(d).route = { weighted_clusters: [{ cluster: { name: 'c1', weight: 0 } }, { cluster: { name: 'c2', weight: 0 } }] };
    assertProblem(parse(d), `${ROUTE}.route.weighted_clusters`, 'only weights of 0; expected at least one weight >= 1');

    route(d).route.weighted_clusters[1].cluster.weight = 5;
    const ok = parse(d);
    assert.deepEqual(ok.errors, []);
    assert.deepEqual(ok.config.routers[0].virtualHosts[0].routes[0].action.weightedClusters, [
      { name: 'c1', weight: 0 },
      { name: 'c2', weight: 5 },
    ]);
  });

  test('rejects a proxy filter naming a router config that does not exist', () => {
    const d = base();
    listener(d).filter_chains[0].filters[0].config.router_config_name = 'r9';
    assertProblem(
      parse(d),
      'servers[0].listeners[0].filter_chains[0].filters[0].config.router_config_name',
      '"r9" is not a known router config; expected one of "r1"',
    );
  });

  test('rejects a tcp_proxy to a cluster that does not exist', () => {
    const d = base();
    listener(d).filter_chains[0].filters = [{ type: 'tcp_proxy', config: { cluster: 'db' } }];
    assertProblem(parse(d), 'servers[0].listeners[0].filter_chains[0].filters[0].config.cluster', '"db" is not a known cluster');
  });

  test('rejects tcp_proxy routes that split connections across clusters by address', () => {
    const d = base();
    d.cluster_manager.clusters.push({ name: 'c2', hosts: [{ address: '127.0.0.1:8081' }] });
    listener(d).filter_chains[0].filters = [
      {
        type: 'tcp_proxy',
        config: { routes: [{ cluster: 'c1', source_addrs: ['10.0.0.0/8'] }, { cluster: 'c2' }] },
      },
    ];
    assertProblem(parse(d), 'servers[0].listeners[0].filter_chains[0].filters[0].config.routes', 'by address, which is not implemented');
  });

  test('rejects two listeners with the same name', () => {
    const d = base();
    server(d).listeners.push({ ...structuredClone(listener(d)), address: '127.0.0.1:2046' });
    assertProblem(parse(d), 'servers[0].listeners[1].name', '"http" is already the name of servers[0].listeners[0]');
  });

  test('rejects two listeners on overlapping addresses (a wildcard host takes the port on every interface)', () => {
    const d = base();
    server(d).listeners.push({ ...structuredClone(listener(d)), name: 'http2', address: '0.0.0.0:2045' });
    assertProblem(parse(d), 'servers[0].listeners[1].address', '"0.0.0.0:2045" overlaps the address of servers[0].listeners[0]');
  });

  test('rejects an admin port already taken by a listener', () => {
    const d = base();
    d.admin = { address: { socket_address: { address: '127.0.0.1', port_value: 2045 } } };
    assertProblem(parse(d), 'admin.address.socket_address.port_value', 'overlaps the address of servers[0].listeners[0]');
  });

  test('rejects two clusters with the same name', () => {
    const d = base();
    d.cluster_manager.clusters.push(structuredClone(cluster(d)));
    assertProblem(parse(d), 'cluster_manager.clusters[1].name', '"c1" is already the name of cluster_manager.clusters[0]');
  });

  test('rejects two different router configs with the same name, but tolerates an identical copy', () => {
    const d = base();
    server(d).routers.push(structuredClone(server(d).routers[0]));
    assert.deepEqual(parse(d).errors, []);
    server(d).routers[1].virtual_hosts[0].domains = ['other.example.com'];
    assertProblem(parse(d), 'servers[0].routers[1].router_config_name', '"r1" is already the name of servers[0].routers[0]');
  });

  test('rejects a listener with both a proxy and a tcp_proxy filter', () => {
    const d = base();
    listener(d).filter_chains[0].filters.push({ type: 'tcp_proxy', config: { cluster: 'c1' } });
    assertProblem(parse(d), 'servers[0].listeners[0].filter_chains[0].filters', 'has 2 "proxy"/"tcp_proxy" filters; expected exactly one');
  });

  test('rejects a listener whose only filter mosnd does not implement, and says why in a warning', () => {
    const d = base();
    listener(d).filter_chains[0].filters = [{ type: 'x_proxy', config: {} }];
    const r = parse(d);
    assertProblem(r, 'servers[0].listeners[0].filter_chains[0].filters', 'has no "proxy" or "tcp_proxy" filter');
    assertWarning(r, 'servers[0].listeners[0].filter_chains[0].filters[0].type', 'network filter "x_proxy" is not implemented by mosnd yet');
  });

  test('rejects a path regex that does not compile', () => {
    const d = base();
    route(d).match = { regex: '^/(api' };
    assertProblem(parse(d), `${ROUTE}.match.regex`, '"^/(api" is not a valid regular expression');
  });

  test('rejects a header-match regex that does not compile', () => {
    const d = base();
    route(d).match.headers = [{ name: 'x-version', value: '[0-9', regex: true }];
    assertProblem(parse(d), `${ROUTE}.match.headers[0].value`, 'is not a valid regular expression');
  });

  test('rejects a header name that is not an HTTP token', () => {
    const d = base();
    route(d).route.request_headers_to_add = [{ header: { key: 'bad header', value: 'v' } }];
    assertProblem(parse(d), `${ROUTE}.route.request_headers_to_add[0].header.key`, '"bad header" is not a valid header name');
  });

  test('rejects a direct response status outside 100-599', () => {
    const d = base();
    route(d).route = undefined;
    route(d).direct_response = { status: 700, body: 'x' };
    assertProblem(parse(d), `${ROUTE}.direct_response.status`, '700 is out of range; expected an HTTP status from 100 to 599');
  });

  test('rejects a redirect code that is not a redirect', () => {
    const d = base();
    delete route(d).route;
    route(d).redirect = { response_code: 305, path_redirect: '/x' };
    assertProblem(parse(d), `${ROUTE}.redirect.response_code`, '305 is not a redirect status; expected one of 301, 302, 303, 307, 308');
  });

  test('rejects a load balancer MOSN has but mosnd does not, listing the supported ones', () => {
    const d = base();
    cluster(d).lb_type = 'LB_MAGLEV';
    assertProblem(
      parse(d),
      'cluster_manager.clusters[0].lb_type',
      '"LB_MAGLEV" is not implemented by mosnd yet; expected one of "LB_ROUNDROBIN", "LB_RANDOM", "LB_WEIGHTED_ROUNDROBIN", "LB_LEAST_REQUEST"',
    );
    cluster(d).lb_type = 'LB_FASTEST';
    assertProblem(parse(d), 'cluster_manager.clusters[0].lb_type', '"LB_FASTEST" is not supported; expected one of');
  });

  test('rejects TLS turned on with a certificate file that cannot be read, naming its JSON path', () => {
    const d = base();
    listener(d).filter_chains[0].tls_context = { status: true, cert_chain: '/nonexistent/c.pem', private_key: '/nonexistent/k.pem' };
    assertProblem(parse(d), 'servers[0].listeners[0].filter_chains[0].tls_context.cert_chain', 'cannot be read (/nonexistent/c.pem: ENOENT)');
  });

  test('rejects a host address with an impossible port and a host weight outside MOSN range', () => {
    const d = base();
    cluster(d).hosts = [{ address: '10.0.0.1:70000' }, { address: '10.0.0.2:80', weight: 0 }];
    const r = parse(d);
    assertProblem(r, 'cluster_manager.clusters[0].hosts[0].address', '"10.0.0.1:70000" is not a valid address; expected "host:port"');
    assertProblem(r, 'cluster_manager.clusters[0].hosts[1].weight', '0 is out of range; expected an integer from 1 to 128');
  });

  test('rejects a route with no action, and a route with two', () => {
    const d = base();
    route(d).route = {};
    assertProblem(parse(d), ROUTE, 'has no action; expected "route" with cluster_name or weighted_clusters');
    route(d).route = { cluster_name: 'c1' };
    route(d).direct_response = { status: 200 };
    assertProblem(parse(d), ROUTE, 'has both route and direct_response; expected exactly one action');
  });

  test('rejects a match that sets both prefix and path', () => {
    const d = base();
    route(d).match = { prefix: '/a', path: '/a/b' };
    assertProblem(parse(d), `${ROUTE}.match`, 'sets prefix and path; expected only one of prefix, path, regex');
  });

  test('rejects match conditions mosnd would otherwise drop (they would widen the route)', () => {
    const d = base();
    route(d).match.variables = [{ name: 'x-mosn-method', value: 'GET' }];
    assertProblem(parse(d), `${ROUTE}.match.variables`, 'is not implemented by mosnd yet: ignoring these conditions would send more requests');
  });

  test('rejects protocols mosnd does not speak, naming the path', () => {
    const d = base();
    listener(d).filter_chains[0].filters[0].config.upstream_protocol = 'dubbo';
    assertProblem(
      parse(d),
      'servers[0].listeners[0].filter_chains[0].filters[0].config.upstream_protocol',
      '"dubbo" is not implemented by mosnd yet; expected one of "Http1", "Http2", "Auto"',
    );
    const d2 = base();
    listener(d2).filter_chains[0].filters[0].config.downstream_protocol = 'bolt';
    assertProblem(
      parse(d2),
      'servers[0].listeners[0].filter_chains[0].filters[0].config.downstream_protocol',
      '"bolt" is not implemented by mosnd yet; expected one of "Http1", "Http2", "Auto"',
    );
  });

  test('the upstream protocol follows the downstream one when unset or Auto (MOSN), and Http2 is accepted', () => {
    const cases = [
      // [downstream, upstream in the file, resolved]
      ['Http2', undefined, 'Http2'],
      ['http2', 'Auto', 'Http2'],
      ['Auto', undefined, 'Auto'],
      ['Http1', undefined, 'Http1'],
      ['Http1', 'Auto', 'Http1'],
      ['Http1', 'Http2', 'Http2'],
      ['Http2', 'Http1', 'Http1'],
      ['Auto', 'Http2', 'Http2'],
    ];
    for (const [down, up, want] of cases) {
      const d = base();
      const cfg = listener(d).filter_chains[0].filters[0].config;
      cfg.downstream_protocol = down;
      if (up === undefined) delete cfg.upstream_protocol;
      else cfg.upstream_protocol = up;
      const r = parse(d);
      assert.deepEqual(r.errors, [], `${down} → ${up}`);
      assert.deepEqual(r.warnings, [], `${down} → ${up}`);
      assert.equal(r.config.listeners[0].downstreamProtocol, down === 'http2' ? 'Http2' : down);
      assert.equal(r.config.listeners[0].upstreamProtocol, want, `${down} → ${up}`);
    }
  });

  test('rejects malformed domains and a domain claimed by two virtual hosts', () => {
    const d = base();
    const vhosts = server(d).routers[0].virtual_hosts;
    vhosts[0].domains = ['api.*.com', 'Example.com'];
    vhosts.push({ name: 'vh2', domains: ['example.COM'], routers: [{ match: { prefix: '/' }, route: { cluster_name: 'c1' } }] });
    const r = parse(d);
    assertProblem(r, 'servers[0].routers[0].virtual_hosts[0].domains[0]', '"api.*.com" is not a valid domain');
    assertProblem(r, 'servers[0].routers[0].virtual_hosts[1].domains[0]', '"example.COM" is already a domain of servers[0].routers[0].virtual_hosts[0]');
  });

  test('rejects an unknown log level and values of the wrong JSON type', () => {
    const d = base();
    server(d).default_log_level = 'VERBOSE';
    cluster(d).hosts = { address: '127.0.0.1:8080' };
    listener(d).bind_port = 'yes';
    const r = parse(d);
    assertProblem(r, 'servers[0].default_log_level', '"VERBOSE" is not supported; expected one of "TRACE", "DEBUG"');
    assertProblem(r, 'cluster_manager.clusters[0].hosts', '{"address":"127.0.0.1:8080"} is not an array');
    assertProblem(r, 'servers[0].listeners[0].bind_port', '"yes" is not a boolean; expected true or false');
  });

  test('rejects a document without servers, and one that is not an object', () => {
    assertProblem(parse({ cluster_manager: { clusters: [] } }), 'servers', 'missing');
    assertProblem(parse({ servers: [] }), 'servers', 'is empty; expected one server');
    const r = parse('[1, 2]');
    assert.equal(r.errors.length, 1);
    assert.match(formatIssue(r.errors[0]), /^\[1,2\] is not an object; expected a MOSN v2 configuration object$/);
  });

  test('reports JSON syntax errors with line and column', () => {
    const r = parse('{\n  "servers": [\n    { "listeners": [] }\n  ]\n  "admin": {}\n}\n');
    assert.equal(r.config, undefined);
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0].message, /^invalid JSON at line 5, column 3: /);
    assert.match(parse('{"servers": [').errors[0].message, /^invalid JSON at line 1, column 14: unexpected end of input$/);
  });

  test('keeps the original index in paths after an invalid item before it was dropped', () => {
    const d = base();
    server(d).listeners.unshift({ name: 'broken' }); // no address: invalid, dropped
    listener(d, 1).filter_chains[0].filters[0].config.router_config_name = 'missing';
    const r = parse(d);
    assertProblem(r, 'servers[0].listeners[0].address', 'missing');
    assertProblem(r, 'servers[0].listeners[1].filter_chains[0].filters[0].config.router_config_name', '"missing" is not a known router config');
  });

  test('reports every problem of a file at once, schema and cross-check problems alike', () => {
    const d = base();
    listener(d).address = 'localhost';
    server(d).graceful_timeout = 'soon';
    route(d).route.cluster_name = 'nope';
    cluster(d).lb_type = 'LB_MAGLEV';
    cluster(d).hosts.push({ address: 'nohost' });
    server(d).routers[0].virtual_hosts[0].routers.push({ match: { regex: '(' }, route: { cluster_name: 'c1' } });
    const r = parse(d);
    assert.deepEqual(r.errors.map((e) => e.path).sort(), [
      'cluster_manager.clusters[0].hosts[1].address',
      'cluster_manager.clusters[0].lb_type',
      'servers[0].graceful_timeout',
      'servers[0].listeners[0].address',
      'servers[0].routers[0].virtual_hosts[0].routers[0].route.cluster_name',
      'servers[0].routers[0].virtual_hosts[0].routers[1].match.regex',
    ]);
  });
});

describe('warnings: a real MOSN file loads, and nothing is ignored silently', () => {
  test('warns about an unknown key by its path, even with an empty value, and still loads', () => {
    const d = base();
    listener(d).log_path = 'stdout';
    cluster(d).hosts[0].colour = ''; // even an empty unknown key is reported
    const r = parse(d);
    assert.deepEqual(r.errors, []);
    assert.ok(r.config);
    assertWarning(r, 'servers[0].listeners[0].log_path', 'unknown key, ignored');
    assertWarning(r, 'cluster_manager.clusters[0].hosts[0].colour', 'unknown key, ignored');
  });

  test('warns about keys MOSN has and mosnd does not implement yet, but not when they are left at zero values', () => {
    const d = base();
    d.tracing = { enable: true, driver: 'SkyWalking' };
    listener(d).access_logs = [{ log_path: '/var/log/mosnd/access.log', log_format: '%start_time%' }];
    listener(d).inspector = false;
    listener(d).stream_filters = [];
    cluster(d).conn_buffer_limit_bytes = 0;
    const r = parse(d);
    assert.ok(r.config);
    assertWarning(r, 'tracing', 'not implemented by mosnd yet, ignored');
    assertWarning(r, 'servers[0].listeners[0].access_logs[0].log_format', 'not implemented by mosnd yet, ignored');
    assert.equal(r.warnings.length, 2, r.warnings.map(formatIssue).join('\n'));
  });

  test('serves only the first server and says so', () => {
    const d = base();
    d.servers.push(structuredClone(d.servers[0]));
    const r = parse(d);
    assert.ok(r.config);
    assertWarning(r, 'servers[1]', 'only servers[0] is served');
  });

  test('accepts a cluster without hosts (503 at run time) with a warning', () => {
    const d = base();
    cluster(d).hosts = [];
    const r = parse(d);
    assert.ok(r.config);
    assert.deepEqual(r.config.clusters[0].hosts, []);
    assertWarning(r, 'cluster_manager.clusters[0].hosts', 'no hosts: requests routed to this cluster get 503');
  });

  test('matches keys case-insensitively like Go, and warns about a key given twice', () => {
    const d = base();
    cluster(d).Name = cluster(d).name;
    delete cluster(d).name;
    const r = parse(d);
    assert.equal(r.config.clusters[0].name, 'c1');
    cluster(d).name = 'other';
    assertWarning(parse(d), 'cluster_manager.clusters[0].name', 'duplicate of key "Name", ignored');
  });

  test('keeps a listener with bind_port false in the config, marked unbound, without a warning', () => {
    const d = base();
    listener(d).bind_port = false;
    const r = parse(d);
    assert.equal(r.config.listeners[0].bindPort, false);
    assert.equal(r.warnings.filter((w) => w.path.endsWith('bind_port')).length, 0);
  });
});

describe('normalized values', () => {
  test('the built-in default config is valid, warning-free, and answers directly on 127.0.0.1:2045', () => {
    assert.ok(fs.existsSync(DEFAULT_CONFIG_PATH), DEFAULT_CONFIG_PATH);
    const r = loadConfigFile(DEFAULT_CONFIG_PATH);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.warnings, []);
    const [l] = r.config.listeners;
    assert.deepEqual([l.host, l.port, l.kind], ['127.0.0.1', 2045, 'http']);
    const action = r.config.routers[0].virtualHosts[0].routes[0].action;
    assert.equal(action.kind, 'direct');
    assert.equal(action.status, 200);
    assert.match(action.body, /^mosnd is running/);
    assert.deepEqual(r.config.admin, { host: '127.0.0.1', port: 34901 });
    assert.equal(r.config.source, DEFAULT_CONFIG_PATH);
  });

  test('applies MOSN and Envoy defaults to a minimal config', () => {
    const r = parse(base());
    assert.deepEqual(r.errors, []);
    const c = r.config;
    assert.equal(c.logPath, 'stdout');
    assert.equal(c.logLevel, 'info');
    assert.equal(c.gracefulTimeoutMs, 30000);
    assert.equal(c.admin, undefined);
    assert.equal(c.prometheusPort, undefined);
    const [cl] = c.clusters;
    assert.equal(cl.lbType, 'ROUNDROBIN');
    assert.equal(cl.connectTimeoutMs, 3000);
    assert.equal(cl.maxRequestPerConn, 1024);
    assert.equal(cl.idleTimeoutMs, 60000);
    assert.ok(cl.maxIdlePerHost > 0);
    assert.deepEqual(cl.circuitBreakers, { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });
    assert.equal(cl.healthCheck, undefined);
    assert.deepEqual(cl.hosts, [{ address: '127.0.0.1:8080', host: '127.0.0.1', port: 8080, weight: 1 }]);
    const rt = c.routers[0].virtualHosts[0].routes[0];
    assert.deepEqual(rt.match, { prefix: '/', headers: [] });
    assert.deepEqual(rt.action, { kind: 'cluster', cluster: 'c1', timeoutMs: 15000 });
  });

  test('names a listener after its address when it has no name, and maps ":port" to every interface', () => {
    const d = base();
    delete listener(d).name;
    listener(d).address = ':2045';
    const r = parse(d);
    assert.equal(r.config.listeners[0].name, ':2045');
    assert.equal(r.config.listeners[0].host, '0.0.0.0');
  });

  test('accepts MOSN log level names in any case', () => {
    for (const [given, want] of [['DEBUG', 'debug'], ['Warn', 'warn'], ['error', 'error'], ['TRACE', 'trace'], ['fatal', 'fatal']]) {
      const d = base();
      server(d).default_log_level = given;
      assert.equal(parse(d).config.logLevel, want);
    }
  });

  test('normalizes the HTTP proxy fixture: durations in ms, lb types, lower-cased wildcard domains, header rules', () => {
    const r = loadConfigFile(path.join(FIXTURES, 'http-weighted.json'));
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.warnings, []);
    const c = r.config;
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.gracefulTimeoutMs, 45000);
    assert.equal(c.pidFile, '/run/mosnd/mosnd.pid');
    assert.equal(c.udsDir, '/run/mosnd');
    assert.equal(c.prometheusPort, 34902);
    const router = c.routers[0];
    assert.deepEqual(router.requestHeadersToAdd, [{ key: 'x-via-mosnd', value: '1', append: false }]);
    const [shop, fallback] = router.virtualHosts;
    assert.deepEqual(shop.domains, ['shop.example.com', '*.shop.example.com']);
    assert.deepEqual(shop.responseHeadersToRemove, ['x-powered-by']);
    assert.deepEqual(fallback.domains, ['*']);
    const [canary, weighted, redirect, staticFiles] = shop.routes;
    assert.deepEqual(canary.match.headers, [{ name: 'x-canary', value: '^(1|true)$', regex: true }]);
    assert.deepEqual(canary.action, {
      kind: 'cluster',
      cluster: 'shop_canary',
      timeoutMs: 2500,
      retry: { retryOn: true, retryTimeoutMs: 500, numRetries: 2 },
    });
    assert.deepEqual(weighted.action.weightedClusters, [
      { name: 'shop_stable', weight: 90 },
      { name: 'shop_canary', weight: 10 },
    ]);
    assert.equal(weighted.action.prefixRewrite, '/v2/api');
    assert.equal(weighted.action.hostRewrite, 'shop.internal');
    assert.deepEqual(weighted.requestHeadersToAdd, [{ key: 'x-route', value: 'weighted', append: true }]);
    assert.deepEqual(weighted.requestHeadersToRemove, ['cookie2']);
    assert.deepEqual(redirect.action, { kind: 'redirect', responseCode: 308, pathRedirect: '/' });
    assert.equal(redirect.match.path, '/old-home');
    assert.equal(staticFiles.match.regex, '^/static/.*\\.(css|js)$');
    assert.deepEqual(fallback.routes[0].action, { kind: 'direct', status: 404, body: 'unknown host\n' });

    const [stable, canaryCluster] = c.clusters;
    assert.equal(stable.lbType, 'WEIGHTED_ROUNDROBIN');
    assert.equal(stable.connectTimeoutMs, 1000);
    assert.equal(stable.idleTimeoutMs, 90000);
    assert.equal(stable.maxRequestPerConn, 0);
    assert.deepEqual(stable.circuitBreakers, { maxConnections: 200, maxPendingRequests: 100, maxRequests: 400, maxRetries: 5 });
    assert.deepEqual(stable.healthCheck, { timeoutMs: 1000, intervalMs: 5000, healthyThreshold: 2, unhealthyThreshold: 3, httpPath: '/healthz' });
    assert.deepEqual(stable.hosts.map((h) => h.weight), [3, 1]);
    assert.equal(canaryCluster.lbType, 'LEAST_REQUEST');
    assert.equal(canaryCluster.connectTimeoutMs, 3000);
  });

  test('normalizes the TCP proxy fixture: idle timeouts, IPv6 listener, DNS-named host, TCP health check', () => {
    const r = loadConfigFile(path.join(FIXTURES, 'tcp-proxy.json'));
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.warnings, []);
    const [redis, pg] = r.config.listeners;
    assert.deepEqual(redis, {
      name: 'redis_proxy', host: '127.0.0.1', port: 6380, bindPort: true, kind: 'tcp', tcpCluster: 'redis', tcpIdleTimeoutMs: 600000,
    });
    assert.deepEqual([pg.host, pg.port, pg.tcpCluster, pg.tcpIdleTimeoutMs], ['::1', 6432, 'postgres', 0]);
    assert.equal(r.config.logPath, '/var/log/mosnd/default.log');
    assert.equal(r.config.logLevel, 'debug');
    assert.deepEqual(r.config.clusters[0].healthCheck, { timeoutMs: 1000, intervalMs: 2000, healthyThreshold: 1, unhealthyThreshold: 2 });
    assert.deepEqual(r.config.clusters[1].hosts[0], { address: 'db.internal:5432', host: 'db.internal', port: 5432, weight: 1 });
  });

  test('reads a tcp_proxy idle_timeout given as Go nanoseconds, as MOSN declares it', () => {
    const d = base();
    listener(d).filter_chains[0].filters = [{ type: 'tcp_proxy', config: { cluster: 'c1', idle_timeout: 90e9 } }];
    assert.equal(parse(d).config.listeners[0].tcpIdleTimeoutMs, 90000);
  });

  test('loads a real MOSN example with warnings for tracing, stream filters, dynamic_resources and the like', () => {
    const r = loadConfigFile(path.join(FIXTURES, 'mosn-real-example.json'));
    assert.deepEqual(r.errors, []);
    for (const [at, text] of [
      ['tracing', 'not implemented'],
      ['dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name', 'dynamic_resources is ignored'],
      ['extends', 'not implemented'],
      ['pprof', 'not implemented'],
      ['servers[0].listeners[0].stream_filters[0].type', 'stream filter "fault" is not implemented by mosnd yet'],
      ['servers[0].listeners[0].access_logs[0].log_format', 'not implemented'],
      ['cluster_manager.clusters[0].lb_subset_config', 'not implemented'],
      ['metrics.flush_interval', 'unknown key'],
    ]) {
      assertWarning(r, at, text);
    }
    const c = r.config;
    assert.deepEqual(c.clusters.map((x) => x.name), ['serverCluster', 'clientCluster']);
    // The router defined inside a connection_manager filter (older MOSN files) is used.
    assert.deepEqual(c.routers.map((x) => x.name), ['server_router', 'client_router']);
    assert.equal(c.listeners[1].downstreamProtocol, 'Auto');
    // No upstream_protocol there: each stream's own protocol (MOSN's rule), no warning.
    assert.equal(c.listeners[1].upstreamProtocol, 'Auto');
    assert.ok(!r.warnings.some((w) => w.path.startsWith('servers[0].listeners[1].filter_chains')), 'no warning about its protocols');
    assert.equal(c.admin.host, '0.0.0.0');
    assert.equal(c.prometheusPort, 34903);
  });

  test('reads MOSN\'s whole health_check: interval_jitter, and http_check_config port and timeout', () => {
    const d = base();
    cluster(d).health_check = {
      protocol: 'Http1',
      timeout: '2s',
      interval: '10s',
      interval_jitter: '500ms',
      healthy_threshold: 2,
      unhealthy_threshold: 3,
      check_config: { http_check_config: { path: '/status', port: 9090, timeout: '800ms' } },
    };
    const r = parse(d);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(r.config.clusters[0].healthCheck, {
      timeoutMs: 800, // the shorter of the two: in MOSN the first to expire fails the check
      intervalMs: 10000,
      intervalJitterMs: 500,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      httpPath: '/status',
      httpPort: 9090,
    });
  });

  test('keeps health_check.timeout when http_check_config.timeout is longer, and port 0 means the host\'s own port', () => {
    const d = base();
    cluster(d).health_check = {
      timeout: '1s',
      check_config: { http_check_config: { path: '/h', port: 0, timeout: '30s' } },
    };
    const hc = parse(d).config.clusters[0].healthCheck;
    assert.equal(hc.timeoutMs, 1000);
    assert.equal(hc.httpPath, '/h');
    assert.equal('httpPort' in hc, false);
    assert.equal('intervalJitterMs' in hc, false);
  });

  test('warns that http_check_config port and timeout are ignored by a TCP check', () => {
    const d = base();
    cluster(d).health_check = { protocol: 'TCP', check_config: { http_check_config: { path: '/h', port: 9090, timeout: '1s' } } };
    const r = parse(d);
    const at = 'cluster_manager.clusters[0].health_check.check_config.http_check_config';
    assertWarning(r, `${at}.port`, 'ignored: the check is a TCP connect check');
    assertWarning(r, `${at}.timeout`, 'ignored: the check is a TCP connect check');
    assert.deepEqual(r.config.clusters[0].healthCheck, { timeoutMs: 1000, intervalMs: 15000, healthyThreshold: 1, unhealthyThreshold: 2 });
  });

  test('rejects a health check port out of range and a negative interval_jitter', () => {
    const d = base();
    cluster(d).health_check = { interval_jitter: '-1s', check_config: { http_check_config: { path: '/h', port: 70000 } } };
    const r = parse(d);
    assertProblem(r, 'cluster_manager.clusters[0].health_check.check_config.http_check_config.port', 'out of range');
    assertProblem(r, 'cluster_manager.clusters[0].health_check.interval_jitter', 'negative');
  });

  test('reads outlier_detection with Envoy defaults, and max_ejection_time never below base_ejection_time', () => {
    const d = base();
    cluster(d).outlier_detection = {};
    let r = parse(d);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.config.clusters[0].outlierDetection, {
      consecutive5xx: 5,
      consecutiveGatewayFailure: 0,
      intervalMs: 10000,
      baseEjectionTimeMs: 30000,
      maxEjectionTimeMs: 300000,
      maxEjectionPercent: 10,
    });
    cluster(d).outlier_detection = {
      consecutive_5xx: 3,
      consecutive_gateway_failure: 2,
      interval: '1s',
      base_ejection_time: '10m',
      max_ejection_time: '1m',
      max_ejection_percent: 50,
    };
    r = parse(d);
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(r.config.clusters[0].outlierDetection, {
      consecutive5xx: 3,
      consecutiveGatewayFailure: 2,
      intervalMs: 1000,
      baseEjectionTimeMs: 600000,
      maxEjectionTimeMs: 600000,
      maxEjectionPercent: 50,
    });
    assert.equal('outlierDetection' in parse(base()).config.clusters[0], false, 'off unless configured');
  });

  test('rejects outlier_detection values that make no sense, by path, and warns about Envoy keys mosnd does not implement', () => {
    const d = base();
    cluster(d).outlier_detection = { consecutive_5xx: 0, base_ejection_time: '0s', max_ejection_percent: 101, interval: 'soon' };
    const r = parse(d);
    const at = 'cluster_manager.clusters[0].outlier_detection';
    assertProblem(r, `${at}.consecutive_5xx`, '0');
    assertProblem(r, `${at}.base_ejection_time`, 'is zero');
    assertProblem(r, `${at}.max_ejection_percent`, '101');
    assertProblem(r, `${at}.interval`, 'not a valid duration');
    const w = base();
    cluster(w).outlier_detection = { success_rate_stdev_factor: 1900 };
    assertWarning(parse(w), `${at}.success_rate_stdev_factor`, 'not implemented');
  });

  test('produces plain JSON data that survives a round trip (it is sent to workers over IPC)', () => {
    const { config } = loadConfigFile(path.join(FIXTURES, 'http-weighted.json'));
    assert.deepEqual(JSON.parse(JSON.stringify(config)), config);
  });
});

describe('loading files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosnd-config-test-'));
  const write = (name, text) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  test('loadConfigOrThrow returns the config and its warnings', () => {
    const d = base();
    d.tracing = { enable: true };
    const { config, warnings } = loadConfigOrThrow(write('ok.json', JSON.stringify(d)));
    assert.equal(config.listeners.length, 1);
    assert.equal(warnings.length, 1);
  });

  test('loadConfigOrThrow throws MOSND_ERR_CONFIG_INVALID with one detail line per problem', () => {
    const d = base();
    listener(d).address = 'x';
    route(d).route.cluster_name = 'nope';
    const file = write('bad.json', JSON.stringify(d));
    assert.throws(
      () => loadConfigOrThrow(file),
      (e) => {
        assert.ok(e instanceof MosndError);
        assert.equal(e.code, 'MOSND_ERR_CONFIG_INVALID');
        assert.equal(e.message, `${file}: 2 problems`);
        assert.equal(e.details.length, 2);
        assert.ok(e.details.every((line) => /^servers\[0\]\.\S+: /.test(line)), e.details.join('\n'));
        assert.match(e.describe(), /\[MOSND_ERR_CONFIG_INVALID\]\n {2}- servers\[0\]/);
        return true;
      },
    );
  });

  test('a missing file and broken JSON get their own error codes', () => {
    const missing = path.join(dir, 'nope.json');
    assert.throws(() => loadConfigOrThrow(missing), (e) => e.code === 'MOSND_ERR_CONFIG_READ' && /ENOENT/.test(e.details[0]));
    const r = loadConfigFile(missing);
    assert.equal(r.config, undefined);
    assert.match(r.errors[0].message, /^cannot read .*nope\.json: ENOENT$/);
    const broken = write('broken.json', '{ "servers": [ }');
    assert.throws(() => loadConfigOrThrow(broken), (e) => e.code === 'MOSND_ERR_CONFIG_JSON' && e.message === `${broken}: 1 problem`);
  });

  test('records the absolute path of the file as the config source', () => {
    const file = write('src.json', JSON.stringify(base()));
    const rel = path.relative(process.cwd(), file);
    assert.equal(loadConfigFile(rel).config.source, file);
  });
});
