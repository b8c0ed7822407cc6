'use strict';
// Peer "node-pipe": the thinnest possible Node TCP proxy (net.Server + two pipes), the ceiling a
// Node L4 proxy can reach on one core.
// Usage: node node-pipe.js <listenPort> <backendPort> <tag>
// (tag: the run's temp dir, only there so that the harness can find and kill this process)

const net = require('node:net');

const [listenPort, backendPort] = process.argv.slice(2, 4).map(Number);

const server = net.createServer((down) => {
  down.setNoDelay(true);
  const up = net.connect({ host: '127.0.0.1', port: backendPort });
  up.setNoDelay(true);
  const close = () => {
    down.destroy();
    up.destroy();
  };
  down.on('error', close);
  up.on('error', close);
  down.pipe(up);
  up.pipe(down);
});
server.listen(listenPort, '127.0.0.1', () => console.log(`node-pipe listening on 127.0.0.1:${listenPort}`));
process.on('SIGTERM', () => process.exit(0));
