/**
 * The admin HTTP API: Envoy's paths, MOSN's `/api/v1/...` names as aliases. Reads are GET;
 * everything that changes the running process is POST only (a GET answers 405 with
 * `Allow: POST`, as Envoy does, so a browser or a crawler cannot stop the proxy).
 */
import type * as http from 'node:http';
import type { LogLevel, MosndConfig } from '../../shared/config/model';
import type { ListenerInfo } from '../../shared/control-types';
import type { MetricsSnapshot } from '../../shared/ipc';
import type { Logger } from '../../shared/logger';
import type { HostHealthView } from '../health/checker';
import { configDump } from './config-dump';
import { clusterStatuses, clustersJson, formatClustersText, formatStatsText, statLines } from './stats-format';

/** Largest request body read (POST /api/v1/update_loglevel sends a small JSON object). */
const MAX_BODY_BYTES = 64 * 1024;

export type Readiness = { ready: true } | { ready: false; state: string; reason: string };

/** What the admin API needs from the master. */
export interface AdminBackend {
  readonly version: string;
  serverInfo(): Record<string, unknown>;
  readiness(): Readiness;
  /** MOSN's stage name for /api/v1/states. */
  mosnState(): string;
  scrape(): Promise<{ text: string; contentType: string }>;
  snapshot(): Promise<MetricsSnapshot>;
  listeners(): ListenerInfo[];
  config(): MosndConfig;
  /** xDS: the dynamic resources in Envoy's config_dump shape (undefined without xDS). */
  dynamicConfig?(): unknown[] | undefined;
  /** The active health checker's view of a host; undefined when the host has no health check. */
  hostHealth?(cluster: string, address: string): HostHealthView | undefined;
  generation(): number;
  logLevel(): LogLevel;
  setLogLevel(level: LogLevel): void;
  setHealthFailed(failed: boolean): void;
  drainListeners(): Promise<void>;
  /** Binds a listener configured with bind_port: false. */
  bindListener?(name: string): { ok: boolean; status: number; message: string };
  quit(): void;
}

interface Reply {
  status: number;
  body: string;
  type?: string;
  headers?: Record<string, string>;
}

type Handler = (url: URL, body: string) => Reply | Promise<Reply>;

interface Route {
  method: 'GET' | 'POST';
  help: string;
  handle: Handler;
}

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json';

const json = (v: unknown, status = 200): Reply => ({ status, body: `${JSON.stringify(v, null, 2)}\n`, type: JSON_TYPE });
const text = (body: string, status = 200): Reply => ({ status, body, type: TEXT });

/** Envoy's level names plus mosnd's (pino's); case-insensitive. */
const LEVELS: Record<string, LogLevel> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  fatal: 'fatal',
  critical: 'fatal',
};

export function parseLevel(v: unknown): LogLevel | undefined {
  return typeof v === 'string' ? LEVELS[v.toLowerCase()] : undefined;
}

