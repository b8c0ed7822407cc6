/**
 * The master's xDS side (one per generation): the ADS client, the accepted resources, and
 * the step from a response to the workers. A response is decoded, translated (translate-*.ts),
 * composed with the static file into one MOSN document, validated by the same schema and
 * normalizer as a file, and applied through the reload path; only then is it ACKed. Any
 * failure on the way NACKs it and leaves the served config as it was.
 */
import type { Logger } from '../../shared/logger';
import type { ControlPlaneInfo } from '../../shared/control-types';
import type { MosndConfig } from '../../shared/config/model';
import { configSchema } from '../../shared/config/mosn-schema';
import { normalize } from '../../shared/config/normalize';
import { Ctx, INVALID } from '../../shared/config/schema';
import { AdsClient } from './client';
import { KINDS, Msg, TYPE, XdsKind, unpack } from './protos';
import { Active, Composed, Entry, ResourceMaps, cloneMaps, compose, dependencies, emptyMaps } from './resources';
import { Tx, XdsReject } from './translate-common';
import { translateCluster } from './translate-cluster';
import { translateEndpoints } from './translate-endpoint';
import { translateListener } from './translate-listener';
import { translateRouteConfig } from './translate-route';
import { DEFAULT_XDS_INITIAL_FETCH_TIMEOUT_MS, XDS_APPLY_RETRY_MS, XDS_NACK_MAX_PROBLEMS } from '../../shared/constants';
import { jsonView } from './json-view';

/** Applies a validated config to the workers: `applied` false = refused with the running config untouched. */
export type Applier = (config: MosndConfig) => Promise<{ applied: boolean; errors: string[] }>;

const LABEL: Record<XdsKind, string> = { listener: 'Listener', route: 'RouteConfiguration', cluster: 'Cluster', endpoint: 'ClusterLoadAssignment' };

export class XdsManager {
  readonly client: AdsClient;
  private maps: ResourceMaps = emptyMaps();
  private active: Active = { clusters: new Map(), listeners: new Map() };
  private readonly timedOut = { endpoint: new Set<string>(), route: new Set<string>() };
  private readonly firstSeen = new Set<XdsKind>();
  private readonly fetchTimers = new Map<string, NodeJS.Timeout>();
  private readonly warned = new Set<string>();
  private composedConfig: MosndConfig;
  private applier: Applier | null = null;
  private readyResolve: (() => void) | null = null;
  readonly readyPromise: Promise<void>;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /** Started from the previous generation's snapshot: ready once the control plane answered
   *  every subscribed type, or could not be reached (then the snapshot is what serves). */
  private seeded = false;
  private readonly fresh = new Set<XdsKind>();
  private streamFailed = false;

  constructor(
    private staticConfig: MosndConfig,
    private staticDoc: Record<string, unknown>,
    private readonly log: Logger,
    private readonly onConnectedChange: (connected: boolean) => void = () => {},
  ) {
    this.composedConfig = staticConfig;
    this.readyPromise = new Promise((r) => (this.readyResolve = r));
    this.client = new AdsClient(staticConfig.xds!, log, (kind, res) => this.handle(kind, res), (c) => this.onConnectedChange(c), () => {
      this.streamFailed = true;
      this.checkReady();
    });
  }

  private get xds() {
    return this.staticConfig.xds!;
  }

  start(): void {
    this.log.info({ server: this.client.server, node: this.xds.node.id }, `xDS: subscribing to ${this.client.server} as ${this.xds.node.id}`);
    this.client.start();
    if (this.xds.cds) {
      this.client.subscribe('cluster', [], true);
      this.fetchTimer('cluster', '*', this.xds.cdsInitialFetchTimeoutMs);
    }
    if (this.xds.lds) {
      this.client.subscribe('listener', [], true);
      this.fetchTimer('listener', '*', this.xds.ldsInitialFetchTimeoutMs);
    }
    this.checkReady();
  }

  /** Upgrade committed: the new generation holds the stream; ours closes (resume() on a rollback). */
  pause(): void {
    this.stopped = true;
    this.client.pause();
  }

