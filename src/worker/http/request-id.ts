/**
 * `x-request-id` values for requests that come without one. A UUID from the crypto module per
 * request costs about a microsecond on the hot path; instead each worker draws one random
 * version-4 UUID at start and numbers its requests in the last group (48 bits, 12 hex digits).
 * The ids keep the UUID shape and its version and variant bits, are unique within the worker
 * (2^48 requests before the counter wraps), and across workers and generations (each process
 * draws its own 74 random bits). The last two hex digits come from a table and the rest of the
 * string is rebuilt once every 256 requests: one concatenation per request instead of a
 * number-to-hex conversion, a pad and two concatenations.
 */
import { randomUUID } from 'node:crypto';

/** "xxxxxxxx-xxxx-4xxx-yxxx-": the random part, fixed for the life of the process. */
const PREFIX = randomUUID().slice(0, 24);
const COUNTER_DIGITS = 12;
const COUNTER_WRAP = 2 ** 48;
const HEX2: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
let counter = Math.floor(Math.random() * COUNTER_WRAP);
/** PREFIX and every counter digit but the last two, for the current run of 256 ids. */
let upper = '';

export function nextRequestId(): string {
  counter = counter + 1 === COUNTER_WRAP ? 0 : counter + 1;
  const low = counter % 256;
  if (low === 0 || upper === '') {
    upper = PREFIX + Math.floor(counter / 256).toString(16).padStart(COUNTER_DIGITS - 2, '0');
  }
  return upper + HEX2[low];
}
