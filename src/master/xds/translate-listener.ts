/**
 * Listener (LDS) -> a MOSN listener with one filter chain: either an
 * envoy.filters.network.http_connection_manager (routes by RDS name, or inline) or an
 * envoy.filters.network.tcp_proxy. Several chains chosen by filter_chain_match (Istio's
 * inbound listeners) are rejected: serving one of them would send other traffic there.
 */
import type { Msg } from './protos';
import { durationMs, typeNameOf, unpack } from './protos';
import { Tx, at, checkFields, goDuration, reject, socketAddress, wrapped } from './translate-common';
import { translateRouteConfig } from './translate-route';

const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP_PROXY = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const ROUTER = 'envoy.extensions.filters.http.router.v3.Router';

/** HTTP filters that only observe (telemetry): skipping them cannot change where a request goes. */
const OBSERVING_HTTP_FILTERS = new Set(['istio.stats', 'istio.metadata_exchange', 'envoy.filters.http.grpc_stats', 'envoy.filters.http.grpc_web']);
/** Listener filters that only look at the first bytes, for filter chain matches mosnd rejects anyway. */
const INSPECTORS = new Set(['envoy.filters.listener.tls_inspector', 'envoy.filters.listener.http_inspector', 'envoy.filters.listener.original_dst']);

export interface TranslatedListener {
  name: string;
  mosn: Record<string, unknown>;
  /** The RDS route configuration this listener waits for, with its fetch timeout. */
  rds?: { name: string; initialFetchTimeoutMs?: number };
  /** An inline route_config, as a MOSN router config. */
  inlineRoutes?: Record<string, unknown>;
}

export function translateListener(l: Msg, path: string, tx: Tx): TranslatedListener {
  checkFields(l, path, tx, ['name', 'address', 'filter_chains', 'listener_filters', 'bind_to_port', 'use_original_dst', 'default_filter_chain'], {
    traffic_direction: 'descriptive',
    stat_prefix: 'statistics only',
    per_connection_buffer_limit_bytes: 'buffer sizes do not change where requests go',
    listener_filters_timeout: 'only used by listener filters, which mosnd does not run',
    continue_on_listener_filters_timeout: 'only used by listener filters, which mosnd does not run',
    access_log: 'mosnd logs requests through the listener\'s access_logs',
    socket_options: 'socket tuning',
    tcp_fast_open_queue_length: 'socket tuning',
    metadata: 'used by filters mosnd does not run',
    connection_balance_config: 'the kernel spreads connections over workers',
    enable_reuse_port: 'the master binds each listener once for all workers',
    drain_type: 'mosnd drains every connection the same way',
    ignore_global_conn_limit: 'mosnd has per-listener limits only',
  });
  const name = String(l.name ?? '');
  if (!name) reject(at(path, 'name'), 'is empty; expected the listener name');
  if (wrapped<boolean>(l.use_original_dst)) reject(at(path, 'use_original_dst'), 'connections would be handed to the listener of their original destination');
  (l.listener_filters ?? []).forEach((f: Msg, i: number) => {
    if (!INSPECTORS.has(String(f.name))) reject(at(at(path, 'listener_filters'), i), `"${f.name}" is not implemented by mosnd`);
    tx.warn(at(at(path, 'listener_filters'), i), `ignored: "${f.name}" only feeds filter chain matching, which mosnd does not do`);
  });
  const chains: Msg[] = [...(l.filter_chains ?? [])];
  if (l.default_filter_chain) chains.push(l.default_filter_chain);
  if (chains.length !== 1) reject(at(path, 'filter_chains'), `has ${chains.length} filter chains; mosnd serves exactly one (choosing by filter_chain_match is not implemented)`);
  const chainPath = l.default_filter_chain && (l.filter_chains ?? []).length === 0 ? at(path, 'default_filter_chain') : at(at(path, 'filter_chains'), 0);
  const chain = chains[0];
  checkFields(chain, chainPath, tx, ['filters', 'filter_chain_match', 'transport_socket'], { name: 'descriptive', metadata: 'used by filters mosnd does not run' });
  if (chain.filter_chain_match && Object.values(chain.filter_chain_match).some((v) => v !== undefined && !(Array.isArray(v) && v.length === 0))) {
    reject(at(chainPath, 'filter_chain_match'), 'choosing a chain by the connection is not implemented by mosnd');
  }
  if (chain.transport_socket && !String(chain.transport_socket.typed_config?.type_url ?? '').endsWith('.RawBuffer')) {
    reject(at(chainPath, 'transport_socket'), 'TLS for clients is not implemented by mosnd');
  }
  const filters: Msg[] = chain.filters ?? [];
  const main = filters.filter((f) => [HCM, TCP_PROXY].includes(typeNameOf(String(f.typed_config?.type_url ?? ''))));
  filters.forEach((f, i) => {
    if (main.includes(f)) return;
    reject(at(at(chainPath, 'filters'), i), `"${f.name}" is not implemented by mosnd; expected http_connection_manager or tcp_proxy`);
  });
  if (main.length !== 1) reject(at(chainPath, 'filters'), 'expected exactly one http_connection_manager or tcp_proxy filter');
  const fpath = at(at(at(chainPath, 'filters'), filters.indexOf(main[0])), 'typed_config');
  const cfg = unpack(main[0].typed_config);
  const base: Record<string, unknown> = {
    name,
    address: socketAddress(l.address, at(path, 'address')),
    ...(wrapped<boolean>(l.bind_to_port) === false ? { bind_port: false } : {}),
  };
  if (typeNameOf(String(main[0].typed_config.type_url)) === TCP_PROXY) return { name, mosn: { ...base, filter_chains: [{ filters: [tcpProxy(cfg, fpath, tx)] }] } };
  return hcm(cfg, fpath, name, base, tx);
}