  /** The new generation died after commit and this one serves again: subscribe again. */
  resume(): void {
    this.stopped = false;
    this.client.resume();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.fetchTimers.values()) clearTimeout(t);
    this.client.stop();
  }

  /** The config to serve now: the static file with every warmed dynamic resource. */
  current(): MosndConfig {
    return this.composedConfig;
  }

  /** From now on accepted updates go to the workers (the master serves). */
  attach(apply: Applier, startedWith: MosndConfig): void {
    this.applier = apply;
    if (this.composedConfig !== startedWith) void this.enqueue(() => this.applyCurrent());
  }

  /** `mosnd reload`: a new static file, composed with the dynamic resources, applied in turn. */
  reloadStatic(config: MosndConfig, doc: Record<string, unknown>): Promise<{ config?: MosndConfig; errors: string[] }> {
    return this.enqueue(async () => {
      const built = this.build(this.composeNow(this.maps), config, doc);
      if (!built.config) return { errors: built.errors };
      this.staticConfig = config;
      this.staticDoc = doc;
      this.composedConfig = built.config;
      return { config: built.config, errors: [] };
    });
  }

  private enqueue<T>(f: () => Promise<T>): Promise<T> {
    const p = this.queue.then(f);
    this.queue = p.catch(() => undefined);
    return p;
  }

  // ---- responses ---------------------------------------------------------------------

  private handle(kind: XdsKind, res: Msg): Promise<string | null> {
    return this.enqueue(async () => {
      const r = await this.apply(kind, res);
      // Answered, even if rejected: as Envoy, a NACKed first answer does not hold the start.
      this.firstSeen.add(kind);
      this.fresh.add(kind);
      this.checkReady();
      return r;
    });
  }

  // ---- upgrade --------------------------------------------------------------------------

  /** What this generation accepted, for the next one (written to the run dir at an upgrade). */
  snapshot(): XdsSnapshot {
    const out: XdsSnapshot = { types: [] };
    for (const kind of KINDS) {
      const st = this.client.types.get(kind)!;
      if (st.version === '' && this.maps[kind].size === 0) continue;
      out.types.push({ kind, version: st.version, resources: [...this.maps[kind].values()].map((e) => ({ type_url: String(e.any.type_url), value: Buffer.from(e.any.value).toString('base64') })) });
    }
    return out;
  }

  /** A new generation starts from the old one's resources (same config before it commits),
   *  then subscribes with their versions. Call before start(). */
  async seed(snap: XdsSnapshot): Promise<void> {
    for (const t of snap.types) {
      const res = { version_info: t.version, type_url: TYPE[t.kind], resources: t.resources.map((r) => ({ type_url: r.type_url, value: Buffer.from(r.value, 'base64') })) };
      const err = await this.enqueue(() => this.apply(t.kind, res));
      if (err !== null) {
        this.log.warn({ type: t.kind, error: err }, 'xDS: the previous generation\'s resources do not load here; waiting for the control plane');
        continue;
      }
      // Counters are not taken over here: the metrics collector carries the old master's totals.
      this.client.types.get(t.kind)!.version = t.version;
    }
    this.seeded = true;
  }

  private async apply(kind: XdsKind, res: Msg): Promise<string | null> {
    const version = String(res.version_info ?? '');
    const next = cloneMaps(this.maps);
    const errors: string[] = [];
    const received = new Map<string, Entry<never>>();
    /** Resources rejected by name: as in Envoy, the others are applied, these keep their
     *  previous version (or stay absent), and the response is NACKed naming them. */
    const rejected = new Set<string>();
    const tx: Tx = { warn: (path, message) => this.warnOnce(`${path}: ${message}`) };
    for (const any of (res.resources ?? []) as Msg[]) {
      if (any.type_url !== TYPE[kind]) {
        errors.push(`a resource of type ${any.type_url} in a ${LABEL[kind]} response`);
        continue;
      }
      let decoded: Msg;
      try {
        decoded = unpack(any);
      } catch (e) {
        errors.push(`${LABEL[kind]}: cannot decode: ${(e as Error).message}`);
        continue;
      }
      const name = String(kind === 'endpoint' ? decoded.cluster_name : decoded.name);
      const path = `${LABEL[kind]} ${JSON.stringify(name)}`;
      try {
        if (received.has(name)) throw new XdsReject(path, 'is in the response twice');
        const value =
          kind === 'cluster' ? translateCluster(decoded, path, tx)
          : kind === 'listener' ? translateListener(decoded, path, tx)
          : kind === 'route' ? translateRouteConfig(decoded, path, tx)
          : translateEndpoints(decoded, path, tx);
        received.set(name, { name, version, atMs: Date.now(), value: value as never, any });
      } catch (e) {
        errors.push(e instanceof XdsReject ? e.message : `${path}: ${(e as Error).message}`);
        rejected.add(name);
      }
    }
    const map = next[kind] as Map<string, Entry<unknown>>;
    // State of the world: LDS and CDS responses hold every resource (absent = removed); RDS
    // and EDS ones the named resources they carry (absent = unchanged).
    if (kind === 'listener' || kind === 'cluster') map.clear();
    for (const [name, e] of received) {
      const old = map.get(name);
      // Unchanged resources keep their version and time (what /config_dump shows).
      map.set(name, old && Buffer.compare(old.any.value, e.any.value) === 0 ? old : e);
    }
    for (const name of rejected) {
      const old = (this.maps[kind] as Map<string, Entry<unknown>>).get(name);
      if (old) map.set(name, old);
    }
    const deps = dependencies(next);
    for (const k of ['endpoint', 'route'] as const) for (const n of [...next[k].keys()]) if (!deps[k].has(n)) next[k].delete(n);
    const composed = this.composeNow(next);
    const built = this.build(composed, this.staticConfig, this.staticDoc);
    if (!built.config) return nackMessage([...errors, ...built.errors]);
    // The same config again (a new stream re-sending what we have): nothing to push to the workers.
    const unchanged = JSON.stringify(built.config) === JSON.stringify(this.composedConfig);
    if (this.applier && !this.stopped && !unchanged) {
      const r = await this.applyWhenServing(built.config);
      if (!r.applied) return `not applied: ${r.errors.join('; ')}`;
      if (r.errors.length) this.log.error({ errors: r.errors }, 'xDS: some workers could not apply the update and are restarted with it');
    }
    this.maps = next;
    this.active = composed.active;
    if (!unchanged) this.composedConfig = built.config;
    this.firstSeen.add(kind);
    this.clearTimer(kind, '*');
    for (const name of received.keys()) this.clearTimer(kind, name);
    this.follow(deps);
    if (composed.warming.length) this.log.info({ warming: composed.warming }, `xDS: waiting for ${composed.warming.join(', ')}`);
    const partly = errors.length > 0 ? `, ${rejected.size || errors.length} rejected` : '';
    this.log.info({ type: kind, version, resources: map.size }, `xDS: ${kind} version ${JSON.stringify(version)} applied (${map.size} resources${partly})`);
    this.checkReady();
    return errors.length ? nackMessage(errors) : null;
  }

  /** Subscribes to what the accepted clusters and listeners need; starts their fetch timers. */
  private follow(deps: ReturnType<typeof dependencies>): void {
    for (const kind of ['endpoint', 'route'] as const) {
      const names = [...deps[kind].keys()].sort();
      for (const [n, timeout] of deps[kind]) if (!this.maps[kind].has(n) && !this.timedOut[kind].has(n)) this.fetchTimer(kind, n, timeout ?? DEFAULT_XDS_INITIAL_FETCH_TIMEOUT_MS);
      for (const n of [...this.timedOut[kind]]) if (!deps[kind].has(n)) this.timedOut[kind].delete(n);
      const st = this.client.types.get(kind)!;
      if (st.names !== null || names.length > 0) this.client.subscribe(kind, names);
    }
  }

  private fetchTimer(kind: XdsKind, name: string, ms: number): void {
    const key = `${kind}:${name}`;
    if (this.fetchTimers.has(key) || ms <= 0) return;
    const t = setTimeout(() => {
      this.fetchTimers.delete(key);
      this.log.warn({ type: kind, name }, `xDS: no ${LABEL[kind]} ${name === '*' ? '' : JSON.stringify(name) + ' '}within its initial_fetch_timeout (${ms} ms); what waits for it is served without it`);
      if (name === '*') {
        this.firstSeen.add(kind);
        this.fresh.add(kind);
      }
      else if (kind === 'endpoint' || kind === 'route') this.timedOut[kind].add(name);
      void this.enqueue(() => this.applyCurrent()).then(() => this.checkReady());
    }, ms);
    t.unref();
    this.fetchTimers.set(key, t);
  }

  private clearTimer(kind: XdsKind, name: string): void {
    const key = `${kind}:${name}`;
    const t = this.fetchTimers.get(key);
    if (t) clearTimeout(t);
    this.fetchTimers.delete(key);
  }

  /** After a timeout: the same resources composed again (a warming one is now served). */
  private async applyCurrent(): Promise<void> {
    const composed = this.composeNow(this.maps);
    const built = this.build(composed, this.staticConfig, this.staticDoc);
    if (!built.config) {
      this.log.error({ errors: built.errors }, 'xDS: the resources cannot be served together; the running configuration stays');
      return;
    }
    if (this.applier && !this.stopped) {
      const r = await this.applyWhenServing(built.config);
      if (!r.applied) {
        this.log.error({ errors: r.errors }, 'xDS: update not applied; the running configuration stays');
        return;
      }
    }
    this.active = composed.active;
    this.composedConfig = built.config;
  }

  private async applyWhenServing(config: MosndConfig): Promise<{ applied: boolean; errors: string[] }> {
    for (;;) {
      const r = await this.applier!(config);
      if (r.applied || !r.errors.some((e) => e.startsWith('cannot reload while'))) return r;
      if (this.stopped || r.errors.some((e) => /while (stopping|stopped|handing-over)/.test(e))) return r;
      await new Promise((res) => setTimeout(res, XDS_APPLY_RETRY_MS));
    }
  }

  private checkReady(): void {
    if (!this.readyResolve) return;
    const kinds: XdsKind[] = [...(this.xds.cds ? ['cluster' as const] : []), ...(this.xds.lds ? ['listener' as const] : [])];
    if (!kinds.every((k) => this.firstSeen.has(k))) return;
    if (this.seeded && !this.streamFailed && !kinds.every((k) => this.fresh.has(k))) return;
    const deps = dependencies(this.maps);
    for (const k of ['endpoint', 'route'] as const) {
      for (const n of deps[k].keys()) if (!this.maps[k].has(n) && !this.timedOut[k].has(n)) return;
    }
    this.readyResolve();
    this.readyResolve = null;
  }

  private composeNow(maps: ResourceMaps): Composed {
    return compose(maps, this.timedOut, this.active, new Set(this.staticConfig.clusters.map((c) => c.name)));
  }

  /** The static document with the dynamic resources added, through the file's validation. */
  private build(c: Composed, staticConfig: MosndConfig, doc: Record<string, unknown>): { config?: MosndConfig; errors: string[] } {
    const merged = structuredClone(doc) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    if (!Array.isArray(merged.servers) || merged.servers.length === 0) merged.servers = [{}];
    const server = merged.servers[0];
    const labels: Array<[string, string]> = [];
    const add = (arr: unknown[], items: Record<string, unknown>[], prefix: string, label: (x: Record<string, unknown>) => string) => {
      for (const item of items) {
        labels.push([`${prefix}[${arr.length}]`, label(item)]);
        arr.push(item);
      }
    };
    server.listeners = [...(server.listeners ?? [])];
    server.routers = [...(server.routers ?? [])];
    merged.cluster_manager = { ...(merged.cluster_manager ?? {}) };
    merged.cluster_manager.clusters = [...(merged.cluster_manager.clusters ?? [])];
    add(server.listeners, c.listeners, 'servers[0].listeners', (x) => `Listener ${JSON.stringify(x.name)}`);
    add(server.routers, c.routers, 'servers[0].routers', (x) => `RouteConfiguration ${JSON.stringify(x.router_config_name)}`);
    add(merged.cluster_manager.clusters, c.clusters, 'cluster_manager.clusters', (x) => `Cluster ${JSON.stringify(x.name)}`);
    const ctx = new Ctx();
    const raw = configSchema.parse(merged, '', ctx);
    const config = raw === INVALID ? undefined : normalize(raw, staticConfig.source, ctx);
    const relabel = (p: string) => {
      const hit = labels.find(([prefix]) => p === prefix || p.startsWith(prefix + '.') || p.startsWith(prefix + '['));
      return hit ? `${hit[1]}${p.slice(hit[0].length)}` : p;
    };
    for (const w of ctx.warnings) {
      const p = relabel(w.path);
      if (p !== w.path) this.warnOnce(`${p}: ${w.message}`);
    }
    if (!config || ctx.errors.length) return { errors: ctx.errors.map((e) => `${relabel(e.path)}: ${e.message}`) };
    for (const cl of config.clusters) if (c.eds.has(cl.name)) cl.eds = true;
    // The node flags of the command line stay (withNodeOverrides on the static config).
    return { config: { ...config, ...(staticConfig.xds ? { xds: staticConfig.xds } : {}) }, errors: [] };
  }

  /** Once per kind of problem: the same field ignored in a thousand routes is one line (the
   *  first resource named as the example). */
  private warnOnce(line: string): void {
    const key = line.replace(/"(?:[^"\\]|\\.)*"/g, '"*"').replace(/\[\d+\]/g, '[]');
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.log.warn(`xDS: ${line}`);
  }

  // ---- observability ------------------------------------------------------------------

  metrics() {
    return xdsMetrics(this.status(), this.client.reconnects);
  }

  /** `mosnd status`: the control plane and each type's last ACK / NACK. */
  status(): ControlPlaneStatus {
    return {
      server: this.client.server,
      node: this.xds.node.id,
      connected: this.client.connected,
      types: KINDS.map((k) => {
        const st = this.client.types.get(k)!;
        return {
          type: k,
          typeUrl: TYPE[k],
          subscribed: st.names !== null,
          version: st.version,
          resources: this.maps[k].size,
          ackVersion: st.lastAck?.version ?? '',
          ackAtMs: st.lastAck?.atMs ?? 0,
          nackVersion: st.lastNack?.version ?? '',
          nackAtMs: st.lastNack?.atMs ?? 0,
          nackError: st.lastNack?.error ?? '',
          updates: st.updates,
          rejections: st.rejections,
        };
      }),
    };
  }

  /** Envoy's /config_dump shape for the dynamic resources (admin.v3 *ConfigDump messages). */
  configDump(): unknown[] {
    const when = (e: Entry<unknown>) => new Date(e.atMs).toISOString();
    const view = (e: Entry<unknown>) => jsonView(e.any);
    const warmingClusters = [...this.maps.cluster.values()].filter((e) => !this.active.clusters.has(e.name));
    const st = (k: XdsKind) => this.client.types.get(k)!.version;
    return [
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
        version_info: st('cluster'),
        dynamic_active_clusters: [...this.maps.cluster.values()].filter((e) => this.active.clusters.has(e.name)).map((e) => ({ version_info: e.version, cluster: view(e), last_updated: when(e) })),
        dynamic_warming_clusters: warmingClusters.map((e) => ({ version_info: e.version, cluster: view(e), last_updated: when(e) })),
      },
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
        dynamic_endpoint_configs: [...this.maps.endpoint.values()].map((e) => ({ version_info: e.version, endpoint_config: view(e), last_updated: when(e) })),
      },
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
        version_info: st('listener'),
        dynamic_listeners: [
          ...[...this.maps.listener.values()].map((e) =>
            this.active.listeners.has(e.name)
              ? { name: e.name, active_state: { version_info: e.version, listener: view(e), last_updated: when(e) } }
              : { name: e.name, warming_state: { version_info: e.version, listener: view(e), last_updated: when(e) } },
          ),
        ],
      },
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
        dynamic_route_configs: [...this.maps.route.values()].map((e) => ({ version_info: e.version, route_config: view(e), last_updated: when(e) })),
      },
    ];
  }
}

