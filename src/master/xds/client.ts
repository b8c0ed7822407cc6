/**
 * The ADS client: one bidirectional gRPC stream (StreamAggregatedResources) to the control
 * plane, state of the world, and per resource type the xDS protocol's bookkeeping:
 * the accepted version_info, the last nonce, the subscribed names, the last ACK and NACK.
 *
 * Per type: idle (nothing subscribed) -> requested (first request sent) -> each response is
 * handed to `handle` in order; an answer of null ACKs it (version_info = the response's),
 * a string NACKs it (version_info = the last accepted one, error_detail = the string). The
 * stream breaking (any error or end) puts every type back to requested on a new stream after
 * a backoff with jitter; the accepted versions are sent again so the server may skip
 * what we have. Specified in README.md here.
 */
import type * as GrpcJs from '@grpc/grpc-js';
import type { Logger } from '../../shared/logger';
import type { XdsConfig } from '../../shared/config/model';
import {
  XDS_KEEPALIVE_MS,
  XDS_KEEPALIVE_TIMEOUT_MS,
  XDS_RETRY_INITIAL_MS,
  XDS_RETRY_JITTER,
  XDS_RETRY_MAX_MS,
  XDS_RETRY_RESET_MS,
} from '../../shared/constants';
import { ADS_METHOD, KINDS, KIND_OF_URL, Msg, TYPE, XdsKind, envoyApi, toStruct } from './protos';
import { VERSION } from '../version';

const REQUEST = 'envoy.service.discovery.v3.DiscoveryRequest';
const RESPONSE = 'envoy.service.discovery.v3.DiscoveryResponse';
/** google.rpc.Code INVALID_ARGUMENT, what Envoy puts in a NACK's error_detail. */
const INVALID_ARGUMENT = 3;

export interface TypeState {
  /** Subscribed names; null = not subscribed; [] for LDS/CDS = wildcard. */
  names: string[] | null;
  wildcard: boolean;
  /** version_info of the last accepted response ('' before any). */
  version: string;
  /** Nonce of the last response received. */
  nonce: string;
  /** A request went out on the current stream. */
  requested: boolean;
  lastAck: { version: string; atMs: number } | null;
  lastNack: { version: string; atMs: number; error: string } | null;
  updates: number;
  rejections: number;
}

export type ResponseHandler = (kind: XdsKind, response: Msg) => Promise<string | null>;

export class AdsClient {
  readonly types = new Map<XdsKind, TypeState>();
  connected = false;
  connectedSinceMs = 0;
  /** Streams opened after the first one (reconnections). */
  reconnects = 0;
  private client: GrpcJs.Client | null = null;
  private stream: GrpcJs.ClientDuplexStream<Msg, Msg> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  private addressIndex = 0;
  private stopped = false;
  private queue: Promise<void> = Promise.resolve();
  private streamOpenedAt = 0;

  constructor(
    private readonly config: XdsConfig,
    private readonly log: Logger,
    private readonly handle: ResponseHandler,
    private readonly onConnectedChange: (connected: boolean) => void = () => {},
    /** A stream broke before the control plane answered (it is down or unreachable). */
    private readonly onUnreachable: () => void = () => {},
  ) {
    for (const k of KINDS) {
      this.types.set(k, { names: null, wildcard: false, version: '', nonce: '', requested: false, lastAck: null, lastNack: null, updates: 0, rejections: 0 });
    }
  }

  get server(): string {
    const a = this.config.server.addresses[this.addressIndex % this.config.server.addresses.length];
    return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
  }

  start(): void {
    this.open();
  }

  /** Subscribes (or changes the names): LDS/CDS wildcard with `wildcard`, RDS/EDS by name. */
  subscribe(kind: XdsKind, names: string[], wildcard = false): void {
    const st = this.types.get(kind)!;
    const same = st.names !== null && st.wildcard === wildcard && st.names.length === names.length && names.every((n, i) => st.names![i] === n);
    if (same) return;
    st.names = [...names];
    st.wildcard = wildcard;
    this.request(kind);
  }

  /** Closes the stream without reconnecting (an upgrade committed); resume() opens it again. */
  pause(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const s = this.stream;
    this.stream = null;
    s?.cancel();
    this.setConnected(false);
  }

  resume(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.failures = 0;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.stream?.cancel();
    this.client?.close();
    this.setConnected(false);
  }

