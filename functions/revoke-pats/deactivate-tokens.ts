/**
 * The Dfns half of a batch: every unique token that needs a deactivation, with bounded concurrency, retries with
 * backoff, one credential refetch per invocation, and the deadline guard.
 *
 * - Each attempt is the whole signing flow (fresh challenge, fresh user action); a failed attempt is classified
 *   (outcomes.ts) and retried only when another attempt can help, after the delay of the retry policy.
 * - At most two GetSecretValue calls per invocation: the cached credential on first use, and one refetch after a
 *   401, both shared by every token, failures included.
 * - When the time left falls under the margin, nothing new starts, sleeps end, requests in flight are aborted:
 *   those tokens end `failed` and their records are retried by SQS. The function never runs into its timeout.
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as wait } from 'node:timers/promises';
import pLimit from 'p-limit';
import { REQUESTS_PER_TOKEN } from '../lib/config.js';
import type { CallOptions, Pat, ServiceAccountCredential } from '../lib/dfns/client.js';
import { DfnsApiError, DfnsError } from '../lib/dfns/errors.js';
import { CredentialError, type CredentialSource } from '../lib/credentials.js';
import type { AuditSink } from './audit.js';
import { classify, OWN_TOKEN_DETAIL, type Classification, type Outcome } from './outcomes.js';
import type { RequestBudget } from './request-budget.js';
import { decideRetry, parseRetryAfter, type RetryPolicy } from './retry-policy.js';

/** Time as the batch sees it; injectable so tests need not wait for real backoffs. */
export interface Clock {
  /** Monotonic ms (deadlines, latency): a wall-clock step must not stretch or cut them. */
  now(): number;
  /** Epoch ms, only to read an HTTP-date `Retry-After`. */
  epoch(): number;
  /** Resolves after `ms`, or rejects when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => performance.now(),
  epoch: () => Date.now(),
  sleep: async (ms, signal) => {
    await wait(ms, undefined, { signal });
  },
};

/** What the Dfns half needs. */
export interface DeactivationDeps {
  credentials: CredentialSource;
  /**
   * One attempt of the whole flow (init → sign → action → PUT) with this credential; `options.signal` aborts it and
   * `options.beforeRequest` is awaited before each of its requests.
   */
  deactivate(tokenId: string, credential: ServiceAccountCredential, options: Required<CallOptions>): Promise<Pat>;
  /** The container's Dfns request budget (CONTRACT section 8). */
  budget: RequestBudget;
  audit: AuditSink;
  maxConcurrency: number;
  retry: RetryPolicy;
  /** @default systemClock */
  clock?: Clock;
  /** Uniform in [0, 1), for the jitter. @default Math.random */
  random?: () => number;
}

/** What happened to one token at Dfns. */
export interface DeactivationResult {
  outcome: Outcome;
  detail?: string;
  pat?: Pat;
  /** Wall time of all attempts, ms. */
  ms: number;
  /**
   * Not finished for lack of budget or time, with no answer from Dfns but 429s: late, not failed (CONTRACT section
   * 8). Its outcome here is `failed`; a continuation may take it over.
   */
  late?: true;
}

/** The Dfns half's verdict. */
export interface DeactivationReport {
  results: Map<string, DeactivationResult>;
  /** The credential could not be loaded: a configuration fault, every record is retried. */
  configFault?: CredentialError;
  /** Tokens whose credential Dfns still rejected after the refetch. */
  stillRejected: number;
  /** Some token got its requests from the budget. */
  started: boolean;
  /** Dfns answered 429 at least once. */
  throttled: boolean;
  /** The budget showed that some token could not start before the deadline. */
  budgetRefused: boolean;
}

/**
 * Deactivates each token once.
 *
 * @param tokenIds unique, valid token IDs
 * @param stopAt time (of `deps.clock.now()`) after which no work may start and work in flight is aborted
 */
export async function deactivateTokens(
  tokenIds: string[],
  deps: DeactivationDeps,
  stopAt: number,
  credential: ServiceAccountCredential,
): Promise<DeactivationReport> {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? Math.random;
  const stop = new AbortController();
  // Every token in flight listens on this one signal (its request or its backoff), plus the credential fetch: above
  // Node's default of 10 that is expected, not a leak, and the warning would land in the function's logs.
  setMaxListeners(deps.maxConcurrency + 10, stop.signal);
  const timer = setTimeout(() => stop.abort(), Math.max(0, stopAt - clock.now()));
  timer.unref();
  if (stopAt <= clock.now()) stop.abort(); // no time at all: not even a credential fetch starts

  let configFault: CredentialError | undefined;
  let stillRejected = 0;
  let anyStarted = false;
  let anyThrottled = false;
  let anyRefused = false;
  let current = Promise.resolve(credential);
  let refreshed: Promise<ServiceAccountCredential> | undefined;

  // A flow that has to wait for room starts only if it can still finish: a request timeout (at most
  // FLOW_RESERVE_MS) is kept free before the deadline.
  const startBy = stopAt - Math.min(deps.retry.attemptReserveMs, FLOW_RESERVE_MS);
  /** Before each request of a flow: wait out a 429's pause, or give the flow up at once if it outlasts the deadline. */
  const unpaused = async () => {
    if (!(await deps.budget.whenUnpaused(stopAt, stop.signal)) && !stop.signal.aborted) throw new PausedPastDeadline();
  };

  /** One attempt; the latency metric counts attempts that reached the PUT. */
  const attempt = async (tokenId: string, credential: ServiceAccountCredential) => {
    const started = clock.now();
    try {
      const pat = await deps.deactivate(tokenId, credential, { signal: stop.signal, beforeRequest: unpaused });
      deps.audit.latency(clock.now() - started);
      return { ok: true as const, pat };
    } catch (error) {
      if (error instanceof DfnsError && error.step === 'deactivate') deps.audit.latency(clock.now() - started);
      return { ok: false as const, error };
    }
  };

  const deactivateOne = async (tokenId: string): Promise<DeactivationResult> => {
    const started = clock.now();
    const done = (outcome: Outcome, detail?: string, pat?: Pat): DeactivationResult => ({
      outcome,
      ...(detail === undefined ? {} : { detail }),
      ...(pat === undefined ? {} : { pat }),
      ms: clock.now() - started,
    });
    /** Only 429s so far: a token that cannot (re)start now is late, not failed. */
    let answered = false;
    /** The last 429's pause, for the detail of a token it made late. */
    let throttledFor: number | undefined;
    const late = (why: string): DeactivationResult => ({
      ...done(
        'failed',
        answered
          ? why
          : throttledFor === undefined
            ? `not started: ${why}`
            : `refused by Dfns with 429 (the organisation's request limit), paused for ${Math.ceil(throttledFor / 1000)} s: ${why}`,
      ),
      ...(answered ? {} : { late: true as const }),
    });
    if (stop.signal.aborted) return late('the invocation deadline is near');
    try {
      // A secret refetched for another token's 401 may name another token to protect: checked with each credential.
      let credential = await current;
      if (credential.ownTokenId === tokenId) return done('protected', OWN_TOKEN_DETAIL);
      let refetched = false;
      let lastDetail = '';
      for (let n = 1; ; n += 1) {
        if (!(await deps.budget.reserve(REQUESTS_PER_TOKEN, startBy, stop.signal))) {
          if (!stop.signal.aborted) anyRefused = true;
          const why = stop.signal.aborted
            ? 'the invocation deadline is near'
            : 'the Dfns request budget has no room before the invocation deadline';
          return late(answered ? `${lastDetail}; ${why}` : why);
        }
        anyStarted = true;
        const result = await attempt(tokenId, credential);
        if (!result.ok && result.error instanceof PausedPastDeadline) {
          // Stopped between two requests of its flow: nothing was switched off, the token is late.
          const why = "held by the organisation's pause after a 429, which lasts past the invocation deadline";
          return { ...done('failed', answered ? `${lastDetail}; ${why}` : why), ...(answered ? {} : { late: true }) };
        }
        if (!result.ok && result.error instanceof DfnsApiError && result.error.status === 429) {
          anyThrottled = true;
          // The organisation's limit, not this token's fault: pause every flow, and this is no attempt.
          deps.audit.throttled();
          const asked = parseRetryAfter(result.error.retryAfter, clock.epoch());
          // Floored: `Retry-After: 0` must not become a hot loop against a limit that is still reached.
          throttledFor = deps.budget.throttled(
            asked === undefined ? undefined : Math.max(deps.retry.retryAfterFloorMs, asked),
          );
          n -= 1;
          continue;
        }
        answered = true;
        if (result.ok && result.pat.isActive === false) return done('deactivated', undefined, result.pat);
        const classification: Classification = result.ok ? STILL_ACTIVE : classify(result.error);
        if (classification.credentialRejected && !refetched) {
          // One refetch per invocation, shared by every token that met the 401; tokens not started yet use the
          // new credential directly. A retry with it does not count as an attempt.
          refetched = true;
          if (!refreshed) current = refreshed = deps.credentials.refresh(stop.signal);
          const fresh = await refreshed;
          if (fresh.ownTokenId === tokenId) return done('protected', OWN_TOKEN_DETAIL);
          if (fresh !== credential) {
            credential = fresh;
            n -= 1;
            continue;
          }
        }
        if (classification.credentialRejected) {
          stillRejected += 1;
          return done('failed', `${classification.detail}; still rejected after fetching the secret again`);
        }
        if (!classification.retryable) return done(classification.outcome, classification.detail);
        lastDetail = classification.detail;
        const next = await waitForRetry(n, classification.retryAfter);
        if (next !== true) return done('failed', `${classification.detail}; ${next}`);
      }
    } catch (error) {
      if (stop.signal.aborted)
        return done('failed', 'the invocation deadline came while loading the credential: the record is retried');
      if (error instanceof CredentialError) configFault ??= error;
      return done('failed', classify(error).detail);
    }
  };

  /** Waits before attempt n+1; returns `true`, or why there is no next attempt. */
  const waitForRetry = async (n: number, retryAfter: string | undefined): Promise<true | string> => {
    const decision = decideRetry(deps.retry, n, retryAfter, random(), clock.epoch(), stopAt - clock.now());
    if (!decision.retry) return decision.why;
    try {
      await clock.sleep(decision.delayMs, stop.signal);
    } catch {
      return 'the invocation deadline came during the backoff: the record is retried';
    }
    return stop.signal.aborted ? 'the invocation deadline came during the backoff: the record is retried' : true;
  };

  const limit = pLimit(deps.maxConcurrency);
  const results = new Map<string, DeactivationResult>();
  try {
    await Promise.all(tokenIds.map((tokenId) => limit(async () => results.set(tokenId, await deactivateOne(tokenId)))));
  } finally {
    clearTimeout(timer);
  }
  return {
    results,
    ...(configFault ? { configFault } : {}),
    stillRejected,
    started: anyStarted,
    throttled: anyThrottled,
    budgetRefused: anyRefused,
  };
}

/** The longest time kept free for a flow that had to wait for the budget, ms. */
export const FLOW_RESERVE_MS = 1_000;

/** A flow in progress gave up: the organisation's pause after a 429 lasts past the invocation deadline. */
class PausedPastDeadline extends Error {
  override readonly name = 'PausedPastDeadline';
}

/** A 200 whose PAT is still active: Dfns did not do it (yet); another attempt may. */
const STILL_ACTIVE: Classification = {
  outcome: 'failed',
  detail: 'Dfns answered 200 but the PAT still says isActive: true',
  credentialRejected: false,
  retryable: true,
};
