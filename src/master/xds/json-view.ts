/**
 * A decoded resource as JSON for /config_dump: every google.protobuf.Any is shown decoded,
 * with its type in "@type" (as Envoy's admin API prints them), bytes as base64.
 */
import { Msg, typeNameOf, envoyApi, oneofNames } from './protos';

export function jsonView(any: Msg): unknown {
  const url = String(any.type_url);
  try {
    return { '@type': url, ...(walk(envoyApi().decode(typeNameOf(url), any.value)) as object) };
  } catch {
    return { '@type': url, value: Buffer.from(any.value ?? []).toString('base64') };
  }
}

function walk(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (Array.isArray(v)) return v.filter((x) => x !== undefined).map(walk);
  if (v === null || typeof v !== 'object') return v;
  const o = v as Msg;
  if (typeof o.type_url === 'string' && Buffer.isBuffer(o.value)) return jsonView(o);
  const out: Msg = {};
  for (const [k, x] of Object.entries(o)) {
    if (Array.isArray(x) && x.length === 0) continue;
    if (typeof x === 'string' && x in o && oneofNames().has(k)) continue; // oneof selector
    out[k] = walk(x);
  }
  return out;
}
