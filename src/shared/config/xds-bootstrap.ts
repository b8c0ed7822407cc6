/**
 * The Envoy-bootstrap keys a MOSN file carries in Istio mode: `node`, `dynamic_resources`
 * (ADS over gRPC, xDS v3, LDS and CDS through ADS) and `static_resources` (the control
 * plane's cluster). Validated here with the same schema tools as the rest of the file; the
 * xDS client itself lives in src/master/xds/ and is loaded only when this is set.
 */
import type { MosndConfig, XdsConfig } from './model';
import { Ctx, Infer, any, array, boolean, duration, enumOf, integer, joinPath, object, pathOf, show, string } from './schema';
import { isValidHost } from './address';
import { DEFAULT_XDS_CONNECT_TIMEOUT_MS, DEFAULT_XDS_INITIAL_FETCH_TIMEOUT_MS } from '../constants';
import * as os from 'node:os';

const UNSUPPORTED_SOURCE = 'resources would be read from somewhere else than the ADS stream';

/** A ConfigSource: mosnd gets every resource over the one ADS stream. */
export const configSource = object(
  {
    ads: object({}).optional(),
    resource_api_version: enumOf(['V3'], { notImplemented: ['AUTO', 'V2'] }).optional(),
    initial_fetch_timeout: duration().optional(),
  },
  {
    notImplemented: ['authorities'],
    unsupported: { path: UNSUPPORTED_SOURCE, path_config_source: UNSUPPORTED_SOURCE, api_config_source: UNSUPPORTED_SOURCE, self: UNSUPPORTED_SOURCE },
  },
);

const grpcService = object(
  {
    envoy_grpc: object({ cluster_name: string({ nonEmpty: true }) }, { notImplemented: ['authority', 'retry_policy', 'max_receive_message_length'] }),
    timeout: duration().optional(),
  },
  { notImplemented: ['initial_metadata', 'retry_policy'], unsupported: { google_grpc: 'the Google C++ gRPC client is not part of mosnd; use envoy_grpc' } },
);

const adsConfig = object(
  {
    api_type: enumOf(['GRPC'], { notImplemented: ['DELTA_GRPC', 'AGGREGATED_GRPC', 'AGGREGATED_DELTA_GRPC', 'REST'] }),
    transport_api_version: enumOf(['V3'], { notImplemented: ['AUTO', 'V2'] }).optional(),
    grpc_services: array(grpcService),
    set_node_on_first_message_only: boolean().optional(),
  },
  { notImplemented: ['rate_limit_settings', 'refresh_delay', 'request_timeout', 'config_validators'] },
);

const dynamicResources = object(
  {
    ads_config: adsConfig,
    lds_config: configSource.optional(),
    cds_config: configSource.optional(),
  },
  { notImplemented: ['lds_resources_locator', 'cds_resources_locator'] },
);

const socketAddress = object(
  {
    address: string().refine((h) => isValidHost(h) || /^[A-Za-z0-9.-]+$/.test(h), 'is not a valid host', 'an IP address or a host name'),
    port_value: integer({ min: 1, max: 65535 }),
  },
  { notImplemented: ['protocol', 'ipv4_compat', 'resolver_name'] },
);

const lbEndpoint = object({ endpoint: object({ address: object({ socket_address: socketAddress }) }) }, { notImplemented: ['health_status', 'load_balancing_weight', 'metadata'] });

/** The control plane's cluster, in Envoy's shape (HTTP/2 is what gRPC speaks anyway). */
const staticCluster = object(
  {
    name: string({ nonEmpty: true }),
    type: enumOf(['STATIC', 'STRICT_DNS', 'LOGICAL_DNS']).optional(),
    connect_timeout: duration().optional(),
    load_assignment: object(
      { cluster_name: string().optional(), endpoints: array(object({ lb_endpoints: array(lbEndpoint) }, { notImplemented: ['locality', 'priority', 'load_balancing_weight'] })) },
      { notImplemented: ['policy'] },
    ),
    http2_protocol_options: any().optional(),
    typed_extension_protocol_options: any().optional(),
  },
  {
    notImplemented: ['lb_policy', 'circuit_breakers', 'upstream_connection_options', 'dns_lookup_family', 'dns_refresh_rate', 'max_requests_per_connection'],
    unsupported: { transport_socket: 'the control plane would be reached over TLS, which mosnd does not implement yet' },
  },
);

