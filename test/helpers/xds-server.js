'use strict';
/**
 * A small xDS control plane for the tests: an ADS server (StreamAggregatedResources, state of
 * the world) written with @grpc/grpc-js, @grpc/proto-loader and the real Envoy v3 .proto files
 * vendored in proto/. Resources are given as plain objects in the .proto's shape (snake_case);
 * `any(type, obj)` packs a typed_config. Every stream is told each push of a type it subscribed
 * to; what the clients answer (ACK / NACK) is recorded.
 *
 *   const cp = await startControlPlane();
 *   cp.push({ cluster: [...], endpoint: [...], listener: [...], route: [...] });
 *   await cp.waitForAck('cluster', version);
 */
const path = require('node:path');
const fs = require('node:fs');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO = path.join(__dirname, '..', '..', 'proto');
const INCLUDES = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(PROTO, d));
const FILES = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
];

const TYPE = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
};
const KIND = Object.fromEntries(Object.entries(TYPE).map(([k, v]) => [v, k]));

// Message types for packing resources: protobufjs, as @grpc/proto-loader itself uses it.
const protobuf = require(require.resolve('protobufjs', { paths: [require.resolve('@grpc/proto-loader')] }));
let root;
function types() {
  if (root) return root;
  root = new protobuf.Root();
  const own = path.dirname(require.resolve('protobufjs', { paths: [require.resolve('@grpc/proto-loader')] }));
  root.resolvePath = (_o, target) => {
    for (const inc of [...INCLUDES, own]) {
      const p = path.join(inc, target);
      if (fs.existsSync(p)) return p;
    }
    return target;
  };
  root.loadSync(FILES, { keepCase: true });
  root.resolveAll();
  return root;
}

/** Packs `obj` as a google.protobuf.Any of the message type `typeName`. */
function any(typeName, obj) {
  const t = types().lookupType(typeName);
  const err = t.verify(t.fromObject(obj));
  if (err) throw new Error(`${typeName}: ${err}`);
  return { type_url: `type.googleapis.com/${typeName}`, value: Buffer.from(t.encode(t.fromObject(obj)).finish()) };
}

function nameOf(kind, r) {
  return kind === 'endpoint' ? r.cluster_name : r.name;
}

