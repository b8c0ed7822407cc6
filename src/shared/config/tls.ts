/**
 * MOSN `tls_context` → the TLS model (model.ts), checked in the master when the config is
 * loaded: every certificate and key is read (a file path, or inline PEM starting with
 * "-----BEGIN"), parsed, matched (the key must fit the certificate), checked for expiry and
 * turned into an OpenSSL context once, so a bad file is a config error naming its JSON path
 * and a reload with a bad certificate is refused with the old one still served. Workers get
 * the PEM text and never read files.
 *
 * A relative path is resolved against the config file's directory (not the working
 * directory, which a daemon changes).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import type { ListenerTlsConfig, ServerCertConfig, TlsMaterial, UpstreamTlsConfig } from './model';
import type { Infer } from './schema';
import { Ctx, joinPath, pathOf, show } from './schema';
import type { tlsContextSchema } from './tls-schema';

export type RawTlsContext = Infer<typeof tlsContextSchema>;

const PEM_START = '-----BEGIN';

/** MOSN writes "TLS1.2"; OpenSSL/Node "TLSv1.2". Both (and "tlsv1_2") are accepted. */
const VERSIONS: Record<string, NonNullable<TlsMaterial['minVersion']>> = {
  tls10: 'TLSv1',
  tls1: 'TLSv1',
  tls11: 'TLSv1.1',
  tls12: 'TLSv1.2',
  tls13: 'TLSv1.3',
};
const VERSION_ORDER = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** Go's curve names (MOSN's) → OpenSSL's; OpenSSL names pass through. */
const CURVES: Record<string, string> = { p256: 'P-256', p384: 'P-384', p521: 'P-521', x25519: 'X25519', x448: 'X448' };

export interface TlsLoad {
  ctx: Ctx;
  /** Directory relative paths are resolved against. */
  baseDir: string;
  /** Checks expiry against this time (ms since the epoch). */
  now: number;
}

export function tlsLoad(source: string, ctx: Ctx): TlsLoad {
  return { ctx, baseDir: source.startsWith('<') ? process.cwd() : path.dirname(source), now: Date.now() };
}

function enabled(c: RawTlsContext | undefined): c is RawTlsContext {
  return c !== undefined && c.status === true;
}

/**
 * The listener's TLS from its first filter chain: `tls_context_set` (several certificates
 * chosen by SNI) or `tls_context`; contexts with `status: false` are off (MOSN). Undefined:
 * plaintext (also when a problem was reported: the config is refused then anyway).
 */
export function listenerTls(
  chain: { tls_context?: RawTlsContext; tls_context_set?: RawTlsContext[] },
  defaultAlpn: string[],
  load: TlsLoad,
): ListenerTlsConfig | undefined {
  const contexts = [...(chain.tls_context_set ?? []), ...(chain.tls_context ? [chain.tls_context] : [])].filter(enabled);
  if (contexts.length === 0) return undefined;
  const { ctx } = load;
  if (chain.tls_context_set !== undefined && enabled(chain.tls_context)) {
    ctx.warn(joinPath(pathOf(chain), 'tls_context'), 'tls_context_set is given too; this context is added after those of the set');
  }
  const first = contexts[0];
  const verifyClient = first.verify_client === true || first.require_client_cert === true;
  // verify_client alone asks for and requires a verified certificate (Go's
  // RequireAndVerifyClientCert, MOSN's meaning); require_client_cert: false makes it optional.
  const requireClientCert = first.require_client_cert ?? first.verify_client === true;
  let ok = true;
  for (const c of contexts.slice(1)) {
    const cv = c.verify_client === true || c.require_client_cert === true;
    const cr = c.require_client_cert ?? c.verify_client === true;
    if (cv !== verifyClient || cr !== requireClientCert) {
      ctx.error(
        joinPath(pathOf(c), 'verify_client'),
        `differs from ${pathOf(first)}; expected the same verify_client / require_client_cert in every context of a listener (the client is asked before its SNI picks a certificate)`,
      );
      ok = false;
    }
  }
  const certs: ServerCertConfig[] = [];
  for (const c of contexts) {
    const at = pathOf(c);
    if (c.insecure_skip !== undefined) ctx.warn(joinPath(at, 'insecure_skip'), 'applies to a cluster (upstream) tls_context only; ignored');
    if (verifyClient && c.ca_cert === undefined) {
      ctx.error(joinPath(at, 'ca_cert'), 'missing; expected the CA certificates that verify clients (verify_client is set)');
      ok = false;
      continue;
    }
    const material = readMaterial(c, load);
    if (material === undefined) {
      ok = false;
      continue;
    }
    if (material.certChain === undefined || material.privateKey === undefined) {
      const key = material.certChain === undefined ? 'cert_chain' : 'private_key';
      ctx.error(joinPath(at, key), 'missing; expected a PEM file path or inline PEM (a TLS listener serves a certificate and its key)');
      ok = false;
      continue;
    }
    const names = certNames(material.certChain);
    if (c.server_name) names.unshift(c.server_name.toLowerCase());
    certs.push({ ...material, certChain: material.certChain, privateKey: material.privateKey, names: [...new Set(names)], notAfter: notAfter(material.certChain) });
  }
  const alpn = c0Alpn(first, defaultAlpn, load);
  if (!ok || alpn === undefined) return undefined;
  return { certs, verifyClient, requireClientCert, alpn };
}

