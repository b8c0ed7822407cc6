/**
 * Collects bytes until a complete message head (through CRLF CRLF) is available. Most heads
 * arrive in one read, so the common path is one indexOf on the incoming buffer and no copy.
 * Size limits and bare-LF detection are enforced while the head is incomplete, so a client
 * cannot make us buffer without bound or wait for a terminator that will never come.
 */
import { HttpParseError } from './errors';

export interface HeadLimits {
  maxHeadBytes: number;
  /** For requests: no CRLF within this many bytes → 414. 0 = no separate limit. */
  maxLineBytes: number;
  /** Status for an oversized head (431 for requests, 502 for responses). */
  tooLargeStatus: number;
  /** Status for a malformed head (400 / 502). */
  badStatus: number;
  /** Skip empty lines before the start line (RFC 9112 §2.2, requests only). */
  skipLeadingCrlf: boolean;
}

export interface Head {
  /** The head as latin1 text, start line through the final CRLF CRLF. */
  text: string;
  /** Bytes after the head in the same buffer (body or next message), or null. */
  rest: Buffer | null;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

export class HeadReader {
  private pending: Buffer | null = null;
  /** How far `pending` has been checked for bare LF. */
  private scanned = 0;

  constructor(private readonly limits: HeadLimits) {}

  /** Bytes of an incomplete head are buffered. */
  get hasPartial(): boolean {
    return this.pending !== null && this.pending.length > 0;
  }

  reset(): void {
    this.pending = null;
    this.scanned = 0;
  }

  /** Takes the buffered partial head (for handing a connection over). */
  takePartial(): Buffer | null {
    const p = this.pending;
    this.reset();
    return p;
  }

  /** Feeds bytes; returns a head when complete, null when more bytes are needed. */
  push(data: Buffer): Head | null {
    let buf: Buffer;
    let searchFrom = 0;
    if (this.pending === null) {
      buf = data;
    } else {
      searchFrom = Math.max(0, this.pending.length - 3);
      buf = Buffer.concat([this.pending, data]);
    }
    let start = 0;
    if (this.limits.skipLeadingCrlf) {
      while (start + 1 < buf.length && buf[start] === 0x0d && buf[start + 1] === 0x0a) start += 2;
      if (start > 0) {
        buf = buf.subarray(start);
        searchFrom = Math.max(0, searchFrom - start);
        this.scanned = Math.max(0, this.scanned - start);
        if (buf.length === 1 && buf[0] === 0x0d) {
          this.pending = buf;
          return null;
        }
      }
    }
    const end = buf.indexOf(CRLFCRLF, searchFrom);
    if (end === -1) {
      this.checkIncomplete(buf);
      this.pending = buf;
      return null;
    }
    const headEnd = end + 4;
    if (headEnd > this.limits.maxHeadBytes) this.tooLarge(buf);
    const text = buf.toString('latin1', 0, headEnd);
    this.pending = null;
    this.scanned = 0;
    return { text, rest: headEnd < buf.length ? buf.subarray(headEnd) : null };
  }

  private checkIncomplete(buf: Buffer): void {
    if (buf.length > this.limits.maxHeadBytes) this.tooLarge(buf);
    const { maxLineBytes } = this.limits;
    if (maxLineBytes > 0 && buf.length > maxLineBytes) {
      const eol = buf.indexOf(0x0a);
      if (eol === -1 || eol > maxLineBytes) throw new HttpParseError(414, 'request line too long');
    }
    // A bare LF anywhere means the sender does not use CRLF: refuse now, do not wait.
    let i = buf.indexOf(0x0a, this.scanned);
    while (i !== -1) {
      if (i === 0 || buf[i - 1] !== 0x0d) throw new HttpParseError(this.limits.badStatus, 'bare LF in message head');
      i = buf.indexOf(0x0a, i + 1);
    }
    this.scanned = buf.length;
  }

  private tooLarge(buf: Buffer): never {
    const { maxLineBytes } = this.limits;
    if (maxLineBytes > 0) {
      const eol = buf.indexOf(0x0a);
      if (eol === -1 || eol > maxLineBytes) throw new HttpParseError(414, 'request line too long');
    }
    throw new HttpParseError(this.limits.tooLargeStatus, 'message head too large');
  }
}
