'use strict';
// The certificate of the HTTPS scenarios: one self-signed EC P-256 certificate for "localhost",
// made with the openssl command in the run's temp dir and served by every peer (nginx, HAProxy,
// mosnd), so the handshakes compared cost the same (wrk does not verify it).

const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

function benchCert(tmp) {
  const dir = path.join(tmp, 'tls');
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-days', '2', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
  // HAProxy wants the certificate and its key in one file.
  const pem = path.join(dir, 'both.pem');
  fs.writeFileSync(pem, fs.readFileSync(cert, 'utf8') + fs.readFileSync(key, 'utf8'));
  for (const f of [cert, key, pem]) fs.chmodSync(f, 0o644);
  return { cert, key, pem };
}

module.exports = { benchCert };
