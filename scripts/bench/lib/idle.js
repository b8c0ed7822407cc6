'use strict';
// Harness side of servers/idle-client.js: start it on the load CPU, ask it to open/probe/close.

const path = require('node:path');
const { IDLE_OP_TIMEOUT_MS, IDLE_OPEN_CONCURRENCY } = require('./constants');

const CLIENT = path.join(__dirname, '..', 'servers', 'idle-client.js');

class IdleClient {
  constructor(registry, cpus) {
    this.registry = registry;
    this.proc = registry.spawn('idle-client', process.execPath, [CLIENT], { cpus, ipc: true });
  }

  ask(msg, event) {
    return new Promise((resolve, reject) => {
      const child = this.proc.child;
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`idle client: no '${event}' within ${IDLE_OP_TIMEOUT_MS} ms`));
      }, IDLE_OP_TIMEOUT_MS);
      const onMessage = (m) => {
        if (m && m.event === event) {
          cleanup();
          resolve(m);
        }
      };
      const onExit = () => {
        cleanup();
        reject(new Error(`idle client exited: ${this.proc.lastLines(3)}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.send(msg);
    });
  }

  open(port, urlPath, count) {
    return this.ask({ cmd: 'open', port, path: urlPath, count, concurrency: IDLE_OPEN_CONCURRENCY }, 'opened');
  }

  probe() {
    return this.ask({ cmd: 'probe', concurrency: IDLE_OPEN_CONCURRENCY }, 'probed');
  }

  async close() {
    try {
      if (this.proc.child.connected) this.proc.child.send({ cmd: 'close' });
    } catch {
      // already gone
    }
    await this.registry.stop(this.proc, 'SIGTERM', 3000);
  }
}

module.exports = { IdleClient };