export function adminRoutes(b: AdminBackend, log: Logger): Map<string, Route> {
  const stats: Handler = async (url) => {
    let lines = statLines(await b.snapshot());
    const filter = url.searchParams.get('filter');
    if (filter) {
      let re: RegExp;
      try {
        re = new RegExp(filter);
      } catch {
        return text(`invalid filter regex ${JSON.stringify(filter)}\n`, 400);
      }
      lines = lines.filter((l) => re.test(l.name));
    }
    const format = url.searchParams.get('format');
    if (format === 'json') return json({ stats: lines });
    if (format === 'prometheus') return prometheus(url, '');
    return text(formatStatsText(lines));
  };
  const prometheus: Handler = async () => {
    const r = await b.scrape();
    return { status: 200, body: r.text, type: r.contentType };
  };
  const setLevel = (level: LogLevel | undefined, given: unknown): Reply => {
    if (!level) {
      return text(`unknown log level ${JSON.stringify(given ?? '')}; expected one of ${Object.keys(LEVELS).join(', ')}\n`, 400);
    }
    b.setLogLevel(level);
    log.info({ level }, `log level set to ${level} by the admin API`);
    return text(`log level: ${level}\n`);
  };
  const configDumpReply: Handler = () => json(configDump(b.config(), { version: b.version, generation: b.generation(), dynamic: b.dynamicConfig?.() }));

  const routes = new Map<string, Route>([
    ['/ready', { method: 'GET', help: 'LIVE (200) when every worker is ready and nothing drains, else 503', handle: () => {
      const r = b.readiness();
      return r.ready ? text('LIVE\n') : text(`${r.state}\n${r.reason}\n`, 503);
    } }],
    ['/server_info', { method: 'GET', help: 'version, generation, uptime and state', handle: () => json(b.serverInfo()) }],
    ['/stats', { method: 'GET', help: 'every counter and gauge (?format=json|prometheus, ?filter=regex)', handle: stats }],
    ['/stats/prometheus', { method: 'GET', help: 'all workers\' metrics in the Prometheus text format', handle: prometheus }],
    ['/clusters', { method: 'GET', help: 'upstream clusters: each host with health and counters (?format=json)', handle: async (url) => {
      const st = clusterStatuses(b.config().clusters, await b.snapshot(), b.hostHealth?.bind(b));
      return url.searchParams.get('format') === 'json' ? json(clustersJson(st)) : text(formatClustersText(st));
    } }],
    ['/listeners', { method: 'GET', help: 'listeners with their addresses (?format=json)', handle: (url) => {
      const ls = b.listeners();
      if (url.searchParams.get('format') === 'json') {
        return json({ listener_statuses: ls.map((l) => ({ name: l.name, local_address: l.address, protocol: l.protocol })) });
      }
      return text(ls.map((l) => `${l.name}::${l.address}`).join('\n') + (ls.length ? '\n' : ''));
    } }],
    ['/config_dump', { method: 'GET', help: 'the effective configuration (secrets redacted)', handle: configDumpReply }],
    ['/logging', { method: 'POST', help: 'set the log level of the master and every worker: ?level=debug', handle: (url) => {
      const given = url.searchParams.get('level');
      if (given === null) return text(`log level: ${b.logLevel()}\n`);
      return setLevel(parseLevel(given), given);
    } }],
    ['/healthcheck/fail', { method: 'POST', help: 'make /ready answer 503 (take this proxy out of a load balancer)', handle: () => {
      b.setHealthFailed(true);
      log.warn('health check set to fail by the admin API: /ready answers 503');
      return text('OK\n');
    } }],
    ['/healthcheck/ok', { method: 'POST', help: 'undo /healthcheck/fail', handle: () => {
      b.setHealthFailed(false);
      log.info('health check set to pass by the admin API');
      return text('OK\n');
    } }],
    ['/drain_listeners', { method: 'POST', help: 'stop accepting on every listener; open connections keep running', handle: async () => {
      log.warn('draining listeners by the admin API: no new connections are accepted');
      await b.drainListeners();
      return text('OK\n');
    } }],
    ['/listeners/bind', { method: 'POST', help: 'bind the listener ?name= that has bind_port: false (a mosnd extension)', handle: (url) => {
      const r = b.bindListener?.(url.searchParams.get('name') ?? '') ?? { status: 404, message: 'not available' };
      log.info({ listener: url.searchParams.get('name'), status: r.status }, `admin bind of a listener: ${r.message}`);
      return text(`${r.message}\n`, r.status);
    } }],
    ['/quitquitquit', { method: 'POST', help: 'graceful stop (like mosnd stop)', handle: () => {
      log.warn('stop requested by the admin API');
      // Answer first: the stop closes this server.
      setImmediate(() => b.quit());
      return text('OK\n');
    } }],
    ['/api/v1/config_dump', { method: 'GET', help: 'MOSN alias of /config_dump', handle: configDumpReply }],
    ['/api/v1/stats', { method: 'GET', help: 'MOSN alias of /stats?format=json', handle: async (url) => {
      const u = new URL(url.href);
      u.searchParams.set('format', 'json');
      return stats(u, '');
    } }],
    ['/api/v1/update_loglevel', { method: 'POST', help: 'MOSN: set the log level from {"log_level": "DEBUG"}', handle: (url, body) => {
      let given: unknown = url.searchParams.get('level') ?? undefined;
      if (given === undefined && body.trim() !== '') {
        try {
          given = (JSON.parse(body) as { log_level?: unknown }).log_level;
        } catch {
          return text('the body is not JSON; expected {"log_level": "DEBUG"}\n', 400);
        }
      }
      return setLevel(parseLevel(given), given);
    } }],
    ['/api/v1/states', { method: 'GET', help: 'MOSN: pid=<pid>&state=<stage>', handle: () => text(`pid=${process.pid}&state=${b.mosnState()}\n`) }],
    ['/api/v1/version', { method: 'GET', help: 'MOSN: the version', handle: () => text(`${b.version}\n`) }],
  ]);
  routes.set('/', { method: 'GET', help: 'this list', handle: () => text(helpText(routes)) });
  routes.set('/help', routes.get('/')!);
  return routes;
}

