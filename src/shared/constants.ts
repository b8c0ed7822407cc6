/**
 * Every timing and size limit mosnd uses, in one place, each with the reason for its value
 * (Pingora's habit). Config values override some of these per listener or cluster.
 */

// ---- supervisor -------------------------------------------------------------------------

/** A worker must say `ready` within this time after spawn: loading the code and config takes
 *  ~150 ms on these machines; 10 s leaves room for a loaded box without hiding a hung worker. */
export const WORKER_READY_TIMEOUT_MS = 10_000;

/** First respawn delay after a worker dies; doubled on each further death in the crash window. */
export const RESPAWN_BACKOFF_INITIAL_MS = 100;

/** Respawn delay ceiling: a crash-looping worker is retried at most this often. */
export const RESPAWN_BACKOFF_MAX_MS = 10_000;

/** Deaths of one worker slot within CRASH_WINDOW_MS after which the slot is given up (and
 *  reported) instead of respawned: 5 quick deaths is a bug, not bad luck. */
export const CRASH_LOOP_LIMIT = 5;
export const CRASH_WINDOW_MS = 60_000;

/** A worker that stays up this long has its backoff reset: it was healthy. */
export const RESPAWN_BACKOFF_RESET_MS = 30_000;

/** After graceful_timeout, workers get this much longer to exit before SIGKILL: the
 *  worker's own deadline fires first; this only covers a wedged event loop. */
export const STOP_KILL_GRACE_MS = 2_000;

/** A reload's config must be applied by every worker within this time, else the reload is
 *  reported as failed for that worker (which is then restarted with the new config). */
export const WORKER_RELOAD_ACK_TIMEOUT_MS = 5_000;

/** `mosnd status` asks each ready (or draining) worker for its figures, all at once, and waits
 *  this long for each: a worker answers from its event loop in milliseconds, and one starved of
 *  CPU on a loaded box still gets a slice within a second or two (the watchdog's premise; with
 *  1 s a healthy worker was listed unresponsive under test load). One that has not answered by
 *  then is listed as `unresponsive` (no figures) rather than holding up the reply. Not asked,
 *  so never waited for: a worker still starting (it has served nothing) and one the watchdog
 *  already finds silent (as many pings unanswered as it warns at). */
export const WORKER_STATS_TIMEOUT_MS = 2_000;

/** During an upgrade the serving master asks the old one for its workers' figures
 *  (draining-control.ts): the old master's answer waits at most WORKER_STATS_TIMEOUT_MS for
 *  its workers, plus 2 s for connecting and the call on a loaded machine (half a second was
 *  seen to run out at a load average of 14); past that the draining rows show without
 *  figures rather than making `mosnd status` hang on a wedged old master. Together they stay
 *  well inside the CLI's CONTROL_STATUS_DEADLINE_MS. */
export const OLDER_GENERATION_STATUS_TIMEOUT_MS = WORKER_STATS_TIMEOUT_MS + 2_000;

/** How often the master takes each worker's metrics snapshot: a worker killed by SIGKILL
 *  loses at most this much of its counts, and one IPC round trip per worker per second is
 *  noise. */
export const METRICS_POLL_INTERVAL_MS = 1_000;

/** A scrape waits this long for a worker's fresh snapshot, then uses its last one: a busy
 *  worker answers in milliseconds; Prometheus' default scrape timeout is 10 s. */
export const SCRAPE_WORKER_TIMEOUT_MS = 1_000;

/** After a worker's exit, the metrics carried to the next generation wait this long for its
 *  IPC channel to close (its final snapshot comes before the close): the kernel delivers what
 *  is in the pipe at once, so this only bounds a wedged channel. */
export const METRICS_RETIRE_WAIT_MS = 2_000;

/**
 * The worker watchdog (src/master/watchdog.ts), like Envoy's guard dog: the master pings every
 * ready worker each WATCHDOG_INTERVAL_MS and the worker answers from its event loop, so a
 * wedged loop (an endless JS loop, a SIGSTOP) cannot. Thresholds count consecutive intervals
 * without any answer, not wall-clock time, so a master that itself stalled (a loaded box, a
 * VM paused) misses one interval, not ten, and does not kill every worker when it wakes.
 *
 * One ping per second is one IPC message per worker per second, next to the metrics poll.
 */
