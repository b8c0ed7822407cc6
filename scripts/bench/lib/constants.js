'use strict';
// Every wait of the benchmark harness, named, with the reason for its value.

module.exports = {
  // A peer (nginx, haproxy, a Node script, mosnd) must accept connections within this time after
  // spawn. nginx/haproxy are ready in milliseconds and Node scripts in ~100 ms; mosnd starts a
  // master and workers and may compile nothing at start, so 15 s is generous even on a loaded
  // 2-core machine where other jobs compete for the CPU.
  PEER_READY_TIMEOUT_MS: 15000,

  // Interval between connection attempts while waiting for a port: short enough not to add
  // visible delay to a run, long enough not to spin the CPU that the peer needs to start.
  PORT_POLL_INTERVAL_MS: 50,

  // After mosnd's ports accept connections, how long to wait for its `listening` log lines (one
  // per listener). Workers may still be starting behind a shared listening socket; warm-up covers
  // the rest, so this only avoids measuring a half-started server.
  MOSND_LISTENING_LINES_TIMEOUT_MS: 5000,

  // Graceful stop (SIGTERM) of a peer before SIGKILL: nginx/haproxy exit at once; mosnd drains
  // and may take its graceful timeout, but idle benchmark connections are closed by then, so
  // 5 s is enough and bounds the run.
  PEER_STOP_GRACE_MS: 5000,

  // wrk is killed if it has not exited this long after its own test duration: wrk stops by
  // itself, this only bounds a wedged run (e.g. a proxy that never answers, wrk --timeout below).
  WRK_EXIT_GRACE_MS: 20000,

  // Per-request timeout given to wrk: above any latency a healthy proxy shows on loopback even
  // with 256 connections and 1 MB bodies on a shared core, so a timeout means a real stall.
  WRK_REQUEST_TIMEOUT_S: 10,

  // Idle-connection client: how many connections it opens (and sends their first request on) at
  // once. Bounded so that proxies open a moderate upstream pool, as they would in real traffic,
  // instead of 10,000 upstream connections at the same instant.
  IDLE_OPEN_CONCURRENCY: 256,

  // One idle-client operation (open N connections, or probe them all) must finish within this
  // time; 10,000 connections open in about 2-5 s on this machine.
  IDLE_OP_TIMEOUT_MS: 90000,

  // Time between "all idle connections open" and the RSS sample, letting allocators and GCs settle
  // the way they would on a real idle proxy.
  IDLE_SETTLE_MS: { quick: 500, full: 2000 },

  // Idle timeouts given to every peer for client keep-alive connections: far above any scenario's
  // length so that no peer closes the "idle" connections while they are measured.
  PEER_KEEPALIVE_TIMEOUT_S: 300,

  // A `mosnd upgrade` command must finish within this time (its own default timeout is 60 s).
  MOSND_UPGRADE_TIMEOUT_MS: 90000,

  // `mosnd upgrade --help` / `mosnd version` must answer quickly; anything slower is treated as
  // "not available" rather than holding up the run.
  MOSND_PROBE_TIMEOUT_MS: 10000,

  // The hard wall-clock limit is the time budget plus this grace: past it the watchdog kills every
  // process and writes what was measured. The budget itself is checked before each measurement.
  WATCHDOG_GRACE_MS: 30000,

  // One request through a freshly started peer must be answered within this time before it is
  // measured; a proxy that cannot answer one request in 5 s on loopback is broken, not slow.
  SANITY_TIMEOUT_MS: 5000,

  // Upgrade under load: the upgrade starts this fraction into the wrk run, so that the figures
  // hold steady traffic before, during and after the handover.
  UPGRADE_AT_FRACTION: 1 / 3,

  // Upgrade under load runs at least this long (s) so that the handover, which takes a few
  // seconds, sits well inside the measurement.
  UPGRADE_LOAD_MIN_S: { quick: 5, full: 15 },

  // apt-get update + install of the tools takes ~10-60 s; bounded so a broken mirror cannot hang us.
  INSTALL_TIMEOUT_MS: 300000,
};
