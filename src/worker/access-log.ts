/**
 * Access logs (a listener's MOSN `access_logs: [{log_path}]`): one JSON line per finished
 * HTTP request, with Envoy's response flags. Lines are buffered (a write per request
 * would cost a system call on the hot path) and flushed every ACCESS_LOG_FLUSH_MS, when
 * the buffer fills, and synchronously when the worker exits. `reopen()` (SIGUSR1 on the
 * master, for logrotate) reopens every file at its path.
 */
import pino from 'pino';
import type { ListenerConfig } from '../shared/config/model';
import type { RequestRecord } from './context';

/** Buffered lines are written at least this often: a quiet proxy still shows its last
 *  requests within a second, as `tail -f` users expect. */
export const ACCESS_LOG_FLUSH_MS = 1_000;
/** Buffer this many bytes (about 15 lines) before writing: one write per batch, not per request. */
const ACCESS_LOG_BUFFER_BYTES = 4_096;

type Destination = ReturnType<typeof pino.destination>;

interface Writer {
  path: string;
  dest: Destination;
  /** A file (reopened on SIGUSR1), not stdout/stderr. */
  file: boolean;
}

function open(path: string): Writer {
  if (path === 'stdout' || path === 'stderr') {
    return { path, file: false, dest: pino.destination({ fd: path === 'stdout' ? 1 : 2, sync: false, minLength: ACCESS_LOG_BUFFER_BYTES, periodicFlush: ACCESS_LOG_FLUSH_MS }) };
  }
  const dest = pino.destination({ dest: path, sync: false, append: true, mkdir: true, minLength: ACCESS_LOG_BUFFER_BYTES, periodicFlush: ACCESS_LOG_FLUSH_MS });
  // An unwritable path must not crash the worker: the error is reported once per open.
  dest.on('error', (err: Error) => process.emitWarning(`access log ${path}: ${err.message}`));
  return { path, file: true, dest };
}

export class AccessLog {
  private writers = new Map<string, Writer>();
  private byListener = new Map<string, Writer[]>();

  constructor(
    private readonly generation: number,
    private readonly worker: number,
  ) {}

  /** True when at least one listener writes an access log. */
  get active(): boolean {
    return this.byListener.size > 0;
  }

  /** Opens the paths the listeners name (at start and on every reload), closes the others. */
  configure(listeners: ListenerConfig[]): void {
    const next = new Map<string, Writer>();
    const byListener = new Map<string, Writer[]>();
    for (const l of listeners) {
      const ws: Writer[] = [];
      for (const a of l.accessLogs ?? []) {
        let w = next.get(a.path) ?? this.writers.get(a.path);
        if (!w) w = open(a.path);
        next.set(a.path, w);
        ws.push(w);
      }
      if (ws.length > 0) byListener.set(l.name, ws);
    }
    for (const [path, w] of this.writers) if (!next.has(path)) closeWriter(w);
    this.writers = next;
    this.byListener = byListener;
  }

  write(r: RequestRecord): void {
    const ws = this.byListener.get(r.listener);
    if (ws === undefined) return;
    const line = `${JSON.stringify({
      time: new Date().toISOString(),
      gen: this.generation,
      worker: this.worker,
      listener: r.listener,
      client: r.clientIp,
      method: r.method,
      path: r.path,
      status: r.status,
      bytes_received: r.bytesIn,
      bytes_sent: r.bytesOut,
      duration_ms: Math.round(r.durationMs * 1000) / 1000,
      upstream_host: r.upstreamHost || '-',
      upstream_ms: r.upstreamMs >= 0 ? Math.round(r.upstreamMs * 1000) / 1000 : -1,
      cluster: r.cluster || '-',
      response_flags: r.flag || '-',
      attempts: r.attempts,
    })}\n`;
    for (const w of ws) w.dest.write(line);
  }

  /** logrotate moved the files away: write to new files at the same paths. */
  reopen(): void {
    for (const w of this.writers.values()) {
      if (!w.file) continue;
      try {
        w.dest.reopen();
      } catch (err) {
        process.emitWarning(`access log ${w.path}: cannot reopen: ${(err as Error).message}`);
      }
    }
  }

  /** Writes what is buffered now (the process is about to exit). */
  flushSync(): void {
    for (const w of this.writers.values()) flushWriter(w);
  }
}

function flushWriter(w: Writer): void {
  try {
    w.dest.flushSync();
  } catch {
    // Not open yet (nothing was written) or already closed: nothing to flush.
  }
}

function closeWriter(w: Writer): void {
  flushWriter(w);
  if (w.file) w.dest.end();
}