const staticResources = object(
  { clusters: array(staticCluster).default([]) },
  {
    notImplemented: ['secrets'],
    unsupported: { listeners: 'Envoy-shaped static listeners would be served; give static listeners in servers[0].listeners' },
  },
);

const nodeSchema = object(
  { id: string().optional(), cluster: string().optional(), metadata: any().optional() },
  { notImplemented: ['locality', 'user_agent_name', 'user_agent_version', 'user_agent_build_version', 'extensions', 'client_features', 'listening_addresses'] },
);

export const bootstrapShape = {
  node: nodeSchema.optional(),
  dynamic_resources: dynamicResources.optional(),
  static_resources: staticResources.optional(),
};

type RawBootstrap = { [K in keyof typeof bootstrapShape]?: Infer<(typeof bootstrapShape)[K]> };

/** The normalized xDS settings, or undefined without `dynamic_resources`. */
export function normalizeXds(raw: RawBootstrap, ctx: Ctx): XdsConfig | undefined {
  const dyn = raw.dynamic_resources;
  if (!dyn) {
    if (raw.static_resources) ctx.warn(pathOf(raw.static_resources), 'ignored without dynamic_resources: mosnd uses static_resources only to reach the control plane');
    return undefined;
  }
  const services = dyn.ads_config.grpc_services;
  const at = joinPath(pathOf(dyn.ads_config), 'grpc_services');
  if (services.length === 0) {
    ctx.error(at, 'is empty; expected one envoy_grpc service naming the control plane cluster');
    return undefined;
  }
  if (services.length > 1) ctx.warn(joinPath(at, 1), 'only the first gRPC service is used (as Envoy does for ADS), ignored');
  const name = services[0].envoy_grpc.cluster_name;
  const cluster = raw.static_resources?.clusters.find((c) => c.name === name);
  if (!cluster) {
    // MOSN files often carry an ads_config left from a template: served statically, as before.
    ctx.warn(
      joinPath(joinPath(joinPath(at, 0), 'envoy_grpc'), 'cluster_name'),
      `${show(name)} is not a cluster of static_resources.clusters, so there is no control plane to reach: dynamic_resources is ignored and only the static config is served`,
    );
    return undefined;
  }
  const addresses = cluster.load_assignment.endpoints.flatMap((e) => e.lb_endpoints.map((l) => l.endpoint.address.socket_address));
  if (addresses.length === 0) {
    ctx.error(joinPath(pathOf(cluster.load_assignment), 'endpoints'), 'has no endpoint; expected the control plane\'s address');
    return undefined;
  }
  for (const [key, src] of [['lds_config', dyn.lds_config], ['cds_config', dyn.cds_config]] as const) {
    if (src && !src.ads) ctx.error(joinPath(pathOf(dyn), key), 'has no "ads": {}; expected resources through the ADS stream');
  }
  const node = raw.node;
  const timeout = (s: typeof dyn.lds_config) => s?.initial_fetch_timeout ?? DEFAULT_XDS_INITIAL_FETCH_TIMEOUT_MS;
  return {
    node: {
      id: node?.id || `mosnd~${os.hostname()}`,
      cluster: node?.cluster ?? '',
      metadata: (node?.metadata ?? {}) as Record<string, unknown>,
    },
    server: {
      cluster: name,
      addresses: addresses.map((a) => ({ host: a.address, port: a.port_value })),
      connectTimeoutMs: cluster.connect_timeout ?? DEFAULT_XDS_CONNECT_TIMEOUT_MS,
    },
    lds: dyn.lds_config !== undefined,
    cds: dyn.cds_config !== undefined,
    ldsInitialFetchTimeoutMs: timeout(dyn.lds_config),
    cdsInitialFetchTimeoutMs: timeout(dyn.cds_config),
  };
}

/** Applies the CLI's --service-node / --service-cluster (what Istio's agent passes). */
export function withNodeOverrides(config: MosndConfig, node: { id?: string; cluster?: string }): MosndConfig {
  if (!config.xds) return config;
  return { ...config, xds: { ...config.xds, node: { ...config.xds.node, ...(node.id ? { id: node.id } : {}), ...(node.cluster ? { cluster: node.cluster } : {}) } } };
}
