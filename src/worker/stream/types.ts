/**
 * The protocol-neutral shape of one request/response stream, between a codec (which turns a
 * connection's bytes into streams and back) and the stream proxy (proxy.ts: routing, cluster,
 * retries, timeouts, access log, metrics), which knows no protocol.
 *
 * Headers are one structure: the request's pseudo-header fields (:method, :path, :authority,
 * :scheme) as named fields, the other fields as a flat `[name, value, ...]` array (the form the
 * router and the HTTP/1.1 serializer already take). Body data moves as Buffers with
 * backpressure: a write that returns false means "stop until onDrain"; the reader of data can
 * pause and resume its source. Trailers are a flat array too; a reset ends a stream abruptly.
 *
 * The HTTP/1.1 downstream path (src/worker/http/) does not go through these objects: it keeps
 * its direct state machine (see src/worker/README.md).
 */
import type { UpstreamHost } from '../cluster/host';

/** Request headers, the pseudo-header fields apart. */
export interface RequestHeaders {
  /** :method */
  method: string;
  /** :path, the request-target in origin form (may carry ?query). */
  path: string;
  /** :authority (HTTP/1.1: Host). */
  authority: string;
  /** :scheme */
  scheme: string;
  /** Regular fields, flat, names lower-cased (HTTP/2 requires it), no hop-by-hop fields. */
  headers: string[];
}

/** Response headers: :status, the end-to-end fields (flat, any case), the body length. */
export interface ResponseHeaders {
  status: number;
  /** No hop-by-hop or framing fields: each codec frames the body its own way. */
  headers: string[];
  /** The body length when known (Content-Length), else -1. */
  contentLength: number;
}

/** The upstream codecs: HTTP/1.1 connections (h1-upstream.ts), HTTP/2 sessions (h2-upstream.ts). */
export type UpstreamProtocol = 'Http1' | 'Http2';

/** Why a stream ended without completing. */
export type ResetReason = 'client-reset' | 'upstream-reset' | 'protocol-error' | 'timeout' | 'drain';

/**
 * The downstream side of a stream as the proxy sees it: what a codec gives for each request.
 * The codec calls the handler's methods (StreamHandler) for what arrives from the client.
 */
export interface DownstreamStream {
  readonly clientIp: string;
  readonly listenerName: string;
  readonly routerName: string;
  /** The protocol spoken upstream for this stream: the listener's upstream_protocol, Auto
   *  (or unset, MOSN's rule) resolved to this stream's own protocol. */
  readonly upstreamProtocol: UpstreamProtocol;
  /** Stop / restart delivering request data (flow control towards the client follows). */
  pauseRequest(): void;
  resumeRequest(): void;
  /** An interim 100 Continue (the client asked with Expect: 100-continue). */
  sendContinue(): void;
  /** Sends the response headers; `endStream` when there is no body. `trailers` says that the
   *  body may end with trailers (the codec must then hold the end until sendTrailers/end). */
  sendHeaders(h: ResponseHeaders, endStream: boolean, trailers: boolean): void;
  /** Response body data; false: the client is behind, wait for StreamHandler.onDrain. */
  sendData(data: Buffer): boolean;
  /** Ends the response, with trailers (flat) or none (empty array). */
  end(trailers: string[]): void;
  /** Ends the stream abruptly (the response cannot complete). */
  reset(reason: ResetReason): void;
}

/** What the codec tells the proxy about the request side of a stream. */
export interface StreamHandler {
  onRequestData(data: Buffer): void;
  /** The request is complete; trailers (flat) or an empty array. */
  onRequestEnd(trailers: string[]): void;
  /** The response side can take data again. */
  onDrain(): void;
  /** The client reset the stream, or the connection went away. */
  onReset(reason: ResetReason): void;
  /** Nothing moved on the stream for the listener's idle timeout. */
  onIdle(): void;
}

/**
 * How an upstream try failed: 'reset' (the connection or stream went away), 'protocol' (the
 * upstream broke the protocol), 'refused' (an HTTP/2 upstream did not process the stream:
 * REFUSED_STREAM, or above its GOAWAY's last_stream_id; safe to send again, RFC 9113 §8.7).
 */
export type UpstreamFailure = 'reset' | 'protocol' | 'refused';

/** What an upstream try (of either codec) tells its stream. */
export interface UpstreamEvents {
  /** The response head; `endStream`: no body follows; `trailers`: the body may end with trailers. */
  onResponseHead(h: ResponseHeaders, endStream: boolean, trailers: boolean): void;
  onResponseData(data: Buffer): void;
  onResponseEnd(trailers: string[]): void;
  /** The try failed: before the response head (`beforeHead`), or in its body. */
  onUpstreamFailed(why: UpstreamFailure, beforeHead: boolean): void;
  /** The upstream can take request data again. */
  onUpstreamDrain(): void;
}

/** One try of a stream on an upstream codec, as the stream proxy drives it. */
export interface UpstreamTry {
  readonly host: UpstreamHost;
  /** Sends the request head and the body held so far; `end` when that was all of it. */
  start(held: readonly Buffer[], end: boolean, trailers: readonly string[]): void;
  /** Request body data; false: wait for onUpstreamDrain. */
  sendData(data: Buffer): boolean;
  endRequest(trailers: readonly string[]): void;
  /** Stop / restart reading the response (flow control towards the upstream). */
  pause(): void;
  resume(): void;
  /** The stream gave this try up: no more events reach it. */
  abandon(): void;
  /** Gives the connection or stream back; `requestDone`: the whole request was sent. */
  release(requestDone: boolean): void;
}
