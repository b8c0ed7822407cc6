/**
 * `/config_dump`: the effective (normalized) configuration, as the workers serve it, with
 * anything that looks like a secret replaced. The model carries no TLS material today;
 * the redaction is there so a future key (a password in a health check, a token header
 * to add) never leaks through the admin port.
 */
import type { MosndConfig } from '../../shared/config/model';

export const REDACTED = '[redacted]';

/** Keys whose values are secrets (matched case-insensitively, also inside longer names). */
const SECRET_KEY = /(pass(word)?|secret|token|private[-_]?key|credential|api[-_]?key|authorization|cookie)/i;

export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_KEY.test(k) && v !== '' && v !== undefined ? REDACTED : redact(v);
  }
  // Header mutations: a header whose name is secret keeps its name, not its value.
  if (typeof out.key === 'string' && typeof out.value === 'string' && SECRET_KEY.test(out.key)) out.value = REDACTED;
  return out;
}

export function configDump(config: MosndConfig, extra: { version: string; generation: number; dynamic?: unknown[] }): unknown {
  // xDS: `configs` holds the dynamic resources as Envoy's /config_dump shows them.
  return { version: extra.version, generation: extra.generation, config: redact(config), ...(extra.dynamic ? { configs: redact(extra.dynamic) } : {}) };
}