export const WATCHDOG_INTERVAL_MS = 1_000;

/** Silence logged at warn ("worker N unresponsive for X ms"): three unanswered pings. A GC
 *  pause in Node is tens of ms, a full mark-compact of a large heap well under a second; a
 *  worker silent for 3 s is in trouble even if it recovers (an info line says so if it does). */
export const WATCHDOG_WARN_MS = 3_000;

/** Silence after which the worker is killed with SIGKILL and respawned through the normal
 *  respawn path (backoff, crash-loop limit). 10 s tolerates long GC pauses and a 2-core box
 *  loaded by other work (a worker starved of CPU still gets a slice within a second or two);
 *  a wedged worker's connections, and the ones it accepted before wedging, then fail in
 *  seconds instead of hanging for good. The master reads MOSND_WATCHDOG_KILL_MS to change it (a
 *  test and ops knob; 0 turns the watchdog off, e.g. to stop a worker at an inspector
 *  breakpoint); a shorter value scales the interval and the warn threshold down with it. */
export const WATCHDOG_KILL_MS = 10_000;

/** The watchdog ticks at most this often, however short a test makes the kill threshold:
 *  100 IPC messages per worker per second is already far more than a liveness check needs. */
export const WATCHDOG_MIN_INTERVAL_MS = 10;

/** The container keeper (keeper.ts) looks at the pidfile and reaps this often: a stop of the
 *  serving master is noticed within half a second, at the cost of one file read. */
export const KEEPER_POLL_MS = 500;

/** `mosnd start --daemon` waits this long for the daemon to report ready. */
export const DAEMON_READY_TIMEOUT_MS = 30_000;

/** How often `mosnd stop` and `mosnd start --daemon` look at the other process: a tenth of a
 *  second is below what a person notices and costs one kill(0) or one status call. */
export const CLI_POLL_INTERVAL_MS = 100;

/** After a successful upgrade the old master exits within ~50 ms of its last event; `mosnd
 *  upgrade` waits for that (so a script sees one generation afterwards) at most this long:
 *  past 5 s something holds it, and the command returns anyway (the upgrade succeeded). */
export const UPGRADE_OLD_MASTER_EXIT_WAIT_MS = 5_000;

/** How often `mosnd upgrade` looks whether the old master has exited: short, the exit is
 *  expected within tens of ms and the command's duration is what operators measure. */
export const UPGRADE_OLD_MASTER_POLL_MS = 10;

/** The old master leaves this long after emitting the upgrade's final event, so the event
 *  reaches the CLI before the control socket closes under it (a local write is flushed in
 *  the next loop turns; 50 ms is plenty and does not delay the exit noticeably). */
export const UPGRADE_FINAL_EVENT_FLUSH_MS = 50;

/** `mosnd status --watch` redraws this often by default: pm2 monit's pace, and cheap for the
 *  master (one status call samples every process with pidusage). */
export const STATUS_WATCH_INTERVAL_MS = 2_000;

/** The shortest --interval `mosnd status --watch` accepts: each frame costs the master a
 *  status call (pidusage of every process, ~100 ms on a loaded box), so faster is no view. */
export const STATUS_WATCH_MIN_INTERVAL_MS = 100;

/** `mosnd stop` waits for the master to exit for the master's own graceful_timeout (it says
 *  it in its answer to Stop; 0 for a fast stop) plus this margin, which covers what may follow
 *  the drain deadline: STOP_KILL_GRACE_MS (2 s) before wedged workers are killed, then up to
 *  CONTROL_CLOSE_GRACE_MS (2 s) for control calls still open, and the exit itself. */
export const STOP_WAIT_MARGIN_MS = 5_000;

// ---- control API (CLI ⇄ master, control.proto) ------------------------------------------

