/**
 * The one table of messages between the master and its workers (Node IPC over the fork
 * channel). Every message has a `t` (type). Requests that expect an answer carry a `seq`;
 * the answer is an `ack` with the same `seq`. Listening sockets travel as the handle of a
 * `listener` message, one handle per message (Node's IPC limit).
 */
import type { MosndConfig, LogLevel } from './config/model';

/** Figures a worker reports to the master (for `mosnd status` and the admin API). */
export interface WorkerStats {
  connections: number;
  /** Downstream HTTP/2 sessions open, and streams open on them. */
  h2Sessions: number;
  h2Streams: number;
  requestsTotal: number;
  /** Process resident memory, bytes (the master adds cpu from pidusage). */
  rss: number;
}

/**
 * One metric as prom-client's `registry.getMetricsAsJSON()` gives it (the input of
 * `AggregatorRegistry.aggregate()`): workers build these from plain numbers when asked.
 * Histogram values carry `metricName` (`<name>_bucket` with an `le` label, `_sum`, `_count`).
 */
export interface MetricJson {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: Array<{ labels: Record<string, string | number>; value: number; metricName?: string }>;
  aggregator: 'sum';
}

export type MetricsSnapshot = MetricJson[];

/** Event-loop delay of a worker over a window (its `pong`s: since the previous one), ms. */
export interface LoopDelay {
  p99Ms: number;
  maxMs: number;
}

export interface MasterToWorker {
  /** First message: the config to serve. The worker answers `ready` once it serves every listener. */
  init: {
    t: 'init';
    config: MosndConfig;
    generation: number;
    workerId: number;
    listeners: string[];
    /** Upgrade: hold the listeners without accepting until `accept` (the old generation
     *  still serves; a failed new generation must not have taken any connection). */
    deferAccept: boolean;
    /** Upgrade: receive live connections from the old generation on this socket path. */
    transferPath?: string;
  };
  /** Upgrade committed: start accepting on the held listeners. */
  accept: { t: 'accept' };
  /** Upgrade (old generation): stop accepting and move every connection to `target`
   *  (a new worker's transfer socket); what cannot move by `deadlineMs` from now is closed. */
  handover: { t: 'handover'; target: string; deadlineMs: number };
  /** Upgrade rolled back after `handover` began: accept again (listener handles follow). */
  resume: { t: 'resume' };
  /** A listening socket for the listener `name` (the handle rides along). */
  listener: { t: 'listener'; name: string };
  /** Apply a new config; listeners not in `listeners` are closed (their connections drain). */
  reload: {
    t: 'reload';
    seq: number;
    config: MosndConfig;
    listeners: string[];
    /** Listeners new in this config: their sockets follow; the ack waits until they are served. */
    added: string[];
  };
  /** Stop accepting, finish what is in flight, close idle connections, exit by `deadlineMs` from now. */
  drain: { t: 'drain'; deadlineMs: number };
  /** Ask for figures; answered by `stats` with the same seq. */
  stats: { t: 'stats'; seq: number };
  logLevel: { t: 'log-level'; level: LogLevel };
  /** Ask for a metrics snapshot; answered by `metrics` with the same seq. */
  metrics: { t: 'metrics'; seq: number };
  /** Admin /drain_listeners: stop accepting on every listener (connections keep running). */
  drainListeners: { t: 'drain-listeners' };
  /** SIGUSR1 on the master (logrotate): reopen log and access log files. */
  reopenLogs: { t: 'reopen-logs' };
  /** The master's active health checker changed a host's state. A new worker gets one for
   *  each host unhealthy at that time just BEFORE its `init` (it applies them with the config;
   *  every host starts healthy). `address` is the host's address as written in the config. */
  /** TLS session ticket keys (48 bytes, base64), the same for every worker of every
   *  generation (src/worker/tls/ticket-keys.ts); sent before `init`. */
  tlsKeys: { t: 'tls-keys'; keys: string };
  hostHealth: { t: 'host-health'; cluster: string; address: string; healthy: boolean };
  /** The watchdog's heartbeat (src/master/watchdog.ts), sent to ready workers every interval;
   *  answered by `pong` with the same seq, from the worker's event loop. */
  ping: { t: 'ping'; seq: number };
  /** The master resolved a STRICT_DNS / LOGICAL_DNS cluster's names to a new host set
   *  (src/master/health/dns.ts): the worker applies it like a reload of that cluster's hosts,
   *  keeping the pools of hosts still in the set. */
  clusterHosts: { t: 'cluster-hosts'; cluster: string; hosts: MosndConfig['clusters'][number]['hosts'] };
}

export interface WorkerToMaster {
  ready: { t: 'ready'; pid: number };
  /** During a handover: connections moved so far (after each acknowledged batch). */
  handoverProgress: { t: 'handover-progress'; moved: number };
  /** End of a handover: how the connections left this worker. */
  handoverDone: { t: 'handover-done'; moved: number; drained: number; closed: number; ms: number };
  ack: { t: 'ack'; seq: number; ok: boolean; error?: string };
  stats: { t: 'stats'; seq: number; stats: WorkerStats };
  /** A metrics snapshot: the answer to `metrics` (same seq), or unasked with seq 0 and
   *  final=true just before a graceful exit (drain, handover), so no count is lost. */
  metrics: { t: 'metrics'; seq: number; final: boolean; snapshot: MetricsSnapshot };
  /** The answer to `ping`: the worker's event loop turned. Carries the event-loop delay
   *  (perf_hooks.monitorEventLoopDelay) since the previous answer, in ms beyond the sampling
   *  resolution: how late timers and I/O callbacks ran. */
  pong: { t: 'pong'; seq: number; loopDelay: LoopDelay };
  /** A fatal problem the worker wants in the master's log before it exits. */
  fatal: { t: 'fatal'; message: string };
  /** The worker had stopped accepting (overload: src/worker/overload.ts) and has recovered:
   *  it asks for its listening sockets again (they come as `listener` messages). */
  wantListeners: { t: 'want-listeners' };
}

export type MasterMessage = MasterToWorker[keyof MasterToWorker];
export type WorkerMessage = WorkerToMaster[keyof WorkerToMaster];

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}

export function isMasterMessage(m: unknown): m is MasterMessage {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}
