/**
 * Incremental validator for a chunked body (RFC 9112 §7.1). The proxy forwards chunked
 * bodies byte for byte; this only finds where the body ends and refuses malformed framing
 * (bad sizes, missing CRLF after data, bare LF, oversized lines) so nothing can be smuggled
 * past the end of a message. Optionally reports the decoded data (for HTTP/1.0 clients).
 */
import { HttpParseError } from './errors';
import { MAX_CHUNK_LINE_BYTES } from '../../shared/constants';

const enum S {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerLine,
  TrailerLf,
  EndLf,
  Done,
}

const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[0x41 + i] = 10 + i;
  HEX[0x61 + i] = 10 + i;
}

export class ChunkedTracker {
  private state = S.Size;
  private remaining = 0;
  private sizeDigits = 0;
  private lineBytes = 0;
  private readonly status: number;

  /** `status` is used for errors: 400 for request bodies, 502 for response bodies. */
  constructor(status: number) {
    this.status = status;
  }

  get done(): boolean {
    return this.state === S.Done;
  }

  /**
   * Consumes bytes of `buf` from `start`; returns the index just past the last byte that
   * belongs to the body (== buf.length unless the body ended inside `buf`). `onData`, if
   * given, receives the decoded data ranges.
   */
  feed(buf: Buffer, start: number, onData?: (b: Buffer, s: number, e: number) => void): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case S.Data: {
          const take = Math.min(this.remaining, n - i);
          if (onData) onData(buf, i, i + take);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = S.DataCr;
          continue;
        }
        case S.Size: {
          const c = buf[i];
          const h = HEX[c];
          if (h >= 0) {
            if (++this.sizeDigits > 13) this.fail('chunk size too large');
            this.remaining = this.remaining * 16 + h;
          } else if (this.sizeDigits === 0) {
            this.fail('invalid chunk size');
          } else if (c === 0x0d) {
            this.state = S.SizeLf;
          } else if (c === 0x3b /* ; */ || c === 0x20 || c === 0x09) {
            this.state = S.Ext;
          } else {
            this.fail('invalid chunk size');
          }
          this.countLine();
          i++;
          continue;
        }
        case S.Ext: {
          const c = buf[i];
          if (c === 0x0d) this.state = S.SizeLf;
          else if ((c < 0x20 && c !== 0x09) || c === 0x7f) this.fail('invalid chunk extension');
          this.countLine();
          i++;
          continue;
        }
        case S.SizeLf:
          if (buf[i] !== 0x0a) this.fail('chunk size line without CRLF');
          i++;
          this.lineBytes = 0;
          this.sizeDigits = 0;
          this.state = this.remaining === 0 ? S.TrailerStart : S.Data;
          continue;
        case S.DataCr:
          if (buf[i] !== 0x0d) this.fail('chunk data not followed by CRLF');
          i++;
          this.state = S.DataLf;
          continue;
        case S.DataLf:
          if (buf[i] !== 0x0a) this.fail('chunk data not followed by CRLF');
          i++;
          this.state = S.Size;
          continue;
        case S.TrailerStart:
          if (buf[i] === 0x0d) {
            this.state = S.EndLf;
          } else {
            this.state = S.TrailerLine;
            this.lineBytes = 0;
            continue; // re-examine this byte as part of a trailer line
          }
          i++;
          continue;
        case S.TrailerLine: {
          const c = buf[i];
          if (c === 0x0d) this.state = S.TrailerLf;
          else if (c === 0x0a || c === 0 || c === 0x7f) this.fail('invalid trailer line');
          this.countLine();
          i++;
          continue;
        }
        case S.TrailerLf:
          if (buf[i] !== 0x0a) this.fail('trailer line without CRLF');
          i++;
          this.state = S.TrailerStart;
          continue;
        case S.EndLf:
          if (buf[i] !== 0x0a) this.fail('chunked body not terminated by CRLF');
          i++;
          this.state = S.Done;
          return i;
        case S.Done:
          return i;
      }
    }
    return i;
  }

  private countLine(): void {
    if (++this.lineBytes > MAX_CHUNK_LINE_BYTES) this.fail('chunk line too long');
  }

  private fail(reason: string): never {
    throw new HttpParseError(this.status, reason);
  }
}
