/**
 * A route's `retry_policy.retry_on`, in both spellings a user brings:
 *
 * - MOSN's (pkg/config/v2 RetryPolicy): a boolean, retries on or off.
 * - Envoy's (RetryPolicy.retry_on): a comma-separated list of conditions, such as
 *   "connect-failure,reset,unavailable". mosnd implements the failure conditions it already
 *   retries (`connect-failure`, `reset`; a timed-out try is retried as a reset is) and the gRPC
 *   ones (`cancelled`, `deadline-exceeded`, `internal`, `resource-exhausted`, `unavailable`:
 *   the try's response headers carry that grpc-status). Envoy's other HTTP conditions are
 *   known and warned about (retried as a failure would be, not on the response's status);
 *   anything else is a config error naming the condition.
 */
import { Ctx, INVALID, Schema, show } from './schema';

/** Envoy's gRPC retry conditions → grpc-status codes. */
export const GRPC_RETRY_ON: Readonly<Record<string, number>> = {
  cancelled: 1,
  'deadline-exceeded': 4,
  internal: 13,
  'resource-exhausted': 8,
  unavailable: 14,
};

/** Conditions mosnd retries on as it does for `retry_on: true`. */
const FAILURE_RETRY_ON = ['connect-failure', 'reset'];

/** Envoy's other conditions: accepted with a warning (mosnd does not retry on a response's status). */
const NOT_IMPLEMENTED_RETRY_ON = [
  '5xx', 'gateway-error', 'retriable-4xx', 'refused-stream', 'retriable-status-codes',
  'retriable-headers', 'envoy-ratelimited', 'http3-post-connect-failure',
];

export interface RetryOn {
  /** Failures (connect, reset, timeout) are retried. */
  failures: boolean;
  /** grpc-status codes in a try's response headers that are retried. */
  grpcStatuses: number[];
}

const EXPECTED =
  'true or false (MOSN), or Envoy\'s comma-separated conditions such as "connect-failure,reset,unavailable" ' +
  `(mosnd knows ${[...FAILURE_RETRY_ON, ...Object.keys(GRPC_RETRY_ON)].join(', ')})`;

export const retryOnSchema = new Schema<RetryOn>(EXPECTED, (v, path, ctx: Ctx) => {
  if (typeof v === 'boolean') return { failures: v, grpcStatuses: [] };
  if (typeof v !== 'string') {
    ctx.error(path, `${show(v)} is not a boolean or a string; expected ${EXPECTED}`);
    return INVALID;
  }
  const out: RetryOn = { failures: false, grpcStatuses: [] };
  let ok = true;
  for (const raw of v.split(',')) {
    const name = raw.trim();
    if (name === '') continue;
    const code = GRPC_RETRY_ON[name];
    if (code !== undefined) {
      if (!out.grpcStatuses.includes(code)) out.grpcStatuses.push(code);
    } else if (FAILURE_RETRY_ON.includes(name)) {
      out.failures = true;
    } else if (NOT_IMPLEMENTED_RETRY_ON.includes(name)) {
      out.failures = true;
      ctx.warn(path, `${show(name)} is not implemented by mosnd: connect failures and resets are retried, not a response's status`);
    } else {
      ctx.error(path, `${show(name)} is not a retry condition; expected ${EXPECTED}`);
      ok = false;
    }
  }
  return ok ? out : INVALID;
});
