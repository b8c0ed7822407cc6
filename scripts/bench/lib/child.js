'use strict';
// A Node helper process of the harness (servers/*.js) driven over IPC: started through the
// registry (own process group, pinned, killed with the run), asked one question at a time.

const { CHILD_REPLY_TIMEOUT_MS, CHILD_STOP_GRACE_MS } = require('./constants');

class IpcChild {
  /** @param {import('./procs').Registry} registry */
  constructor(registry, name, script, cpus) {
    this.name = name;
    this.registry = registry;
    this.proc = registry.spawn(name, process.execPath, [script], { cpus, ipc: true });
    this.pending = [];
    this.proc.child.on('message', (m) => {
      const i = this.pending.findIndex((p) => m && m.event === p.event);
      if (i >= 0) this.pending.splice(i, 1)[0].resolve(m);
    });
    this.proc.exitPromise.then(() => {
      for (const p of this.pending.splice(0)) p.reject(new Error(`${name} exited: ${this.proc.lastLines(3) || 'no output'}`));
    });
  }

  /** Resolves with the next message whose `event` is `event` (after sending `msg`, if given). */
  ask(msg, event, timeoutMs = CHILD_REPLY_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      if (this.proc.exited) {
        reject(new Error(`${this.name} exited: ${this.proc.lastLines(3) || 'no output'}`));
        return;
      }
      const timer = setTimeout(() => {
        const i = this.pending.indexOf(entry);
        if (i >= 0) this.pending.splice(i, 1);
        reject(new Error(`${this.name}: no '${event}' within ${timeoutMs} ms`));
      }, timeoutMs);
      const entry = {
        event,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.pending.push(entry);
      if (msg) this.proc.child.send(msg);
    });
  }

  async stop() {
    try {
      if (this.proc.child.connected) this.proc.child.disconnect();
    } catch {
      // already gone
    }
    await this.registry.stop(this.proc, 'SIGTERM', CHILD_STOP_GRACE_MS);
  }
}

module.exports = { IpcChild };
