'use strict';
/**
 * Test certificates made by the test itself with the `openssl` command (OpenSSL is what Node's
 * `tls` uses, it is on every machine that builds Node addons, and `openssl ca` can back-date a
 * certificate, which an expired-certificate test needs): a CA, and leaf certificates it signs
 * with the names and dates asked for. EC P-256 keys: fast to make.
 *
 *   const pki = makePki();                       // a temp dir with a CA
 *   const srv = pki.issue('srv', { dns: ['a.test', '*.b.test'] });   // { cert, key } paths
 *   const old = pki.issue('old', { dns: ['a.test'], expired: true });
 */
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function openssl(args, cwd) {
  return execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

function makePki(caName = 'mosnd test CA') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mosnd-pki-'));
  const caKey = path.join(dir, 'ca.key');
  const caCert = path.join(dir, 'ca.pem');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', caCert, '-subj', `/CN=${caName}`, '-days', '3650'], dir);
  fs.writeFileSync(path.join(dir, 'index.txt'), '');
  fs.writeFileSync(path.join(dir, 'serial'), '1000\n');
  fs.writeFileSync(
    path.join(dir, 'ca.cnf'),
    [
      '[ ca ]', 'default_ca = CA_default', '[ CA_default ]', `dir = ${dir}`, 'database = $dir/index.txt',
      'new_certs_dir = $dir', 'serial = $dir/serial', 'default_md = sha256', 'policy = policy_any',
      'copy_extensions = copy', 'unique_subject = no', 'default_days = 365',
      '[ policy_any ]', 'commonName = supplied', 'organizationName = optional', 'organizationalUnitName = optional', '',
    ].join('\n'),
  );
  return {
    dir,
    ca: caCert,
    caKey,
    /**
     * A certificate signed by this CA: `dns` SAN names (none: CN only), `cn` (default the name),
     * `expired` (valid only in 2020), `uri` SAN (a SPIFFE-style id for client certificates).
     */
    issue(name, opts = {}) {
      const key = path.join(dir, `${name}.key`);
      const csr = path.join(dir, `${name}.csr`);
      const cert = path.join(dir, `${name}.pem`);
      const sans = [...(opts.dns ?? []).map((d) => `DNS:${d}`), ...(opts.uri ? [`URI:${opts.uri}`] : [])];
      const subj = `/CN=${opts.cn ?? name}${opts.ou ? `/OU=${opts.ou}` : ''}`;
      openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', subj, ...(sans.length ? ['-addext', `subjectAltName=${sans.join(',')}`] : [])], dir);
      const dates = opts.expired ? ['-startdate', '20200101000000Z', '-enddate', '20200201000000Z'] : [];
      openssl(['ca', '-batch', '-notext', '-config', path.join(dir, 'ca.cnf'), '-cert', caCert, '-keyfile', caKey, '-in', csr, '-out', cert, ...dates], dir);
      return { cert, key };
    },
    cleanup() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { makePki };
