'use strict';
// Peer "nginx": one worker process, HTTP reverse proxy with an upstream keep-alive pool, the same
// proxy over HTTP/2 cleartext on a second port (`listen ... http2`: nginx 1.22's spelling of
// `http2 on`, h2c with prior knowledge), and an L4 proxy (stream module) on a third port.

const fs = require('node:fs');
const path = require('node:path');
const { freePort, NGINX_STREAM_MODULE, which } = require('../lib/system');
const { PEER_KEEPALIVE_TIMEOUT_S, GLIBC_MALLOC_ENV } = require('../lib/constants');
const { Unavailable, peerDir, waitReady, nginxPreamble, nginxHttpPaths } = require('./common');

// Idle upstream connections nginx keeps per worker: at least the largest wrk connection count so
// that the pool never forces a reconnect in the 256-connection scenario.
const UPSTREAM_KEEPALIVE = 512;

module.exports = {
  id: 'nginx',
  label: 'nginx',
  tcpLabel: 'nginx (stream)',
  isProxy: true,
  http: true,
  tcp: true,
  h2: true,
  https: true,
  async start(ctx) {
    if (!which('nginx')) throw new Unavailable('nginx is not installed');
    const dir = peerDir(ctx, 'nginx');
    const httpPort = await freePort();
    const h2Port = await freePort();
    const stream = fs.existsSync(NGINX_STREAM_MODULE);
    const tcpPort = stream ? await freePort() : null;
    const httpsPort = ctx.tlsCert ? await freePort() : null;
    const b = ctx.backend.port;
    const conf = `${stream ? `load_module ${NGINX_STREAM_MODULE};` : ''}
${nginxPreamble(dir, ctx.nofile)}
events { worker_connections ${ctx.workerConnections}; }
http {
  ${nginxHttpPaths(dir)}
  tcp_nodelay on;
  keepalive_timeout ${PEER_KEEPALIVE_TIMEOUT_S}s;
  keepalive_requests 100000000;
  upstream backend {
    server 127.0.0.1:${b};
    keepalive ${UPSTREAM_KEEPALIVE};
    keepalive_requests 100000000;
    keepalive_timeout ${PEER_KEEPALIVE_TIMEOUT_S}s;
  }
  server {
    listen 127.0.0.1:${httpPort} backlog=4096;
    listen 127.0.0.1:${h2Port} http2 backlog=4096;
    # One client connection carries every stream of h2load's: no cap on requests per connection.
    http2_max_requests 100000000;
    http2_max_concurrent_streams 128;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # Stream large bodies through memory buffers, never through temp files on disk.
      proxy_buffer_size 64k;
      proxy_buffers 16 64k;
      proxy_max_temp_file_size 0;
    }
  }
${httpsPort ? `  server {
    listen 127.0.0.1:${httpsPort} ssl backlog=4096;
    ssl_certificate ${ctx.tlsCert.cert};
    ssl_certificate_key ${ctx.tlsCert.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets on;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }` : ''}
}
${stream ? `stream {
  upstream tcp_backend { server 127.0.0.1:${b}; }
  server { listen 127.0.0.1:${tcpPort} backlog=4096; proxy_pass tcp_backend; }
}` : ''}
`;
    fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
    const proc = ctx.registry.spawn('nginx', 'nginx', ['-p', dir, '-e', path.join(dir, 'error.log'), '-c', path.join(dir, 'nginx.conf')], {
      cpus: ctx.plan.proxy,
      env: { ...process.env, ...GLIBC_MALLOC_ENV },
      logFile: path.join(dir, 'stdout.log'),
    });
    try {
      await waitReady(proc, [httpPort, h2Port, ...(stream ? [tcpPort] : []), ...(httpsPort ? [httpsPort] : [])], 'nginx');
    } catch (e) {
      let errLog = '';
      try {
        errLog = fs.readFileSync(path.join(dir, 'error.log'), 'utf8').trim().split('\n').slice(-2).join(' | ');
      } catch {
        // none
      }
      throw new Error(`${e.message} ${errLog}`);
    }
    return { httpPort, h2Port, tcpPort, httpsPort, proc, tag: dir, tcpUnavailable: stream ? null : 'nginx stream module not installed' };
  },
};