/**
 * How long the master may take to accept the control connection (the gRPC channel READY:
 * the socket connected and the master's HTTP/2 SETTINGS received) before the CLI says it is
 * hung. Both ends are Node processes that must each get the CPU for a few loop turns: idle,
 * that takes a few ms; with two test files of real masters and workers on a 2-core box, 2 s
 * was exceeded (a `status` failed while the master was fine). 5 s is past any scheduling
 * delay seen there, and still what an operator waits before concluding the master is wedged
 * (SIGSTOP, endless loop); a master that is not running at all is reported at once.
 */
export const CONTROL_CONNECT_TIMEOUT_MS = 5_000;

/** Status: the connect above, then the master's own work, bounded by WORKER_STATS_TIMEOUT_MS
 *  (workers asked at once) and a ~100 ms cpu/memory sample, each stretched on a loaded box. */
export const CONTROL_STATUS_DEADLINE_MS = 10_000;

/** Stop answers once the stop is accepted (the drain happens after the reply): the connect
 *  above plus a loop turn of the master. */
export const CONTROL_STOP_DEADLINE_MS = 10_000;

/** Reload reads and validates the file, then every worker applies it within
 *  WORKER_RELOAD_ACK_TIMEOUT_MS; 30 s is far past that. */
export const CONTROL_RELOAD_DEADLINE_MS = 30_000;

/** Added to the upgrade's own timeout for the Upgrade call's deadline: after the new
 *  generation's deadline the master still rolls back and reports, so the client must outwait it. */
export const CONTROL_UPGRADE_DEADLINE_MARGIN_MS = 15_000;

/** Default for `mosnd upgrade --timeout`: from spawn to the new generation ready. Loading Node
 *  and mosnd takes ~300 ms and a worker is ready in about a second; a minute covers a loaded
 *  machine and a slow disk without leaving an operator waiting on a new generation that hangs. */
export const DEFAULT_UPGRADE_TIMEOUT_MS = 60_000;

/** How long the control server's close() lets calls in flight finish before cutting them.
 *  Status, stop and reload answer in milliseconds; an upgrade stream still open at close time
 *  has sent its final event already or is being abandoned, so waiting longer only delays the
 *  master's exit. */
export const CONTROL_CLOSE_GRACE_MS = 2_000;

// ---- admin API and metrics sink (master) ---------------------------------------------------

/** close() lets admin requests in flight finish this long (a scrape takes milliseconds;
 *  /quitquitquit answers before the stop), then cuts them: it must not delay the exit. */
export const ADMIN_CLOSE_GRACE_MS = 1_000;

/** An admin client must send its request head within this time (slowloris guard). */
export const ADMIN_HEADERS_TIMEOUT_MS = 10_000;

/** A whole admin request (head and body, at most 64 KiB) within this time: three times the
 *  head's allowance, so only a client trickling its body is cut. */
export const ADMIN_REQUEST_TIMEOUT_MS = 3 * ADMIN_HEADERS_TIMEOUT_MS;

/** Idle keep-alive admin connections close after this (curl and Prometheus reconnect). */
export const ADMIN_KEEPALIVE_TIMEOUT_MS = 5_000;

// ---- worker exit --------------------------------------------------------------------------

/** After the drain deadline (or a handover), connections still open are cut; this bounds the
 *  final flush of what was written to them before the worker exits. */
export const WORKER_EXIT_FLUSH_MS = 100;

/** A graceful worker exit sends its last metrics snapshot first (so the master's counters lose
 *  nothing); writing a few KiB to the IPC pipe takes microseconds, so a master that has not
 *  taken it in half a second is stuck and the worker exits anyway. */
export const WORKER_FINAL_METRICS_WAIT_MS = 500;

// ---- proxy: downstream ---------------------------------------------------------------------

/** Largest request head (request line + headers) accepted: 64 KiB like Envoy's default
 *  max_request_headers_kb (60) rounded up; beyond it 431. */
export const MAX_HEADER_BYTES = 64 * 1024;

