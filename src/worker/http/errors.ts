/**
 * A protocol error found while parsing a message. `status` is what a downstream client is
 * answered (4xx/5xx); for an upstream response every HttpParseError becomes a 502.
 */
export class HttpParseError extends Error {
  readonly status: number;
  readonly reason: string;

  constructor(status: number, reason: string) {
    super(reason);
    this.status = status;
    this.reason = reason;
  }
}
