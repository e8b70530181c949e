/**
 * The Dfns request budget of one container (CONTRACT section 8). Dfns limits the whole organisation (1000 requests
 * per minute, 100 on Trial), and the organisation's own wallets and apps share that limit: containment speed is set
 * by the budget, and a revoker that floods it stalls its own organisation.
 *
 * Algorithm: a sliding-window log of reservations. A container may have at most its share
 * (`DFNS_REQUESTS_PER_MINUTE` ÷ `EVENT_SOURCE_MAX_CONCURRENCY`, scaled to the window) reserved within any window.
 * Unlike a token bucket, a small incident goes at once (nothing is "refilled" first) and a large one uses the whole
 * share, never more within a window, with no burst to count separately. Reservations are granted first come, first
 * served: a token waiting for room holds back the ones behind it, so the order of a request is kept.
 *
 * A 429 speaks for the whole organisation: nothing is granted (and no request of a flow in progress is sent) until
 * its `Retry-After`, or, without one, a pause that doubles from 1 s; then at most half the share for the next window
 * (a quarter after another 429 within it, down to an eighth: multiplicative decrease); the full share again after a
 * window without a 429.
 *
 * The interface is what a shared store (a ledger table) can back later; until then each container holds its own
 * share, and the README states the worst case.
 */
import { REQUESTS_PER_TOKEN } from '../lib/config.js';
import type { Clock } from './deactivate-tokens.js';

/** A Dfns request budget. Times are ms of the {@link Clock}'s `now()`. */
export interface RequestBudget {
  /**
   * Reserves `n` requests (a token's whole flow, before its first request), first come, first served.
   *
   * @param notAfter the latest time a grant that has to wait is of use: room now is always granted, room that
   *   comes only after `notAfter` is refused at once, not waited for
   * @returns `true` once granted; `false`, with nothing reserved, when the budget shows it cannot be granted by
   *   `notAfter`, or when `signal` aborts
   */
  reserve(n: number, notAfter: number, signal: AbortSignal): Promise<boolean>;
  /**
   * Waits while Dfns' pause after a 429 lasts (before every request of a flow in progress).
   *
   * @param notAfter the latest time the flow may go on: a pause past it is not waited for
   * @returns `true` when the flow may send; `false` at once when the pause lasts past `notAfter`, or when `signal`
   *   aborted the wait
   */
  whenUnpaused(notAfter: number, signal: AbortSignal): Promise<boolean>;
  /**
   * Dfns answered 429: pause everything for `retryAfterMs` (or a doubling pause without one), then half the share.
   *
   * @returns the pause applied, ms
   */
  throttled(retryAfterMs: number | undefined): number;
  /** The earliest time `n` requests could be granted, were nothing else asked for. */
  nextRoom(n: number): number;
  /**
   * Time the budget held work back since the last call, ms (the `BudgetWaitMs` metric): the waits of the reservation
   * at the head of the queue for room or for a 429's pause (the ones behind it add nothing more), plus the waits of
   * flows in progress for a pause. Resets it. A grant with room at once adds nothing.
   */
  takeWaitedMs(): number;
}

/** Settings of {@link SlidingWindowBudget}. */
export interface BudgetSettings {
  /** `DFNS_REQUESTS_PER_MINUTE`. */
  requestsPerMinute: number;
  /** `EVENT_SOURCE_MAX_CONCURRENCY`. */
  maxConcurrency: number;
  /** `DFNS_BUDGET_WINDOW_SECONDS`, ms. */
  windowMs: number;
}

/** The first pause after a 429 without `Retry-After`, ms; it doubles with each further 429 in a window. */
export const FIRST_THROTTLE_PAUSE_MS = 1_000;

/**
 * The longest pause a `Retry-After` is honoured for, ms: 15 minutes (Lambda's longest invocation, SQS' longest
 * delay). A bogus or hostile header must not stop containment for a day; past the invocation, a longer pause only
 * turns into continuations anyway.
 */
export const MAX_THROTTLE_PAUSE_MS = 15 * 60 * 1000;

/** The share is never cut below an eighth by 429s (nor under one token's flow). */
export const MAX_SHARE_DIVISOR = 8;

/** One container's share of the deployment's budget, as a sliding-window log. */
export class SlidingWindowBudget implements RequestBudget {
  /** Requests this container may have reserved within any window. */
  readonly share: number;
  private readonly windowMs: number;
  /** Reservations within the last window: when, and how many requests. Oldest first. */
  private readonly log: Array<{ at: number; n: number }> = [];
  private pausedUntil = Number.NEGATIVE_INFINITY;
  private halvedUntil = Number.NEGATIVE_INFINITY;
  private pauseWithoutHint = FIRST_THROTTLE_PAUSE_MS;
  /** The share is divided by this until `halvedUntil`: 2 after a 429, doubled by each further one. */
  private divisor = 2;
  private queue: Promise<unknown> = Promise.resolve();
  private waitedMs = 0;

