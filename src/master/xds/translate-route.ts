/**
 * RouteConfiguration (RDS, or an HCM's inline route_config) -> a MOSN router config.
 * Envoy matches a regex against the whole value; MOSN (and mosnd) search in it, so every
 * Envoy regex is anchored here: `^(?:re)$`.
 */
import type { Msg } from './protos';
import { Tx, at, checkFields, goDuration, reject, wrapped } from './translate-common';

const ROUTE_IGNORED: Record<string, string> = {
  name: 'descriptive',
  decorator: 'tracing only',
  metadata: 'used by filters mosnd does not run',
  typed_per_filter_config: 'configures HTTP filters mosnd does not run',
  tracing: 'tracing only',
  stat_prefix: 'statistics only',
};

export function translateRouteConfig(rc: Msg, path: string, tx: Tx, name = String(rc.name ?? '')): Record<string, unknown> {
  checkFields(rc, path, tx, ['name', 'virtual_hosts', ...HEADER_KEYS], {
    validate_clusters: 'a route to an unknown cluster answers 503, as Envoy does without validation',
    most_specific_header_mutations_wins: 'header order only',
    max_direct_response_body_size_bytes: 'a limit on bodies mosnd serves whole',
    ignore_port_in_host_matching: 'mosnd matches domains without the port',
    typed_per_filter_config: 'configures HTTP filters mosnd does not run',
  });
  if ((rc.vhds ?? undefined) !== undefined) reject(at(path, 'vhds'), 'VHDS is not implemented by mosnd');
  return {
    router_config_name: name,
    virtual_hosts: (rc.virtual_hosts ?? []).map((vh: Msg, i: number) => virtualHost(vh, at(at(path, 'virtual_hosts'), i), tx)),
    ...headerMutations(rc, path, tx),
  };
}

function virtualHost(vh: Msg, path: string, tx: Tx): Record<string, unknown> {
  checkFields(vh, path, tx, ['name', 'domains', 'routes', ...HEADER_KEYS], {
    typed_per_filter_config: 'configures HTTP filters mosnd does not run',
    include_request_attempt_count: 'a header for upstreams only',
    include_attempt_count_in_response: 'a header for clients only',
    cors: 'the CORS filter is not run (requests are routed the same)',
    metadata: 'used by filters mosnd does not run',
    retry_policy: 'see the route\'s own retry_policy',
    hedge_policy: 'hedging is not done by mosnd',
    per_request_buffer_limit_bytes: 'buffer sizes do not change where requests go',
  });
  return {
    name: String(vh.name ?? ''),
    domains: (vh.domains ?? []).map(String),
    routers: (vh.routes ?? []).map((r: Msg, i: number) => route(r, at(at(path, 'routes'), i), tx)),
    ...headerMutations(vh, path, tx),
  };
}

function route(r: Msg, path: string, tx: Tx): Record<string, unknown> {
  checkFields(r, path, tx, ['match', 'route', 'redirect', 'direct_response', ...HEADER_KEYS], ROUTE_IGNORED);
  const out: Record<string, unknown> = { match: match(r.match ?? {}, at(path, 'match'), tx), ...headerMutations(r, path, tx) };
  if (r.route) out.route = action(r.route, at(path, 'route'), tx);
  else if (r.redirect) out.redirect = redirect(r.redirect, at(path, 'redirect'), tx);
  else if (r.direct_response) {
    const d = r.direct_response;
    checkFields(d, at(path, 'direct_response'), tx, ['status', 'body']);
    const body = d.body ?? {};
    checkFields(body, at(at(path, 'direct_response'), 'body'), tx, ['inline_string']);
    out.direct_response = { status: Number(d.status), body: String(body.inline_string ?? '') };
  } else reject(path, 'has no route, redirect or direct_response action implemented by mosnd');
  return out;
}