/** Longest request line accepted before 414: nginx uses 8 KiB buffers for it. */
export const MAX_REQUEST_LINE_BYTES = 8 * 1024;

/** Most header fields in one message: Envoy's default max_headers_count is 100. */
export const MAX_HEADER_COUNT = 100;

/**
 * Accept queue of every listening socket (the listen() backlog; the kernel caps it at
 * net.core.somaxconn). Node's default, 511, overflows when a burst of clients connects at once
 * (a load balancer's pool, clients reconnecting after a restart): the kernel drops the SYNs it
 * cannot queue and those clients retry after 1 s, then 3 s. 1,024 is Envoy's tcp_backlog_size
 * default. (It is not what made the bench's 1,000-connection p99 long: see ACCEPT_BATCH_MAX.)
 */
export const LISTEN_BACKLOG = 1024;

/**
 * Connections taken from a listener's accept queue per event-loop turn (worker/accept-batch.ts).
 * libuv 1.45+ (Node 20) accepts one connection each time the loop finds the listening socket
 * readable; a turn that serves 1,000 busy connections lasts 10-20 ms, so a burst of 1,000 new
 * clients waited in the queue for seconds (measured: 60-70 accepts/s, first requests' p99 1-6 s).
 * 64 clears that burst in ~16 turns while one turn's extra work stays bounded (~64 socket
 * objects, a few ms), so the connections already open are not starved by the newcomers and a
 * worker does not take a whole queue that its siblings could share.
 */
export const ACCEPT_BATCH_MAX = 64;

/** A client must complete its request head within this time (slowloris guard), like
 *  nginx client_header_timeout 60s. */
export const REQUEST_HEAD_TIMEOUT_MS = 60_000;

/** An idle keep-alive client connection is closed after this (nginx keepalive_timeout 75s;
 *  Envoy idle_timeout 1h is too generous for a default). */
export const DOWNSTREAM_IDLE_TIMEOUT_MS = 75_000;

/**
 * Lingering close (nginx's lingering_timeout / lingering_time): after answering a request
 * whose body was not read (an error, a local reply) the worker sends its FIN and reads and
 * discards what the client still sends, because closing with unread bytes makes the kernel
 * send RST, and a client that gets RST may lose the answer it had not read yet. The socket is
 * closed once the client closes, after LINGER_IDLE_MS without a byte from it (nginx's 5 s: a
 * client still uploading sends more often than that), or after LINGER_MAX_MS in all (nginx's
 * 30 s: a client that never stops uploading does not hold the socket forever).
 */
export const LINGER_IDLE_MS = 5_000;
export const LINGER_MAX_MS = 30_000;

/** On a graceful stop, a connection younger than this that has not sent its first request
 *  yet is given until this age to send it (a client connects in order to send a request;
 *  closing right after accept would drop one already in the kernel). */
export const DRAIN_FRESH_CONNECTION_GRACE_MS = 1_000;

/** Longest chunk-size line (hex digits + extensions) accepted in a chunked body. */
export const MAX_CHUNK_LINE_BYTES = 4 * 1024;

// ---- proxy: upstream -----------------------------------------------------------------------

/** How long a response head may take to arrive when the route sets no timeout: Envoy's 15 s
 *  route default. */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

/** The route and per-try timeouts are checked by one sweep per worker at this period instead
 *  of a timer per request (creating and clearing one cost ~1 µs of every request): a timeout
 *  fires at most this late. Timeouts are configured in hundreds of milliseconds or more, so
 *  25 ms is well inside their precision, and 40 sweeps a second over the requests in flight
 *  cost nothing measurable. */
export const EXCHANGE_TIMEOUT_SWEEP_MS = 25;

/** An upstream connection carrying an exchange that sends nothing for this long is closed
 *  (the client then sees 504 before the head, a closed connection after it): Envoy's
 *  stream_idle_timeout default of 5 minutes. */
export const UPSTREAM_STREAM_IDLE_TIMEOUT_MS = 300_000;

