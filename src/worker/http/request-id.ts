/**
 * `x-request-id` values for requests that come without one. A UUID from the crypto module per
 * request costs about a microsecond on the hot path; instead each worker draws one random
 * version-4 UUID at start and numbers its requests in the last group (48 bits, 12 hex digits).
 * The ids keep the UUID shape and its version and variant bits, are unique within the worker
 * (2^48 requests before the counter wraps), and across workers and generations (each process
 * draws its own 74 random bits).
 */
import { randomUUID } from 'node:crypto';

/** "xxxxxxxx-xxxx-4xxx-yxxx-": the random part, fixed for the life of the process. */
const PREFIX = randomUUID().slice(0, 24);
const COUNTER_DIGITS = 12;
const COUNTER_WRAP = 2 ** 48;
let counter = Math.floor(Math.random() * COUNTER_WRAP);

export function nextRequestId(): string {
  counter = counter + 1 === COUNTER_WRAP ? 0 : counter + 1;
  return PREFIX + counter.toString(16).padStart(COUNTER_DIGITS, '0');
}
