'use strict';
/**
 * A fleet on one control plane: N mosnd instances (separate run dirs, separate node ids)
 * subscribe to the same ADS server; each push must reach all of them. The time from a push to
 * each instance's ACK (which mosnd sends once its workers serve the update) is measured for
 * 1, 10 and 1,000 clusters with one endpoint each, and for an endpoint change at that size;
 * the figures are reported (t.diagnostic), never asserted: timing depends on the machine.
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');
const x = require('./helpers/xds-server');

const FLEET = 3;
const SIZES = [1, 10, 1000];

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

test(`a push reaches all ${FLEET} instances of a fleet, and push-to-applied time is measured for ${SIZES.join(', ')} clusters`, async (t) => {
  const cp = await x.startControlPlane();
  t.after(() => cp.kill());
  const ups = [await h.startHttpUpstream((req, res) => res.end('a')), await h.startHttpUpstream((req, res) => res.end('b'))];
  t.after(() => Promise.all(ups.map((u) => u.close())));
  const name = (i) => `outbound|9080||svc-${i}.default.svc.cluster.local`;
  const resources = (n, up) => ({
    cluster: Array.from({ length: n }, (_, i) => x.edsCluster(name(i))),
    endpoint: Array.from({ length: n }, (_, i) => x.assignment(name(i), [{ address: up.address }])),
  });
  cp.push({ ...resources(1, ups[0]), listener: [x.httpListener('http', 0, { rds: 'r' })], route: [x.routeConfig('r', [{ prefix: '/', cluster: name(0) }])] });
  const nodes = Array.from({ length: FLEET }, (_, i) => `sidecar~127.0.0.${i + 1}~fleet-${i}.default~default.svc.cluster.local`);
  const fleet = await Promise.all(nodes.map((nodeId) => h.startMosnd({ config: x.bootstrapConfig(cp.port, { nodeId }), workers: 1 })));
  t.after(() => Promise.all(fleet.map((m) => m.kill())));
  for (const m of fleet) assert.equal((await h.request(m.ports.http)).body.toString(), 'a');

  /** Pushes and waits for every node's ACK of every pushed type; returns ms per node. */
  const pushAndWait = async (byKind) => {
    const since = cp.requests.length;
    const at = Date.now();
    const v = cp.push(byKind);
    const kinds = Object.keys(byKind);
    const done = await Promise.all(
      nodes.map(async (node) => {
        let last = 0;
        for (const kind of kinds) {
          const ack = await cp.waitForRequest((r) => r.kind === kind && r.nodeId === node && r.version_info === v[kind] && !r.error_detail && r.response_nonce !== '', 120_000, since);
          last = Math.max(last, ack.at);
        }
        return last - at;
      }),
    );
    return done;
  };

  const report = [];
  for (const n of SIZES) {
    const full = await pushAndWait(resources(n, ups[0]));
    // An endpoint change at that size: every assignment moves to the other upstream.
    const eds = await pushAndWait({ endpoint: resources(n, ups[1]).endpoint });
    for (const m of fleet) assert.equal((await h.request(m.ports.http)).body.toString(), 'b', 'the endpoint change reached every instance');
    await pushAndWait({ endpoint: resources(n, ups[0]).endpoint });
    report.push({ clusters: n, cdsEdsMedianMs: median(full), cdsEdsMaxMs: Math.max(...full), edsMedianMs: median(eds), edsMaxMs: Math.max(...eds) });
  }
  for (const r of report) {
    t.diagnostic(`${r.clusters} clusters/endpoints on ${FLEET} instances: clusters+endpoints push-to-applied median ${r.cdsEdsMedianMs} ms (max ${r.cdsEdsMaxMs}); endpoints-only median ${r.edsMedianMs} ms (max ${r.edsMaxMs})`);
  }
  const st = JSON.parse((await fleet[0].cli(['status', '--json'])).stdout);
  assert.equal(st.controlPlane.types.find((ty) => ty.type === 'cluster').resources, SIZES.at(-1));
});
