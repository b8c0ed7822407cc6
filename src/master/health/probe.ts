/**
 * One health probe of one upstream host, over a fresh connection that is closed afterwards:
 * a TCP connect, or an HTTP/1.1 GET whose status line alone decides (2xx = healthy). The
 * body is never read; `Connection: close` tells the server not to keep the socket. A gRPC
 * probe (grpc.health.v1) is in grpc-probe.ts.
 */
import * as net from 'node:net';
import { grpcProbe } from './grpc-probe';

export interface ProbeTarget {
  host: string;
  port: number;
  /** HTTP check: the path to GET; absent = TCP connect check. */
  httpPath?: string;
  /** HTTP check: the Host header (the host's address); gRPC check: the :authority. */
  authority?: string;
  /** gRPC check: the service asked about ('' = the whole server); absent = not a gRPC check. */
  grpcService?: string;
  timeoutMs: number;
}

export interface ProbeResult {
  ok: boolean;
  /** Why it failed, in words for the log ("connect refused", "HTTP 503"). */
  reason: string;
}

/** A status line longer than this is not HTTP: "HTTP/1.1 200 OK\r\n" is 17 bytes, and real
 *  reason phrases stay well under a few hundred. */
const MAX_STATUS_LINE_BYTES = 1024;
/** Interim (1xx) responses are skipped with their headers; a health endpoint sends none, so a
 *  few KiB of them means something else answers on that port. */
const MAX_INTERIM_BYTES = 16 * 1024;

/** Runs one probe; never rejects. Returns a function that cancels it (the result is then never delivered). */
export function probe(t: ProbeTarget, done: (r: ProbeResult) => void): () => void {
  if (t.grpcService !== undefined) return grpcProbe(t, describeError, done);
  let finished = false;
  const socket = net.connect({ host: t.host, port: t.port, noDelay: true });
  const finish = (ok: boolean, reason: string): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.destroy();
    done({ ok, reason });
  };
  const timer = setTimeout(() => finish(false, `no ${t.httpPath === undefined ? 'connection' : 'answer'} within ${t.timeoutMs} ms`), t.timeoutMs);
  socket.on('error', (err: NodeJS.ErrnoException) => finish(false, describeError(err)));
  socket.on('close', () => finish(false, 'connection closed before the status line'));
  socket.once('connect', () => {
    if (t.httpPath === undefined) {
      finish(true, 'connected');
      return;
    }
    socket.write(
      `GET ${t.httpPath} HTTP/1.1\r\nHost: ${t.authority ?? `${t.host}:${t.port}`}\r\nUser-Agent: mosnd-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n`,
    );
    let buf = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buf += chunk;
      for (;;) {
        const eol = buf.indexOf('\r\n');
        if (eol === -1) {
          if (buf.length > MAX_STATUS_LINE_BYTES) finish(false, 'malformed response (no status line)');
          return;
        }
        const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(buf.slice(0, eol));
        if (!m) {
          finish(false, `malformed status line ${JSON.stringify(buf.slice(0, Math.min(eol, 64)))}`);
          return;
        }
        const status = Number(m[1]);
        if (status >= 200) {
          finish(status < 300, `HTTP ${status}`);
          return;
        }
        // 1xx: skip its header block and read the next status line.
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) {
          if (buf.length > MAX_INTERIM_BYTES) finish(false, 'malformed response (endless interim responses)');
          return;
        }
        buf = buf.slice(end + 4);
      }
    });
  });
  return () => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.destroy();
  };
}

function describeError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connect refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve the host (${err.code})`;
    default:
      return err.code ? `${err.code}: ${err.message}` : err.message;
  }
}