/** A NACK's error_detail: every problem up to XDS_NACK_MAX_PROBLEMS, then how many more. */
function nackMessage(problems: string[]): string {
  const shown = problems.slice(0, XDS_NACK_MAX_PROBLEMS).join('; ');
  const more = problems.length - XDS_NACK_MAX_PROBLEMS;
  return more > 0 ? `${shown}; and ${more} more` : shown;
}

export interface XdsSnapshot {
  types: Array<{ kind: XdsKind; version: string; resources: Array<{ type_url: string; value: string }> }>;
}

/** What `mosnd status` shows of the control plane: the control API's own type. */
export type ControlPlaneStatus = ControlPlaneInfo;


/** Envoy's control_plane.connected_state and per-type update / rejection counters, Prometheus-named. */
export function xdsMetrics(st: ControlPlaneStatus, reconnects: number): import('../../shared/ipc').MetricJson[] {
  const m = (name: string, type: 'counter' | 'gauge', help: string, values: Array<{ labels: Record<string, string>; value: number }>) => ({ name, type, help, values, aggregator: 'sum' as const });
  const subscribed = st.types.filter((t) => t.subscribed);
  return [
    m('mosnd_control_plane_connected_state', 'gauge', 'Whether the ADS stream to the control plane is up (1) or not (0)', [{ labels: {}, value: st.connected ? 1 : 0 }]),
    m('mosnd_control_plane_reconnects_total', 'counter', 'ADS streams opened again after one broke or could not be opened', [{ labels: {}, value: reconnects }]),
    m('mosnd_xds_update_success_total', 'counter', 'xDS responses accepted (ACK) and applied, per resource type', subscribed.map((t) => ({ labels: { type: t.type }, value: t.updates }))),
    m('mosnd_xds_update_rejected_total', 'counter', 'xDS responses rejected (NACK), per resource type', subscribed.map((t) => ({ labels: { type: t.type }, value: t.rejections }))),
    m('mosnd_xds_resources', 'gauge', 'Resources accepted, per type', subscribed.map((t) => ({ labels: { type: t.type }, value: t.resources }))),
  ];
}
