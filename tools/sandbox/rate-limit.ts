/**
 * The organisation's request limit, as Dfns enforces it: every service account and every route of one organisation
 * together, over a sliding window (1000 requests per minute, 100 on Trial). Refused requests are not counted
 * against the window (a client hammering on 429s does not push its own recovery further away), only tallied.
 */

/** How a 429 says when to come back: delay-seconds, an HTTP-date, or no header. */
export const RETRY_AFTER_FORMATS = ['seconds', 'http-date', 'none'] as const;
export type RetryAfterFormat = (typeof RETRY_AFTER_FORMATS)[number];

/** Options of {@link OrgRateLimit}. */
export interface RateLimitOptions {
  /** Requests admitted per window. */
  limit: number;
  /** The window, ms. @default 60000 */
  windowMs?: number;
  /** The `Retry-After` header of a 429. @default 'seconds' */
  retryAfter?: RetryAfterFormat;
  /** Monotonic ms. @default performance.now */
  now?: () => number;
}

/** The verdict on one request. */
export type Admission = { admitted: true } | { admitted: false; retryAfterMs: number; headers: Record<string, string> };

/** A sliding-window log of admitted requests: exact, and small enough at these limits (≤ a few thousand entries). */
export class OrgRateLimit {
  readonly limit: number;
  readonly windowMs: number;
  readonly retryAfter: RetryAfterFormat;
  /** Requests admitted and refused since the start (or the last {@link OrgRateLimit.resetCounts}). */
  admitted = 0;
  refused = 0;
  private readonly now: () => number;
  /** Times of the requests admitted within the last window, oldest first. */
  private readonly log: number[] = [];

  constructor(options: RateLimitOptions) {
    if (!Number.isInteger(options.limit) || options.limit < 1) throw new Error('rate limit: limit must be ≥ 1');
    this.limit = options.limit;
    this.windowMs = options.windowMs ?? 60_000;
    this.retryAfter = options.retryAfter ?? 'seconds';
    this.now = options.now ?? (() => performance.now());
  }

  /** Admits one request, or says when the window will have room. */
  take(): Admission {
    const now = this.now();
    while (this.log.length > 0 && (this.log[0] as number) <= now - this.windowMs) this.log.shift();
    if (this.log.length < this.limit) {
      this.log.push(now);
      this.admitted += 1;
      return { admitted: true };
    }
    this.refused += 1;
    const retryAfterMs = Math.max(0, (this.log[0] as number) + this.windowMs - now);
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    const headers: Record<string, string> =
      this.retryAfter === 'seconds'
        ? { 'retry-after': String(seconds) }
        : this.retryAfter === 'http-date'
          ? { 'retry-after': new Date(Date.now() + seconds * 1000).toUTCString() }
          : {};
    return { admitted: false, retryAfterMs, headers };
  }

  /** Requests admitted within the current window. */
  inWindow(): number {
    const now = this.now();
    return this.log.filter((at) => at > now - this.windowMs).length;
  }

  /** Zeroes the tallies (not the window). */
  resetCounts(): void {
    this.admitted = 0;
    this.refused = 0;
  }
}
