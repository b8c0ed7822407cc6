'use strict';
// What is measured. Each scenario runs against every peer that offers its mode (http or tcp).

const nodeScripts = require('../peers/node-scripts');
const mosnd = require('../peers/mosnd');

/** Peers in the order they run and appear in tables. */
const PEERS = [
  require('../peers/direct'),
  require('../peers/nginx'),
  require('../peers/haproxy'),
  nodeScripts.nodeRaw,
  nodeScripts.httpProxy3,
  nodeScripts.nodePipe,
  mosnd.mosnd1,
  mosnd.mosnd2,
];

/**
 * kind "load": wrk at `conns` keep-alive connections for the measurement time, after a warm-up.
 * kind "idle": `count` idle keep-alive connections, RSS of the proxy's processes.
 * kind "upgrades" / "upgrade-idle": mosnd only (`mosndOnly`), skipped while `mosnd upgrade` does
 * not exist in the install under test (`needsUpgrade`); each starts its own instance
 * (`ownInstance`) and needs at least `minSeconds` of budget left.
 * `mode` "h2": HTTP/2 cleartext to the proxy (peers with `h2: true` and an `h2Port`), measured
 * with h2load (`tool`), the backend still HTTP/1.1. `optIn`: only when --only names it.
 * `pauseMs`: each wrk connection waits this long between requests (paced load).
 * `quick`: part of the --quick selection; `quickPeers`: the only peers it runs on in --quick;
 * `defaultPeers`: the only peers it runs on unless --only names peers (a variant that is not
 * cheap enough for the default run).
 */
