/**
 * The messages of the control API (src/shared/control.proto) as plain TypeScript,
 * in camelCase as the proto loader delivers them. Used by the master's control
 * server, the control client and the CLI, so neither side touches gRPC types.
 *
 * 64-bit fields (uptime, memory, counters, timestamps) arrive as JS numbers: every
 * value they carry stays well below 2^53.
 */

export type ProcessRole = 'master' | 'worker';
export type ListenerProtocol = 'http' | 'tcp';
export type UpgradeOutcome = 'none' | 'ok' | 'failed';

export interface ProcessInfo {
  role: ProcessRole;
  /** 0 for the master, 1..N for workers. */
  workerId: number;
  generation: number;
  pid: number;
  state: string;
  uptimeMs: number;
  restarts: number;
  /** Percent of one core. */
  cpu: number;
  /** Resident set size in bytes. */
  memory: number;
  /** Open downstream connections. */
  connections: number;
  /** Of those, HTTP/2 sessions, and the streams open on them. */
  h2Sessions: number;
  h2Streams: number;
  requestsTotal: number;
  /** Requests per second, recent average. */
  rps: number;
  /** Workers: what their last answer to the master's watchdog said; null before the first
   *  answer, for the master and for an older generation's processes. */
  liveness: WorkerLiveness | null;
}

export interface WorkerLiveness {
  /** Since the worker last answered the watchdog's ping, ms (pings go out every second to
   *  ready workers; a draining one is not pinged, so its age grows). */
  heartbeatAgeMs: number;
  /** Event-loop delay over the window before that answer (about one ping interval), ms. */
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
}

export interface ListenerInfo {
  name: string;
  address: string;
  protocol: ListenerProtocol;
}

export interface UpgradeResult {
  result: UpgradeOutcome;
  /** Unix ms; 0 when result is 'none'. */
  atMs: number;
  message: string;
  fromGeneration: number;
  toGeneration: number;
}

export interface StatusReply {
  version: string;
  generation: number;
  masterPid: number;
  state: string;
  /** Unix ms. */
  startedAt: number;
  /** Path of the configuration file in use. */
  configSource: string;
  processes: ProcessInfo[];
  listeners: ListenerInfo[];
  lastUpgrade: UpgradeResult;
  /** host:port of the admin HTTP API; '' when none is configured. */
  adminAddress: string;
  /** host:port of the Prometheus sink (metrics.sinks); '' when none is configured. */
  metricsAddress: string;
  /** xDS: the control plane and the last ACK / NACK of each resource type (absent without xDS). */
  controlPlane?: ControlPlaneInfo | null;
}

export interface ControlPlaneInfo {
  server: string;
  node: string;
  connected: boolean;
  types: Array<{
    type: string;
    typeUrl: string;
    subscribed: boolean;
    version: string;
    resources: number;
    ackVersion: string;
    ackAtMs: number;
    nackVersion: string;
    nackAtMs: number;
    nackError: string;
    updates: number;
    rejections: number;
  }>;
}

export interface StopRequest {
  fast: boolean;
}

export interface StopReply {
  accepted: boolean;
  message: string;
  /** The master that stops (absent from a master that does not say). */
  pid?: number;
  /** How long its workers may finish what is in flight before they are cut: the master's
   *  graceful_timeout for a graceful stop, 0 for a fast one (absent from a master that does
   *  not say). `mosnd stop` waits this plus STOP_WAIT_MARGIN_MS for the exit. */
  drainTimeoutMs?: number;
}

export interface ReloadRequest {
  /** Absent: reload the file the master started with. */
  configPath?: string;
}

export interface ReloadReply {
  ok: boolean;
  errors: string[];
  warnings: string[];
  message: string;
}

export interface UpgradeRequest {
  /** The install directory of the new version. */
  binaryDir: string;
  /** Empty: keep the current configuration file. */
  configPath: string;
  /** How long the new generation may take to become ready; 0: the master's default. */
  timeoutMs: number;
}

export interface UpgradeEvent {
  phase: string;
  message: string;
  /** True on the last event of the stream. */
  done: boolean;
  /** Whether the upgrade succeeded; meaningful when done. */
  ok: boolean;
  /** Unix ms. */
  atMs: number;
  /** The generation the event is about. */
  generation: number;
}

/** What the master implements; the control server turns calls into these. */
export interface ControlHandlers {
  status(): Promise<StatusReply>;
  stop(fast: boolean): Promise<StopReply>;
  reload(configPath?: string): Promise<ReloadReply>;
  /**
   * Runs the whole upgrade, reporting progress through emit; the last event emitted
   * must have done = true. emit never throws, also after the client went away.
   * Throwing a MosndError ends the stream with that error code.
   */
  upgrade(req: UpgradeRequest, emit: (e: UpgradeEvent) => void): Promise<void>;
}