function c0Alpn(c: RawTlsContext, fallback: string[], load: TlsLoad): string[] | undefined {
  if (c.alpn === undefined) return fallback;
  const list = c.alpn.split(/[,\s]+/).filter((s) => s !== '');
  const bad = list.find((p) => p !== 'h2' && p !== 'http/1.1');
  if (bad !== undefined || list.length === 0) {
    load.ctx.error(joinPath(pathOf(c), 'alpn'), `${show(c.alpn)} is not a list of protocols mosnd serves; expected "h2", "http/1.1" or "h2,http/1.1"`);
    return undefined;
  }
  return list;
}

/** A cluster's `tls_context`: TLS to its hosts. */
export function upstreamTls(c: RawTlsContext | undefined, defaultAlpn: string[] | undefined, load: TlsLoad): UpstreamTlsConfig | undefined {
  if (!enabled(c)) return undefined;
  const at = pathOf(c);
  const { ctx } = load;
  for (const key of ['verify_client', 'require_client_cert'] as const) {
    if (c[key] !== undefined) ctx.warn(joinPath(at, key), 'applies to a listener (downstream) tls_context only; ignored');
  }
  const material = readMaterial(c, load);
  if (material === undefined) return undefined;
  if ((material.certChain === undefined) !== (material.privateKey === undefined)) {
    const key = material.certChain === undefined ? 'cert_chain' : 'private_key';
    ctx.error(joinPath(at, key), 'missing; expected both cert_chain and private_key for a client certificate, or neither');
    return undefined;
  }
  const insecureSkip = c.insecure_skip === true;
  if (insecureSkip && material.ca !== undefined) {
    ctx.warn(joinPath(at, 'insecure_skip'), 'true: ca_cert is not used, the upstream certificate is not verified');
  }
  let alpn = defaultAlpn;
  if (c.alpn !== undefined) alpn = c0Alpn(c, [], load);
  return {
    ...material,
    insecureSkip,
    ...(c.server_name ? { serverName: c.server_name } : {}),
    ...(alpn && alpn.length > 0 ? { alpn } : {}),
  };
}

/** Reads, parses and cross-checks the files of one context. Undefined after an error. */
function readMaterial(c: RawTlsContext, load: TlsLoad): TlsMaterial | undefined {
  const at = pathOf(c);
  const { ctx } = load;
  let ok = true;
  const out: TlsMaterial = {};
  const certChain = c.cert_chain !== undefined ? readPem(c.cert_chain, joinPath(at, 'cert_chain'), load) : undefined;
  const privateKey = c.private_key !== undefined ? readPem(c.private_key, joinPath(at, 'private_key'), load) : undefined;
  const ca = c.ca_cert !== undefined ? readPem(c.ca_cert, joinPath(at, 'ca_cert'), load) : undefined;
  if (certChain === null || privateKey === null || ca === null) return undefined;
  if (certChain !== undefined) {
    if (!checkCert(certChain, joinPath(at, 'cert_chain'), load)) ok = false;
    out.certChain = certChain;
  }
  if (privateKey !== undefined) {
    if (!checkKey(privateKey, certChain, joinPath(at, 'private_key'), load)) ok = false;
    out.privateKey = privateKey;
  }
  if (ca !== undefined) {
    if (!checkCa(ca, joinPath(at, 'ca_cert'), load)) ok = false;
    out.ca = ca;
  }
  if (c.cipher_suites !== undefined) {
    const ciphers = c.cipher_suites.split(/[,\s]+/).filter((s) => s !== '').join(':');
    if (!tryContext({ ciphers }, joinPath(at, 'cipher_suites'), show(c.cipher_suites), 'OpenSSL cipher names such as "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"', ctx)) ok = false;
    out.ciphers = ciphers;
  }
  if (c.ecdh_curves !== undefined) {
    const ecdhCurve = c.ecdh_curves
      .split(/[,:\s]+/)
      .filter((s) => s !== '')
      .map((s) => CURVES[s.toLowerCase().replace(/[-_]/g, '')] ?? s)
      .join(':');
    if (!tryContext({ ecdhCurve }, joinPath(at, 'ecdh_curves'), show(c.ecdh_curves), 'curve names such as "X25519,P256"', ctx)) ok = false;
    out.ecdhCurve = ecdhCurve;
  }
  for (const key of ['min_version', 'max_version'] as const) {
    const v = c[key];
    if (v === undefined) continue;
    const norm = VERSIONS[v.toLowerCase().replace(/[^a-z0-9]/g, '').replace(/^tlsv/, 'tls')];
    if (norm === undefined) {
      ctx.error(joinPath(at, key), `${show(v)} is not a TLS version; expected one of "TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3"`);
      ok = false;
    } else if (key === 'min_version') out.minVersion = norm;
    else out.maxVersion = norm;
  }
  if (out.minVersion && out.maxVersion && VERSION_ORDER.indexOf(out.minVersion) > VERSION_ORDER.indexOf(out.maxVersion)) {
    ctx.error(joinPath(at, 'max_version'), `${show(c.max_version)} is below min_version ${show(c.min_version)}; expected max_version >= min_version`);
    ok = false;
  }
  if (ok && out.certChain !== undefined && out.privateKey !== undefined) {
    // The whole context once, as a worker will build it: what OpenSSL refuses is refused here.
    if (!tryContext({ cert: out.certChain, key: out.privateKey, ca: out.ca, ciphers: out.ciphers, ecdhCurve: out.ecdhCurve, minVersion: out.minVersion, maxVersion: out.maxVersion }, at, 'this context', 'a context OpenSSL accepts', ctx)) ok = false;
  }
  return ok ? out : undefined;
}

