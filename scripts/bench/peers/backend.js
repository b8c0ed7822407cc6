'use strict';
// The backend every peer proxies to: nginx serving a fixed small response at /small and a 1 MB
// file at /1m.bin, one worker, pinned with the load generator. nginx answers in a few
// microseconds of CPU per request, so it is not what limits a proxy on its own CPU.

const fs = require('node:fs');
const path = require('node:path');
const { freePort } = require('../lib/system');
const { PEER_KEEPALIVE_TIMEOUT_S } = require('../lib/constants');
const { peerDir, waitReady, nginxPreamble, nginxHttpPaths } = require('./common');

const SMALL_BODY = 'hello from the mosnd bench backend\n';
const LARGE_BYTES = 1024 * 1024;

async function startBackend(ctx) {
  const dir = peerDir(ctx, 'backend');
  const www = path.join(dir, 'www');
  fs.mkdirSync(www, { recursive: true, mode: 0o755 });
  const large = Buffer.alloc(LARGE_BYTES);
  for (let i = 0; i < LARGE_BYTES; i++) large[i] = 97 + (i % 26);
  fs.writeFileSync(path.join(www, '1m.bin'), large, { mode: 0o644 });
  const port = await freePort();
  const conf = `${nginxPreamble(dir, ctx.nofile)}
events { worker_connections ${ctx.workerConnections}; }
http {
  ${nginxHttpPaths(dir)}
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout ${PEER_KEEPALIVE_TIMEOUT_S}s;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /small { default_type text/plain; return 200 "${SMALL_BODY.replace('\n', '\\n')}"; }
    location / { root ${www}; default_type application/octet-stream; }
  }
}
`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const proc = ctx.registry.spawn('backend', 'nginx', ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf')], {
    cpus: ctx.plan.load,
    logFile: path.join(dir, 'stdout.log'),
  });
  await waitReady(proc, [port], 'backend nginx');
  return { port, proc, smallBytes: Buffer.byteLength(SMALL_BODY), largeBytes: LARGE_BYTES };
}

module.exports = { startBackend, SMALL_BODY, LARGE_BYTES };
