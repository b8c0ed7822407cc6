/**
 * The request body, from the client to the upstream: its framing (none, Content-Length or
 * chunked) found from the head, and the bytes passed on as they arrive. Before an upstream
 * connection is attached the bytes are held (and kept for a retry while the whole request is
 * in hand); once it is, they are written through with backpressure: a full upstream pauses
 * the client until the upstream drains. Bytes after the end of the body belong to the next
 * (pipelined) request. A malformed chunked body ends the connection.
 */
import { HttpParseError } from './errors';
import { ChunkedTracker } from './chunked';
import type { RequestHead } from './request-head';
import { countStatus } from './request-record';
import { armRouteTimer, startTryTimer } from './exchange-timers';
import { releaseUpstream } from './upstream-exchange';
import { State, type HttpConnection } from './connection';

export const enum Body {
  None,
  Length,
  Chunked,
}

/** Sets up the framing of the request body of a new request. */
export function startRequestBody(c: HttpConnection, req: RequestHead): void {
  if (req.chunked) {
    c.bodyKind = Body.Chunked;
    c.bodyChunks = new ChunkedTracker(400);
    c.bodyDone = false;
  } else if (req.contentLength > 0) {
    c.bodyKind = Body.Length;
    c.bodyRemaining = req.contentLength;
    c.bodyDone = false;
  } else {
    c.bodyKind = Body.None;
    c.bodyDone = true;
  }
  c.held = [];
  c.replayable = true;
}

/** Bytes from the client while the request body is unfinished (Dispatch or Exchange). */
export function onBodyBytes(c: HttpConnection, data: Buffer): void {
  let end: number;
  try {
    if (c.bodyKind === Body.Length) {
      end = Math.min(data.length, c.bodyRemaining);
      c.bodyRemaining -= end;
      if (c.bodyRemaining === 0) c.bodyDone = true;
    } else {
      end = c.bodyChunks!.feed(data, 0);
      if (c.bodyChunks!.done) c.bodyDone = true;
    }
  } catch (e) {
    abortRequestBody(c, e);
    return;
  }
  const part = end === data.length ? data : data.subarray(0, end);
  c.bytesIn += part.length;
  if (c.state === State.Exchange && c.conn) {
    if (part.length > 0 && !c.conn.socket.write(part)) c.socket.pause();
  } else if (part.length > 0) {
    c.held.push(part);
  }
  if (c.bodyDone) {
    armRouteTimer(c);
    if (c.state === State.Exchange) startTryTimer(c);
  }
  if (end < data.length) c.holdPipelined(data.subarray(end));
}

function abortRequestBody(c: HttpConnection, e: unknown): void {
  // A malformed body: the upstream (if any) got part of it and must not be reused.
  const status = e instanceof HttpParseError ? e.status : 400;
  releaseUpstream(c, false);
  if (!c.respStarted) {
    countStatus(c, status);
    c.endRequest();
    c.replyAndClose(status, `${e instanceof HttpParseError ? e.reason : 'bad request'}\n`);
  } else {
    c.destroy();
  }
}