async function startControlPlane({ port = 0 } = {}) {
  const def = protoLoader.loadSync(FILES, { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true, includeDirs: INCLUDES });
  const pkg = grpc.loadPackageDefinition(def);
  const service = pkg.envoy.service.discovery.v3.AggregatedDiscoveryService.service;
  const cp = {
    port: 0,
    /** Current resources per kind (name -> object) and their version. */
    state: { listener: new Map(), route: new Map(), cluster: new Map(), endpoint: new Map() },
    versions: { listener: 0, route: 0, cluster: 0, endpoint: 0 },
    streams: new Set(),
    /** Every DiscoveryRequest received, in order, with the stream's node id. */
    requests: [],
    waiters: [],
    server: new grpc.Server(),
    nonce: 0,
    /** Replaces the resources of each kind given (state of the world) and sends them. */
    push(byKind) {
      const out = {};
      for (const [kind, list] of Object.entries(byKind)) {
        const m = new Map(list.map((r) => [nameOf(kind, r), r]));
        if (kind === 'route' || kind === 'endpoint') {
          for (const [n, r] of m) cp.state[kind].set(n, r);
        } else cp.state[kind] = m;
        cp.versions[kind]++;
        out[kind] = String(cp.versions[kind]);
      }
      // ADS order: clusters, endpoints, listeners, routes.
      for (const kind of ['cluster', 'endpoint', 'listener', 'route']) {
        if (!byKind[kind]) continue;
        for (const s of cp.streams) if (s.subs.has(kind)) send(s, kind);
      }
      return out;
    },
    /** Sends a response of `kind` built from raw Any resources (bad ones included). */
    pushRaw(kind, anys, version = `raw-${++cp.nonce}`) {
      for (const s of cp.streams) if (s.subs.has(kind)) write(s, kind, anys, version);
      return version;
    },
    /** Resolves with the first request (from now on or already received) matching pred. */
    waitForRequest(pred, timeoutMs = 20_000, since = 0) {
      const hit = cp.requests.slice(since).find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching DiscoveryRequest within ${timeoutMs} ms; got ${JSON.stringify(cp.requests.slice(-6).map(brief))}`)), timeoutMs);
        cp.waiters.push({ pred, resolve: (r) => (clearTimeout(timer), resolve(r)) });
      });
    },
    /** The ACK of `version` of `kind` (by every stream's node when nodes is given). */
    waitForAck(kind, version, { node, timeoutMs } = {}) {
      return cp.waitForRequest((r) => r.kind === kind && r.version_info === version && !r.error_detail && r.response_nonce !== '' && (!node || r.nodeId === node), timeoutMs);
    },
    waitForNack(kind, { node, timeoutMs, since = 0 } = {}) {
      return cp.waitForRequest((r) => r.kind === kind && r.error_detail && (!node || r.nodeId === node), timeoutMs, since);
    },
    close() {
      for (const s of cp.streams) s.call.destroy?.();
      cp.streams.clear();
      return new Promise((r) => cp.server.tryShutdown(() => r())).then(() => cp.server.forceShutdown());
    },
    kill() {
      cp.server.forceShutdown();
      cp.streams.clear();
    },
  };
  function write(s, kind, resources, version) {
    const nonce = String(++cp.nonce);
    s.sent.set(kind, nonce);
    s.call.write({ version_info: version, resources, type_url: TYPE[kind], nonce });
  }
  function send(s, kind) {
    const names = s.subs.get(kind);
    const all = [...cp.state[kind].values()];
    const picked = names.length === 0 && (kind === 'listener' || kind === 'cluster') ? all : all.filter((r) => names.includes(nameOf(kind, r)));
    const typeName = TYPE[kind].slice(TYPE[kind].lastIndexOf('/') + 1);
    write(s, kind, picked.map((r) => any(typeName, r)), String(cp.versions[kind]));
  }
  cp.server.addService(service, {
    StreamAggregatedResources(call) {
      const s = { call, subs: new Map(), sent: new Map(), node: '' };
      cp.streams.add(s);
      call.on('data', (req) => {
        if (req.node?.id) s.node = req.node.id;
        const kind = KIND[req.type_url];
        const r = { ...req, kind, nodeId: s.node, at: Date.now() };
        cp.requests.push(r);
        for (const w of [...cp.waiters]) {
          if (w.pred(r)) {
            cp.waiters.splice(cp.waiters.indexOf(w), 1);
            w.resolve(r);
          }
        }
        if (!kind) return;
        const names = [...(req.resource_names ?? [])].sort();
        const prev = s.subs.get(kind);
        s.subs.set(kind, names);
        const changed = !prev || prev.join('\n') !== names.join('\n');
        // Answer a new subscription (or a changed one); an ACK or NACK of the last response is not a request for more.
        if (cp.versions[kind] > 0 && (changed || req.response_nonce === '')) send(s, kind);
      });
      const done = () => cp.streams.delete(s);
      call.on('end', () => {
        done();
        call.end();
      });
      call.on('error', done);
      call.on('cancelled', done);
    },
  });
  cp.port = await new Promise((resolve, reject) =>
    cp.server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return cp;
}

function brief(r) {
  return { kind: r.kind, version: r.version_info, nonce: r.response_nonce, names: r.resource_names, error: r.error_detail?.message };
}

// ---- Istio-shaped resources ------------------------------------------------------------

const ROUTER = 'envoy.extensions.filters.http.router.v3.Router';
const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

function edsCluster(name, extra = {}) {
  return {
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name },
    connect_timeout: { seconds: 1 },
    lb_policy: 'ROUND_ROBIN',
    ...extra,
  };
}

/** endpoints: [{ address: '127.0.0.1:port', weight?, health?, priority? }] */
function assignment(name, endpoints) {
  const byPriority = new Map();
  for (const e of endpoints) {
    const p = e.priority ?? 0;
    if (!byPriority.has(p)) byPriority.set(p, []);
    const [host, port] = [e.address.slice(0, e.address.lastIndexOf(':')), Number(e.address.slice(e.address.lastIndexOf(':') + 1))];
    byPriority.get(p).push({
      endpoint: { address: { socket_address: { address: host, port_value: port } } },
      ...(e.weight ? { load_balancing_weight: { value: e.weight } } : {}),
      ...(e.health ? { health_status: e.health } : {}),
    });
  }
  return {
    cluster_name: name,
    endpoints: [...byPriority.entries()].map(([priority, lb_endpoints]) => ({ priority, lb_endpoints, locality: { region: 'test' } })),
  };
}

function httpListener(name, port, { rds, routeConfig, httpFilters = [], rdsInitialFetchTimeout } = {}) {
  const hcm = {
    stat_prefix: name,
    codec_type: 'AUTO',
    http_filters: [...httpFilters, { name: 'envoy.filters.http.router', typed_config: any(ROUTER, {}) }],
    ...(rds
      ? { rds: { route_config_name: rds, config_source: { ads: {}, resource_api_version: 'V3', ...(rdsInitialFetchTimeout ? { initial_fetch_timeout: rdsInitialFetchTimeout } : {}) } } }
      : { route_config: routeConfig }),
  };
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: any(HCM, hcm) }] }],
    traffic_direction: 'OUTBOUND',
  };
}

function tcpListener(name, port, cluster) {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: any('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', { stat_prefix: name, cluster }) }] }],
  };
}

/** routes: [{ prefix, cluster } | { prefix, weighted: [[cluster, weight], ...] }] */
function routeConfig(name, routes, domains = ['*']) {
  return {
    name,
    virtual_hosts: [
      {
        name: `${name}-vh`,
        domains,
        routes: routes.map((r) => ({
          match: { prefix: r.prefix ?? '/' },
          route: r.weighted
            ? { weighted_clusters: { clusters: r.weighted.map(([c, w]) => ({ name: c, weight: { value: w } })) }, timeout: { seconds: 5 } }
            : { cluster: r.cluster, timeout: { seconds: 5 } },
        })),
      },
    ],
  };
}

/** A mosnd config in Istio mode: bootstrap keys pointing at the control plane on `port`. */
function bootstrapConfig(port, { nodeId = 'sidecar~127.0.0.1~productpage-v1.default~default.svc.cluster.local', extra = {}, listeners = [], clusters = [], routers = [], initialFetchTimeout } = {}) {
  const source = { ads: {}, resource_api_version: 'V3', ...(initialFetchTimeout ? { initial_fetch_timeout: initialFetchTimeout } : {}) };
  return {
    servers: [{ default_log_path: 'stdout', default_log_level: 'INFO', graceful_timeout: '5s', listeners, routers }],
    ...(clusters.length ? { cluster_manager: { clusters } } : {}),
    node: { id: nodeId, cluster: 'productpage.default', metadata: { NAMESPACE: 'default', ISTIO_VERSION: '1.20.0' } },
    dynamic_resources: {
      ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] },
      lds_config: source,
      cds_config: source,
    },
    static_resources: {
      clusters: [
        {
          name: 'xds-grpc',
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: { cluster_name: 'xds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
          http2_protocol_options: {},
        },
      ],
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    ...extra,
  };
}

module.exports = { startControlPlane, any, edsCluster, assignment, httpListener, tcpListener, routeConfig, bootstrapConfig, TYPE };
