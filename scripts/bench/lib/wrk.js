'use strict';
// Runs wrk (pinned to the load CPU) and parses the line printed by wrk-report.lua.

const path = require('node:path');
const { WRK_EXIT_GRACE_MS, WRK_REQUEST_TIMEOUT_S } = require('./constants');

const REPORT_SCRIPT = path.join(__dirname, '..', 'wrk-report.lua');

/**
 * @param {import('./procs').Registry} registry
 * @param {{url: string, conns: number, threads: number, durationS: number, cpus: string|null, pauseMs?: number}} opts
 *   pauseMs: each connection waits this long between requests (wrk's delay(); latency excludes it)
 * @returns {Promise<object>} requests, rps, bytesPerSec, latency percentiles (ms), errors
 */
async function runWrk(registry, { url, conns, threads = 1, durationS, cpus, headers = [], pauseMs = 0 }) {
  const args = [
    ...headers.flatMap((h) => ['-H', h]),
    `-t${threads}`,
    `-c${conns}`,
    `-d${durationS}s`,
    `--timeout`,
    `${WRK_REQUEST_TIMEOUT_S}s`,
    '-s',
    REPORT_SCRIPT,
    url,
  ];
  // wrk-report.lua reads the pause between requests of a connection from the environment.
  const env = pauseMs > 0 ? { ...process.env, MOSND_BENCH_PAUSE_MS: String(pauseMs) } : undefined;
  const proc = registry.spawn('wrk', 'wrk', args, { cpus, env });
  const killer = setTimeout(() => registry.stop(proc, 'SIGKILL', 0), durationS * 1000 + WRK_EXIT_GRACE_MS);
  const exit = await proc.exitPromise;
  clearTimeout(killer);
  const m = /WRK_JSON (\{.*\})/.exec(proc.tail);
  if (!m) {
    throw new Error(`wrk gave no result (exit ${exit.code ?? exit.signal}): ${proc.lastLines(3)}`);
  }
  const r = JSON.parse(m[1]);
  const seconds = r.duration_us / 1e6;
  const socketErrors = r.err_connect + r.err_read + r.err_write + r.err_timeout;
  return {
    requests: r.requests,
    seconds,
    rps: r.requests / seconds,
    bytesPerSec: r.bytes / seconds,
    latencyMs: {
      mean: r.lat_mean_us / 1000,
      p50: r.p50_us / 1000,
      p90: r.p90_us / 1000,
      p99: r.p99_us / 1000,
      p999: r.p999_us / 1000,
      max: r.lat_max_us / 1000,
    },
    errors: {
      connect: r.err_connect,
      read: r.err_read,
      write: r.err_write,
      timeout: r.err_timeout,
      status: r.err_status, // responses with status >= 400
      total: socketErrors + r.err_status,
    },
  };
}

module.exports = { runWrk };
