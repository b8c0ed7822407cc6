'use strict';
// Peers that are small Node scripts: "node-raw" (the bare-bones JS HTTP proxy), "http-proxy-3"
// (HTTP reverse proxy) and "node-pipe" (TCP).

const fs = require('node:fs');
const path = require('node:path');
const { freePort } = require('../lib/system');
const { PEER_KEEPALIVE_TIMEOUT_S } = require('../lib/constants');
const { Unavailable, peerDir, waitReady } = require('./common');

const SERVERS = path.join(__dirname, '..', 'servers');

const nodeRaw = {
  id: 'node-raw',
  label: 'bare-bones JS proxy',
  isProxy: true,
  http: true,
  tcp: false,
  async start(ctx) {
    const dir = peerDir(ctx, 'node-raw');
    const httpPort = await freePort();
    const args = [path.join(SERVERS, 'node-raw-http.js'), String(httpPort), String(ctx.backend.port), dir];
    const proc = ctx.registry.spawn('node-raw', process.execPath, args, {
      cpus: ctx.plan.proxy,
      logFile: path.join(dir, 'stdout.log'),
    });
    await waitReady(proc, [httpPort], 'node-raw');
    return { httpPort, tcpPort: null, proc, tag: dir };
  },
};

const httpProxy3 = {
  id: 'http-proxy-3',
  label: 'http-proxy-3',
  isProxy: true,
  http: true,
  tcp: false,
  async start(ctx) {
    if (!fs.existsSync(path.join(ctx.repoRoot, 'node_modules', 'http-proxy-3'))) {
      throw new Unavailable('http-proxy-3 is not installed (npm install)');
    }
    const dir = peerDir(ctx, 'http-proxy-3');
    const httpPort = await freePort();
    const args = [path.join(SERVERS, 'http-proxy-3.js'), String(httpPort), String(ctx.backend.port), String(PEER_KEEPALIVE_TIMEOUT_S), dir];
    const proc = ctx.registry.spawn('http-proxy-3', process.execPath, args, {
      cpus: ctx.plan.proxy,
      logFile: path.join(dir, 'stdout.log'),
    });
    await waitReady(proc, [httpPort], 'http-proxy-3');
    return { httpPort, tcpPort: null, proc, tag: dir };
  },
};

const nodePipe = {
  id: 'node-pipe',
  label: 'node net pipe',
  isProxy: true,
  http: false,
  tcp: true,
  async start(ctx) {
    const dir = peerDir(ctx, 'node-pipe');
    const tcpPort = await freePort();
    const args = [path.join(SERVERS, 'node-pipe.js'), String(tcpPort), String(ctx.backend.port), dir];
    const proc = ctx.registry.spawn('node-pipe', process.execPath, args, {
      cpus: ctx.plan.proxy,
      logFile: path.join(dir, 'stdout.log'),
    });
    await waitReady(proc, [tcpPort], 'node-pipe');
    return { httpPort: null, tcpPort, proc, tag: dir };
  },
};

module.exports = { nodeRaw, httpProxy3, nodePipe };