const SCENARIOS = [
  {
    id: 'small-64',
    kind: 'load',
    mode: 'http',
    path: '/small',
    conns: 64,
    metric: 'rps',
    quick: true,
    title: 'HTTP/1.1 keep-alive, small response, 64 connections',
  },
  {
    id: 'small-256',
    kind: 'load',
    mode: 'http',
    path: '/small',
    conns: 256,
    metric: 'rps',
    quick: false,
    title: 'HTTP/1.1 keep-alive, small response, 256 connections',
  },
  {
    id: 'small-1000',
    kind: 'load',
    mode: 'http',
    path: '/small',
    conns: 1000,
    metric: 'rps',
    quick: false,
    title: 'HTTP/1.1 keep-alive, small response, 1,000 connections',
  },
  {
    // Closed-loop load at saturation makes latency mostly queueing (p50 ≈ connections ÷
    // throughput), so a slower proxy shows a longer p99 whatever its tail behaviour. Here each
    // connection pauses between requests (wrk's delay()), for ≈10k req/s in all: below every
    // peer's capacity, so the percentiles are the proxy's own latency and its stalls (GC, long
    // loop turns). The peers that answer the question only: the backend direct, nginx, the
    // bare-bones JS proxy and mosnd.
    id: 'paced-64',
    kind: 'load',
    mode: 'http',
    path: '/small',
    conns: 64,
    pauseMs: 5,
    metric: 'rps',
    quick: false,
    defaultPeers: ['direct', 'nginx', 'node-raw', 'mosnd-1w'],
    // Opt-in (`--only paced`): in the default run it left no budget for mosnd 2 workers' idle
    // and upgrade scenarios.
    optIn: true,
    title: 'HTTP/1.1 keep-alive, small response, 64 connections each pausing 5 ms between requests (≈10k req/s: latency below saturation)',
  },
  {
    id: 'large-1m',
    kind: 'load',
    mode: 'http',
    path: '/1m.bin',
    conns: 16,
    metric: 'MBps',
    quick: false,
    title: 'HTTP/1.1 keep-alive, 1 MB responses, 16 connections',
  },
  {
    id: 'tcp-small-64',
    kind: 'load',
    mode: 'tcp',
    path: '/small',
    conns: 64,
    metric: 'rps',
    quick: true,
    title: 'TCP proxy (L4 pipe), HTTP small responses through it, 64 connections',
  },
  {
    id: 'tcp-large-1m',
    kind: 'load',
    mode: 'tcp',
    path: '/1m.bin',
    conns: 16,
    metric: 'MBps',
    quick: false,
    title: 'TCP proxy (L4 pipe), 1 MB HTTP responses through it, 16 connections',
  },
  // HTTPS (TLS 1.3, the same self-signed P-256 certificate for every peer; lib/tls-cert.js).
  {
    id: 'tls-keepalive-64',
    kind: 'load',
    mode: 'https',
    path: '/small',
    conns: 64,
    metric: 'rps',
    quick: false,
    title: 'HTTPS keep-alive, small response, 64 connections',
  },
  {
    id: 'tls-handshake-64',
    kind: 'load',
    mode: 'https',
    path: '/small',
    conns: 64,
    // Connection: close on every request: each one is a new TCP connection and a full TLS
    // handshake (wrk resumes no session), the new-handshake rate.
    headers: ['Connection: close'],
    metric: 'rps',
    quick: false,
    title: 'HTTPS new connection per request (full TLS handshake each), 64 connections',
  },
  {
    id: 'idle',
    kind: 'idle',
    mode: 'http',
    path: '/small',
    quick: true,
    title: 'Idle HTTP/1.1 keep-alive connections: memory of the proxy',
  },
  {
    id: 'h2-small-64',
    kind: 'load',
    mode: 'h2',
    tool: 'h2load',
    path: '/small',
    conns: 64,
    metric: 'rps',
    quick: false,
    // Opt-in (`--only h2`): the default run's time budget is spent already.
    optIn: true,
    title: 'HTTP/2 (h2c, prior knowledge) to the proxy, HTTP/1.1 to the backend: small response, 64 connections × 10 streams (h2load)',
  },
  // upgrade-idle first: it is cheap, and the upgrades loop may use the rest of the budget.
  {
    id: 'upgrade-idle',
    kind: 'upgrade-idle',
    mode: 'http',
    path: '/small',
    conns: 1000,
    mosndOnly: true,
    needsUpgrade: true,
    ownInstance: true,
    minSeconds: 10,
    quick: true,
    quickPeers: ['mosnd-2w'],
    title: '1,000 idle keep-alive connections across one `mosnd upgrade`',
  },
  {
    id: 'upgrades',
    kind: 'upgrades',
    mode: 'http',
    path: '/small',
    conns: 64,
    streams: 8,
    mosndOnly: true,
    needsUpgrade: true,
    ownInstance: true,
    minSeconds: 20,
    // Not in the --quick default (it alone takes ~30-50 s); `--only upgrades --quick` runs it.
    quick: false,
    defaultPeers: ['mosnd-2w'],
    title: '`mosnd upgrade` many times in a row under load: 64 keep-alive HTTP clients and 8 checksummed TCP streams',
  },
];

/**
 * Splits `--only a,b` into peers and scenarios. A name selects a peer or a scenario by id or id
 * prefix ("mosnd" = both mosnd peers, "tcp" = both TCP scenarios). No peer named = all peers,
 * no scenario named = the mode's default scenarios.
 */
function select(only, quick) {
  const names = (only || '').split(',').map((s) => s.trim()).filter(Boolean);
  const match = (id) => names.some((n) => id === n || id.startsWith(`${n}-`) || id.startsWith(n));
  const unknown = names.filter((n) => !PEERS.some((p) => p.id === n || p.id.startsWith(n)) && !SCENARIOS.some((s) => s.id === n || s.id.startsWith(n)));
  const peers = PEERS.filter((p) => match(p.id));
  const scenarios = SCENARIOS.filter((s) => match(s.id));
  return {
    unknown,
    peers: peers.length ? peers : PEERS,
    peersNamed: peers.length > 0,
    scenarios: scenarios.length ? scenarios : SCENARIOS.filter((s) => !s.optIn && (!quick || s.quick)),
  };
}

module.exports = { PEERS, SCENARIOS, select };
