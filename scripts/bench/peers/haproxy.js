'use strict';
// Peer "haproxy": one thread, HTTP mode with keep-alive to the server (connection reuse "always"),
// the same backend behind an HTTP/2 cleartext frontend (`proto h2`), and a TCP-mode frontend for
// the TCP scenarios.

const fs = require('node:fs');
const path = require('node:path');
const { freePort, which } = require('../lib/system');
const { PEER_KEEPALIVE_TIMEOUT_S } = require('../lib/constants');
const { Unavailable, peerDir, waitReady } = require('./common');

module.exports = {
  id: 'haproxy',
  label: 'HAProxy',
  tcpLabel: 'HAProxy (mode tcp)',
  isProxy: true,
  http: true,
  tcp: true,
  h2: true,
  async start(ctx) {
    if (!which('haproxy')) throw new Unavailable('haproxy is not installed');
    const dir = peerDir(ctx, 'haproxy');
    const httpPort = await freePort();
    const h2Port = await freePort();
    const tcpPort = await freePort();
    const b = ctx.backend.port;
    // An idle or pooled HTTP connection costs haproxy one fd, so the idle scenario needs maxconn
    // near the open-file limit. haproxy wants 2 x maxconn fds; with "no strict-limits" it warns
    // instead of refusing to start when the hard limit (not raisable without CAP_SYS_RESOURCE)
    // is lower, which is fine for these loads (the L4 scenarios use at most 2 x 256 fds).
    const maxconn = Math.max(1000, Math.min(30000, ctx.nofile - 1000));
    const t = `${PEER_KEEPALIVE_TIMEOUT_S}s`;
    const conf = `
global
  nbthread 1
  no strict-limits
  maxconn ${maxconn}
  pidfile ${dir}/haproxy.pid

defaults
  mode http
  maxconn ${maxconn}
  option http-keep-alive
  timeout connect 5s
  timeout client ${t}
  timeout server ${t}
  timeout http-keep-alive ${t}
  timeout http-request ${t}

frontend fe_http
  bind 127.0.0.1:${httpPort}
  default_backend be_http

frontend fe_h2
  bind 127.0.0.1:${h2Port} proto h2
  default_backend be_http

backend be_http
  http-reuse always
  server s1 127.0.0.1:${b}

frontend fe_tcp
  mode tcp
  bind 127.0.0.1:${tcpPort}
  default_backend be_tcp

backend be_tcp
  mode tcp
  server s1 127.0.0.1:${b}
`;
    const file = path.join(dir, 'haproxy.cfg');
    fs.writeFileSync(file, conf);
    const proc = ctx.registry.spawn('haproxy', 'haproxy', ['-db', '-f', file], {
      cpus: ctx.plan.proxy,
      logFile: path.join(dir, 'stdout.log'),
    });
    await waitReady(proc, [httpPort, h2Port, tcpPort], 'haproxy');
    return { httpPort, h2Port, tcpPort, proc, tag: dir };
  },
};
