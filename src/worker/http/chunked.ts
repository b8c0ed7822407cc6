/**
 * Incremental validator for a chunked body (RFC 9112 §7.1). The proxy forwards chunked
 * bodies byte for byte, so it accepts only what every correct parser reads the same way: it
 * finds where the body ends and refuses malformed framing so nothing can be smuggled past the
 * end of a message. Refused: a size that is not 1*HEXDIG (leading zeros are fine), anything
 * after the size but an extension (`5 6`, `5\t`), extensions that are not
 * `;name[=token|"quoted"]`, data not followed by CRLF, a bare CR or LF anywhere (LF-only line
 * ends are tolerated by some servers and not by others, so they stay refused), trailer lines
 * that are not `name: value` fields (a request line in a trailer section), and oversized
 * lines or trailer sections. Optionally reports the decoded data (for HTTP/1.0 clients).
 */
import { HttpParseError } from './errors';
import { FIELD_VALUE, TOKEN } from './chars';
import { MAX_CHUNK_LINE_BYTES, MAX_HEADER_BYTES, MAX_HEADER_COUNT } from '../../shared/constants';

const enum S {
  Size,
  /** Whitespace after the size: only an extension may follow. */
  SizeWs,
  /** After `;`: optional whitespace, then an extension name. */
  ExtName,
  /** Inside an extension name. */
  ExtNameIn,
  /** Whitespace after an extension name: `=`, `;` or the line end may follow. */
  ExtNameWs,
  /** After `=`: optional whitespace, then a token or a quoted string. */
  ExtValue,
  ExtToken,
  ExtQuoted,
  ExtQuotedEscape,
  /** After an extension: whitespace, `;` or the line end. */
  ExtAfter,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerName,
  TrailerValue,
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
  /** Digits of the size line, and those after its leading zeros (the ones that count). */
  private sizeDigits = 0;
  private significantDigits = 0;
  private lineBytes = 0;
  private trailerBytes = 0;
  private trailerFields = 0;
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
      if (this.state === S.Data) {
        const take = Math.min(this.remaining, n - i);
        if (onData) onData(buf, i, i + take);
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = S.DataCr;
        continue;
      }
      const c = buf[i++];
      switch (this.state) {
        case S.Size: {
          const h = HEX[c];
          if (h >= 0) {
            this.sizeDigits++;
            if (h > 0 || this.significantDigits > 0) {
              // 13 hex digits is 2^52: past it the size is no longer exact as a JS number.
              if (++this.significantDigits > 13) this.fail('chunk size too large');
            }
            this.remaining = this.remaining * 16 + h;
          } else if (this.sizeDigits === 0) {
            this.fail('invalid chunk size');
          } else if (c === 0x0d) {
            this.state = S.SizeLf;
          } else if (c === 0x3b /* ; */) {
            this.state = S.ExtName;
          } else if (c === 0x20 || c === 0x09) {
            this.state = S.SizeWs;
          } else {
            this.fail('invalid chunk size');
          }
          this.countLine();
          continue;
        }
        case S.SizeWs:
          if (c === 0x3b) this.state = S.ExtName;
          else if (c !== 0x20 && c !== 0x09) this.fail('invalid chunk size');
          this.countLine();
          continue;
        case S.ExtName:
          if (TOKEN[c] === 1) this.state = S.ExtNameIn;
          else if (c !== 0x20 && c !== 0x09) this.fail('invalid chunk extension');
          this.countLine();
          continue;
        case S.ExtNameIn:
          if (TOKEN[c] !== 1) this.afterExtension(c, true);
          this.countLine();
          continue;
        case S.ExtNameWs:
          this.afterExtension(c, true);
          this.countLine();
          continue;
        case S.ExtValue:
          if (c === 0x22 /* " */) this.state = S.ExtQuoted;
          else if (TOKEN[c] === 1) this.state = S.ExtToken;
          else if (c !== 0x20 && c !== 0x09) this.fail('invalid chunk extension');
          this.countLine();
          continue;
        case S.ExtToken:
          if (TOKEN[c] !== 1) this.afterExtension(c, false);
          this.countLine();
          continue;
        case S.ExtQuoted:
          if (c === 0x22) this.state = S.ExtAfter;
          else if (c === 0x5c /* \ */) this.state = S.ExtQuotedEscape;
          else if (FIELD_VALUE[c] !== 1) this.fail('invalid chunk extension');
          this.countLine();
          continue;
        case S.ExtQuotedEscape:
          if (FIELD_VALUE[c] !== 1) this.fail('invalid chunk extension');
          this.state = S.ExtQuoted;
          this.countLine();
          continue;
        case S.ExtAfter:
          this.afterExtension(c, false);
          this.countLine();
          continue;
        case S.SizeLf:
          if (c !== 0x0a) this.fail('chunk size line without CRLF');
          this.lineBytes = 0;
          this.sizeDigits = 0;
          this.significantDigits = 0;
          this.state = this.remaining === 0 ? S.TrailerStart : S.Data;
          continue;
        case S.DataCr:
          if (c !== 0x0d) this.fail('chunk data not followed by CRLF');
          this.state = S.DataLf;
          continue;
        case S.DataLf:
          if (c !== 0x0a) this.fail('chunk data not followed by CRLF');
          this.state = S.Size;
          continue;
        case S.TrailerStart:
          this.lineBytes = 0;
          if (c === 0x0d) {
            this.state = S.EndLf;
          } else if (TOKEN[c] === 1) {
            if (++this.trailerFields > MAX_HEADER_COUNT) this.fail('too many trailer fields');
            this.state = S.TrailerName;
            this.countTrailer();
          } else {
            // Whitespace (obs-fold), a bare LF, or a byte no field name may start with.
            this.fail('invalid trailer field');
          }
          continue;
        case S.TrailerName:
          if (c === 0x3a /* : */) this.state = S.TrailerValue;
          else if (TOKEN[c] !== 1) this.fail('invalid trailer field');
          this.countTrailer();
          continue;
        case S.TrailerValue:
          if (c === 0x0d) this.state = S.TrailerLf;
          else if (FIELD_VALUE[c] !== 1) this.fail('invalid trailer field');
          this.countTrailer();
          continue;
        case S.TrailerLf:
          if (c !== 0x0a) this.fail('trailer line without CRLF');
          this.state = S.TrailerStart;
          continue;
        case S.EndLf:
          if (c !== 0x0a) this.fail('chunked body not terminated by CRLF');
          this.state = S.Done;
          return i;
        case S.Done:
          return i - 1;
      }
    }
    return i;
  }

  /** A byte that ends an extension name (`nameEnded`) or value: `=`, `;`, whitespace or CR. */
  private afterExtension(c: number, nameEnded: boolean): void {
    if (c === 0x0d) this.state = S.SizeLf;
    else if (c === 0x3b) this.state = S.ExtName;
    else if (c === 0x3d /* = */ && nameEnded) this.state = S.ExtValue;
    else if (c === 0x20 || c === 0x09) this.state = nameEnded ? S.ExtNameWs : S.ExtAfter;
    else this.fail('invalid chunk extension');
  }

  private countLine(): void {
    if (++this.lineBytes > MAX_CHUNK_LINE_BYTES) this.fail('chunk line too long');
  }

  /** A trailer section is bounded like a head: by line and in all. */
  private countTrailer(): void {
    this.countLine();
    if (++this.trailerBytes > MAX_HEADER_BYTES) this.fail('trailer section too large');
  }

  private fail(reason: string): never {
    throw new HttpParseError(this.status, reason);
  }
}
