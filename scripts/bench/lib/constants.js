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

  // After "all idle connections open", RSS is first sampled after the minimum below, then every
  // IDLE_SETTLE_STEP_MS until two samples differ by less than IDLE_SETTLE_EPSILON_BYTES or the
  // maximum is reached: a real idle proxy's allocators and GCs settle. V8 gives back the young
  // generation grown while the connections were opening in steps (its memory reducer's first step
  // comes ~8-10 s after a burst; RSS is flat before it, so no "stable" test can replace the wait).
  // 10 s is a compromise with the run's length: a fresh mosnd worker measures 6.5 KB per
  // connection at 2 s, 4.6 KB at 11 s, ~2.4 KB after 40 s; the bare-bones JS proxy, measured the
  // same way, moves alike (4.3 KB at 11 s), so compare the ratio.
  IDLE_SETTLE_MS: { quick: { min: 500, max: 500 }, full: { min: 10000, max: 15000 } },
  IDLE_SETTLE_STEP_MS: 1000,
  IDLE_SETTLE_EPSILON_BYTES: 256 * 1024,

  // Environment of the nginx peer (glibc's malloc). With glibc's defaults a
  // fresh nginx gives the top of its heap back after every 1 MB response and takes it again for
  // the next (strace: 12,655 brk calls in 4 s, every read into freshly faulted pages), so large-1m
  // measured 250-300 MB/s at 100 % CPU when it ran early in a short run and ~1,050 MB/s after
  // other scenarios had grown the heap. A long-running proxy's heap is rarely that bare; a 64 MB
  // trim threshold makes the figure the same in any order (1,044 MB/s at 362 µs of CPU per
  // request in the same short run). Read by nginx's master at its first malloc; the workers
  // inherit it through fork. HAProxy allocates buffers from its own pools: not affected (1,076 MB/s).
  GLIBC_MALLOC_ENV: { MALLOC_TRIM_THRESHOLD_: String(64 * 1024 * 1024) },

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

  // A helper process of the harness (echo server, upgrade load client) answers each IPC question
  // in milliseconds; the slowest, latency percentiles over a window of a few million responses,
  // sorts in about a second. 30 s means it is wedged.
  CHILD_REPLY_TIMEOUT_MS: 30000,

  // Graceful stop of a harness helper process before SIGKILL: they exit as soon as the harness
  // disconnects, so this only bounds a wedged one.
  CHILD_STOP_GRACE_MS: 3000,

  // Upgrade scenarios: pause between two requests of one HTTP client. 0 = back to back, as wrk
  // does: the proxy runs flat out, so the upgrade has to compete for CPU with real traffic.
  UPGRADE_HTTP_THINK_MS: 0,

  // When the upgrade load is stopped, each HTTP client finishes the request in flight and each
  // TCP stream gets back the echo of at most 64 KiB in flight: well under a second on loopback.
  // Past this time the clients still waiting are reported (the accounting is then partial).
  UPGRADE_LOAD_STOP_TIMEOUT_MS: 10000,

  // The steady window (no upgrade) before the measured upgrades is sized as N × the duration of
  // the warm-up upgrade × this margin, so that it is at least as long as the upgrade window
  // (later upgrades are not faster than the first under the same load, give or take noise);
  // the report compares equal lengths, cut from its end.
  UPGRADE_STEADY_MARGIN: 1.2,

  // The command returns once the old master has exited; its workers exit before it. The harness
  // still checks every pid of the old generation and waits for stragglers this long (past
  // mosnd's default graceful_timeout of 30 s, which bounds how long a busy connection may stay).
  OLD_GENERATION_EXIT_WAIT_MS: 35000,

  // Polling interval of that check: fine enough to time an exit to ~10 ms, cheap (one kill(0)
  // per pid).
  OLD_GENERATION_POLL_MS: 10,

  // After this many failed upgrades in a row the scenario stops upgrading (the generation that
  // serves is not upgradable any more; more attempts would only burn the time budget).
  UPGRADE_MAX_CONSECUTIVE_FAILURES: 3,

  // Time kept in reserve at the end of the budget when the upgrade loop decides whether one more
  // upgrade fits: stopping the load, reading RSS and stopping mosnd take a few seconds.
  UPGRADE_BUDGET_RESERVE_MS: 8000,

  // Idle connections across an upgrade: pause after opening them, and again after the upgrade,
  // before RSS is sampled (allocators and GC settle; the new workers finish adopting sockets).
  UPGRADE_IDLE_SETTLE_MS: 500,

  // Target for moving 1,000 idle keep-alive connections to the new generation (the goal;
  // the design notes measured ~100 ms idle and ~250-300 ms under load with a prototype).
  UPGRADE_IDLE_HANDOVER_TARGET_MS: 300,

  // HTTP/2 scenarios: streams each h2load connection keeps in flight (h2load -m). 10 is a
  // browser-like fan-out; 64 connections × 10 streams = 640 requests in flight, enough to keep a
  // one-core proxy busy without turning the run into a queueing test.
  H2LOAD_STREAMS: 10,

  // apt-get update + install of the tools takes ~10-60 s; bounded so a broken mirror cannot hang us.
  INSTALL_TIMEOUT_MS: 300000,
};