/**
 * Idle timeouts of HTTP/1.1 connections (client and upstream) are checked by one sweep per
 * worker (src/worker/idle-sweep.ts) instead of a Node socket timer each: a socket timer is
 * re-armed on every read and every write, four times per proxied request. The sweep runs every
 * idle timeout / IDLE_SWEEP_DIVISOR, between IDLE_SWEEP_MIN_MS and IDLE_SWEEP_MAX_MS, so a
 * timeout fires at most a quarter of itself late (at most 1 s for the 75 s default, which is
 * inside what a keep-alive timeout means), and 10,000 idle connections cost 10,000 cheap checks
 * a second.
 */
export const IDLE_SWEEP_DIVISOR = 4;
export const IDLE_SWEEP_MIN_MS = 25;
export const IDLE_SWEEP_MAX_MS = 1_000;

/** Largest upstream response head accepted before answering 502. */
export const MAX_RESPONSE_HEADER_BYTES = 64 * 1024;

/** Interim (1xx) heads accepted before one final response; past it the answer is a 502 and the
 *  upstream connection is closed. A real server sends one 100 and perhaps a 103 or a few 102s
 *  on a long request; 32 leaves room for those and bounds a flood (an upstream once sent
 *  20,000 and, through a recursion since removed, killed the worker). */
export const MAX_INTERIM_RESPONSES = 32;

/** TCP keep-alive probe delay on proxied sockets: detects dead peers of idle long-lived
 *  streams within minutes instead of hours. */
export const TCP_KEEPALIVE_DELAY_MS = 60_000;

/** How many different hosts tcp_proxy tries before giving up on a client connection. */
export const TCP_PROXY_MAX_CONNECT_ATTEMPTS = 3;

/** The overload manager (src/worker/overload.ts) stops an action only this far (as a ratio)
 *  below the threshold that started it: without the gap a worker hovering at the threshold
 *  would flip between shedding and serving at every refresh. */
export const OVERLOAD_RECOVERY_MARGIN = 0.1;

/** At start (and in a new generation of an upgrade) the master waits this long for the first
 *  resolution of STRICT_DNS / LOGICAL_DNS names before spawning workers, so they start with
 *  the resolved host set (Envoy warms such clusters the same way). A working resolver answers
 *  in milliseconds; glibc's default is 5 s per attempt, so one slow attempt still lands while a
 *  dead resolver delays the start by no more than this. Past it the names resolve per connect
 *  until the first round ends and its set is pushed. */
export const DNS_WARMING_TIMEOUT_MS = 5_000;

// ---- HTTP/2 downstream (src/worker/h2/) ----

/** SETTINGS_MAX_CONCURRENT_STREAMS we announce: each stream may hold an upstream connection
 *  (HTTP/1.1 upstreams carry one request each), so this bounds what one client connection can
 *  open upstream. 100 is the floor RFC 9113 §6.5.2 recommends and what browsers expect. */
export const H2_MAX_CONCURRENT_STREAMS = 100;

/** SETTINGS_MAX_HEADER_LIST_SIZE (decoded bytes, RFC 9113 §6.5.2): the same bound as an
 *  HTTP/1.1 request head (MAX_HEADER_BYTES), so both protocols accept the same requests. */
export const H2_MAX_HEADER_LIST_BYTES = MAX_HEADER_BYTES;

/** Header fields per HTTP/2 request: the HTTP/1.1 bound (MAX_HEADER_COUNT) plus the four
 *  pseudo-header fields (:method, :path, :authority, :scheme). */
export const H2_MAX_HEADER_FIELDS = MAX_HEADER_COUNT + 4;

/** Rapid reset (CVE-2023-44487): a client may reset at most this many of its streams within
 *  H2_RAPID_RESET_WINDOW_MS; one more and the connection gets GOAWAY ENHANCE_YOUR_CALM and is
 *  closed. Every reset stream cost us a dispatch and maybe an upstream connect. A browser
 *  cancels a handful of streams on a navigation; an attack sends thousands a second. */
export const H2_RAPID_RESET_MAX = 200;

