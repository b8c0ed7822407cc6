/**
 * The Envoy v3 API types, loaded at run time from the .proto files vendored under `proto/`
 * (see proto/README.md), with protobufjs — the library @grpc/proto-loader is built on, resolved
 * through it so mosnd uses the very copy the loader does. Loaded once, on first use: only a
 * master whose config has `dynamic_resources` pays for it (~20 MB, ~200 ms).
 *
 * Messages are plain objects with the .proto's snake_case field names (as Envoy's JSON and the
 * bootstrap use them); 64-bit integers are strings, enums their names, bytes Buffers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as Protobuf from 'protobufjs';
import { MosndError } from '../../shared/errors';

export const TYPE = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
} as const;
export type XdsKind = keyof typeof TYPE;
export const KINDS: readonly XdsKind[] = ['cluster', 'endpoint', 'listener', 'route'];
export const KIND_OF_URL = new Map<string, XdsKind>(Object.entries(TYPE).map(([k, v]) => [v, k as XdsKind]));

export const ADS_METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

/** The files whose imports make up every type mosnd reads. */
const ENTRY_FILES = [
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
const INCLUDE_DIRS = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'];

/** proto/ of the install: dist/master/xds/ -> ../../../proto (src/ when run from sources too). */
export function protoRoot(): string {
  const dir = path.resolve(__dirname, '..', '..', '..', 'proto');
  if (!fs.existsSync(path.join(dir, 'envoy-api'))) {
    throw new MosndError('MOSND_ERR_XDS', `the Envoy API definitions are missing from the installation (${dir})`);
  }
  return dir;
}

export type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface EnvoyApi {
  root: Protobuf.Root;
  decode(typeName: string, bytes: Uint8Array): Msg;
  encode(typeName: string, obj: Msg): Buffer;
}

const TO_OBJECT: Protobuf.IConversionOptions = { longs: String, enums: String, bytes: Buffer, defaults: false, arrays: true, oneofs: true };

let api: EnvoyApi | undefined;

export function envoyApi(): EnvoyApi {
  if (api) return api;
  const main = require.resolve('protobufjs', { paths: [require.resolve('@grpc/proto-loader')] });
  const protobuf = require(main) as typeof Protobuf;
  const dir = protoRoot();
  // google/protobuf/descriptor.proto ships with protobufjs (the other well-known types are built in).
  const own = path.dirname(main);
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const inc of INCLUDE_DIRS) {
      const p = path.join(dir, inc, target);
      if (fs.existsSync(p)) return p;
    }
    const p = path.join(own, target);
    return fs.existsSync(p) ? p : target; // google/protobuf/*: protobufjs's own copies
  };
  root.loadSync(ENTRY_FILES, { keepCase: true });
  root.resolveAll();
  const types = new Map<string, Protobuf.Type>();
  const type = (name: string) => {
    let t = types.get(name);
    if (!t) types.set(name, (t = root.lookupType(name)));
    return t;
  };
  api = {
    root,
    decode: (name, bytes) => type(name).toObject(type(name).decode(bytes), TO_OBJECT),
    encode: (name, obj) => {
      const t = type(name);
      return Buffer.from(t.encode(t.fromObject(obj)).finish());
    },
  };
  return api;
}

let oneofs: Set<string> | undefined;

/** Every oneof name of the loaded types: decoded messages carry each set oneof as a virtual
 *  field naming its member (`cluster_discovery_type: "type"`), which is not a field to check. */
export function oneofNames(): Set<string> {
  if (oneofs) return oneofs;
  const names = new Set<string>();
  const walk = (ns: Protobuf.NamespaceBase): void => {
    for (const nested of ns.nestedArray) {
      const t = nested as Protobuf.Type;
      if (t.oneofsArray) for (const o of t.oneofsArray) names.add(o.name);
      if ((nested as Protobuf.NamespaceBase).nestedArray) walk(nested as Protobuf.NamespaceBase);
    }
  };
  walk(envoyApi().root);
  oneofs = names;
  return names;
}

/** "type.googleapis.com/envoy.config.listener.v3.Listener" -> "envoy.config.listener.v3.Listener". */
export function typeNameOf(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1);
}

/** Decodes an Any by its type URL. */
export function unpack(any: Msg): Msg {
  return envoyApi().decode(typeNameOf(String(any.type_url)), any.value as Uint8Array);
}

/** A google.protobuf.Struct from plain JSON (node metadata). protobufjs's built-in well-known
 *  types spell their fields in camelCase whatever keepCase says. */
export function toStruct(obj: Record<string, unknown>): Msg {
  const value = (v: unknown): Msg => {
    if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
    if (typeof v === 'number') return { numberValue: v };
    if (typeof v === 'string') return { stringValue: v };
    if (typeof v === 'boolean') return { boolValue: v };
    if (Array.isArray(v)) return { listValue: { values: v.map(value) } };
    return { structValue: toStruct(v as Record<string, unknown>) };
  };
  return { fields: Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, value(v)])) };
}

/** A google.protobuf.Duration as milliseconds (undefined when absent). */
export function durationMs(d: Msg | undefined): number | undefined {
  if (!d) return undefined;
  return Number(d.seconds ?? 0) * 1000 + Math.round(Number(d.nanos ?? 0) / 1e6);
}
