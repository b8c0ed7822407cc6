'use strict';
/**
 * Upgrades of a mosnd whose listeners and clusters come from xDS: the new generation
 * subscribes and has the same config before it commits, so HTTP keep-alive clients and TCP
 * streams on dynamic listeners move over without a loss — also when the control plane is
 * down at that moment (the new generation then starts from the old one's resources).
 */
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./helpers/mosnd');
const x = require('./helpers/xds-server');
const { httpLoad, tcpStreams, loadUnderWay, stopLoadIntact } = require('./helpers/load');

const WEB = 'outbound|9080||productpage.default.svc.cluster.local';
const ECHO = 'outbound|7000||echo.default.svc.cluster.local';
const CLIENTS = 16;
const STREAMS = 4;

async function mesh(t) {
  const cp = await x.startControlPlane();
  t.after(() => cp.kill());
  const up = await h.startHttpUpstream((req, res) => res.end('ok'));
  const echo = await h.startEchoServer();
  t.after(() => up.close());
  t.after(() => echo.close());
  cp.push({
    cluster: [x.edsCluster(WEB), x.edsCluster(ECHO)],
    endpoint: [x.assignment(WEB, [{ address: up.address }]), x.assignment(ECHO, [{ address: `127.0.0.1:${echo.port}` }])],
    listener: [x.httpListener('http', 0, { rds: '9080' }), x.tcpListener('tcp', 0, ECHO)],
    route: [x.routeConfig('9080', [{ prefix: '/', cluster: WEB }])],
  });
  const m = await h.startMosnd({ config: x.bootstrapConfig(cp.port), workers: 1 });
  t.after(() => m.kill());
  return { cp, m };
}

async function status(m) {
  const r = await h.runCli(['status', '--json', '--run-dir', m.runDir]);
  return JSON.parse(r.stdout);
}

for (const down of [false, true]) {
  const name = down
    ? 'with the control plane down, an upgrade starts the new generation from the old one\'s resources and drops nothing'
    : 'an upgrade under an xDS-driven config subscribes the new generation before it commits and drops nothing';
  test(name, async (t) => {
    const { cp, m } = await mesh(t);
    const before = await status(m);
    const UPDATES = 'mosnd_xds_update_success_total{type="cluster"}';
    const countedBefore = (await h.scrape(m.ports.__admin))[UPDATES];
    const web = httpLoad(m.ports.http, { clients: CLIENTS });
    const streams = tcpStreams(m.ports.tcp, { streams: STREAMS });
    await loadUnderWay(h, web, streams, CLIENTS);
    if (down) cp.kill();
    const r = await h.runCli(['upgrade', '--binary', h.ROOT, '--run-dir', m.runDir]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, new RegExp(`moved: ${CLIENTS + STREAMS} connections moved`));
    await stopLoadIntact(web, streams, { clients: CLIENTS, streams: STREAMS });
    const after = await status(m);
    assert.equal(after.generation, 2);
    assert.deepEqual(after.listeners.map((l) => l.name).sort(), ['http', 'tcp']);
    const versions = (st) => st.controlPlane.types.filter((ty) => ty.subscribed).map((ty) => [ty.type, ty.version, ty.resources]);
    assert.deepEqual(versions(after), versions(before), 'the same resources at the same versions');
    assert.equal(after.controlPlane.connected, !down);
    // One stream per generation, and the old generation's is closed at commit.
    if (!down) await h.waitFor(() => cp.streams.size === 1, `one stream left (${cp.streams.size})`);
    assert.equal((await h.request(m.ports.http)).body.toString(), 'ok');
    // The counters go on from the old generation's (carried by the metrics handover, not
    // counted twice); with the control plane up the new generation accepted one more.
    const countedAfter = (await h.scrape(m.ports.__admin))[UPDATES];
    if (down) assert.equal(countedAfter, countedBefore, 'xDS counters are carried across an upgrade, once');
    else assert.equal(countedAfter, countedBefore + 1, 'the carried count plus the new generation\'s own update');
  });
}