/** Regular expressions in Envoy match the whole value; MOSN searches: anchor them. */
const whole = (re: string) => `^(?:${re})$`;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function match(m: Msg, path: string, tx: Tx): Record<string, unknown> {
  checkFields(m, path, tx, ['prefix', 'path', 'safe_regex', 'headers', 'case_sensitive'], {});
  if (wrapped<boolean>(m.case_sensitive) === false) reject(at(path, 'case_sensitive'), 'case-insensitive paths are not implemented by mosnd');
  const out: Record<string, unknown> = {};
  if (m.prefix !== undefined) out.prefix = m.prefix;
  else if (m.path !== undefined) out.path = m.path;
  else if (m.safe_regex) out.regex = whole(String(m.safe_regex.regex));
  else reject(path, 'has no prefix, path or safe_regex (path_separated_prefix and path_match_policy are not implemented by mosnd)');
  const headers = (m.headers ?? []).map((h: Msg, i: number) => header(h, at(at(path, 'headers'), i), tx));
  if (headers.length) out.headers = headers;
  return out;
}

function header(h: Msg, path: string, tx: Tx): Record<string, unknown> {
  checkFields(h, path, tx, ['name', 'exact_match', 'safe_regex_match', 'prefix_match', 'suffix_match', 'contains_match', 'string_match'], {});
  const name = String(h.name);
  const sm = h.string_match;
  if (sm) {
    checkFields(sm, at(path, 'string_match'), tx, ['exact', 'prefix', 'suffix', 'safe_regex', 'contains']);
    if (sm.ignore_case) reject(at(at(path, 'string_match'), 'ignore_case'), 'case-insensitive header matching is not implemented by mosnd');
  }
  const exact = h.exact_match ?? sm?.exact;
  if (exact !== undefined) return { name, value: String(exact), regex: false };
  const re = h.safe_regex_match?.regex ?? sm?.safe_regex?.regex;
  if (re !== undefined) return { name, value: whole(String(re)), regex: true };
  const prefix = h.prefix_match ?? sm?.prefix;
  if (prefix !== undefined) return { name, value: `^${escape(String(prefix))}`, regex: true };
  const suffix = h.suffix_match ?? sm?.suffix;
  if (suffix !== undefined) return { name, value: `${escape(String(suffix))}$`, regex: true };
  const contains = h.contains_match ?? sm?.contains;
  if (contains !== undefined) return { name, value: escape(String(contains)), regex: true };
  return reject(path, 'this header matcher (present_match, range_match, invert_match) is not implemented by mosnd');
}

function action(a: Msg, path: string, tx: Tx): Record<string, unknown> {
  checkFields(a, path, tx, ['cluster', 'weighted_clusters', 'timeout', 'retry_policy', 'prefix_rewrite', 'host_rewrite_literal'], {
    hash_policy: 'only used by hash balancers, which mosnd rejects',
    max_stream_duration: 'the route timeout bounds requests',
    idle_timeout: 'the route timeout bounds requests',
    request_mirror_policies: 'mirrored copies are not sent; the request itself goes where it would',
    upgrade_configs: 'WebSocket upgrades are always tunnelled by mosnd',
    max_grpc_timeout: 'the route timeout bounds requests',
    cluster_not_found_response_code: 'an unknown cluster answers 503',
    priority: 'routing priority of connection pools only',
    include_vh_rate_limits: 'rate limiting is not done by mosnd',
    rate_limits: 'rate limiting is not done by mosnd',
    hedge_policy: 'hedging is not done by mosnd',
    internal_redirect_policy: 'redirects are passed to the client',
    append_x_forwarded_host: 'a header for upstreams only',
  });
  const out: Record<string, unknown> = {};
  if (a.cluster) out.cluster_name = String(a.cluster);
  else if (a.weighted_clusters) {
    const wc = a.weighted_clusters;
    checkFields(wc, at(path, 'weighted_clusters'), tx, ['clusters', 'total_weight'], { runtime_key_prefix: 'runtime overrides are not read by mosnd' });
    out.weighted_clusters = (wc.clusters ?? []).map((c: Msg, i: number) => {
      checkFields(c, at(at(at(path, 'weighted_clusters'), 'clusters'), i), tx, ['name', 'weight', ...HEADER_KEYS], { typed_per_filter_config: 'configures HTTP filters mosnd does not run' });
      return { cluster: { name: String(c.name), weight: wrapped<number>(c.weight) ?? 0 } };
    });
  } else reject(path, 'has no cluster or weighted_clusters (cluster_header and cluster_specifier_plugin are not implemented by mosnd)');
  // Envoy's route timeout defaults to 15 s; 0 disables it.
  const timeout = goDuration(a.timeout);
  out.timeout = timeout ?? '15s';
  if (a.retry_policy) out.retry_policy = retry(a.retry_policy, at(path, 'retry_policy'), tx);
  if (a.prefix_rewrite !== undefined) out.prefix_rewrite = a.prefix_rewrite;
  if (a.host_rewrite_literal !== undefined) out.host_rewrite = a.host_rewrite_literal;
  return out;
}