  constructor(
    settings: BudgetSettings,
    private readonly clock: Clock,
  ) {
    const perWindow = (settings.requestsPerMinute * settings.windowMs) / 60_000;
    // Never under one token's flow (only a rehearsal's shortened window can make the division smaller).
    this.share = Math.max(REQUESTS_PER_TOKEN, Math.floor(perWindow / settings.maxConcurrency));
    this.windowMs = settings.windowMs;
  }

  reserve(n: number, notAfter: number, signal: AbortSignal): Promise<boolean> {
    const turn = this.queue.then(() => this.grant(n, notAfter, signal));
    this.queue = turn;
    return turn;
  }

  async whenUnpaused(notAfter: number, signal: AbortSignal): Promise<boolean> {
    const now = this.clock.now();
    if (now >= this.pausedUntil) return true;
    if (this.pausedUntil > notAfter) return false; // not waited for: the caller gives up at once
    return this.sleepUntil(this.pausedUntil, signal);
  }

  throttled(retryAfterMs: number | undefined): number {
    const now = this.clock.now();
    // A 429 answering a request sent before the current pause is no new evidence: flows in flight all meet the same
    // limit at once, and one burst must neither stack its pauses nor cut the share again and again.
    const fresh = now >= this.pausedUntil;
    if (now >= this.halvedUntil) {
      // A window without a 429 has passed: start over.
      this.divisor = 2;
      this.pauseWithoutHint = FIRST_THROTTLE_PAUSE_MS;
    } else if (fresh) {
      // Halved again (a share far above what the organisation has left would otherwise spend every window on flows
      // cut short by 429s), down to an eighth.
      this.divisor = Math.min(this.divisor * 2, MAX_SHARE_DIVISOR);
    }
    let pause: number;
    if (retryAfterMs !== undefined) {
      pause = Math.min(retryAfterMs, MAX_THROTTLE_PAUSE_MS);
    } else if (fresh) {
      pause = this.pauseWithoutHint;
      this.pauseWithoutHint = Math.min(this.pauseWithoutHint * 2, this.windowMs);
    } else {
      pause = this.pausedUntil - now; // the pause already under way
    }
    this.pausedUntil = Math.max(this.pausedUntil, now + pause);
    this.halvedUntil = this.pausedUntil + this.windowMs;
    return pause;
  }

  nextRoom(n: number): number {
    return this.earliest(n, this.clock.now());
  }

  /** The earliest time from `now` on at which `n` more requests fit in the share. */
  private earliest(n: number, now: number): number {
    const start = Math.max(now, this.pausedUntil);
    // The common case, on every token's path: room at once.
    if (this.used(start) + n <= this.shareAt(start)) return start;
    // Otherwise room can only appear when a reservation leaves the window (the log is in time order) or the halved
    // share ends.
    const candidates = [this.halvedUntil, ...this.log.map((r) => r.at + this.windowMs)]
      .filter((t) => t > start)
      .sort((a, b) => a - b);
    for (const t of candidates) if (this.used(t) + n <= this.shareAt(t)) return t;
    return Number.POSITIVE_INFINITY; // n is over the share itself
  }

  takeWaitedMs(): number {
    const waited = this.waitedMs;
    this.waitedMs = 0;
    return waited;
  }

  private async grant(n: number, notAfter: number, signal: AbortSignal): Promise<boolean> {
    for (;;) {
      if (signal.aborted) return false;
      const now = this.clock.now();
      this.forget(now);
      const at = this.earliest(n, now);
      // Room now is always taken; room later only if it comes before `notAfter` (the flow needs time after it).
      if (at <= now) {
        this.log.push({ at: now, n });
        return true;
      }
      if (at > notAfter) return false;
      if (!(await this.sleepUntil(at, signal))) return false;
    }
  }

  /** Sleeps until `at` (the time counts as waited for the budget). */
  private async sleepUntil(at: number, signal: AbortSignal): Promise<boolean> {
    const from = this.clock.now();
    try {
      // Whole ms, rounded up (less a float's noise): a sleep a hair short would only be followed by another.
      await this.clock.sleep(Math.max(0, Math.ceil(at - this.clock.now() - 1e-6)), signal);
      return !signal.aborted;
    } catch {
      return false;
    } finally {
      this.waitedMs += this.clock.now() - from;
    }
  }

  /** Requests reserved within the window that ends at `t`. */
  private used(t: number): number {
    let sum = 0;
    // `at + windowMs` exactly as the candidate times are computed: `t - windowMs` can differ in the last bit.
    for (const r of this.log) if (r.at + this.windowMs > t) sum += r.n;
    return sum;
  }

  private shareAt(t: number): number {
    return t < this.halvedUntil ? Math.max(REQUESTS_PER_TOKEN, Math.floor(this.share / this.divisor)) : this.share;
  }

  private forget(now: number): void {
    while (this.log.length > 0 && (this.log[0] as { at: number }).at + this.windowMs <= now) this.log.shift();
  }
}
