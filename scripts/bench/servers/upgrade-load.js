'use strict';
// Load client of the upgrade scenarios, driven by the harness over IPC. It runs the project's own
// strict-accounting load (test/helpers/load.js): keep-alive HTTP clients that each own exactly
// one TCP connection (a reconnect is counted, never hidden) and checksummed echo streams through
// a tcp_proxy listener. It keeps a timeline (time -> responses so far) so that the harness can
// ask for latency percentiles of any time window after the fact.
//
// Messages in:  {cmd:'start', httpPort, tcpPort, path, clients, streams, thinkMs}
//               {cmd:'window', fromMs, toMs}   (times in this process's clock, as in 'now')
//               {cmd:'now'} | {cmd:'stop', timeoutMs}
// Messages out: {event:'started', atMs} | {event:'now', atMs, responses, tcpReceived}
//               {event:'window', requests, seconds, p50, p99, max}
//               {event:'stopped', http, tcp, stopTimedOut}

const path = require('node:path');
const { httpLoad, tcpStreams } = require(path.join(__dirname, '..', '..', '..', 'test', 'helpers', 'load.js'));

// Timeline resolution: a window's edges are known to this precision. Upgrade and steady windows
// last seconds to minutes, so 20 ms is far below what could move a percentile.
const TIMELINE_STEP_MS = 20;
// Error texts kept verbatim in the report (the rest are only counted by kind).
const ERROR_SAMPLES = 10;

const t0 = process.hrtime.bigint();
const nowMs = () => Number(process.hrtime.bigint() - t0) / 1e6;

let web = null;
let streams = null;
let clients = 0;
/** [atMs, responses so far] every TIMELINE_STEP_MS. */
const timeline = [];
let ticker = null;

function sample() {
  if (web) timeline.push([nowMs(), web.stats.latencies.length]);
}

/** Number of responses completed at time `ms` (by the timeline). */
function responsesAt(ms) {
  let lo = 0;
  let hi = timeline.length - 1;
  if (hi < 0 || ms <= timeline[0][0]) return 0;
  if (ms >= timeline[hi][0]) return web.stats.latencies.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (timeline[mid][0] <= ms) lo = mid;
    else hi = mid - 1;
  }
  return timeline[lo][1];
}

function percentiles(values) {
  if (values.length === 0) return { p50: null, p99: null, max: null };
  const s = Float64Array.from(values).sort();
  const at = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50: at(0.5), p99: at(0.99), max: s[s.length - 1] };
}

/** "client 3: ECONNRESET" -> "ECONNRESET"; "stream 2: byte 17 differs" -> "byte differs". */
function kindOf(text) {
  const rest = text.replace(/^(client|stream) \d+: /, '');
  return rest.replace(/\d+/g, 'N');
}

function summarizeErrors(list) {
  const byKind = {};
  for (const e of list) byKind[kindOf(e)] = (byKind[kindOf(e)] || 0) + 1;
  return { total: list.length, byKind, samples: list.slice(0, ERROR_SAMPLES) };
}

process.on('message', async (msg) => {
  if (msg.cmd === 'start') {
    clients = msg.clients;
    web = httpLoad(msg.httpPort, { clients: msg.clients, path: msg.path, thinkMs: msg.thinkMs });
    streams = msg.streams > 0 ? tcpStreams(msg.tcpPort, { streams: msg.streams }) : null;
    ticker = setInterval(sample, TIMELINE_STEP_MS);
    sample();
    process.send({ event: 'started', atMs: nowMs() });
  } else if (msg.cmd === 'now') {
    sample();
    process.send({ event: 'now', atMs: nowMs(), responses: web ? web.stats.latencies.length : 0, tcpReceived: streams ? streams.stats.received : 0 });
  } else if (msg.cmd === 'window') {
    sample();
    const from = responsesAt(msg.fromMs);
    const to = responsesAt(msg.toMs);
    const seconds = (msg.toMs - msg.fromMs) / 1000;
    process.send({ event: 'window', requests: to - from, seconds, ...percentiles(web.stats.latencies.slice(from, to)) });
  } else if (msg.cmd === 'stop') {
    clearInterval(ticker);
    // A client waiting for a response that never comes would hold stop() forever: bound it.
    let timedOut = false;
    const bound = new Promise((r) => setTimeout(() => r((timedOut = true)), msg.timeoutMs).unref());
    await Promise.race([Promise.all([web.stop(), streams ? streams.stop() : null]), bound]);
    const h = web.stats;
    const reply = {
      event: 'stopped',
      stopTimedOut: timedOut,
      http: {
        clients,
        ok: h.ok,
        failed: h.failed,
        statuses: h.statuses,
        connects: h.connects,
        closes: h.closes,
        responses: h.latencies.length,
        errors: summarizeErrors(h.errors),
        ...percentiles(h.latencies),
      },
      tcp: streams
        ? {
            streams: streams.stats.streams,
            sent: streams.stats.sent,
            received: streams.stats.received,
            mismatches: streams.stats.mismatches,
            connects: streams.stats.connects,
            closes: streams.stats.closes,
            errors: summarizeErrors(streams.stats.errors),
          }
        : null,
    };
    process.send(reply, () => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
