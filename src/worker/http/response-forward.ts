/**
 * The response, from the upstream to the client. The head is read and checked (a malformed
 * one, or a 101 nobody asked for, fails the try: retry.ts); interim 1xx heads go on to the
 * clients that can take them (100 only to one that sent Expect: 100-continue, none to
 * HTTP/1.0); the final head is rewritten for the client (hop-by-hop fields, route header
 * mutations, Connection) and the body is passed through as it arrives, framed by
 * Content-Length, chunked (checked, and decoded for an HTTP/1.0 client) or the close of the
 * upstream. A full client socket pauses the upstream until the client drains. A response that
 * ends the client connection (either side said close, close-delimited body, unfinished
 * request body, drain) says so in its head.
 */
import { performance } from 'node:perf_hooks';
import { applyResponseHeaderMutations } from '../router';
import type { Head, HeadLimits } from './head-reader';
import { parseResponseHead, ResponseHead } from './response-head';
import { ChunkedTracker } from './chunked';
import { buildDownstreamHead, sendableCodings } from './serialize';
import { countStatus } from './request-record';
import { clearTimers } from './exchange-timers';
import { releaseUpstream, reportHost } from './upstream-exchange';
import { upstreamFailedBeforeResponse } from './retry';
import { startTunnel } from './tunnel';
import type { HttpConnection } from './connection';
import { MAX_INTERIM_RESPONSES, MAX_RESPONSE_HEADER_BYTES } from '../../shared/constants';

/** Limits of a response head (read by HttpConnection.respReader). */
export const RESPONSE_LIMITS: HeadLimits = {
  maxHeadBytes: MAX_RESPONSE_HEADER_BYTES,
  maxLineBytes: 0,
  tooLargeStatus: 502,
  badStatus: 502,
  skipLeadingCrlf: false,
};

export function onResponseHeadBytes(c: HttpConnection, data: Buffer): void {
  // One head per turn of the loop, never a call per head: an upstream that sends thousands
  // of interim heads in one read must not grow the stack (it once overflowed it).
  let bytes: Buffer | null = data;
  while (bytes !== null) {
    let head: Head | null;
    let resp: ResponseHead;
    try {
      head = c.respReader.push(bytes);
      if (head === null) return;
      resp = parseResponseHead(head.text, c.req!.method);
    } catch {
      badResponse(c);
      return;
    }
    if (resp.status >= 200) {
      onResponseHead(c, resp, head.rest);
      return;
    }
    if (resp.status === 101) {
      onSwitchingProtocols(c, resp, head.rest);
      return;
    }
    if (++c.interimHeads > MAX_INTERIM_RESPONSES) {
      badResponse(c);
      return;
    }
    forwardInterim(c, resp, head.text);
    c.respReader.reset();
    bytes = head.rest;
  }
}

/** A response that cannot be forwarded: the try fails (retry.ts) and the connection is not reused. */
function badResponse(c: HttpConnection): void {
  c.upstreamReusable = false;
  upstreamFailedBeforeResponse(c, 'protocol');
}

function onSwitchingProtocols(c: HttpConnection, resp: ResponseHead, rest: Buffer | null): void {
  if (c.req!.upgrade === undefined) {
    badResponse(c);
    return;
  }
  startTunnel(c, resp, rest);
}

/** 100 Continue goes to a client that asked for it; other 1xx (102, 103) go to 1.1 clients. */
function forwardInterim(c: HttpConnection, resp: ResponseHead, text: string): void {
  const req = c.req!;
  if (req.minor === 1 && (resp.status !== 100 || req.expectContinue)) {
    c.socket.write(text, 'latin1');
  }
}