function tcpProxy(t: Msg, path: string, tx: Tx): Record<string, unknown> {
  checkFields(t, path, tx, ['cluster', 'idle_timeout', 'stat_prefix'], {
    access_log: 'mosnd logs through the listener\'s access_logs',
    max_connect_attempts: 'mosnd tries the other hosts of the cluster when one refuses',
    hash_policy: 'only used by hash balancers, which mosnd rejects',
    metadata_match: 'subset balancing is not done by mosnd',
    max_downstream_connection_duration: 'connections end when either side closes',
  });
  if (!t.cluster) reject(path, 'has no cluster (weighted_clusters is not implemented by mosnd for tcp_proxy)');
  const idle = durationMs(t.idle_timeout);
  // Envoy's tcp_proxy idle timeout defaults to 1 hour; MOSN's idle_timeout is in nanoseconds.
  return { type: 'tcp_proxy', config: { cluster: String(t.cluster), idle_timeout: idle === undefined ? '1h' : goDuration(t.idle_timeout) } };
}

function hcm(h: Msg, path: string, name: string, base: Record<string, unknown>, tx: Tx): TranslatedListener {
  checkFields(h, path, tx, ['stat_prefix', 'codec_type', 'rds', 'route_config', 'http_filters', 'common_http_protocol_options', 'request_headers_timeout', 'normalize_path', 'merge_slashes', 'path_with_escaped_slashes_action'], {
    access_log: 'mosnd logs through the listener\'s access_logs',
    tracing: 'tracing only',
    use_remote_address: 'x-forwarded-for handling only',
    xff_num_trusted_hops: 'x-forwarded-for handling only',
    skip_xff_append: 'x-forwarded-for handling only',
    forward_client_cert_details: 'client certificates need TLS, which mosnd rejects',
    set_current_client_cert_details: 'client certificates need TLS, which mosnd rejects',
    generate_request_id: 'mosnd generates x-request-id when absent',
    preserve_external_request_id: 'mosnd keeps a request id given',
    server_name: 'the Server header only',
    server_header_transformation: 'the Server header only',
    stream_idle_timeout: 'connection_idle_timeout bounds stalled streams',
    request_timeout: 'request_headers_timeout and the route timeout bound requests',
    drain_timeout: 'mosnd drains within graceful_timeout',
    delayed_close_timeout: 'mosnd lingers its own way on close',
    http_protocol_options: 'HTTP/1.1 codec tuning',
    http2_protocol_options: 'HTTP/2 codec tuning (mosnd\'s limits apply)',
    upgrade_configs: 'WebSocket upgrades are always tunnelled by mosnd',
    add_user_agent: 'headers for upstreams only',
    via: 'headers only',
    internal_address_config: 'x-forwarded-for handling only',
    local_reply_config: 'the bodies of local answers only',
    max_request_headers_kb: 'mosnd has its own 64 KiB head limit',
  });
  if (h.scoped_routes) reject(at(path, 'scoped_routes'), 'scoped routes are not implemented by mosnd');
  if (wrapped<boolean>(h.normalize_path)) reject(at(path, 'normalize_path'), 'path normalization before routing is not implemented by mosnd');
  if (h.merge_slashes) reject(at(path, 'merge_slashes'), 'merging slashes before routing is not implemented by mosnd');
  const esc = h.path_with_escaped_slashes_action;
  if (esc && esc !== 'IMPLEMENTATION_SPECIFIC_DEFAULT' && esc !== 'KEEP_UNCHANGED') reject(at(path, 'path_with_escaped_slashes_action'), `${esc} is not implemented by mosnd`);
  const filters: Msg[] = h.http_filters ?? [];
  let router = false;
  filters.forEach((f, i) => {
    const url = typeNameOf(String(f.typed_config?.type_url ?? ''));
    const fname = String(f.name ?? '');
    if (url === ROUTER || fname === 'envoy.filters.http.router') {
      router = true;
      return;
    }
    if (OBSERVING_HTTP_FILTERS.has(fname)) {
      tx.warn(at(at(path, 'http_filters'), i), `ignored: "${fname}" only observes requests`);
      return;
    }
    if (wrapped<boolean>(f.is_optional) || f.is_optional === true) {
      tx.warn(at(at(path, 'http_filters'), i), `ignored: "${fname}" is optional and not implemented by mosnd`);
      return;
    }
    reject(at(at(path, 'http_filters'), i), `"${fname}" is not implemented by mosnd (it could answer or change requests itself)`);
  });
  if (!router) reject(at(path, 'http_filters'), 'has no envoy.filters.http.router; expected it last');
  const codec: Record<string, string> = { AUTO: 'Auto', HTTP1: 'Http1', HTTP2: 'Http2' };
  const downstream = codec[h.codec_type ?? 'AUTO'];
  if (!downstream) reject(at(path, 'codec_type'), `${h.codec_type} is not implemented by mosnd; expected AUTO, HTTP1 or HTTP2`);
  const listener: Record<string, unknown> = { ...base };
  const idle = h.common_http_protocol_options?.idle_timeout;
  if (h.common_http_protocol_options) {
    checkFields(h.common_http_protocol_options, at(path, 'common_http_protocol_options'), tx, ['idle_timeout'], {
      max_connection_duration: 'connections end when idle or when either side closes',
      max_headers_count: 'mosnd has its own header count limit',
      max_stream_duration: 'the route timeout bounds requests',
      headers_with_underscores_action: 'header names are passed as sent',
      max_requests_per_connection: 'clients may send as many requests as they like',
    });
  }
  if (idle && (durationMs(idle) ?? 0) > 0) listener.connection_idle_timeout = goDuration(idle);
  if (h.request_headers_timeout && (durationMs(h.request_headers_timeout) ?? 0) > 0) listener.request_headers_timeout = goDuration(h.request_headers_timeout);
  let routeName: string;
  const out: TranslatedListener = { name, mosn: listener };
  if (h.rds) {
    checkFields(h.rds, at(path, 'rds'), tx, ['config_source', 'route_config_name']);
    const src = h.rds.config_source ?? {};
    if (!src.ads) reject(at(at(path, 'rds'), 'config_source'), 'expected "ads": routes over the ADS stream (the only source mosnd reads)');
    routeName = String(h.rds.route_config_name);
    out.rds = { name: routeName, initialFetchTimeoutMs: durationMs(src.initial_fetch_timeout) };
  } else if (h.route_config) {
    // An inline route config lives with its listener: named after it so that it cannot clash.
    routeName = `${name}/inline`;
    out.inlineRoutes = translateRouteConfig(h.route_config, at(path, 'route_config'), tx, routeName);
  } else {
    return reject(path, 'has neither rds nor route_config');
  }
  listener.filter_chains = [{ filters: [{ type: 'proxy', config: { downstream_protocol: downstream, upstream_protocol: 'Http1', router_config_name: routeName } }] }];
  return out;
}
