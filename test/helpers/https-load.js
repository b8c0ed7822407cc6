'use strict';
/**
 * Keep-alive HTTPS load as real clients do it: each client is Node's https.Agent with one
 * keep-alive socket, sending GETs back to back. A GET that fails on a *reused* connection with
 * no answer byte (the server closed the idle connection as the request crossed it) is retried
 * once on a new connection — what curl, browsers and undici do, and what Node's docs show
 * (`req.reusedSocket`). Anything else is a failure.
 *
 * Counted: requests ok, failures (with their errors), retries, TLS connections opened and how
 * many of them resumed their session (ticket), answers carrying `Connection: close`.
 */
const https = require('node:https');

/** Pause between a client's requests: steady load that leaves the 2 cores some room. */
const THINK_MS = 2;
/** One request must be answered this soon (an upgrade takes about a second). */
const REQUEST_TIMEOUT_MS = 10_000;

function httpsLoad(port, { clients = 16, ca, servername, path = '/', thinkMs = THINK_MS } = {}) {
  const stats = { ok: 0, failed: 0, errors: [], retries: 0, connections: 0, resumed: 0, closeAnswers: 0 };
  let running = true;

  function once(agent) {
    return new Promise((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port, path, agent, ca, servername, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.headers.connection === 'close') stats.closeAnswers++;
          if (res.statusCode === 200) resolve();
          else reject(Object.assign(new Error(`status ${res.statusCode}`), { final: true }));
        });
        res.on('error', (e) => reject(Object.assign(e, { final: true })));
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('request timeout'), { final: true })));
      req.on('error', (e) => {
        // Retryable: the reused connection was closed under a request that got no answer byte.
        e.retryable = req.reusedSocket && !e.final && (e.code === 'ECONNRESET' || e.code === 'EPIPE');
        reject(e);
      });
    });
  }

  async function client() {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    agent.on('free', () => {});
    const seen = new WeakSet();
    agent.createConnection = ((orig) =>
      function create(opts, cb) {
        const s = orig.call(this, opts, cb);
        if (!seen.has(s)) {
          seen.add(s);
          stats.connections++;
          s.once('secureConnect', () => {
            if (s.isSessionReused()) stats.resumed++;
          });
        }
        return s;
      })(agent.createConnection);
    while (running) {
      try {
        await once(agent);
        stats.ok++;
      } catch (e) {
        if (e.retryable) {
          stats.retries++;
          try {
            await once(agent);
            stats.ok++;
          } catch (e2) {
            stats.failed++;
            if (stats.errors.length < 20) stats.errors.push(`after a retry: ${e2.code ?? ''} ${e2.message}`);
          }
        } else {
          stats.failed++;
          if (stats.errors.length < 20) stats.errors.push(`${e.code ?? ''} ${e.message}`);
        }
      }
      if (thinkMs > 0) await new Promise((r) => setTimeout(r, thinkMs));
    }
    agent.destroy();
  }

  const all = Array.from({ length: clients }, () => client());
  return {
    stats,
    async stop() {
      running = false;
      await Promise.all(all);
      return stats;
    },
  };
}

module.exports = { httpsLoad };