function onResponseHead(c: HttpConnection, resp: ResponseHead, rest: Buffer | null): void {
  const req = c.req!;
  reportHost(c, c.conn !== null ? c.conn.host : null, resp.status);
  c.upMs = performance.now() - c.tUp;
  clearTimers(c);
  c.resp = resp;
  if (!resp.reusable) c.upstreamReusable = false;
  c.dechunk = resp.framing === 'chunked' && req.minor === 0;
  // The client connection closes after this response if either side says so, the body
  // is close-delimited, the request body is unfinished, or we are draining.
  if (!req.keepAlive || resp.framing === 'close' || c.dechunk || c.ctx.draining) c.closeAfter = true;
  const headers = c.route ? applyResponseHeaderMutations(c.route, resp.headers) : resp.headers;
  let connectionHeader: 'close' | 'keep-alive' | '' = '';
  if (c.closeAfter || !c.bodyDone) connectionHeader = 'close';
  else if (req.minor === 0) connectionHeader = 'keep-alive';
  const text = buildDownstreamHead({
    status: resp.status,
    reason: resp.reason,
    headers,
    connection: resp.summary.connection,
    switching: false,
    connectionHeader,
    transferEncoding: c.dechunk ? '' : sentCodings(resp),
    contentLength: c.dechunk || resp.status < 200 || resp.status === 204 ? -1 : resp.contentLength,
  });
  countStatus(c, resp.status);
  c.respStarted = true;
  if (resp.framing === 'length') c.respRemaining = resp.contentLength;
  else if (resp.framing === 'chunked') c.respChunks = new ChunkedTracker(502);
  const s = c.socket;
  if (resp.framing === 'none') {
    s.write(text, 'latin1');
    if (rest !== null) c.upstreamReusable = false; // bytes after a bodiless response
    c.responseDone();
    return;
  }
  if (rest === null) {
    s.write(text, 'latin1');
  } else if (!c.dechunk) {
    onResponseBody(c, rest, text); // the head goes out with the first body bytes
  } else {
    s.cork(); // the head and the decoded pieces in one writev
    s.write(text, 'latin1');
    onResponseBody(c, rest);
    s.uncork();
  }
}

/** Up to this many body bytes are copied behind the head, for one write (one system call, no
 *  writev); a larger first read goes out as two writes rather than be copied. */
const COALESCE_MAX_BODY_BYTES = 16 * 1024;

/** Writes the response head (when given) and body bytes; false when the client socket is full. */
function writeOut(c: HttpConnection, head: string, body: Buffer): boolean {
  const s = c.socket;
  if (head === '') return body.length === 0 || s.write(body);
  if (body.length === 0) return s.write(head, 'latin1');
  if (body.length > COALESCE_MAX_BODY_BYTES) {
    s.cork();
    s.write(head, 'latin1');
    const ok = s.write(body);
    s.uncork();
    return ok;
  }
  const buf = Buffer.allocUnsafe(head.length + body.length);
  buf.write(head, 0, 'latin1');
  body.copy(buf, head.length);
  return s.write(buf);
}

/**
 * The Transfer-Encoding the client is told: the response's validated codings when its body is
 * chunked, or, for a HEAD or 304 answer, the codings a GET would have had. None for 204 (it
 * has no body and must not say otherwise, RFC 9110 §8.6).
 */
function sentCodings(resp: ResponseHead): string {
  if (resp.summary.transferEncoding === '' || resp.status === 204) return '';
  return sendableCodings(resp.summary.transferEncoding);
}

/** Body bytes from the upstream; `head`, when not empty, is the response head still to send
 *  (it goes out with them). */
export function onResponseBody(c: HttpConnection, data: Buffer, head = ''): void {
  const resp = c.resp!;
  let out: Buffer = data;
  let done = false;
  if (resp.framing === 'length') {
    if (data.length >= c.respRemaining) {
      if (data.length > c.respRemaining) {
        c.upstreamReusable = false; // the upstream sent more than it announced
        out = data.subarray(0, c.respRemaining);
      }
      c.respRemaining = 0;
      done = true;
    } else {
      c.respRemaining -= data.length;
    }
  } else if (resp.framing === 'chunked') {
    let end: number;
    let full = false;
    try {
      if (c.dechunk) {
        end = c.respChunks!.feed(data, 0, (b, s, e) => {
          c.bytesOut += e - s; // what the HTTP/1.0 client gets: the data without the framing
          if (!c.socket.write(b.subarray(s, e))) full = true;
        });
      } else {
        end = c.respChunks!.feed(data, 0);
      }
    } catch {
      // Malformed framing mid-response: the client cannot be told cleanly.
      c.flag = 'UC';
      releaseUpstream(c, false);
      c.destroy();
      return;
    }
    if (end < data.length) c.upstreamReusable = false;
    if (c.respChunks!.done) done = true;
    if (c.dechunk) {
      if (full) c.conn?.socket.pause(); // resumed by the client's 'drain'
      if (done) c.responseDone();
      return;
    }
    out = end === data.length ? data : data.subarray(0, end);
  }
  c.bytesOut += out.length;
  if (!writeOut(c, head, out)) c.conn?.socket.pause();
  if (done) c.responseDone();
}