function retry(r: Msg, path: string, tx: Tx): Record<string, unknown> {
  checkFields(r, path, tx, ['retry_on', 'num_retries', 'per_try_timeout'], {
    retry_host_predicate: 'mosnd always avoids the host that failed',
    host_selection_retry_max_attempts: 'mosnd always avoids the host that failed',
    retriable_status_codes: 'mosnd retries connect failures and resets before a response only',
    retry_back_off: 'mosnd retries at once',
    retriable_headers: 'mosnd retries connect failures and resets before a response only',
    retry_priority: 'priorities are folded into weights',
  });
  const on = String(r.retry_on ?? '');
  if (on) tx.warn(at(path, 'retry_on'), `"${on}": mosnd retries connect failures, and idempotent requests reset before any response byte, whatever the conditions`);
  return {
    retry_on: on !== '',
    num_retries: wrapped<number>(r.num_retries) ?? 1,
    ...(r.per_try_timeout ? { retry_timeout: goDuration(r.per_try_timeout) } : {}),
  };
}

function redirect(r: Msg, path: string, tx: Tx): Record<string, unknown> {
  checkFields(r, path, tx, ['path_redirect', 'host_redirect', 'scheme_redirect', 'https_redirect', 'response_code'], { strip_query: 'the query is kept' });
  const codes: Record<string, number> = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 };
  return {
    response_code: codes[r.response_code ?? 'MOVED_PERMANENTLY'] ?? 301,
    ...(r.path_redirect !== undefined ? { path_redirect: r.path_redirect } : {}),
    ...(r.host_redirect !== undefined ? { host_redirect: r.host_redirect } : {}),
    ...(r.https_redirect ? { scheme_redirect: 'https' } : r.scheme_redirect ? { scheme_redirect: r.scheme_redirect } : {}),
  };
}

const HEADER_KEYS = ['request_headers_to_add', 'request_headers_to_remove', 'response_headers_to_add', 'response_headers_to_remove'];

function headerMutations(m: Msg, path: string, tx: Tx): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['request_headers_to_add', 'response_headers_to_add']) {
    const list = m[key] ?? [];
    if (list.length === 0) continue;
    out[key] = list.map((o: Msg, i: number) => {
      const p = at(at(path, key), i);
      checkFields(o, p, tx, ['header', 'append', 'append_action'], { keep_empty_value: 'empty values are sent as given' });
      const action = o.append_action ?? (wrapped<boolean>(o.append) === false ? 'OVERWRITE_IF_EXISTS_OR_ADD' : 'APPEND_IF_EXISTS_OR_ADD');
      if (action !== 'APPEND_IF_EXISTS_OR_ADD' && action !== 'OVERWRITE_IF_EXISTS_OR_ADD') reject(at(p, 'append_action'), `${action} is not implemented by mosnd`);
      return { header: { key: String(o.header?.key), value: String(o.header?.value ?? '') }, append: action === 'APPEND_IF_EXISTS_OR_ADD' };
    });
  }
  for (const key of ['request_headers_to_remove', 'response_headers_to_remove']) {
    if ((m[key] ?? []).length) out[key] = m[key].map(String);
  }
  return out;
}
