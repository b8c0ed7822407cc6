'use strict';
// Peer "http-proxy-3": the popular Node reverse proxy library as a plain reverse proxy, with a
// keep-alive agent to the backend (the way it is deployed in practice), one process.
// Usage: node http-proxy-3.js <listenPort> <backendPort> <keepAliveSeconds> <tag>
// (tag: the run's temp dir, only there so that the harness can find and kill this process)

const http = require('node:http');
const path = require('node:path');
const { createProxyServer } = require(path.join(__dirname, '..', '..', '..', 'node_modules', 'http-proxy-3'));

const [listenPort, backendPort, keepAliveS] = process.argv.slice(2, 5).map(Number);

// Upstream pool: enough sockets for the 256-connection scenario without queueing in the agent.
const UPSTREAM_MAX_SOCKETS = 1024;

const agent = new http.Agent({ keepAlive: true, maxSockets: UPSTREAM_MAX_SOCKETS, maxFreeSockets: UPSTREAM_MAX_SOCKETS });
const proxy = createProxyServer({ target: `http://127.0.0.1:${backendPort}`, agent });
proxy.on('error', (err, req, res) => {
  if (res && typeof res.writeHead === 'function' && !res.headersSent) {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end('bad gateway\n');
  } else if (res && typeof res.destroy === 'function') {
    res.destroy();
  }
});

const server = http.createServer((req, res) => proxy.web(req, res));
// Node closes idle keep-alive connections after 5 s by default; the idle scenario keeps them
// open on purpose, like nginx/haproxy with their keep-alive timeout raised to the same value.
server.keepAliveTimeout = (keepAliveS || 300) * 1000;
server.headersTimeout = server.keepAliveTimeout + 1000;
server.listen(listenPort, '127.0.0.1', () => console.log(`http-proxy-3 listening on 127.0.0.1:${listenPort}`));
process.on('SIGTERM', () => process.exit(0));
