/**
 * When to try a token's signing flow again within the invocation, and after how long.
 *
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): the delay before
 * attempt n+1 is uniform in [0, min(cap, base × 2^(n-1))]. A `Retry-After` from Dfns (seconds or an HTTP-date,
 * RFC 9110 section 10.2.3) replaces it, raised to a floor (`Retry-After: 0` must not become a hot loop) and, above
 * a cap, not honoured in this invocation at all: the token ends `failed` and SQS redelivers its record later.
 */

/** The retry policy's knobs, in ms. */
export interface RetryPolicy {
  /** Attempts of the whole flow per token (`DFNS_MAX_ATTEMPTS`). */
  maxAttempts: number;
  /** First backoff ceiling. @default 200 */
  baseDelayMs: number;
  /** Largest backoff ceiling. @default 5000 */
  maxDelayMs: number;
  /** Smallest wait honoured for a `Retry-After`. @default 100 */
  retryAfterFloorMs: number;
  /** Largest `Retry-After` waited for in the invocation; longer ones are left to SQS. @default 20000 */
  retryAfterCapMs: number;
  /**
   * Time an attempt needs at the least, kept free after the wait (the Dfns request timeout): a retry that starts
   * with less time than this before the deadline would only be aborted.
   */
  attemptReserveMs: number;
}

/** Defaults of the delays (everything but `maxAttempts` and `attemptReserveMs`). */
export const DEFAULT_RETRY_DELAYS = {
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  retryAfterFloorMs: 100,
  retryAfterCapMs: 20_000,
};

/**
 * Reads a `Retry-After` header.
 *
 * @param value the header: delay-seconds (`"3"`) or an HTTP-date (`"Wed, 21 Oct 2026 07:28:00 GMT"`)
 * @param nowMs the current time, epoch ms (for an HTTP-date)
 * @returns the delay in ms (0 for a date in the past), or `undefined` if the value is neither form
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-z]/i.test(text)) return undefined; // "1.5", "-1": neither form
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** What to do after a failed attempt. */
export type RetryDecision = { retry: true; delayMs: number } | { retry: false; why: string };

/**
 * Decides whether to try again after attempt `attempt` (1-based) failed.
 *
 * @param retryAfter the failure's `Retry-After` header, if any
 * @param random a uniform number in [0, 1) (injectable for tests)
 * @param nowMs current time, epoch ms
 * @param remainingMs time left before work must stop (the invocation deadline minus its margin); the wait plus
 *   `attemptReserveMs` must fit in it
 */
export function decideRetry(
  policy: RetryPolicy,
  attempt: number,
  retryAfter: string | undefined,
  random: number,
  nowMs: number,
  remainingMs: number,
): RetryDecision {
  if (attempt >= policy.maxAttempts) return { retry: false, why: `${attempt} of ${policy.maxAttempts} attempts used` };
  let delayMs: number;
  const asked = parseRetryAfter(retryAfter, nowMs);
  if (asked !== undefined) {
    if (asked > policy.retryAfterCapMs) {
      return { retry: false, why: `Dfns asked to retry after ${Math.round(asked / 1000)} s: left to SQS redelivery` };
    }
    delayMs = Math.max(policy.retryAfterFloorMs, asked);
  } else {
    delayMs = Math.floor(random * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1)));
  }
  if (delayMs + policy.attemptReserveMs > remainingMs) {
    return { retry: false, why: 'a retry would not finish before the invocation deadline: left to SQS redelivery' };
  }
  return { retry: true, delayMs };
}
