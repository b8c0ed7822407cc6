/**
 * The HTTP/1.1 upstream codec of the stream proxy: one try of one stream on a pooled
 * connection (src/worker/cluster/). It writes the request head built by serialize.ts and the
 * body (as received, or chunked when the client gave no length, with the request's trailers in
 * the last chunk), reads the response head with the same reader and parser as the HTTP/1.1
 * path (head-reader.ts, response-head.ts) and hands the response on as stream events: head,
 * data, end with trailers (from a chunked body), or a failure. Interim 1xx heads are dropped
 * (an HTTP/2 client gets no 100 Continue from us); a 101 is a protocol error (no Upgrade over
 * a stream).
 */
import type { UpstreamConn, UpstreamOwner } from '../cluster/upstream-conn';
import { HeadReader, type Head } from '../http/head-reader';
import { parseResponseHead, type ResponseHead } from '../http/response-head';
import { RESPONSE_LIMITS } from '../http/response-forward';
import { MAX_INTERIM_RESPONSES } from '../../shared/constants';
import { ChunkedDecoder, CHUNK_END, chunkHeader, lastChunk } from './chunked-body';
import { responseFromH1 } from './headers';
import type { UpstreamEvents, UpstreamTry } from './types';
import type { UpstreamHost } from '../cluster/host';

export class Http1UpstreamTry implements UpstreamOwner, UpstreamTry {
  private readonly reader = new HeadReader(RESPONSE_LIMITS);
  private resp: ResponseHead | null = null;
  private interim = 0;
  private remaining = 0;
  private chunks: ChunkedDecoder | null = null;
  /** The response is complete. */
  done = false;
  /** The connection may go back to the pool afterwards. */
  reusable = true;
  private failed = false;

  constructor(
    readonly conn: UpstreamConn,
    private readonly events: UpstreamEvents,
    /** The request head (serialize.ts buildUpstreamHead). */
    private readonly head: string,
    private readonly method: string,
    /** The request body goes chunked (the client gave no length). */
    private readonly chunked: boolean,
  ) {
    conn.owner = this;
    conn.requests++;
  }

  get host(): UpstreamHost {
    return this.conn.host;
  }

  /** Sends the head and the body held so far; `end` when that was all of the request. */
  start(held: readonly Buffer[], end: boolean, trailers: readonly string[]): void {
    const s = this.conn.socket;
    s.cork();
    s.write(this.head, 'latin1');
    for (const b of held) this.writeData(b);
    if (end) this.endRequest(trailers);
    s.uncork();
  }

  /** Request body data; false when the upstream socket is full (wait for onUpstreamDrain). */
  sendData(data: Buffer): boolean {
    return this.writeData(data);
  }

  private writeData(data: Buffer): boolean {
    const s = this.conn.socket;
    if (!this.chunked) return s.write(data);
    if (data.length === 0) return true;
    s.write(chunkHeader(data.length), 'latin1');
    s.write(data);
    return s.write(CHUNK_END, 'latin1');
  }

  endRequest(trailers: readonly string[]): void {
    if (this.chunked) this.conn.socket.write(lastChunk(trailers), 'latin1');
  }

  pause(): void {
    this.conn.socket.pause();
  }

  resume(): void {
    this.conn.socket.resume();
  }

  /** Gives the connection back: to the pool when the exchange ended cleanly, else closed. */
  release(requestDone: boolean): void {
    if (this.conn.owner !== this) return;
    this.conn.socket.resume();
    this.conn.host.pool.release(this.conn, this.done && this.reusable && requestDone);
  }

  // ---- UpstreamOwner: events of the pooled connection while this try owns it ----

  onUpstreamData(data: Buffer): void {
    if (this.done || this.failed) {
      this.reusable = false;
      return;
    }
    if (this.resp === null) this.onHeadBytes(data);
    else this.onBody(data);
  }

  onUpstreamEnd(): void {
    if (this.resp !== null && this.resp.framing === 'close' && !this.done) {
      this.reusable = false;
      this.finish([]);
      return;
    }
    this.conn.socket.destroy();
  }

  onUpstreamClose(): void {
    if (this.done) return;
    if (this.resp !== null && this.resp.framing === 'close') {
      this.reusable = false;
      this.finish([]);
      return;
    }
    this.fail('reset');
  }

  onUpstreamDrain(): void {
    this.events.onUpstreamDrain();
  }

  private onHeadBytes(data: Buffer): void {
    let bytes: Buffer | null = data;
    while (bytes !== null) {
      let head: Head | null;
      let resp: ResponseHead;
      try {
        head = this.reader.push(bytes);
        if (head === null) return;
        resp = parseResponseHead(head.text, this.method);
      } catch {
        this.fail('protocol');
        return;
      }
      if (resp.status >= 200) {
        this.onHead(resp, head.rest);
        return;
      }
      if (resp.status === 101 || ++this.interim > MAX_INTERIM_RESPONSES) {
        this.fail('protocol');
        return;
      }
      this.reader.reset();
      bytes = head.rest;
    }
  }

  private onHead(resp: ResponseHead, rest: Buffer | null): void {
    this.resp = resp;
    if (!resp.reusable) this.reusable = false;
    if (resp.framing === 'length') this.remaining = resp.contentLength;
    else if (resp.framing === 'chunked') this.chunks = new ChunkedDecoder();
    this.events.onResponseHead(responseFromH1(resp), resp.framing === 'none', resp.framing === 'chunked');
    if (this.failed) return; // the stream went away in the callback
    if (resp.framing === 'none') {
      if (rest !== null) this.reusable = false;
      this.finish([]);
      return;
    }
    if (rest !== null) this.onBody(rest);
  }

  private onBody(data: Buffer): void {
    const resp = this.resp!;
    if (resp.framing === 'length') {
      let out = data;
      if (data.length >= this.remaining) {
        if (data.length > this.remaining) {
          this.reusable = false;
          out = data.subarray(0, this.remaining);
        }
        this.remaining = 0;
        this.events.onResponseData(out);
        this.finish([]);
        return;
      }
      this.remaining -= data.length;
      this.events.onResponseData(out);
      return;
    }
    if (resp.framing === 'chunked') {
      const dec = this.chunks!;
      let end: number;
      try {
        end = dec.feed(data, (d) => this.events.onResponseData(d));
      } catch {
        this.fail('protocol');
        return;
      }
      if (end < data.length) this.reusable = false;
      if (dec.done && !this.failed) this.finish(dec.trailers());
      return;
    }
    this.events.onResponseData(data); // close-delimited
  }

  private finish(trailers: string[]): void {
    if (this.done || this.failed) return;
    this.done = true;
    this.events.onResponseEnd(trailers);
  }

  private fail(why: 'reset' | 'protocol'): void {
    if (this.done || this.failed) return;
    this.failed = true;
    this.reusable = false;
    const beforeHead = this.resp === null;
    this.events.onUpstreamFailed(why, beforeHead);
  }

  /** The stream is done with this try (its response ended, or it gave up: client reset,
   *  timeout): no more events reach it. A connection whose exchange completed stays reusable. */
  abandon(): void {
    this.failed = true;
    if (!this.done) this.reusable = false;
  }
}