/**
 * A drained HTTP/2 connection gets two GOAWAYs (RFC 9113 §6.8, as Envoy and nghttp2's own
 * servers do): first one with the highest stream id, which tells the client to open no new
 * stream here while every stream it already sent still counts, then, one round trip later
 * (a PING answered), the final one with the last stream id really processed. A single GOAWAY
 * would refuse the streams that were on the wire when it was sent. If the PING is not answered
 * within this time (a stalled client), the final GOAWAY goes anyway: a client's round trip on
 * the networks mosnd serves is well under a second.
 */
export const H2_GOAWAY_RTT_MAX_MS = 1_000;
export const H2_RAPID_RESET_WINDOW_MS = 10_000;

// ---- gRPC ------------------------------------------------------------------------------------

/** grpc-timeout's TimeoutValue is at most 8 ASCII digits (PROTOCOL-HTTP2.md); longer is not one. */
export const GRPC_TIMEOUT_MAX_DIGITS = 8;

/** A gRPC request body kept (beside streaming it) so that a try answered with a retriable
 *  grpc-status can be sent again: Envoy's default per-request buffer limit (1 MiB). A bigger body
 *  streams without its copy and is not retried. Unary calls, the ones a retry suits, are small. */
export const GRPC_RETRY_BUFFER_BYTES = 1_048_576;

// ---- HTTP/2 upstreams (src/worker/cluster/h2-pool.ts, src/worker/h2/upstream-session.ts) ----

/** Streams a session still connecting is expected to take before the pool opens a second
 *  one for more waiting requests: the peer's max_concurrent_streams is not known until its
 *  first SETTINGS, and 100 is the floor RFC 9113 §6.5.2 recommends (most servers announce
 *  100 or more). Once SETTINGS arrive the real limit applies and extra waiters get sessions
 *  of their own. */
export const H2_UPSTREAM_ASSUMED_STREAMS = 100;

/** A PING goes out on an upstream HTTP/2 session that has been open this long since its last
 *  PING (Envoy's connection_keepalive interval is of this order): a dead peer or a silently
 *  dropped NAT entry is found within a minute instead of at the next request. */
export const H2_UPSTREAM_PING_INTERVAL_MS = 30_000;

/** A PING not acknowledged within this long means the session is dead: it is destroyed (its
 *  streams fail, new requests get a new session). A live peer answers in one round trip;
 *  10 s leaves room for a loaded upstream without keeping a dead session for long. */
export const H2_UPSTREAM_PING_TIMEOUT_MS = 10_000;

/** A stream the upstream refused without processing it (REFUSED_STREAM, or above the
 *  last_stream_id of its GOAWAY) is sent again on another session, whatever its method, at
 *  most this many times per request: an upstream that refuses everything must not keep a
 *  request circling forever. */
export const H2_REFUSED_STREAM_RETRIES = 3;

/** Request body bytes a stream keeps while it streams to an HTTP/2 upstream, so a stream the
 *  upstream refuses (GOAWAY, REFUSED_STREAM) can be sent again on a new session: a gRPC
 *  unary call or a small POST fits; a longer body streams without a copy and cannot be sent
 *  again (it fails as any reset would). Bounds the memory a stream holds to this. */
export const STREAM_REPLAY_BUFFER_BYTES = 64 * 1024;

/** How often Node's HTTP/1.1 server of a listener that sends HTTP/1.1 clients to HTTP/2
 *  upstreams (src/worker/stream/h1-front.ts) checks its connections' head timeouts (Node's
 *  default is 30 s, which would let a slow head outlive request_headers_timeout by that
 *  much): a timeout fires at most this late. */
export const H1_STREAM_TIMEOUT_CHECK_MS = 1_000;
// ---- TLS (src/worker/tls/) -----------------------------------------------------------------

