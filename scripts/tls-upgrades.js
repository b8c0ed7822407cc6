#!/usr/bin/env node
'use strict';
/**
 * What a keep-alive HTTPS client sees over many upgrades under load (issue 12): mosnd with a
 * TLS listener (certificates made with `openssl` in a temp dir), N keep-alive HTTPS clients
 * that retry an idempotent request once when a reused connection is closed under it (as curl,
 * browsers and undici do), and `mosnd upgrade` U times in a row. Prints the clients' accounting
 * and the server's handshake counters (full vs resumed) before and after the upgrades.
 *
 *   npm run build && node scripts/tls-upgrades.js [--upgrades 20] [--clients 16] [--workers 2]
 */
const h = require('../test/helpers/mosnd');
const { makePki } = require('../test/helpers/certs');
const { httpsLoad } = require('../test/helpers/https-load');
const fs = require('node:fs');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};
const UPGRADES = arg('upgrades', 20);
const CLIENTS = arg('clients', 16);
const WORKERS = arg('workers', 2);

async function handshakes(m) {
  const s = await h.scrape(m.ports.__admin);
  return {
    full: s['mosnd_tls_handshakes_total{listener="https",resumed="false"}'] ?? 0,
    resumed: s['mosnd_tls_handshakes_total{listener="https",resumed="true"}'] ?? 0,
  };
}

async function main() {
  const pki = makePki();
  const cert = pki.issue('srv', { dns: ['a.test'] });
  const up = await h.startHttpUpstream((req, res) => res.end('ok'));
  const l = h.httpListener('https', 'r');
  l.filter_chains[0].tls_context = { status: true, cert_chain: cert.cert, private_key: cert.key };
  const m = await h.startMosnd({
    config: h.proxyConfig({
      routes: [{ match: { prefix: '/' }, route: { cluster_name: 'c' } }],
      clusters: [h.cluster('c', [up.address])],
      listeners: [l],
      extra: { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } },
    }),
    workers: WORKERS,
  });
  try {
    const load = httpsLoad(m.ports.https, { clients: CLIENTS, ca: fs.readFileSync(pki.ca, 'utf8'), servername: 'a.test' });
    await h.waitFor(() => load.stats.ok >= 500, 'load under way', 30_000);
    const before = await handshakes(m);
    const t0 = Date.now();
    let ok = 0;
    for (let i = 0; i < UPGRADES; i++) {
      const served = load.stats.ok;
      const u = await m.cli(['upgrade', '--binary', h.ROOT]);
      if (u.code === 0) ok++;
      else console.error(`upgrade ${i + 1} failed: ${u.stdout}${u.stderr}`);
      await h.waitFor(() => load.stats.ok >= served + 100, 'requests after the upgrade', 30_000);
    }
    const after = await handshakes(m);
    const s = await load.stop();
    const report = {
      upgrades: `${ok} ok / ${UPGRADES - ok} failed in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      clients: CLIENTS,
      workers: WORKERS,
      requestsOk: s.ok,
      failedRequests: s.failed,
      retriedOnClosedIdleConnection: s.retries,
      answersWithConnectionClose: s.closeAnswers,
      clientConnections: s.connections,
      clientConnectionsResumed: s.resumed,
      serverHandshakesDuringUpgrades: { full: after.full - before.full, resumed: after.resumed - before.resumed },
      errors: s.errors,
    };
    console.log(JSON.stringify(report, null, 2));
    process.exitCode = s.failed === 0 && ok === UPGRADES ? 0 : 1;
  } finally {
    await m.kill();
    await up.close();
    pki.cleanup();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
