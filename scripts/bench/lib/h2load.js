'use strict';
// Runs h2load (nghttp2's HTTP/2 load generator, pinned to the load CPU) over h2c with prior
// knowledge and parses its summary into the shape runWrk gives, so the report and the ratios
// treat both tools alike. h2load prints the mean latency, not percentiles: those cells stay "—".

const { WRK_EXIT_GRACE_MS, H2LOAD_STREAMS } = require('./constants');

const UNIT_MS = { us: 1e-3, ms: 1, s: 1000 };

/** "160us" / "2.56ms" / "1.2s" → ms */
function toMs(text) {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2]] : null;
}

/** Parses h2load's summary; throws when there is none. */
function parseH2load(out) {
  const fin = /finished in ([\d.]+)s, ([\d.]+) req\/s/.exec(out);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const traffic = /traffic: [^(]*\((\d+)\) total/.exec(out);
  const lat = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
  if (!fin || !req) return null;
  const seconds = Number(fin[1]);
  const succeeded = Number(req[4]);
  // As wrk counts them (wrk-report.lua): responses with status >= 400.
  const nonOk = codes ? Number(codes[3]) + Number(codes[4]) : 0;
  return {
    requests: succeeded,
    seconds,
    rps: succeeded / seconds,
    bytesPerSec: traffic ? Number(traffic[1]) / seconds : 0,
    latencyMs: { mean: lat ? toMs(lat[3]) : null, p50: null, p90: null, p99: null, p999: null, max: lat ? toMs(lat[2]) : null },
    errors: {
      failed: Number(req[5]) - Number(req[6]) - Number(req[7]),
      errored: Number(req[6]),
      timeout: Number(req[7]),
      status: nonOk,
      total: Number(req[5]) + nonOk,
    },
  };
}

/**
 * @param {import('./procs').Registry} registry
 * @param {{url: string, conns: number, streams?: number, durationS: number, cpus: string|null}} opts
 */
async function runH2load(registry, { url, conns, streams = H2LOAD_STREAMS, durationS, cpus }) {
  const args = ['-c', String(conns), '-m', String(streams), '-t', '1', '-D', String(durationS), url];
  const proc = registry.spawn('h2load', 'h2load', args, { cpus });
  const killer = setTimeout(() => registry.stop(proc, 'SIGKILL', 0), durationS * 1000 + WRK_EXIT_GRACE_MS);
  const exit = await proc.exitPromise;
  clearTimeout(killer);
  const r = parseH2load(proc.tail);
  if (!r) throw new Error(`h2load gave no result (exit ${exit.code ?? exit.signal}): ${proc.lastLines(3)}`);
  return r;
}

module.exports = { runH2load, parseH2load };