  private open(): void {
    if (this.stopped) return;
    const grpc = require('@grpc/grpc-js') as typeof GrpcJs;
    const api = envoyApi();
    if (!this.client) {
      this.client = new grpc.Client(this.server, grpc.credentials.createInsecure(), {
        'grpc.keepalive_time_ms': XDS_KEEPALIVE_MS,
        'grpc.keepalive_timeout_ms': XDS_KEEPALIVE_TIMEOUT_MS,
        'grpc.initial_reconnect_backoff_ms': XDS_RETRY_INITIAL_MS,
        'grpc.max_reconnect_backoff_ms': XDS_RETRY_MAX_MS,
        'grpc.max_receive_message_length': -1,
      });
    }
    const stream = this.client.makeBidiStreamRequest(
      ADS_METHOD,
      (m: Msg) => api.encode(REQUEST, m),
      (b: Buffer) => api.decode(RESPONSE, b),
    );
    this.stream = stream;
    this.streamOpenedAt = Date.now();
    // Nonces belong to a stream: a new stream starts without one (the versions stay).
    for (const st of this.types.values()) {
      st.requested = false;
      st.nonce = '';
    }
    let ended = false;
    const end = (why: string) => {
      if (ended || this.stream !== stream) return;
      ended = true;
      this.stream = null;
      this.broken(why);
    };
    stream.on('data', (res: Msg) => {
      if (this.stream !== stream) return;
      // A response came: the control plane works (Envoy resets its backoff here too).
      this.failures = 0;
      this.setConnected(true);
      this.queue = this.queue.then(() => this.onResponse(res, stream)).catch((err: Error) => this.log.error({ err: err.message }, 'xDS: response handling failed'));
    });
    stream.on('error', (err: GrpcJs.ServiceError) => end(err.details || err.message));
    stream.on('end', () => end('the control plane ended the stream'));
    stream.on('status', (s: GrpcJs.StatusObject) => end(s.details || `status ${s.code}`));
    // The ADS order: clusters (and their endpoints) before the listeners that use them.
    for (const k of KINDS) this.request(k);
    // Connected once the channel is up (the control plane's cluster connect_timeout bounds the
    // wait: past it the stream is given up and retried with backoff), or at the first answer.
    const connected = () => {
      if (this.stream === stream) this.setConnected(true);
    };
    stream.on('metadata', connected);
    this.client.waitForReady(Date.now() + this.config.server.connectTimeoutMs, (err) => {
      if (this.stream !== stream) return;
      if (err) stream.cancel();
      else connected();
    });
  }

  private setConnected(c: boolean): void {
    if (this.connected === c) return;
    this.connected = c;
    if (c) this.connectedSinceMs = Date.now();
    this.onConnectedChange(c);
  }

  private broken(why: string): void {
    const wasConnected = this.connected;
    this.setConnected(false);
    if (this.stopped) return;
    if (!wasConnected) this.onUnreachable();
    if (Date.now() - this.streamOpenedAt >= XDS_RETRY_RESET_MS && wasConnected) this.failures = 0;
    const base = Math.min(XDS_RETRY_MAX_MS, XDS_RETRY_INITIAL_MS * 2 ** this.failures);
    const delay = Math.round(base * (1 - XDS_RETRY_JITTER * Math.random()));
    this.failures++;
    if (!wasConnected && this.config.server.addresses.length > 1) {
      // Next address of the control plane cluster.
      this.addressIndex++;
      this.client?.close();
      this.client = null;
    }
    const level = wasConnected ? 'warn' : 'debug';
    this.log[level]({ server: this.server, retryInMs: delay, why }, `xDS: stream to the control plane ${wasConnected ? 'lost' : 'not established'} (${why}); the last good configuration keeps serving, retrying in ${delay} ms`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.reconnects++;
      this.open();
    }, delay);
    this.retryTimer.unref();
  }

  /** Sends the current subscription of `kind` (with its version and last nonce). */
  private request(kind: XdsKind, extra: Msg = {}): void {
    const st = this.types.get(kind)!;
    if (!this.stream || st.names === null) return;
    // A first request with no names would be a legacy wildcard: wait for names (RDS/EDS).
    if (!st.requested && !st.wildcard && st.names.length === 0) return;
    st.requested = true;
    const { node } = this.config;
    this.stream.write({
      version_info: st.version,
      node: {
        id: node.id,
        cluster: node.cluster,
        metadata: toStruct(node.metadata),
        user_agent_name: 'mosnd',
        user_agent_version: VERSION,
      },
      resource_names: st.wildcard ? [] : st.names,
      type_url: TYPE[kind],
      response_nonce: st.nonce,
      ...extra,
    });
  }

  private async onResponse(res: Msg, stream: GrpcJs.ClientDuplexStream<Msg, Msg>): Promise<void> {
    const kind = KIND_OF_URL.get(String(res.type_url));
    if (!kind) {
      this.log.warn({ typeUrl: res.type_url }, 'xDS: a response of a type mosnd did not ask for, ignored');
      return;
    }
    const st = this.types.get(kind)!;
    const version = String(res.version_info ?? '');
    let error: string | null;
    try {
      error = await this.handle(kind, res);
    } catch (e) {
      error = (e as Error).message;
    }
    const now = Date.now();
    // The stream broke meanwhile: the outcome counts, but the answer belongs to the dead stream
    // (the new one already asked with the versions accepted then).
    const current = this.stream === stream;
    if (current) st.nonce = String(res.nonce ?? '');
    if (error === null) {
      st.version = version;
      st.lastAck = { version, atMs: now };
      st.updates++;
      if (current) this.request(kind);
    } else {
      st.lastNack = { version, atMs: now, error };
      st.rejections++;
      this.log.error({ code: 'MOSND_ERR_XDS_REJECTED', type: kind, version, error }, `xDS: ${kind} version ${JSON.stringify(version)} rejected (NACK): ${error}`);
      if (current) this.request(kind, { error_detail: { code: INVALID_ARGUMENT, message: error } });
    }
  }
}
