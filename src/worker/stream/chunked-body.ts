/**
 * A chunked HTTP/1.1 body, both ways, for the stream proxy:
 *
 * - decoding (upstream response): ChunkedTracker (http/chunked.ts) validates the framing and
 *   reports the data; this keeps the bytes between the last data and the end (the last-chunk
 *   line and the trailer section, bounded by the tracker's line and trailer limits) so that
 *   the trailer fields, which the tracker checks but does not hand out, can be passed on
 *   (to HTTP/2 trailers).
 * - encoding (request body to an HTTP/1.1 upstream when the client gave no length): chunk
 *   framing around each buffer, and the last chunk with the request's trailers.
 */
import { ChunkedTracker } from '../http/chunked';

export class ChunkedDecoder {
  private readonly tracker = new ChunkedTracker(502);
  /** Non-data bytes since the last data range. */
  private tail: Buffer[] = [];

  get done(): boolean {
    return this.tracker.done;
  }

  /**
   * Feeds body bytes; data ranges go to `onData`. Returns the index past the body's end in
   * `buf` (buf.length unless the body ended inside it). Throws HttpParseError on bad framing.
   */
  feed(buf: Buffer, onData: (data: Buffer) => void): number {
    let at = 0;
    const end = this.tracker.feed(buf, 0, (b, s, e) => {
      this.tail = [];
      at = e;
      onData(b.subarray(s, e));
    });
    if (end > at) this.tail.push(buf.subarray(at, end));
    return end;
  }

  /** The trailer fields (flat, names lower-cased) once `done`. */
  trailers(): string[] {
    const text = Buffer.concat(this.tail).toString('latin1');
    const out: string[] = [];
    // CRLF of the last data chunk (absent for an empty body), then the last-chunk line.
    let pos = text.startsWith('\r\n') ? 2 : 0;
    pos = text.indexOf('\r\n', pos) + 2;
    for (;;) {
      const eol = text.indexOf('\r\n', pos);
      if (eol <= pos) break;
      const colon = text.indexOf(':', pos);
      out.push(text.slice(pos, colon).toLowerCase(), text.slice(colon + 1, eol).trim());
      pos = eol + 2;
    }
    return out;
  }
}

/** One chunk of a request body sent chunked. */
export function chunkHeader(length: number): string {
  return `${length.toString(16)}\r\n`;
}

export const CHUNK_END = '\r\n';

/** The last chunk, with trailer fields (flat) when there are any. */
export function lastChunk(trailers: readonly string[]): string {
  let s = '0\r\n';
  for (let i = 0; i + 1 < trailers.length; i += 2) s += `${trailers[i]}: ${trailers[i + 1]}\r\n`;
  return `${s}\r\n`;
}