function helpText(routes: Map<string, Route>): string {
  const lines = ['admin commands are:'];
  for (const [path, r] of routes) if (path !== '/' && path !== '/help') lines.push(`  ${r.method.padEnd(4)} ${path}: ${r.help}`);
  return lines.join('\n') + '\n';
}

/** The request listener of the admin server. */
export function adminHandler(b: AdminBackend, log: Logger): http.RequestListener {
  const routes = adminRoutes(b, log);
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const route = routes.get(url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname);
    const send = (r: Reply): void => {
      if (res.headersSent) return;
      res.writeHead(r.status, { 'content-type': r.type ?? TEXT, 'cache-control': 'no-cache, max-age=0', ...r.headers });
      res.end(req.method === 'HEAD' ? undefined : r.body);
    };
    if (!route) {
      send(text(`unknown admin path ${url.pathname}\n${helpText(routes)}`, 404));
      req.resume();
      return;
    }
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    if (method !== route.method) {
      send({ ...text(`${url.pathname} needs ${route.method}\n`, 405), headers: { allow: route.method } });
      req.resume();
      return;
    }
    let body = '';
    let size = 0;
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      size += Buffer.byteLength(chunk);
      if (size <= MAX_BODY_BYTES) body += chunk;
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) {
        send(text(`the request body is larger than ${MAX_BODY_BYTES} bytes\n`, 413));
        return;
      }
      Promise.resolve()
        .then(() => route.handle(url, body))
        .then(send, (err: Error) => {
          log.error({ err: err.message, path: url.pathname }, 'admin request failed');
          send(text(`internal error: ${err.message}\n`, 500));
        });
    });
  };
}

/** The request listener of the Prometheus sink (`metrics.sinks` port): /metrics only. */
export function sinkHandler(scrape: () => Promise<{ text: string; contentType: string }>, log: Logger): http.RequestListener {
  return (req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://sink');
    if (url.pathname !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(url.pathname === '/metrics' ? 405 : 404, { 'content-type': TEXT });
      res.end(url.pathname === '/metrics' ? 'GET only\n' : 'metrics are served on /metrics\n');
      return;
    }
    scrape().then(
      (r) => {
        res.writeHead(200, { 'content-type': r.contentType });
        res.end(req.method === 'HEAD' ? undefined : r.text);
      },
      (err: Error) => {
        log.error({ err: err.message }, 'metrics scrape failed');
        res.writeHead(500, { 'content-type': TEXT });
        res.end(`internal error: ${err.message}\n`);
      },
    );
  };
}