/** A TLS handshake must finish within this from accept, or the connection is closed and
 *  counted (mosnd_tls_handshake_errors_total{reason="timeout"}). A full handshake is two
 *  round trips: 10 s covers the slowest real network with room, while Node's own default
 *  (120 s) would let a client that opens connections and never finishes hold them 12× longer. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Upgrade: a TLS keep-alive connection (it cannot move) that is idle when the upgrade starts is
 *  given this long to send its next request, which is answered with Connection: close; only a
 *  connection still silent after it is closed. A client under load sends within milliseconds
 *  and so never meets our close; one silent for a second is idle for real, and unlikely to send
 *  in the instant we close (the close/request race of HTTP/1.1 keep-alive, which a client
 *  answers by retrying an idempotent request). One second: the same wait as a fresh connection
 *  gets on a drain (DRAIN_FRESH_CONNECTION_GRACE_MS), and short next to an upgrade's deadline. */
export const TLS_UPGRADE_IDLE_GRACE_MS = 1_000;

/** Session (and ticket) lifetime announced to clients, in seconds: OpenSSL's 300 s default is
 *  shorter than the gap between a browser's visits to a page; 2 h is nginx's ssl_session_timeout advice
 *  for a busy site and bounds how long one ticket stays usable. */
export const TLS_SESSION_TIMEOUT_S = 7200;

/** The master replaces the TLS session ticket keys this often (sent to every worker; the next
 *  generation of an upgrade takes the current ones and rotates on from its own start). Node
 *  keeps one ticket key per context, so a ticket made before a rotation no longer resumes:
 *  each client does one full handshake per rotation. 12 h bounds how long one key (which
 *  decrypts every session it sealed) is in use, the rotation nginx's and Envoy's guides ask for
 *  (at least daily), at the cost of one full handshake per client twice a day. */
export const TLS_TICKET_KEY_ROTATE_MS = 12 * 3600_000;

// ---- xDS (src/master/xds/) -------------------------------------------------------------

/** How long a resource type may stay without its first answer before mosnd serves without it
 *  (Envoy's `initial_fetch_timeout` default, 15 s): a control plane that never answers must not
 *  keep a starting proxy from serving its static config. A config source's own value wins. */
export const DEFAULT_XDS_INITIAL_FETCH_TIMEOUT_MS = 15_000;

/** Connect timeout to the control plane when its cluster sets none (Envoy's cluster default, 5 s). */
export const DEFAULT_XDS_CONNECT_TIMEOUT_MS = 5_000;

/** First reconnect delay after the ADS stream breaks, doubled on each failure up to the max and
 *  jittered: Envoy's gRPC backoff base (500 ms) - fast enough to resume after a control-plane
 *  restart, slow enough not to hammer one that is down. */
export const XDS_RETRY_INITIAL_MS = 500;

/** Ceiling of the reconnect delay: Envoy's 30 s. A fleet of proxies retrying a dead control plane
 *  stays at one attempt per proxy per ~30 s. */
export const XDS_RETRY_MAX_MS = 30_000;

/** Share of each reconnect delay drawn at random (full jitter on half the delay): a fleet that lost
 *  its control plane at the same instant does not reconnect in lockstep. */
export const XDS_RETRY_JITTER = 0.5;

/** A stream that stayed up this long resets the backoff to its base: it was healthy. */
export const XDS_RETRY_RESET_MS = 10_000;

/** An xDS update waits this long before retrying when the supervisor is busy (a reload or an
 *  upgrade in progress): short against a reload's own time, so pushes follow one another closely. */
export const XDS_APPLY_RETRY_MS = 100;

/** gRPC keepalive ping on the ADS stream: a control plane that vanished without a FIN (host down,
 *  network partition) is noticed within about this plus the ping timeout, not at the next TCP
 *  retransmission timeout (minutes). 30 s is Istio's agent's own keepalive. */
export const XDS_KEEPALIVE_MS = 30_000;
export const XDS_KEEPALIVE_TIMEOUT_MS = 10_000;

/** Problems listed in one NACK's error_detail (the rest are counted): a response of a thousand
 *  clusters all rejected for the same field must not make a message of megabytes, which the
 *  control plane logs; ten name the pattern. */
export const XDS_NACK_MAX_PROBLEMS = 10;