/** PEM text of a value (inline, or the file it names); null after an error. */
function readPem(value: string, at: string, load: TlsLoad): string | null {
  if (value.trimStart().startsWith(PEM_START)) return value;
  if (value.trim() === '') {
    load.ctx.error(at, 'is empty; expected a PEM file path or inline PEM');
    return null;
  }
  const file = path.resolve(load.baseDir, value);
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? String(e);
    load.ctx.error(at, `${show(value)} cannot be read (${file}: ${why}); expected a readable PEM file, or inline PEM`);
    return null;
  }
}

function parseCerts(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

function checkCert(pem: string, at: string, load: TlsLoad): boolean {
  let certs: X509Certificate[];
  try {
    certs = parseCerts(pem);
  } catch (e) {
    load.ctx.error(at, `is not a valid PEM certificate (${(e as Error).message}); expected a PEM certificate chain`);
    return false;
  }
  if (certs.length === 0) {
    load.ctx.error(at, 'holds no "BEGIN CERTIFICATE" block; expected a PEM certificate chain');
    return false;
  }
  const leaf = certs[0];
  if (Date.parse(leaf.validTo) < load.now) {
    load.ctx.error(at, `the certificate ${leaf.subject.replace(/\n/g, ', ')} expired on ${leaf.validTo}; expected a certificate valid now`);
    return false;
  }
  if (Date.parse(leaf.validFrom) > load.now) {
    load.ctx.warn(at, `the certificate ${leaf.subject.replace(/\n/g, ', ')} is not valid before ${leaf.validFrom}; clients will refuse it until then`);
  }
  return true;
}

function checkKey(pem: string, certPem: string | undefined, at: string, load: TlsLoad): boolean {
  let key;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    load.ctx.error(at, `is not a usable private key (${(e as Error).message}); expected an unencrypted PEM private key`);
    return false;
  }
  if (certPem === undefined) return true;
  let leaf: X509Certificate | undefined;
  try {
    leaf = parseCerts(certPem)[0];
  } catch {
    return true; // the certificate's own error is reported at cert_chain
  }
  if (leaf !== undefined && !leaf.checkPrivateKey(key)) {
    load.ctx.error(at, `does not fit the certificate of cert_chain (${leaf.subject.replace(/\n/g, ', ')}); expected the private key of that certificate`);
    return false;
  }
  return true;
}

function checkCa(pem: string, at: string, load: TlsLoad): boolean {
  let certs: X509Certificate[];
  try {
    certs = parseCerts(pem);
  } catch (e) {
    load.ctx.error(at, `is not a valid PEM certificate (${(e as Error).message}); expected PEM CA certificates`);
    return false;
  }
  if (certs.length === 0) {
    load.ctx.error(at, 'holds no "BEGIN CERTIFICATE" block; expected PEM CA certificates');
    return false;
  }
  for (const c of certs) {
    if (Date.parse(c.validTo) < load.now) load.ctx.warn(at, `the CA ${c.subject.replace(/\n/g, ', ')} expired on ${c.validTo}; nothing it signed verifies`);
  }
  return true;
}

function tryContext(opts: tls.SecureContextOptions, at: string, what: string, expected: string, ctx: Ctx): boolean {
  try {
    tls.createSecureContext(opts);
    return true;
  } catch (e) {
    ctx.error(at, `${what} is refused by OpenSSL (${(e as Error).message}); expected ${expected}`);
    return false;
  }
}

/** When the first certificate of a (checked) chain expires, seconds since the epoch. */
function notAfter(pem: string): number {
  const leaf = parseCerts(pem)[0];
  return leaf ? Math.floor(Date.parse(leaf.validTo) / 1000) : 0;
}

/** The DNS names of a certificate (SAN), else its CN; lower-cased. */
export function certNames(pem: string): string[] {
  let leaf: X509Certificate | undefined;
  try {
    leaf = parseCerts(pem)[0];
  } catch {
    return [];
  }
  if (!leaf) return [];
  const san = (leaf.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4).toLowerCase());
  if (san.length > 0) return san;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(leaf.subject);
  return cn ? [cn[1].toLowerCase()] : [];
}
