'use strict';
// Shared pieces of the peer modules.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { waitPort } = require('../lib/system');
const { PEER_READY_TIMEOUT_MS } = require('../lib/constants');

/** A peer that cannot run on this machine now (tool missing, mosnd not built yet...). */
class Unavailable extends Error {}

/** A private directory for one peer inside the run's temp directory (mode 0755 so that a tool's
 * worker processes can read it whatever user they run as). */
function peerDir(ctx, name) {
  const dir = path.join(ctx.tmp, name);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** Waits until every port accepts; throws with the peer's last output lines otherwise. */
async function waitReady(proc, ports, what) {
  for (const port of ports) {
    const ok = await waitPort(port, PEER_READY_TIMEOUT_MS, proc);
    if (!ok) {
      const why = proc.exited ? `exited (${proc.exited.code ?? proc.exited.signal})` : `not accepting on ${port} after ${PEER_READY_TIMEOUT_MS} ms`;
      throw new Error(`${what} ${why}: ${proc.lastLines(3) || 'no output'}`);
    }
  }
}

/** nginx directives that keep every path of an nginx instance inside its own prefix directory. */
function nginxPreamble(dir, nofile) {
  // nginx started as root would switch its workers to "nobody"; keep them as the current user.
  const user = process.getuid && process.getuid() === 0 ? `user ${os.userInfo().username};` : '';
  return `
${user}
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile ${nofile};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
`;
}

function nginxHttpPaths(dir) {
  return `
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    access_log off;
`;
}

module.exports = { Unavailable, peerDir, waitReady, nginxPreamble, nginxHttpPaths };
