'use strict';
/**
 * TLS in the config: every certificate and key is read and checked when the config is loaded
 * (the master), so a bad one is an error naming its JSON path, and a reload with one is refused
 * while the old certificates keep being served. Certificates are made with `openssl`.
 */
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { parseConfig } = require('../dist/shared/config/load.js');
const { redact } = require('../dist/master/admin/config-dump.js');
const h = require('./helpers/mosnd');
const { makePki } = require('./helpers/certs');

const pki = makePki();
after(() => pki.cleanup());
const good = pki.issue('good', { dns: ['a.test', '*.b.test'] });
const other = pki.issue('other', { dns: ['c.test'] });
const expired = pki.issue('expired', { dns: ['a.test'], expired: true });
const CHAIN = 'servers[0].listeners[0].filter_chains[0]';

function doc(tlsContext, clusterTls) {
  const l = h.httpListener('https', 'r');
  if (tlsContext) l.filter_chains[0].tls_context = tlsContext;
  return h.proxyConfig({
    routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
    clusters: [h.cluster('c', ['127.0.0.1:1'], clusterTls ? { tls_context: clusterTls } : {})],
    listeners: [l],
  });
}

function problems(d, source = path.join(pki.dir, 'mosn.json')) {
  const r = parseConfig(JSON.stringify(d), source);
  return { r, errors: r.errors.map((e) => `${e.path}: ${e.message}`) };
}

function assertError(d, at, text) {
  const { errors } = problems(d);
  assert.ok(errors.some((e) => e.startsWith(`${at}: `) && e.includes(text)), `expected "${at}: …${text}…", got:\n${errors.join('\n')}`);
}

test('a TLS listener loads its certificate, key and names; the key never shows in /config_dump', () => {
  const { r } = problems(doc({ status: true, cert_chain: good.cert, private_key: good.key }));
  assert.deepEqual(r.errors, []);
  const t = r.config.listeners[0].tls;
  assert.deepEqual(t.certs[0].names, ['a.test', '*.b.test']);
  assert.match(t.certs[0].certChain, /BEGIN CERTIFICATE/);
  assert.deepEqual(t.alpn, ['http/1.1']);
  assert.equal(JSON.stringify(redact(r.config)).includes('PRIVATE KEY'), false);
});

test('inline PEM and paths relative to the config file are accepted', () => {
  const { r } = problems(doc({ status: true, cert_chain: fs.readFileSync(good.cert, 'utf8'), private_key: path.basename(good.key) }));
  assert.deepEqual(r.errors, []);
});

test('an expired certificate is a config error naming its JSON path and the date', () => {
  assertError(doc({ status: true, cert_chain: expired.cert, private_key: expired.key }), `${CHAIN}.tls_context.cert_chain`, 'expired on Feb  1 00:00:00 2020 GMT');
});

test('a key that does not fit the certificate is a config error at private_key', () => {
  assertError(doc({ status: true, cert_chain: good.cert, private_key: other.key }), `${CHAIN}.tls_context.private_key`, 'does not fit the certificate');
});

test('a file that is not PEM, an unknown TLS version, a cipher list OpenSSL refuses and a bad ALPN are errors at their keys', () => {
  const base = { status: true, cert_chain: good.cert, private_key: good.key };
  assertError(doc({ ...base, cert_chain: pki.dir + '/index.txt' }), `${CHAIN}.tls_context.cert_chain`, 'holds no "BEGIN CERTIFICATE" block');
  assertError(doc({ ...base, min_version: 'TLS1.9' }), `${CHAIN}.tls_context.min_version`, 'is not a TLS version');
  assertError(doc({ ...base, cipher_suites: 'NOT-A-CIPHER' }), `${CHAIN}.tls_context.cipher_suites`, 'refused by OpenSSL');
  assertError(doc({ ...base, alpn: 'spdy/3' }), `${CHAIN}.tls_context.alpn`, 'is not a list of protocols');
  assertError(doc({ ...base, verify_client: true }), `${CHAIN}.tls_context.ca_cert`, 'missing');
});

test('a TLS context with status false is plaintext, as in MOSN', () => {
  const { r } = problems(doc({ status: false, cert_chain: '/nonexistent' }));
  assert.deepEqual(r.errors, []);
  assert.equal(r.config.listeners[0].tls, undefined);
});

test('a cluster tls_context loads its CA, server_name and client certificate; insecure_skip is kept as such', () => {
  const { r } = problems(doc(undefined, { status: true, ca_cert: pki.ca, server_name: 'a.test', cert_chain: good.cert, private_key: good.key }));
  assert.deepEqual(r.errors, []);
  const t = r.config.clusters[0].tls;
  assert.equal(t.serverName, 'a.test');
  assert.equal(t.insecureSkip, false);
  assert.match(t.ca, /BEGIN CERTIFICATE/);
  const skip = problems(doc(undefined, { status: true, insecure_skip: true })).r;
  assert.equal(skip.config.clusters[0].tls.insecureSkip, true);
  assertError(doc(undefined, { status: true, cert_chain: good.cert }), 'cluster_manager.clusters[0].tls_context.private_key', 'missing');
});
